"""The submit form's "Find learning rate" button: a range test of the form's run on the real
worker, whose suggestion fills the learning-rate field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_dashboard import MLP_TIMEOUT_MS, open_dashboard

pytestmark = pytest.mark.e2e


def test_find_learning_rate_fills_the_field(page: Any, live_server: Any, shot) -> None:  # type: ignore[no-untyped-def]
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:three-blobs")
    page.fill("#learning-rate", "0.5")
    page.click("#find-lr")
    page.wait_for_selector("#find-lr-state:has-text('suggested')", timeout=MLP_TIMEOUT_MS)
    with live_server.api() as api:
        newest = api.get("/v1/lr-range-tests").json()["items"][0]
    assert newest["status"] == "succeeded" and newest["kind"] == "mlp_classifier"
    suggested = newest["suggested_learning_rate"]
    assert float(page.input_value("#learning-rate")) == pytest.approx(suggested, rel=0.01)
    assert newest["run"]["hyperparameters"]["optimizer"]["learning_rate"] == 0.5
    assert f"{len(newest['points'])} steps" in page.text_content("#find-lr-state")
    shot(page, "find-learning-rate")

"""An mlp_regressor in the dashboard: submitted from the form, its mae chart, its fit picture
(the server's fit.png at the scrubbed epoch) and the fit.gif download, on the real worker.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_charts import download, history
from tests.browser.test_dashboard import MLP_TIMEOUT_MS, open_dashboard, submit_form, wait_final

pytestmark = pytest.mark.e2e

EPOCHS = 10


def test_regressor_from_the_form_shows_its_fit_and_mae(page: Any, live_server: Any, shot) -> None:
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:linear-noise")
    page.select_option("#kind", "mlp_regressor")
    assert page.is_visible("#mlp-options") and not page.is_visible("#regression-options")
    assert page.input_value("#target") == "y"
    page.fill("#hidden-layers", "16, 16")
    page.select_option("#optimizer", "adam")
    page.fill("#learning-rate", "0.01")
    page.fill("#epochs", str(EPOCHS))
    run_id = submit_form(page)
    wait_final(page, "succeeded", MLP_TIMEOUT_MS)

    rows = history(live_server, run_id)
    assert len(rows) == EPOCHS + 1 and all(r["mae"] is not None for r in rows)
    page.wait_for_selector("#metric-val_mae")
    assert not page.query_selector("#metric-accuracy")
    page.wait_for_selector("#mae-chart")
    assert not page.query_selector("#accuracy-chart")

    # The picture follows the last epoch; the slider asks the server for another one.
    page.wait_for_selector(f"#fit-image[data-epoch='{EPOCHS}']")
    last = page.get_attribute("#fit-image", "src")
    page.fill("#epoch-slider", "0")
    page.wait_for_selector("#fit-image[data-epoch='0']")
    assert page.get_attribute("#fit-image", "src") != last
    assert "before training" in (page.get_attribute("#fit-image", "alt") or "")
    assert page.evaluate("document.getElementById('fit-image').naturalWidth") > 0
    name, data = download(page, "#fit-gif")
    assert name.endswith("fit.gif") and data.startswith(b"GIF8")
    shot(page, "regressor-done")

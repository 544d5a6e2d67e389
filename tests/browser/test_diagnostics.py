"""Diagnoses on the run page: a plain-words banner per finding, coloured by severity, with
the hint, on runs of the real worker; live from the event stream while the run trains.

The screenshot of the course regression's banner is docs/img/diagnosis.png.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.browser.conftest import REPO
from tests.browser.test_dashboard import (
    open_dashboard,
    submit_regression,
    wait_final,
    wait_js,
)

pytestmark = pytest.mark.e2e

# Records the status the header showed when each diagnosis banner first appeared.
BANNER_RECORDER = """
window.__banners = [];
new MutationObserver(() => {
  const status = document.querySelector("#run-status [data-status]")?.dataset.status;
  for (const el of document.querySelectorAll("#diagnoses .diagnosis")) {
    const key = `${el.dataset.code}|${el.dataset.severity}`;
    if (!window.__banners.some((b) => b.key === key)) window.__banners.push({key, status});
  }
}).observe(document.body, {subtree: true, childList: true, attributes: true});
"""


def run_json(server: Any, run_id: str) -> dict[str, Any]:
    with server.api() as client:
        run: dict[str, Any] = client.get(f"v1/runs/{run_id}").json()
    return run


def banner(page: Any, code: str) -> dict[str, str]:
    """Return the banner of `code`: its severity, title, message and hint text."""
    selector = f"#diagnoses .diagnosis[data-code='{code}']"
    page.wait_for_selector(selector)
    return {
        "severity": page.get_attribute(selector, "data-severity") or "",
        "title": page.text_content(f"{selector} .diagnosis-title") or "",
        "message": page.text_content(f"{selector} .diagnosis-message") or "",
        "hint": page.text_content(f"{selector} .diagnosis-hint") or "",
    }


def test_course_regression_says_to_normalize(page: Any, live_server: Any, shot: Any) -> None:
    open_dashboard(page, live_server)
    submit_regression(page, "2e-10")  # the course: raw features, b never moves
    run_id = page.url.rsplit("/", 1)[1]
    wait_final(page, "succeeded")
    run = run_json(live_server, run_id)
    found = {d["code"]: d for d in run["diagnostics"]}
    assert "unscaled_features" in found, run["diagnostics"]
    worst = found["unscaled_features"]  # the list keeps each (code, severity) once
    for d in run["diagnostics"]:
        if d["code"] == "unscaled_features" and d["severity"] == "error":
            worst = d
    shown = banner(page, "unscaled_features")
    assert shown["severity"] == worst["severity"]
    assert shown["title"].startswith(("Problem:", "Warning:"))
    assert "unscaled features" in shown["title"]
    assert shown["message"] == worst["message"]
    assert shown["hint"] == f"Try: {worst['hint']}" and "normalize" in worst["hint"]
    # One banner per code: the warning the error superseded is not shown twice.
    assert page.locator("#diagnoses .diagnosis[data-code='unscaled_features']").count() == 1
    assert page.is_visible("#diagnoses")
    path = shot(page, "diagnosis", full_page=False)
    shutil.copyfile(path, REPO / "docs" / "img" / "diagnosis.png")


def test_diverging_regression_says_to_lower_the_rate(page: Any, live_server: Any) -> None:
    open_dashboard(page, live_server)
    submit_regression(page, "1e-3")
    run_id = page.url.rsplit("/", 1)[1]
    wait_final(page, "diverged")
    diverging = [
        d for d in run_json(live_server, run_id)["diagnostics"] if d["code"] == "diverging"
    ]
    assert diverging, "a diverged regression reports diverging"
    shown = banner(page, "diverging")
    assert shown["severity"] == "error"
    assert shown["hint"] == f"Try: {diverging[-1]['hint']}" and "learning_rate" in shown["hint"]
    # Both the run's error and the diagnosis say so; the diagnosis says what to change.
    assert page.is_visible("#run-error")


def test_banner_arrives_live_while_the_run_trains(page: Any, live_server: Any) -> None:
    open_dashboard(page, live_server)
    page.evaluate(BANNER_RECORDER)  # the page stays: the run view is a hash route
    # The most epochs a regression may run (about a minute here): still training when the
    # first findings (epochs 0 and 10) arrive.
    submit_regression(page, "2e-10", epochs="1000000")
    page.wait_for_selector("#diagnoses .diagnosis[data-code='unscaled_features']")
    wait_js(page, "window.__banners.length > 0")
    page.click("#cancel-run")
    wait_final(page, "cancelled")
    seen = page.evaluate("window.__banners")
    assert seen[0]["key"].startswith("unscaled_features|")
    # Before the run was final (the header may still say queued: it redraws once a frame).
    assert seen[0]["status"] in ("queued", "running"), seen

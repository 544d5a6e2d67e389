"""The dashboard in headless Chromium against a live server with a real worker."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

MLP_TIMEOUT_MS = 300_000  # the course MLP: TensorFlow start-up plus 20 epochs on a small CPU
RUN_TIMEOUT_MS = 120_000

# Records every change of the run header (epoch counter, status, loss points) while the page
# lives, so a test can tell that the page advanced live rather than only at the end.
RECORDER = """
window.__seen = [];
new MutationObserver(() => {
  const counter = document.getElementById("epoch-counter");
  const status = document.querySelector("#run-status [data-status]");
  const chart = document.getElementById("loss-chart");
  if (!counter || !status) return;
  const row = [Number(counter.dataset.epoch), status.dataset.status,
               Number(chart ? chart.dataset.points || 0 : 0)];
  const last = window.__seen[window.__seen.length - 1];
  if (!last || last.some((v, i) => v !== row[i])) window.__seen.push(row);
}).observe(document.body, {subtree: true, childList: true, attributes: true,
                           characterData: true});
"""


FINAL = ("succeeded", "diverged", "failed", "cancelled", "pruned")


def wait_final(page: Any, expected: str, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the run page shows a final status, and fail fast if it is not `expected`."""
    selector = ", ".join(f"#run-status [data-status='{s}']" for s in FINAL)
    page.wait_for_selector(selector, timeout=timeout)
    status = page.get_attribute("#run-status [data-status]", "data-status")
    error = page.text_content("#run-error") if page.is_visible("#run-error") else ""
    assert status == expected, f"the run ended {status}: {error}"


def wait_js(page: Any, expression: str, timeout: int = RUN_TIMEOUT_MS) -> None:
    """Poll a JavaScript expression until it is truthy."""
    # Not page.wait_for_function: Playwright runs its predicate through eval(), which the
    # dashboard's CSP (no 'unsafe-eval') refuses; page.evaluate goes through DevTools.
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} ms: {expression}"
        page.wait_for_timeout(100)


def wait_epoch(page: Any, epoch: int, timeout: int = MLP_TIMEOUT_MS) -> None:
    """Wait until the epoch counter reaches `epoch`; fail fast if the run ends before."""
    wait_js(
        page,
        f"""Number(document.getElementById('epoch-counter')?.dataset.epoch) >= {epoch} ||
        {list(FINAL)!r}.includes(document.querySelector('#run-status [data-status]')
          ?.dataset.status)""",
        timeout=timeout,
    )
    reached = int(page.get_attribute("#epoch-counter", "data-epoch"))
    error = page.text_content("#run-error") if page.is_visible("#run-error") else ""
    assert reached >= epoch, f"the run ended at epoch {reached}: {error}"


def open_dashboard(page: Any, server: Any) -> None:
    """Open the page with the API key already stored (as after entering it once)."""
    if server.key:
        page.add_init_script(f"localStorage.setItem('descent.apiKey', {json.dumps(server.key)});")
    page.goto(server.url)
    page.wait_for_selector("#dataset option[value='builtin:three-blobs']", state="attached")


def canvas_png(page: Any, selector: str) -> str:
    return page.eval_on_selector(selector, "c => c.toDataURL()")


def submit_form(page: Any) -> str:
    """Submit the run form and wait for the new run's page; return the run id."""
    page.click("#submit-run")
    page.wait_for_url(re.compile(r"#/runs/[0-9a-f-]+$"))
    return page.url.rsplit("/", 1)[1]


def submit_regression(page: Any, learning_rate: str, epochs: str = "300") -> None:
    page.select_option("#dataset", "builtin:movies")
    assert page.input_value("#kind") == "linear_regression"
    assert page.input_value("#target") == "nums_audience"
    assert page.is_checked("#features input[value='num_want_to_see']")
    assert not page.is_checked("#features input[value='title']")
    page.fill("#learning-rate", learning_rate)
    page.fill("#epochs", epochs)
    submit_form(page)


def test_course_mlp_from_the_form_updates_live_and_scrubs(page, live_server, shot) -> None:
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:three-blobs")
    assert page.input_value("#kind") == "mlp_classifier"
    assert page.input_value("#target") == "label"
    assert page.is_checked("#features input[value='x1']")
    assert page.is_checked("#features input[value='x2']")
    page.fill("#run-name", "course MLP 2-40-40-3")
    page.fill("#hidden-layers", "40, 40")
    page.select_option("#optimizer", "sgd")
    page.fill("#learning-rate", "0.01")
    page.fill("#epochs", "20")
    page.fill("#batch-size", "32")
    page.evaluate(RECORDER)
    run_id = submit_form(page)

    wait_epoch(page, 3)
    shot(page, "mlp-live")
    wait_final(page, "succeeded", MLP_TIMEOUT_MS)

    # The counter and the loss chart advanced while the run was still running.
    seen = page.evaluate("window.__seen")
    live = [(epoch, points) for epoch, status, points in seen if status == "running"]
    epochs_live = sorted({epoch for epoch, _ in live if epoch >= 0})
    points_live = sorted({points for _, points in live if points > 0})
    assert len(epochs_live) >= 3, seen
    assert len(points_live) >= 3, seen
    assert page.text_content("#epoch-counter") == "Epoch 20 / 20"
    page.wait_for_selector("#loss-chart[data-points='21']")  # epochs 0..20
    with live_server.api() as client:
        run = client.get(f"v1/runs/{run_id}").json()
    assert run["hyperparameters"]["hidden_layers"] == [40, 40]
    assert run["analysis"]["classes"] == [0, 1, 2]

    # The boundary follows the latest epoch; the slider scrubs back, by mouse and by keyboard.
    page.wait_for_selector("#boundary-canvas[data-epoch='20']")
    last = canvas_png(page, "#boundary-canvas")
    page.fill("#epoch-slider", "0")
    page.wait_for_selector("#boundary-canvas[data-epoch='0']")
    assert page.text_content("#slider-label") == "Epoch 0"
    assert canvas_png(page, "#boundary-canvas") != last
    page.focus("#epoch-slider")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#boundary-canvas[data-epoch='1']")

    # Play runs through the epochs to the last one and stops.
    page.click("#play-button")
    page.wait_for_selector("#play-button[aria-pressed='false']", timeout=30_000)
    page.wait_for_selector("#boundary-canvas[data-epoch='20']")
    assert canvas_png(page, "#boundary-canvas") == last
    shot(page, "mlp-done")
    shot(page, "mlp-done-top", full_page=False)  # the docs picture


def test_diverged_run_shows_its_error(page, live_server, shot) -> None:
    open_dashboard(page, live_server)
    submit_regression(page, "1e-3")
    run_id = page.url.rsplit("/", 1)[1]
    wait_final(page, "diverged")
    page.wait_for_selector("#run-error:not([hidden])")
    with live_server.api() as client:
        run = client.get(f"v1/runs/{run_id}").json()
    assert run["status"] == "diverged"
    text = page.text_content("#run-error")
    assert "diverged" in text
    assert run["error"]["message"] in text
    assert int(page.get_attribute("#loss-chart", "data-points")) >= 2
    shot(page, "regression-diverged")


def test_regression_fit_line_and_descent_path(page, live_server, shot) -> None:
    open_dashboard(page, live_server)
    submit_regression(page, "2e-10")  # the course's learning rate
    wait_final(page, "succeeded")
    page.wait_for_selector("#fit-chart[data-epoch='300']")
    page.wait_for_selector("#loss-chart[data-points='301']")
    fitted = canvas_png(page, "#fit-chart")
    path = canvas_png(page, "#contour-chart")
    page.fill("#epoch-slider", "0")
    page.wait_for_selector("#fit-chart[data-epoch='0']")
    assert canvas_png(page, "#fit-chart") != fitted
    assert canvas_png(page, "#contour-chart") != path
    page.fill("#epoch-slider", "300")
    page.wait_for_selector("#fit-chart[data-epoch='300']")
    shot(page, "regression-run")
    shot(page, "regression-run-top", full_page=False)  # the docs picture


def test_learning_rate_sweep_from_the_form(page, live_server, shot) -> None:
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:movies")
    page.fill("#epochs", "100")
    page.fill("#sweep-lrs", "1e-3, 1e-12, 2e-10")
    page.click("#submit-sweep")
    page.wait_for_url(re.compile(r"#/sweeps/[0-9a-f-]+$"))
    wait_js(
        page,
        "document.querySelectorAll('#sweep-runs tbody tr').length === 3 && "
        "[...document.querySelectorAll('#sweep-runs tbody [data-status]')].every("
        "b => !['queued', 'running'].includes(b.dataset.status))",
        timeout=RUN_TIMEOUT_MS,
    )
    statuses = page.eval_on_selector_all(
        "#sweep-runs tbody [data-status]", "els => els.map(e => e.dataset.status)"
    )
    assert sorted(statuses) == ["diverged", "succeeded", "succeeded"]
    shot(page, "sweep")


def test_http_error_detail_is_shown(page, live_server) -> None:
    page.allowed_errors = [r"status of 422"]  # the rejected POST, logged by the browser
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:three-blobs")
    page.fill("#epochs", "20000")  # over the MLP maximum of 10,000
    page.click("#submit-run")
    page.wait_for_selector("#form-error:not([hidden])")
    text = page.text_content("#form-error")
    assert "422" in text and "epochs" in text
    assert "#/runs/" not in page.url


def test_api_key_is_asked_for_once_and_kept(page, live_server) -> None:
    if not live_server.key:
        pytest.skip("the server under test runs without auth")
    page.allowed_errors = [r"status of 401"]  # the calls made before the key was entered
    page.goto(live_server.url)
    page.wait_for_selector("#auth-banner:not([hidden])")
    page.fill("#api-key", live_server.key)
    page.press("#api-key", "Enter")
    page.wait_for_selector("#auth-banner", state="hidden")
    page.wait_for_selector("#dataset option[value='builtin:movies']", state="attached")
    page.reload()
    page.wait_for_selector("#dataset option[value='builtin:movies']", state="attached")
    assert page.is_hidden("#auth-banner")


def test_form_is_labelled_and_keyboard_reachable(page, live_server) -> None:
    open_dashboard(page, live_server)
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => !e.labels?.length && !e.getAttribute('aria-label')).map(e => e.id || e.name)"
    )
    assert unlabelled == []
    reached = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"api-key", "dataset", "kind", "learning-rate", "submit-run"} <= reached


def test_readable_at_phone_width(page, live_server, shot) -> None:
    with live_server.api() as client:
        response = client.post(
            "v1/runs",
            json={
                "kind": "linear_regression",
                "dataset_id": "builtin:linear-noise",
                "features": ["x"],
                "target": "y",
                "hyperparameters": {"learning_rate": 0.01, "epochs": 100},
            },
        )
    assert response.status_code == 202, response.text
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, live_server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{live_server.url}#/runs/{response.json()['id']}")
    wait_final(page, "succeeded")
    page.wait_for_selector("#fit-chart[data-epoch='100']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-run")


def test_event_stream_parser_survives_any_chunking(page, live_server) -> None:
    # fetch() hands the stream over in arbitrary pieces, even between "\r" and "\n".
    open_dashboard(page, live_server)
    events = page.evaluate(
        """async () => {
          const { sseParser } = await import("./static/api.js");
          const text = "event: epoch\\r\\nid: 3\\r\\ndata: {\\"epoch\\": 3}\\r\\n\\r\\n" +
            ": ping\\r\\n\\r\\nevent: status\\r\\n" +
            "data: {\\"status\\": \\"succeeded\\"}\\r\\n\\r\\n";
          const results = [];
          for (const size of [1, 2, 3, 7, text.length]) {
            const got = [];
            const feed = sseParser((ev) => got.push([ev.event, ev.data]));
            for (let i = 0; i < text.length; i += size) feed(text.slice(i, i + size));
            results.push(got);
          }
          return results;
        }"""
    )
    expected = [["epoch", {"epoch": 3}], ["status", {"status": "succeeded"}]]
    assert events == [expected] * 5


def test_works_with_auth_off(page, open_server) -> None:
    open_dashboard(page, open_server)
    assert page.is_hidden("#auth-banner")
    page.select_option("#dataset", "builtin:linear-noise")
    assert page.input_value("#kind") == "linear_regression"
    page.fill("#learning-rate", "0.01")
    page.fill("#epochs", "50")
    submit_form(page)
    wait_final(page, "succeeded")
    page.wait_for_selector("#fit-chart[data-epoch='50'][data-points='30']")


def test_uploaded_csv_trains_and_draws_its_data(page, live_server, tmp_path) -> None:
    rows = [(x, 3 * x + 1 + (0.5 if x % 2 else -0.5)) for x in range(1, 11)]
    csv_path = tmp_path / "hours.csv"
    csv_path.write_text("hours,score\n" + "".join(f"{x},{y}\n" for x, y in rows))
    open_dashboard(page, live_server)
    page.set_input_files("#csv-file", str(csv_path))
    page.click("#upload-button")
    wait_js(page, "document.getElementById('dataset').value.length === 36")
    assert "hours (10 rows)" in page.eval_on_selector("#dataset", "s => s.selectedOptions[0].text")
    assert page.input_value("#target") == "score"
    assert page.is_checked("#features input[value='hours']")
    assert page.input_value("#kind") == "linear_regression"
    page.fill("#learning-rate", "0.01")
    page.fill("#epochs", "200")
    submit_form(page)
    wait_final(page, "succeeded")
    page.wait_for_selector("#fit-chart[data-epoch='200'][data-points='10']")


def test_falls_back_to_polling_when_the_stream_is_cut(page, live_server) -> None:
    # A proxy that ends every event stream at once: the page must still follow the run.
    page.route(
        re.compile(r"/v1/runs/[^/]+/events"),
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=""),
    )
    polls: list[str] = []
    page.on(
        "request",
        lambda r: polls.append(r.url) if r.headers.get("if-none-match") else None,
    )
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:three-blobs")
    page.fill("#hidden-layers", "8")
    page.fill("#epochs", "5")
    submit_form(page)
    wait_final(page, "succeeded", MLP_TIMEOUT_MS)
    assert page.text_content("#epoch-counter") == "Epoch 5 / 5"
    page.wait_for_selector("#loss-chart[data-points='6']")
    page.wait_for_selector("#boundary-canvas[data-epoch='5']")
    assert polls, "the page never polled the run with If-None-Match"


def test_cancel_keeps_the_history_and_delete_removes_the_run(page, live_server) -> None:
    open_dashboard(page, live_server)
    page.select_option("#dataset", "builtin:three-blobs")
    page.fill("#run-name", "to be cancelled")
    page.fill("#hidden-layers", "8")
    page.fill("#epochs", "500")
    run_id = submit_form(page)
    wait_epoch(page, 1)
    page.click("#cancel-run")
    wait_final(page, "cancelled")
    page.wait_for_selector("#cancel-run", state="hidden")
    with live_server.api() as client:
        run = client.get(f"v1/runs/{run_id}").json()
        history = client.get(f"v1/runs/{run_id}/history").json()["epochs"]
    assert run["status"] == "cancelled"
    assert 2 <= len(history) < 501
    page.wait_for_selector(f"#loss-chart[data-points='{len(history)}']")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-run")
    page.wait_for_url(re.compile(r"#/$"))
    page.wait_for_selector("#runs-table[data-loaded]", state="attached")
    assert page.query_selector(f"#runs-table tr[data-run-id='{run_id}']") is None

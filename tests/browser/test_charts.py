"""The run page's charts in headless Chromium: hover read-outs, zoom and reset, the log toggle,
PNG and CSV downloads, readable tick labels, and the live elapsed / rate / ETA line.

Runs train on the real worker of `live_server`; values read in the page are checked against
the run's history from the API.
"""

from __future__ import annotations

import csv
import io
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_dashboard import (
    MLP_TIMEOUT_MS,
    canvas_png,
    open_dashboard,
    wait_epoch,
    wait_final,
    wait_js,
)

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def submit(server: Any, body: dict[str, Any]) -> str:
    """Submit a run through the API; return its id."""
    with server.api() as client:
        response = client.post("v1/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def history(server: Any, run_id: str) -> list[dict[str, Any]]:
    """Return the run's stored epochs."""
    with server.api() as client:
        page = client.get(f"v1/runs/{run_id}/history", params={"limit": 10000}).json()
    return list(page["epochs"])


def readout_value(text: str, name: str) -> float:
    """Parse `name VALUE` out of a read-out line such as `epoch 12 · loss 3.1e4`."""
    match = re.search(rf"(?:^|· ){re.escape(name)} (\S+)", text)
    assert match, f"no {name} in the read-out {text!r}"
    return float(match.group(1))


def hover(page: Any, selector: str, fx: float, fy: float = 0.5) -> None:
    """Move the mouse to a fraction (fx, fy) of the element's box."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)


def drag(page: Any, selector: str, fx0: float, fx1: float) -> None:
    """Press, move and release the mouse across the element from fx0 to fx1 of its width."""
    hover(page, selector, fx0)
    box = page.locator(selector).bounding_box()
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fx1, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def x_range(page: Any, selector: str) -> tuple[float, float]:
    lo = page.get_attribute(selector, "data-x-min")
    hi = page.get_attribute(selector, "data-x-max")
    return float(lo), float(hi)


def download(page: Any, button: str) -> tuple[str, bytes]:
    """Click a download button; return the suggested file name and the file's bytes."""
    with page.expect_download() as info:
        page.click(button)
    got = info.value
    return got.suggested_filename, Path(got.path()).read_bytes()


@pytest.fixture(scope="module")
def course_regression(live_server: Any) -> str:
    """The course's regression (movies, learning rate 2e-10, 300 epochs), trained once."""
    return submit(live_server, {
        "kind": "linear_regression", "dataset_id": "builtin:movies",
        "features": ["num_want_to_see"], "target": "nums_audience",
        "hyperparameters": {"learning_rate": 2e-10, "epochs": 300},
    })  # fmt: skip


def open_run(page: Any, server: Any, run_id: str) -> None:
    open_dashboard(page, server)
    page.goto(f"{server.url}#/runs/{run_id}")
    wait_final(page, "succeeded")
    page.wait_for_selector("#loss-chart[data-points='301']")
    page.wait_for_selector("#param-chart-b[data-x-max='300']")


def test_hover_reads_the_values_under_the_cursor(
    page, live_server, course_regression, shot
) -> None:
    open_run(page, live_server, course_regression)
    rows = {r["epoch"]: r for r in history(live_server, course_regression)}
    assert "Hover for values" in page.text_content("#loss-chart-readout")

    hover(page, "#loss-chart", 0.55)
    epoch = int(page.get_attribute("#loss-chart-readout", "data-x"))
    assert 100 <= epoch <= 200, epoch  # the middle of epochs 0..300
    text = page.text_content("#loss-chart-readout")
    assert text.startswith(f"epoch {epoch} · loss ")
    assert readout_value(text, "loss") == pytest.approx(rows[epoch]["loss"], rel=1e-5)

    # a and b each have their own chart and read-out; b is about 1e-6, a about 0.06.
    hover(page, "#param-chart-b", 0.9)
    epoch = int(page.get_attribute("#param-chart-b-readout", "data-x"))
    b = readout_value(page.text_content("#param-chart-b-readout"), "b")
    assert b == pytest.approx(rows[epoch]["params"]["b"], rel=1e-5)
    hover(page, "#param-chart-a", 0.9)
    epoch = int(page.get_attribute("#param-chart-a-readout", "data-x"))
    a = readout_value(page.text_content("#param-chart-a-readout"), "a")
    assert a == pytest.approx(rows[epoch]["params"]["a"], rel=1e-5)
    shot(page, "charts-hover", full_page=False)

    page.mouse.move(1, 1)  # leaving the chart clears its read-out
    assert "Hover for values" in page.text_content("#param-chart-a-readout")

    # The docs picture: the whole run page down to the parameter charts, a read-out showing.
    page.set_viewport_size({"width": 1280, "height": 1260})
    page.evaluate("window.scrollTo(0, 0)")
    hover(page, "#loss-chart", 0.35)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "dashboard-run", full_page=False)


def test_tick_labels_tell_close_ticks_apart(page, live_server) -> None:
    # A fixed four digits labelled b's axis "-100 / -100" when b barely moved around -100.
    open_dashboard(page, live_server)
    labels = page.evaluate(
        """async () => {
          const { tickLabels } = await import("./static/charts.js");
          return [tickLabels([-100.002, -100.001, -100, -99.999]),
                  tickLabels([0, 1e-6, 2e-6, 3e-6]), tickLabels([5, 10, 15, 20])];
        }"""
    )
    assert labels == [
        ["-100.002", "-100.001", "-100", "-99.999"],
        ["0", "1e-6", "2e-6", "3e-6"],
        ["5", "10", "15", "20"],
    ]


def test_drag_zooms_to_an_epoch_range_and_reset_restores(
    page, live_server, course_regression
) -> None:
    open_run(page, live_server, course_regression)
    page.locator("#loss-chart").scroll_into_view_if_needed()
    page.mouse.move(1, 1)
    assert x_range(page, "#loss-chart") == (0, 300)
    assert page.is_disabled("#loss-chart-reset")
    whole = canvas_png(page, "#loss-chart")

    drag(page, "#loss-chart", 0.4, 0.7)
    lo, hi = x_range(page, "#loss-chart")
    assert 0 < lo < hi < 300 and lo == int(lo) and hi == int(hi), (lo, hi)
    assert page.is_enabled("#loss-chart-reset")
    # Hovering inside the zoom reads epochs of the zoomed range only.
    hover(page, "#loss-chart", 0.98)
    assert lo <= int(page.get_attribute("#loss-chart-readout", "data-x")) <= hi
    # The other charts keep their own range.
    assert x_range(page, "#param-chart-a") == (0, 300)

    page.click("#loss-chart-reset")
    assert x_range(page, "#loss-chart") == (0, 300)
    assert page.is_disabled("#loss-chart-reset")
    assert canvas_png(page, "#loss-chart") == whole

    # A double-click resets too.
    drag(page, "#param-chart-a", 0.5, 0.9)
    assert x_range(page, "#param-chart-a")[0] > 0
    page.dblclick("#param-chart-a")
    assert x_range(page, "#param-chart-a") == (0, 300)


def test_log_toggle_redraws_the_y_axis(page, live_server, course_regression) -> None:
    open_run(page, live_server, course_regression)
    page.mouse.move(1, 1)
    assert page.is_checked("#loss-chart-log")  # a regression's loss starts on a log scale
    assert page.get_attribute("#loss-chart", "data-log") == "true"
    logged = canvas_png(page, "#loss-chart")
    page.uncheck("#loss-chart-log")
    assert page.get_attribute("#loss-chart", "data-log") == "false"
    linear = canvas_png(page, "#loss-chart")
    assert linear != logged
    page.check("#loss-chart-log")
    assert canvas_png(page, "#loss-chart") == logged
    # b starts at 0, which a log scale cannot show: the chart says so instead of failing.
    page.check("#param-chart-b-log")
    assert page.get_attribute("#param-chart-b", "data-log") == "true"


def test_png_and_csv_downloads(page, live_server, course_regression) -> None:
    open_run(page, live_server, course_regression)
    rows = history(live_server, course_regression)
    page.mouse.move(1, 1)

    name, data = download(page, "#loss-chart-png")
    assert name == f"run-{course_regression[:8]}-loss.png"
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # IHDR: the canvas's own pixels
    assert (width, height) == tuple(
        page.eval_on_selector("#loss-chart", "c => [c.width, c.height]")
    )

    name, data = download(page, "#loss-chart-csv")
    assert name == f"run-{course_regression[:8]}-loss.csv"
    table = list(csv.reader(io.StringIO(data.decode())))
    assert table[0] == ["epoch", "loss"]
    assert [[int(e), float(v)] for e, v in table[1:]] == [[r["epoch"], r["loss"]] for r in rows]

    name, data = download(page, "#param-chart-b-csv")
    assert name == f"run-{course_regression[:8]}-param-b.csv"
    table = list(csv.reader(io.StringIO(data.decode())))
    assert table[0] == ["epoch", "b"] and len(table) == 302
    assert float(table[-1][1]) == rows[-1]["params"]["b"]


def test_live_run_shows_elapsed_rate_and_eta(page, live_server, shot) -> None:
    run_id = submit(live_server, {
        "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
        "features": ["x1", "x2"], "target": "label", "name": "live stats",
        "hyperparameters": {"hidden_layers": [8], "epochs": 400, "batch_size": 32},
    })  # fmt: skip
    open_dashboard(page, live_server)
    page.goto(f"{live_server.url}#/runs/{run_id}")
    wait_epoch(page, 3)
    wait_js(
        page,
        "Number(document.getElementById('run-rate')?.dataset.rate) > 0 && "
        "Number(document.getElementById('run-eta')?.dataset.seconds) > 0",
        timeout=MLP_TIMEOUT_MS,
    )
    assert page.get_attribute("#run-status [data-status]", "data-status") == "running"
    assert re.fullmatch(
        r"elapsed (\d+ ms|\d+\.\d s|\d+ min \d\d s)", page.text_content("#run-elapsed")
    )
    assert re.fullmatch(r"[\d.]+ epochs/s", page.text_content("#run-rate"))
    assert page.text_content("#run-eta").startswith("ETA ")
    # The ETA is what is left at the shown rate, and the elapsed time keeps ticking.
    stats = page.evaluate(
        """() => ({rate: Number(document.getElementById('run-rate').dataset.rate),
                  eta: Number(document.getElementById('run-eta').dataset.seconds),
                  elapsed: Number(document.getElementById('run-elapsed').dataset.seconds),
                  epoch: Number(document.getElementById('epoch-counter').dataset.epoch)})"""
    )
    left = 400 - stats["epoch"]
    assert stats["eta"] * stats["rate"] == pytest.approx(left, abs=stats["rate"] * 2)
    elapsed = "Number(document.getElementById('run-elapsed').dataset.seconds)"
    wait_js(page, f"{elapsed} > {stats['elapsed'] + 1}")
    shot(page, "live-stats", full_page=False)

    with live_server.api() as client:
        assert client.post(f"v1/runs/{run_id}/cancel").status_code in (200, 202)
    wait_final(page, "cancelled")
    page.wait_for_selector("#run-eta", state="hidden")
    assert page.text_content("#run-elapsed").startswith("took ")


def test_mlp_charts_have_their_tools_and_legends(page, live_server, shot) -> None:
    run_id = submit(live_server, {
        "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
        "features": ["x1", "x2"], "target": "label", "name": "course MLP 2-40-40-3",
        "hyperparameters": {"hidden_layers": [40, 40], "epochs": 20, "batch_size": 32,
                            "optimizer": {"name": "sgd", "learning_rate": 0.01}},
    })  # fmt: skip
    open_dashboard(page, live_server)
    page.goto(f"{live_server.url}#/runs/{run_id}")
    wait_final(page, "succeeded", MLP_TIMEOUT_MS)
    page.wait_for_selector("#boundary-canvas[data-epoch='20']")
    for chart in ("loss-chart", "accuracy-chart", "norms-chart", "grads-chart"):
        for tool in ("log", "reset", "png", "csv", "readout"):
            assert page.query_selector(f"#{chart}-{tool}"), f"#{chart}-{tool}"
    rows = {r["epoch"]: r for r in history(live_server, run_id)}
    hover(page, "#accuracy-chart", 0.97)
    epoch = int(page.get_attribute("#accuracy-chart-readout", "data-x"))
    text = page.text_content("#accuracy-chart-readout")
    assert readout_value(text, "accuracy") == pytest.approx(rows[epoch]["accuracy"], rel=1e-5)
    name, data = download(page, "#norms-chart-csv")
    table = list(csv.reader(io.StringIO(data.decode())))
    assert table[0] == ["epoch", *rows[0]["weight_norms"].keys()] and len(table) == 22
    page.mouse.move(1, 1)
    shot(page, "mlp-charts")

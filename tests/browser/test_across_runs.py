"""The across-runs views in headless Chromium: the runs table (sort, tag and text filters,
selection), the compare view, the sweeps list and a sweep page with pruned runs.

Runs and sweeps train on the real worker of `live_server` (one task at a time, so a sweep's
runs train in grid order); what the page shows is checked against the API's answers.
Screenshots of the three views go to test-artifacts/ (runs-table, compare, sweep-page);
docs/img/ holds copies of them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_dashboard import MLP_TIMEOUT_MS, wait_js

pytestmark = pytest.mark.e2e

FINAL = {"succeeded", "diverged", "failed", "cancelled", "pruned"}
TIMEOUT_S = 300


def open_view(page: Any, server: Any, view: str) -> None:
    """Open a view of the dashboard with the API key already stored."""
    if server.key:
        page.add_init_script(f"localStorage.setItem('descent.apiKey', {json.dumps(server.key)});")
    page.goto(f"{server.url}#/{view}")


def wait_final(client: Any, path: str) -> dict[str, Any]:
    """Poll a run or sweep until its status is final; return it."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        body = client.get(path).json()
        if body["status"] in FINAL:
            return dict(body)
        assert time.monotonic() < deadline, f"{path} still {body['status']}"
        time.sleep(0.5)


def regression(name: str, learning_rate: float, epochs: int) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "linear_regression",
        "dataset_id": "builtin:linear-noise",
        "features": ["x"],
        "target": "y",
        "hyperparameters": {"learning_rate": learning_rate, "epochs": epochs},
    }


@pytest.fixture(scope="module")
def tagged_runs(live_server: Any) -> Iterator[dict[str, Any]]:
    """Three finished regression runs named `tbl-TOKEN-…`, tagged `tTOKEN` (and fast / slow)."""
    token = uuid.uuid4().hex[:6]
    tag = f"t{token}"
    specs = [("a", 0.05, 60, ["fast"]), ("b", 0.01, 60, []), ("c", 0.002, 40, ["slow"])]
    runs = {}
    with live_server.api() as client:
        for key, lr, epochs, _ in specs:
            created = client.post("v1/runs", json=regression(f"tbl-{token}-{key}", lr, epochs))
            assert created.status_code == 202, created.text
            runs[key] = created.json()["id"]
        for key, _, _, extra in specs:
            assert wait_final(client, f"v1/runs/{runs[key]}")["status"] == "succeeded"
            patched = client.patch(f"v1/runs/{runs[key]}", json={"tags": [tag, *extra]})
            assert patched.status_code == 200, patched.text
    yield {"token": token, "tag": tag, "ids": runs}


def row_ids(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all("#runs-explorer tbody tr", "rs => rs.map(r => r.dataset.runId)")
    )


def wait_query(page: Any, *parts: str) -> None:
    """Wait until the table shows the answer to a query containing every part."""
    checks = " && ".join(f"q.includes({json.dumps(p)})" for p in parts)
    wait_js(
        page,
        f"(q => q !== undefined && {checks})"
        "(document.getElementById('runs-explorer')?.dataset.query)",
    )


def test_runs_table_sorts_and_filters(page: Any, live_server: Any, tagged_runs: Any, shot) -> None:
    token, tag, ids = tagged_runs["token"], tagged_runs["tag"], tagged_runs["ids"]
    open_view(page, live_server, "runs")
    page.wait_for_selector("#runs-explorer[data-loaded]", state="attached")
    page.fill("#runs-q", f"tbl-{token}")
    wait_query(page, f"q=tbl-{token}")
    assert sorted(row_ids(page)) == sorted(ids.values())
    row = page.locator(f"tr[data-run-id='{ids['c']}']")
    assert "linear-noise" in row.inner_text() and tag in row.inner_text()

    with live_server.api() as client:
        by_loss = client.get("v1/runs", params={"q": f"tbl-{token}", "sort": "metrics.loss"}).json()
    expected = [r["id"] for r in by_loss["items"]]
    losses = [r["metrics"]["loss"] for r in by_loss["items"]]
    assert losses == sorted(losses) and len(set(losses)) == 3
    page.click("button.sort[data-sort='metrics.loss']")
    wait_query(page, "sort=metrics.loss")
    assert row_ids(page) == expected
    assert (
        page.get_attribute("th:has(button[data-sort='metrics.loss'])", "aria-sort") == "ascending"
    )
    page.click("button.sort[data-sort='metrics.loss']")
    wait_query(page, "sort=-metrics.loss")
    assert row_ids(page) == expected[::-1]
    page.click("button.sort[data-sort='metrics.loss']")
    wait_query(page, "sort=metrics.loss")

    # Tags: all must match; a tag chip in a row adds itself to the filter.
    page.fill("#runs-tag", tag)
    page.press("#runs-tag", "Enter")
    wait_query(page, f"tag={tag}")
    assert sorted(row_ids(page)) == sorted(ids.values())
    page.click(f"tr[data-run-id='{ids['c']}'] button.tag:text-is('slow')")
    wait_query(page, f"tag={tag}", "tag=slow")
    assert row_ids(page) == [ids["c"]]
    page.click("#tag-filters button:has-text('slow')")
    wait_query(page, f"tag={tag}")
    wait_js(page, f"document.querySelectorAll('#runs-explorer tbody tr').length === {len(ids)}")
    shot(page, "runs-table-filtered", full_page=False)


def test_select_two_runs_and_compare(page: Any, live_server: Any, tagged_runs: Any, shot) -> None:
    token, ids = tagged_runs["token"], tagged_runs["ids"]
    open_view(page, live_server, "runs")
    page.fill("#runs-q", f"tbl-{token}")
    wait_query(page, f"q=tbl-{token}")
    assert page.is_disabled("#compare-runs")
    page.check(f"tr[data-run-id='{ids['a']}'] input.pick-run")
    assert page.is_disabled("#compare-runs")
    page.check(f"tr[data-run-id='{ids['c']}'] input.pick-run")
    page.click("#compare-runs")
    page.wait_for_url(re.compile(r"#/compare/"))
    page.wait_for_selector("#compare-differs[data-loaded]", state="attached")

    with live_server.api() as client:
        compared = client.get("v1/runs/compare", params={"ids": f"{ids['a']},{ids['c']}"}).json()
    assert {"learning_rate", "epochs"} <= set(compared["differs"])
    shown = page.eval_on_selector_all(
        "#compare-differs tbody tr", "rs => rs.map(r => r.dataset.name)"
    )
    assert sorted(shown) == sorted(compared["differs"])
    cells = page.eval_on_selector_all(
        "#compare-differs tr[data-name='learning_rate'] td", "cs => cs.map(c => c.textContent)"
    )
    assert cells == ["0.05", "0.002"]
    loss = page.eval_on_selector_all(
        "#compare-metrics tr[data-name='loss'] td", "cs => cs.map(c => Number(c.textContent))"
    )
    expected = compared["metrics"]["loss"]
    assert loss == pytest.approx(expected, rel=1e-3)
    best = page.eval_on_selector_all(
        "#compare-metrics tr[data-name='loss'] td",
        "cs => cs.map(c => c.classList.contains('best-cell'))",
    )
    assert best == [v == min(expected) for v in expected]

    page.wait_for_selector("#compare-plot[data-loaded]", state="attached")
    assert page.evaluate("document.getElementById('compare-plot').naturalWidth") > 0
    shot(page, "compare-regressions", full_page=False)


def test_edit_tags_and_notes_on_the_run_page(page: Any, live_server: Any, tagged_runs: Any) -> None:
    run_id, tag = tagged_runs["ids"]["b"], tagged_runs["tag"]
    open_view(page, live_server, f"runs/{run_id}")
    page.wait_for_selector(f"#run-tags .tag:text-is('{tag}')")
    page.click("#edit-meta")
    assert page.input_value("#edit-tags") == tag
    page.fill("#edit-tags", f"{tag}, keep  keep")
    page.fill("#edit-notes", "the one to beat")
    page.click("#save-meta")
    page.wait_for_selector("#run-notes")
    assert page.text_content("#run-notes") == "the one to beat"
    with live_server.api() as client:
        run = client.get(f"v1/runs/{run_id}").json()
    assert run["tags"] == [tag, "keep"] and run["notes"] == "the one to beat"
    shown = page.eval_on_selector_all("#run-tags .tag", "ts => ts.map(t => t.textContent)")
    assert shown == run["tags"]


@pytest.fixture(scope="module")
def pruned_sweep(live_server: Any) -> Iterator[dict[str, Any]]:
    """A finished 2×2 MLP grid (optimizer × learning rate) with ASHA on the loss."""
    body = {
        "name": f"optimizers-{uuid.uuid4().hex[:6]}",
        "run": {
            "kind": "mlp_classifier",
            "dataset_id": "builtin:three-blobs",
            "features": ["x1", "x2"],
            "target": "label",
            "hyperparameters": {"hidden_layers": [8], "epochs": 12, "batch_size": 32},
        },
        "axes": {"optimizer.name": ["adam", "sgd"], "optimizer.learning_rate": [0.05, 0.002]},
        "early_stop": {"method": "asha", "metric": "loss", "min_epochs": 3, "reduction_factor": 3},
    }
    with live_server.api() as client:
        created = client.post("v1/sweeps", json=body)
        assert created.status_code == 202, created.text
        sweep = wait_final(client, f"v1/sweeps/{created.json()['id']}")
    yield sweep


def test_sweeps_list_and_sweep_page(page: Any, live_server: Any, pruned_sweep: Any, shot) -> None:
    sweep = pruned_sweep
    statuses = sorted(r["status"] for r in sweep["runs"])
    assert "pruned" in statuses and sweep["epochs_saved"] > 0, statuses
    open_view(page, live_server, "sweeps")
    row = page.locator(f"#sweeps-table tr[data-sweep-id='{sweep['id']}']")
    row.wait_for()
    text = row.inner_text()
    assert "grid" in text and f"{statuses.count('pruned')} pruned" in text
    assert str(sweep["epochs_saved"]) in text

    row.locator("a").first.click()
    page.wait_for_url(re.compile(rf"#/sweeps/{sweep['id']}$"))
    page.wait_for_selector("#sweep-parallel[data-loaded]", state="attached", timeout=MLP_TIMEOUT_MS)
    assert page.evaluate("document.getElementById('sweep-parallel').naturalWidth") > 0
    axes = page.eval_on_selector_all(
        "#sweep-runs thead th[data-axis]", "hs => hs.map(h => h.dataset.axis)"
    )
    assert axes == ["optimizer.name", "optimizer.learning_rate"]
    shown = page.eval_on_selector_all(
        "#sweep-runs tbody tr",
        """rs => rs.map(r => [r.dataset.runId, r.querySelector('[data-status]').dataset.status,
             [...r.querySelectorAll('td[data-axis]')].map(c => c.textContent)])""",
    )
    expected = [
        [
            r["id"],
            r["status"],
            [r["swept"]["optimizer.name"], f"{r['swept']['optimizer.learning_rate']:g}"],
        ]
        for r in sweep["runs"]
    ]
    assert shown == expected
    # sgd and adam runs look different: every run has its own label.
    assert len({tuple(s[2]) for s in shown}) == 4
    pruned = page.eval_on_selector_all(
        "#sweep-runs tbody tr.pruned", "rs => rs.map(r => r.dataset.runId)"
    )
    assert pruned == [r["id"] for r in sweep["runs"] if r["status"] == "pruned"]
    assert page.locator("#sweep-epochs-saved").inner_text() == str(sweep["epochs_saved"])
    shot(page, "sweep-page")

    # The docs pictures: the runs table with the sweep's runs ticked, and their comparison.
    page.click("nav a[href='#/runs']")
    page.click("button.sort[data-sort='metrics.loss']")
    wait_query(page, "sort=metrics.loss")
    for run in sweep["runs"][::2]:
        page.check(f"tr[data-run-id='{run['id']}'] input.pick-run")
    shot(page, "runs-table", full_page=False)
    page.click("#compare-runs")
    page.wait_for_selector("#compare-differs tr[data-name='optimizer.name']")
    page.wait_for_selector("#compare-plot[data-loaded]", state="attached")
    shot(page, "compare", full_page=False)


def test_sweep_labels_name_every_swept_value(page: Any, live_server: Any) -> None:
    # A sweep's runs are told apart by all they swept, found by dotted name when a run
    # carries no `swept` (sweeps stored before it existed).
    open_view(page, live_server, "sweeps")
    page.wait_for_selector("#sweeps-table[data-loaded]", state="attached")
    labels = page.evaluate(
        """async () => {
          const { sweptLabel } = await import("./static/runinfo.js");
          const run = (name, lr) =>
            ({ id: "r", hyperparameters: { optimizer: { name, learning_rate: lr } } });
          const axes = ["optimizer.name", "optimizer.learning_rate"];
          return [
            sweptLabel(run("sgd", 0.01), axes),
            sweptLabel(run("adam", 0.01), axes),
            sweptLabel({ id: "r", swept: { "optimizer.learning_rate": 1e-4 } }, []),
            sweptLabel({ id: "r", hyperparameters: { learning_rate: 2e-10 } }, ["learning_rate"]),
          ];
        }"""
    )
    assert labels == [
        "optimizer=sgd, lr=0.01",
        "optimizer=adam, lr=0.01",
        "lr=1e-4",
        "lr=2e-10",
    ]

"""History, snapshots, loss surface, predict and model download from stored epochs."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

from PIL import Image

from tests.api.data import diverge, fake_mlp_run, train_regression_run
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, run_body

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
COURSE_RUN = run_body(MOVIES_RUN, learning_rate=2e-10, epochs=300, init={"a": -0.75, "b": -100})


def submit(api, body):  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/runs", json=body, headers=api.a)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_history_pages_cover_every_epoch_once(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, COURSE_RUN)
    train_regression_run(run_id)
    epochs, since = [], None
    while True:
        params = {"limit": 70} | ({"since_epoch": since} if since is not None else {})
        page = api.client.get(f"/v1/runs/{run_id}/history", params=params, headers=api.a).json()
        epochs += [row["epoch"] for row in page["epochs"]]
        since = page["next_since_epoch"]
        if since is None:
            break
    assert epochs == list(range(301))
    run = api.client.get(f"/v1/runs/{run_id}", headers=api.a).json()
    assert run["status"] == "succeeded" and run["progress"]["epoch"] == 300


def test_history_rows_and_downsample(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, COURSE_RUN)
    train_regression_run(run_id)
    first = api.client.get(f"/v1/runs/{run_id}/history", params={"limit": 1}, headers=api.a)
    row = first.json()["epochs"][0]
    assert row["epoch"] == 0 and row["params"] == {"a": -0.75, "b": -100.0}
    assert set(row) >= {"loss", "val_loss", "accuracy", "val_accuracy", "grad_norms"}
    small = api.client.get(f"/v1/runs/{run_id}/history", params={"max_points": 20}, headers=api.a)
    epochs = [r["epoch"] for r in small.json()["epochs"]]
    assert len(epochs) <= 20 and epochs[0] == 0 and epochs[-1] == 300


def test_history_csv(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, epochs=5))
    train_regression_run(run_id)
    r = api.client.get(f"/v1/runs/{run_id}/history", params={"format": "csv"}, headers=api.a)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("epoch,loss") and "a" in lines[0].split(",")
    assert len(lines) == 7


def test_history_rows_carry_their_wall_clock_time(api) -> None:  # type: ignore[no-untyped-def]
    before = datetime.now(UTC) - timedelta(seconds=1)
    run_id = submit(api, run_body(MOVIES_RUN, epochs=40))
    train_regression_run(run_id)
    after = datetime.now(UTC) + timedelta(seconds=1)
    url = f"/v1/runs/{run_id}/history"
    rows = api.client.get(url, headers=api.a).json()["epochs"]
    assert len(rows) == 41
    stamps = [row["recorded_at"] for row in rows]
    assert all(RFC3339_UTC.fullmatch(s) for s in stamps), stamps[:3]
    times = [datetime.fromisoformat(s) for s in stamps]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after
    page = api.client.get(url, params={"limit": 5, "since_epoch": 9}, headers=api.a).json()
    assert [r["recorded_at"] for r in page["epochs"]] == stamps[10:15]
    small = api.client.get(url, params={"max_points": 6}, headers=api.a).json()["epochs"]
    assert len(small) <= 6 and all(r["recorded_at"] == stamps[r["epoch"]] for r in small)
    text = api.client.get(url, params={"format": "csv"}, headers=api.a).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["recorded_at"] for r in table] == stamps


def test_history_limit_over_setting(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, MOVIES_RUN)
    r = api.client.get(f"/v1/runs/{run_id}/history", params={"limit": 10**6}, headers=api.a)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]


def test_predict_regression_course_number(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, COURSE_RUN)
    assert (
        api.client.post(
            f"/v1/runs/{run_id}/predict", json={"inputs": [12008]}, headers=api.a
        ).status_code
        == 409
    )
    train_regression_run(run_id)
    r = api.client.post(f"/v1/runs/{run_id}/predict", json={"inputs": [12008]}, headers=api.a)
    assert r.status_code == 200, r.text
    assert round(r.json()["predictions"][0], 2) == 758.07
    assert "probabilities" not in r.json()
    bad = api.client.post(f"/v1/runs/{run_id}/predict", json={"inputs": [[1, 2]]}, headers=api.a)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "inputs"]


def test_model_download(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, epochs=5))
    assert api.client.get(f"/v1/runs/{run_id}/model", headers=api.a).status_code == 409
    train_regression_run(run_id)
    r = api.client.get(f"/v1/runs/{run_id}/model", headers=api.a)
    assert r.status_code == 200 and set(json.loads(r.content)) == {"a", "b"}
    assert "attachment" in r.headers["content-disposition"]


def test_loss_surface(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, MOVIES_RUN)
    r = api.client.get(f"/v1/runs/{run_id}/loss-surface", headers=api.a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["a"]) == 100 and len(body["b"]) == 100
    assert len(body["loss"]) == 100 and len(body["loss"][0]) == 100
    assert set(body["optimum"]) == {"a", "b", "loss"}
    mlp = submit(api, BLOBS_RUN)
    assert api.client.get(f"/v1/runs/{mlp}/loss-surface", headers=api.a).status_code == 404


def test_snapshots_and_mlp_predict(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(BLOBS_RUN, snapshots={"resolution": 20}))
    assert (
        api.client.post(
            f"/v1/runs/{run_id}/predict", json={"inputs": [[10, 20]]}, headers=api.a
        ).status_code
        == 409
    )
    fake_mlp_run(run_id, epochs=3)
    listed = api.client.get(f"/v1/runs/{run_id}/snapshots", headers=api.a).json()
    assert listed["epochs"] == [0, 1, 2, 3]
    assert listed["resolution"] == 20 and listed["classes"] == [0, 1, 2]
    assert len(listed["extent"]) == 4
    grid = api.client.get(f"/v1/runs/{run_id}/snapshots/2", headers=api.a).json()["grid"]
    assert len(grid) == 20 and len(grid[0]) == 20 and max(max(r) for r in grid) <= 2
    assert api.client.get(f"/v1/runs/{run_id}/snapshots/9", headers=api.a).status_code == 404
    r = api.client.post(
        f"/v1/runs/{run_id}/predict", json={"inputs": [[10, 20], [80, 40]]}, headers=api.a
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert all(p in (0, 1, 2) for p in body["predictions"])
    assert len(body["probabilities"]) == 2 and abs(sum(body["probabilities"][0]) - 1) < 1e-9
    regression = submit(api, MOVIES_RUN)
    assert api.client.get(f"/v1/runs/{regression}/snapshots", headers=api.a).status_code == 404


def image(response):  # type: ignore[no-untyped-def]
    return Image.open(io.BytesIO(response.content))


def test_regression_plots(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, COURSE_RUN)
    url = f"/v1/runs/{run_id}/plots"
    assert api.client.get(f"{url}/loss.png", headers=api.a).status_code == 409
    train_regression_run(run_id)
    for name in ("loss", "params", "fit", "surface", "contour"):
        r = api.client.get(f"{url}/{name}.png", params={"width": 400, "height": 300},
                           headers=api.a)  # fmt: skip
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"] == "image/png"
        assert image(r).size == (400, 300)
    fit = api.client.get(f"{url}/fit.png", params={"x": 12008}, headers=api.a)
    assert fit.status_code == 200
    for name in ("boundary.png", "boundary.gif"):  # never, for this kind: 422, not 404
        r = api.client.get(f"{url}/{name}", headers=api.a)
        assert r.status_code == 422 and r.json()["detail"] == [{"loc": ["path", "name"], "msg": (
            f"{name} exists for mlp_classifier runs of two or more features that record "
            "snapshots only; "
            "this run: linear_regression, 1 feature (loss.png and params.png exist for every run)"
        )}]  # fmt: skip
    assert api.client.get(f"{url}/nope.png", headers=api.a).status_code == 422
    too_big = api.client.get(f"{url}/loss.png", params={"width": 5000}, headers=api.a)
    assert too_big.status_code == 422


def test_plot_etag_and_cache(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, epochs=5))
    train_regression_run(run_id)
    url = f"/v1/runs/{run_id}/plots/loss.png"
    first = api.client.get(url, headers=api.a)
    tag = first.headers["ETag"]
    again = api.client.get(url, headers={**api.a, "If-None-Match": tag})
    assert again.status_code == 304
    assert api.client.get(url, headers=api.a).content == first.content
    log = api.client.get(url, params={"log": True}, headers=api.a)
    assert log.headers["ETag"] != tag


def test_mlp_plots(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(BLOBS_RUN, snapshots={"resolution": 20}))
    url = f"/v1/runs/{run_id}/plots"
    assert api.client.get(f"{url}/boundary.png", headers=api.a).status_code == 409
    fake_mlp_run(run_id, epochs=3)
    for name in ("loss.png", "params.png", "boundary.png", "boundary.gif"):
        r = api.client.get(f"{url}/{name}", params={"width": 320, "height": 240}, headers=api.a)
        assert r.status_code == 200, (name, r.text)
        assert image(r).size == (320, 240)
    assert image(api.client.get(f"{url}/boundary.gif", headers=api.a)).n_frames == 4
    at_1 = api.client.get(f"{url}/boundary.png", params={"epoch": 1}, headers=api.a)
    assert at_1.status_code == 200
    assert (
        api.client.get(f"{url}/boundary.png", params={"epoch": 7}, headers=api.a).status_code == 404
    )
    also = {"fit": " and one-feature mlp_regressor runs that record snapshots"}
    for name in ("fit", "surface", "contour"):
        r = api.client.get(f"{url}/{name}.png", headers=api.a)
        assert r.status_code == 422 and r.json()["detail"] == [{"loc": ["path", "name"], "msg": (
            f"{name}.png exists for one-feature linear_regression runs{also.get(name, '')} "
            "only; this run: mlp_classifier, 2 features (loss.png and params.png exist for "
            "every run)"
        )}]  # fmt: skip
    assert api.client.get("/v1/runs/nope/plots/fit.png", headers=api.a).status_code == 404


def test_diverged_run_is_valid_json_with_plots(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, learning_rate=1e-3))
    diverge(run_id)
    for path in ("", "/history", "/history?max_points=2"):
        r = api.client.get(f"/v1/runs/{run_id}{path}", headers=api.a)
        assert r.status_code == 200
        assert b"NaN" not in r.content and b"Infinity" not in r.content
    run = api.client.get(f"/v1/runs/{run_id}", headers=api.a).json()
    assert run["status"] == "diverged" and run["metrics"]["loss"] is None
    assert run["result"]["params"]["a"] is None
    for name in ("loss", "params", "contour", "surface", "fit"):
        r = api.client.get(f"/v1/runs/{run_id}/plots/{name}.png", headers=api.a)
        assert r.status_code in (200, 409), (name, r.text)
    assert api.client.get(f"/v1/runs/{run_id}/plots/loss.png", headers=api.a).status_code == 200

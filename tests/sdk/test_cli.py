"""The `descent` CLI: every command against the real app, and the documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import descent
import pytest
from descent import _cli
from descent import _client as client_module
from descent._cli import main, parse_assignments

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

MOVIES = [
    "--kind",
    "linear_regression",
    "--dataset",
    "builtin:movies",
    "--features",
    "num_want_to_see",
    "--target",
    "nums_audience",
]
MOVIES_RUN: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
}
SUBMIT = ["runs", "submit", *MOVIES]
SWEEP = ["sweeps", "create", *MOVIES]


def run_cli(
    client: descent.Client, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    code = main(list(argv), client=client)
    return code, capsys.readouterr().out


def as_json(client: descent.Client, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out = run_cli(client, capsys, *argv, "--json")
    assert code == 0, out
    return json.loads(out)


def test_parse_assignments() -> None:
    assert parse_assignments(["learning_rate=2e-10", "init.a=-0.75", "init.b=0", "name=x y"]) == {
        "learning_rate": 2e-10,
        "init": {"a": -0.75, "b": 0},
        "name": "x y",
    }
    assert parse_assignments(["hidden_layers=[8, 8]", "flag=true"]) == {
        "hidden_layers": [8, 8],
        "flag": True,
    }
    assert parse_assignments(["learning_rate=1e-3,1e-12", "epochs=[5]", "x=3"], lists=True) == {
        "learning_rate": [1e-3, 1e-12],
        "epochs": [5],
        "x": [3],
    }
    with pytest.raises(ValueError):
        parse_assignments(["oops"])


def test_datasets_commands(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "line.csv"
    csv.write_text("x,y\n1,2\n2,4\n3,6\n")
    code, out = run_cli(client, capsys, "datasets", "upload", str(csv), "--name", "line")
    assert code == 0 and "line" in out and "3 rows" in out
    listed = as_json(client, capsys, "datasets", "list")
    assert [d["name"] for d in listed] == ["line"]
    dataset_id = listed[0]["id"]
    assert as_json(client, capsys, "datasets", "get", dataset_id)["n_rows"] == 3
    builtins = as_json(client, capsys, "datasets", "list", "--builtin")
    assert {d["name"] for d in builtins} == {"movies", "three-blobs", "linear-noise"}
    assert run_cli(client, capsys, "datasets", "delete", dataset_id)[0] == 0
    assert run_cli(client, capsys, "datasets", "get", dataset_id)[0] == 3


def test_runs_submit_get_list_cancel_delete(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run = as_json(
        client,
        capsys,
        *SUBMIT,
        "--name",
        "lesson",
        "--set",
        "learning_rate=2e-10",
        "--set",
        "init.a=-0.75",
        "--set",
        "init.b=0",
        "--set",
        "epochs=30",
    )
    assert run["hyperparameters"]["learning_rate"] == 2e-10
    assert run["hyperparameters"]["init"] == {"a": -0.75, "b": 0}
    assert run["name"] == "lesson" and run["progress"]["epochs"] == 30
    code, out = run_cli(client, capsys, "runs", "get", run["id"])
    assert code == 0 and run["id"] in out and "queued" in out and "lr_verdict" in out
    code, out = run_cli(client, capsys, "runs", "list")
    assert code == 0 and run["id"] in out
    assert as_json(client, capsys, "runs", "list", "--status", "succeeded") == []
    code, out = run_cli(client, capsys, "--json", "runs", "list")  # options before the group
    assert code == 0 and [r["id"] for r in json.loads(out)] == [run["id"]]
    assert as_json(client, capsys, "runs", "cancel", run["id"])["status"] == "cancelled"
    assert run_cli(client, capsys, "runs", "cancel", run["id"])[0] == 2  # 409: already final
    assert run_cli(client, capsys, "runs", "delete", run["id"])[0] == 0
    assert run_cli(client, capsys, "runs", "get", run["id"])[0] == 3


def test_runs_watch_exit_codes(client: descent.Client, capsys: pytest.CaptureFixture[str]) -> None:
    ok = client.runs.create(**MOVIES_RUN, epochs=5)
    bad = client.runs.create(**MOVIES_RUN, epochs=5)

    def train() -> None:
        for run, status in ((ok, "succeeded"), (bad, "diverged")):
            worker = RunWriter(run.id)
            worker.epochs(range(6))
            worker.finish(status)

    thread = threading.Timer(0.2, train)
    thread.start()
    code, out = run_cli(client, capsys, "runs", "watch", ok.id)
    assert code == 0 and "succeeded" in out and "epoch 5/5" in out
    code, out = run_cli(client, capsys, "runs", "watch", bad.id, "--no-progress")
    thread.join()
    assert code == 1 and "diverged" in out


def test_runs_submit_watch(client: descent.Client, capsys: pytest.CaptureFixture[str]) -> None:
    def train() -> None:
        run = client.runs.list()[0]
        worker = RunWriter(run.id)
        worker.epochs(range(3))
        worker.finish()

    thread = threading.Timer(0.3, train)
    thread.start()
    code, out = run_cli(client, capsys, *SUBMIT, "--set", "epochs=2", "--watch", "--json")
    thread.join()
    assert code == 0 and json.loads(out)["status"] == "succeeded"


def test_runs_history_plot_predict_model(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = client.runs.create(**MOVIES_RUN, epochs=9)
    worker = RunWriter(run.id)
    worker.epochs(range(10))
    worker.artifact("model", b'{"a": 0.9, "b": 1.0}', "application/json")
    worker.finish()
    code, out = run_cli(client, capsys, "runs", "history", run.id)
    assert code == 0 and len(out.strip().splitlines()) == 11 and '"a": 0.9' in out
    code, out = run_cli(client, capsys, "runs", "history", run.id, "--csv")
    assert code == 0 and out.startswith("epoch,loss") and len(out.strip().splitlines()) == 11
    target = tmp_path / "h.csv"
    assert run_cli(client, capsys, "runs", "history", run.id, "--csv", "-o", str(target))[0] == 0
    assert target.read_text().startswith("epoch,loss")
    rows = as_json(client, capsys, "runs", "history", run.id, "--max-points", "4")
    assert 2 <= len(rows) <= 4
    png = tmp_path / "out.png"
    code, out = run_cli(
        client,
        capsys,
        "runs",
        "plot",
        run.id,
        "fit",
        "--x",
        "160",
        "--width",
        "300",
        "--height",
        "200",
        "-o",
        str(png),
    )
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG") and str(png) in out
    code, _ = run_cli(client, capsys, "runs", "plot", run.id, "loss", "--log", "-o", str(png))
    assert code == 0
    predicted = as_json(client, capsys, "runs", "predict", run.id, "[10]")
    assert predicted["predictions"] == pytest.approx([10.0])  # a=0.9, b=1 after epoch 9
    model = tmp_path / "model.json"
    assert run_cli(client, capsys, "runs", "model", run.id, "-o", str(model))[0] == 0
    assert json.loads(model.read_text()) == {"a": 0.9, "b": 1.0}


def test_runs_plot_boundary_epoch(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: Any
) -> None:
    import numpy as np

    run = client.runs.create(
        kind="mlp_classifier",
        dataset="builtin:three-blobs",
        features=["x1", "x2"],
        target="label",
        epochs=5,
    )
    worker = RunWriter(run.id)
    worker.analysis({**run.analysis, "extent": [-9.0, 9.0, -9.0, 9.0], "resolution": 4})
    for epoch in range(6):
        worker.epochs(range(epoch, epoch + 1), snapshot=np.zeros((4, 4), dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(client, capsys, "runs", "plot", run.id, "boundary", "--epoch", "5")
    assert code == 0 and (tmp_path / "boundary.png").read_bytes().startswith(b"\x89PNG")
    code, out = run_cli(client, capsys, "runs", "plot", run.id, "boundary.gif")
    assert code == 0 and (tmp_path / "boundary.gif").read_bytes().startswith(b"GIF8")


def test_sweeps_commands(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    grid = "learning_rate=1e-3,1e-12,2e-10"
    sweep = as_json(client, capsys, *SWEEP, "--set", "epochs=5", "--grid", grid)
    assert len(sweep["runs"]) == 3 and sweep["status"] == "running"
    code, out = run_cli(client, capsys, "sweeps", "get", sweep["id"])
    assert code == 0 and out.count('{"learning_rate"') == 3

    def train() -> None:
        for run in sweep["runs"]:
            worker = RunWriter(run["id"])
            worker.epochs(range(6))
            worker.finish(
                "diverged" if run["hyperparameters"]["learning_rate"] == 1e-3 else "succeeded"
            )

    thread = threading.Timer(0.2, train)
    thread.start()
    code, out = run_cli(client, capsys, "sweeps", "watch", sweep["id"])
    thread.join()
    assert code == 0 and "diverged" in out and "best:" in out
    png = tmp_path / "sweep.png"
    assert run_cli(client, capsys, "sweeps", "plot", sweep["id"], "-o", str(png))[0] == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert run_cli(client, capsys, "sweeps", "cancel", sweep["id"])[0] == 2  # all final: 409
    other = as_json(client, capsys, *SWEEP, "--grid", "epochs=[3, 4]")
    assert as_json(client, capsys, "sweeps", "cancel", other["id"])["status"] == "cancelled"
    assert run_cli(client, capsys, "sweeps", "delete", other["id"])[0] == 0
    assert run_cli(client, capsys, "sweeps", "get", other["id"])[0] == 3


def test_exit_codes_for_auth_usage_and_validation(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    with server.client(key="not-a-key") as stranger:
        assert main(["runs", "list"], client=stranger) == 4
    with server.client() as client:
        assert main([*SUBMIT, "--set", "learning_rat=1"], client=client) == 2  # 422
        assert main([*SUBMIT, "--set", "oops"], client=client) == 2
        assert main(["runs"], client=client) == 2
        with pytest.raises(SystemExit) as caught:
            main(["runs", "submit"], client=client)
        assert caught.value.code == 2
    assert "learning_rat" in capsys.readouterr().err


def test_unreachable_server_exits_5_using_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DESCENT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("DESCENT_API_KEY", "k")
    monkeypatch.setattr(client_module.time, "sleep", lambda _: None)
    assert main(["runs", "list"]) == 5
    assert capsys.readouterr().err.startswith("descent: error:")
    assert main(["--url", "http://127.0.0.1:9", "runs", "get", "x", "--timeout", "2"]) == 5


def test_console_script_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "descent", "--help"], capture_output=True, text=True, check=True
    )
    assert "Exit codes" in done.stdout and "datasets" in done.stdout
    assert _cli.EXIT_SERVER == 5

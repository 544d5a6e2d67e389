"""The `descent` CLI: every command against the real app, and the documented exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import descent
import pytest
import uvicorn
from descent import _cli, _cli_kinds
from descent import _client as client_module
from descent._cli import main, parse_assignments

from descent_server import domain
from descent_server.api.app import create_app
from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.repository import history
from descent_server.services import kinds
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
    assert {d["name"] for d in builtins} == {
        "movies",
        "three-blobs",
        "linear-noise",
        "sine",
        "iris",
    }
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
    def train() -> None:  # plays the worker once the CLI has submitted, however slow the box
        deadline = time.monotonic() + 60
        while not (runs := client.runs.list()) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = RunWriter(runs[0].id)
        worker.epochs(range(3))
        worker.finish()

    thread = threading.Thread(target=train)
    thread.start()
    argv = [*SUBMIT, "--set", "epochs=2", "--watch", "--json", "--wait-timeout", "120"]
    code, out = run_cli(client, capsys, *argv)
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
    assert code == 0 and len(out.strip().splitlines()) == 11
    assert out.splitlines()[0].split() == ["epoch", "loss", "a", "b"]  # its own columns
    assert out.splitlines()[-1].split() == ["9", "10", "0.9", "1"]
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


# ---- issue 18: kind-specific tables, help, argument messages, closed pipes -------------


def _mlp_epochs(run_id: str, attempt: int, epochs: range) -> None:
    """Store classifier epochs: accuracies and no parameters, as weights="stats" runs have."""
    records = [
        EpochRecord(
            epoch=e, loss=1 / (e + 1), val_loss=2 / (e + 1), accuracy=0.5, val_accuracy=0.75
        )
        for e in epochs
    ]
    with session_factory() as session:
        assert history.append_epochs(session, run_id, attempt, records)
        session.commit()


def test_runs_list_shows_metrics_and_history_kind_columns(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    regression = client.runs.create(**MOVIES_RUN, epochs=4)
    worker = RunWriter(regression.id)
    worker.epochs(range(5))
    worker.finish()
    mlp = client.runs.create(
        kind="mlp_classifier", dataset="builtin:three-blobs", features=["x1", "x2"],
        target="label", epochs=3,
    )  # fmt: skip
    _mlp_epochs(mlp.id, RunWriter(mlp.id).attempt, range(4))
    code, out = run_cli(client, capsys, "runs", "list")
    header, *lines = out.splitlines()
    assert code == 0 and header.split() == [
        "ID", "KIND", "STATUS", "EPOCH", "LOSS", "VAL_ACC", "NAME"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows[regression.id][1:6] == ["linear_regression", "succeeded", "4/4", "20", "-"]
    assert rows[mlp.id][1:6] == ["mlp_classifier", "running", "3/3", "0.25", "0.7500"]
    code, out = run_cli(client, capsys, "runs", "history", mlp.id)
    assert code == 0 and "params" not in out and "  a  " not in out
    assert out.splitlines()[0].split() == ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]
    assert out.splitlines()[-1].split() == ["3", "0.25", "0.5", "0.5", "0.75"]


@pytest.mark.parametrize("group", ["datasets", "runs", "sweeps"])
def test_a_group_alone_prints_its_own_help(
    client: descent.Client, capsys: pytest.CaptureFixture[str], group: str
) -> None:
    assert main([group], client=client) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: descent {group} ") and "{datasets,runs,sweeps}" not in err
    commands = {"datasets": ["upload", "list"], "runs": ["submit", "history"],
                "sweeps": ["create", "watch"]}[group]  # fmt: skip
    assert all(f"\n    {command} " in err for command in commands)


def test_sdk_hyperparameter_schema_is_the_api_schema() -> None:
    # The SDK's copy is what the server validates with; regenerate with
    # `.venv/bin/python scripts/sdk_hyperparameters.py` when this fails.
    api = json.loads(
        json.dumps({a.kind: a.hyperparameters.model_json_schema() for a in kinds.adapters()})
    )
    assert _cli_kinds.schemas() == api
    assert _cli_kinds.kinds() == list(descent.Kind)  # help covers every kind --kind offers


def test_sdk_status_and_kind_mirror_the_servers() -> None:
    # The SDK never imports the server, so it spells both enums itself: in the same order.
    assert [(m.name, m.value) for m in descent.Status] == [(m.name, m.value) for m in domain.Status]
    assert [(m.name, m.value) for m in descent.Kind] == [(m.name, m.value) for m in domain.Kind]
    assert descent.FINAL_STATUSES == domain.FINAL_STATUSES
    assert descent.LIVE_STATUSES == domain.LIVE_STATUSES


def test_submit_help_lists_every_kinds_hyperparameters() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "descent", "runs", "submit", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = done.stdout
    for kind, schema in _cli_kinds.schemas().items():
        assert f"  {kind}: {schema['description']}" in text
    # name, type, default, bounds and description, nested names dotted as --set takes them
    assert "    learning_rate: number = 0.01  (> 0)\n        gradient-descent step size" in text
    assert "    batch_size: integer|null = null  (>= 1)" in text
    assert "    optimizer.momentum: number = 0.0  (>= 0, < 1)\n        SGD momentum" in text
    assert '    activation: relu|tanh|sigmoid|linear|elu|selu|gelu|softplus|swish = "relu"' in text
    assert "    hidden_layers: list[integer] = [40, 40]  (at most 1000 items, each >= 1)" in text
    names = {row[0] for schema in _cli_kinds.schemas().values() for row in _cli_kinds.rows(schema)}
    assert {"init.a", "loss_surface.b", "snapshots.every", "weights"} <= names
    assert all(f"    {name}: " in text for name in names)
    sweep_help = subprocess.run(
        [sys.executable, "-m", "descent", "sweeps", "create", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "optimizer.learning_rate: number = 0.01  (> 0, <= 1000)" in sweep_help


def test_malformed_predict_inputs_name_the_argument(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["runs", "predict", "some-run", "[[0.5,"], client=client)
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert "argument INPUTS: not valid JSON" in err
    assert "e.g. descent runs predict RUN_ID '[[0.5, 1.0]]'" in err


@pytest.fixture
def live(server: Server) -> Iterator[dict[str, str]]:
    """Serve the app over real HTTP (a uvicorn thread); yield the CLI's environment for it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        port = sock.getsockname()[1]
        yield {**os.environ, "DESCENT_URL": f"http://127.0.0.1:{port}",
               "DESCENT_API_KEY": server.key}  # fmt: skip
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_watch_into_a_closed_pipe_exits_quietly(
    client: descent.Client, live: dict[str, str]
) -> None:
    run = client.runs.create(**MOVIES_RUN, epochs=2)
    worker = RunWriter(run.id)
    worker.epochs(range(3))
    worker.finish()
    cli = subprocess.Popen(
        [sys.executable, "-m", "descent", "runs", "watch", run.id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=live,
    )  # fmt: skip
    assert cli.stdout is not None and cli.stderr is not None
    cli.stdout.close()  # the reader is gone before the CLI writes a byte: every write fails
    err = cli.stderr.read().decode()
    assert cli.wait(timeout=120) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "error" not in err


def test_history_through_head_exits_quietly(client: descent.Client, live: dict[str, str]) -> None:
    run = client.runs.create(**MOVIES_RUN, epochs=3000)
    worker = RunWriter(run.id)
    worker.epochs(range(3001))  # ~170 kB of table: more than the pipe and head ever buffer
    worker.finish()
    pipeline = f"set -o pipefail; {sys.executable} -m descent runs history {run.id} | head -3"
    done = subprocess.run(
        ["bash", "-c", pipeline], capture_output=True, text=True, env=live, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and len(done.stdout.splitlines()) == 3

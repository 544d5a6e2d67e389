"""The CLI across runs: list filters and sort, tag, update, clone, compare; sweeps list,
random search with early stopping, the parallel plot, and dotted swept names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import descent
import pytest
from descent._cli import main
from descent._cli_across import parse_axis, parse_early_stop
from descent._cli_output import describe_sweep

from tests.sdk.run_writer import RunWriter

BLOBS = [
    "--kind", "mlp_classifier", "--dataset", "builtin:three-blobs",
    "--features", "x1,x2", "--target", "label",
]  # fmt: skip
SWEEP = ["sweeps", "create", *BLOBS, "--set", "epochs=9"]


def run_cli(
    client: descent.Client, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    code = main(list(argv), client=client)
    return code, capsys.readouterr().out


def as_json(client: descent.Client, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out = run_cli(client, capsys, *argv, "--json")
    assert code == 0, out
    return json.loads(out)


def submit(client: descent.Client, capsys: pytest.CaptureFixture[str], name: str) -> str:
    run = as_json(client, capsys, "runs", "submit", *BLOBS, "--name", name, "--set", "epochs=5")
    return str(run["id"])


def train(run_id: str, epochs: int, status: str = "succeeded") -> None:
    worker = RunWriter(run_id)
    worker.epochs(range(epochs), params={}, val_loss=50.0 / epochs)
    worker.finish(status)


def test_parse_axis_and_early_stop() -> None:
    assert parse_axis("optimizer.learning_rate=log_uniform:1e-4,1") == (
        "optimizer.learning_rate", {"log_uniform": [1e-4, 1]},
    )  # fmt: skip
    assert parse_axis("batch_size=int_uniform:16,64") == ("batch_size", {"int_uniform": [16, 64]})
    assert parse_axis("optimizer.name=sgd,adam") == ("optimizer.name", ["sgd", "adam"])
    assert parse_axis("optimizer.name=choice:sgd,adam") == (
        "optimizer.name", {"choice": ["sgd", "adam"]},
    )  # fmt: skip
    assert parse_axis("hidden_layers=[[8], [8, 8]]") == ("hidden_layers", [[8], [8, 8]])
    assert parse_axis('lr={"uniform": [0.1, 0.5]}') == ("lr", {"uniform": [0.1, 0.5]})
    assert parse_axis("epochs=5") == ("epochs", [5])
    for bad in ("lr", "lr=", "lr=uniform:1", "lr=gauss:0,1"):
        with pytest.raises(ValueError):
            parse_axis(bad)
    assert parse_early_stop("asha") == {"method": "asha"}
    assert parse_early_stop("median:metric=loss,min_epochs=3") == {
        "method": "median", "metric": "loss", "min_epochs": 3,
    }  # fmt: skip
    assert parse_early_stop('{"method": "asha", "reduction_factor": 2}')["reduction_factor"] == 2
    for bad in ("hyperband", "asha:min_epochs"):
        with pytest.raises(ValueError):
            parse_early_stop(bad)


def test_a_dotted_grid_prints_its_values_not_null(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = "optimizer.learning_rate=0.1,0.01"
    code, out = run_cli(client, capsys, *SWEEP, "--grid", grid)
    assert code == 0 and "null" not in out
    assert out.count('{"optimizer.learning_rate": 0.1}') == 1
    assert out.count('{"optimizer.learning_rate": 0.01}') == 1
    sweep_id = out.split()[0]
    code, out = run_cli(client, capsys, "sweeps", "get", sweep_id)
    assert code == 0 and "null" not in out and out.count('{"optimizer.learning_rate": 0.') == 2


def test_runs_list_filters_and_sort(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    short, long = submit(client, capsys, "short one"), submit(client, capsys, "long one")
    train(short, 2)
    train(long, 6)
    assert run_cli(client, capsys, "runs", "tag", long, "best", "adam")[0] == 0
    listed = as_json(client, capsys, "runs", "list", "--tag", "best")
    assert [r["id"] for r in listed] == [long]
    assert as_json(client, capsys, "runs", "list", "--tag", "best", "--tag", "nope") == []
    assert [r["id"] for r in as_json(client, capsys, "runs", "list", "--q", "SHORT")] == [short]
    ordered = as_json(client, capsys, "runs", "list", "--sort=-metrics.val_loss")
    assert [r["id"] for r in ordered] == [short, long]  # val_loss 25 before 8.3
    ordered = as_json(client, capsys, "runs", "list", "--sort", "metrics.loss")
    assert [r["id"] for r in ordered] == [long, short]
    code, out = run_cli(client, capsys, "runs", "list", "--dataset", "builtin:three-blobs")
    assert code == 0 and "[best, adam]" in out and "short one" in out
    assert as_json(client, capsys, "runs", "list", "--created-after", "2999-01-01T00:00:00Z") == []
    assert run_cli(client, capsys, "runs", "list", "--sort", "colour")[0] == 2  # a 422


def test_runs_tag_update_clone_and_compare(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = submit(client, capsys, "base")
    assert as_json(client, capsys, "runs", "tag", base, "a", "b", "a")["tags"] == ["a", "b"]
    assert as_json(client, capsys, "runs", "tag", base, "c")["tags"] == ["a", "b", "c"]
    assert as_json(client, capsys, "runs", "tag", base, "a", "--remove")["tags"] == ["b", "c"]
    run = as_json(client, capsys, "runs", "update", base, "--name", "renamed", "--notes", "why")
    assert (run["name"], run["notes"], run["tags"]) == ("renamed", "why", ["b", "c"])
    assert as_json(client, capsys, "runs", "update", base, "--tag", "only")["tags"] == ["only"]
    assert as_json(client, capsys, "runs", "update", base, "--clear-tags")["tags"] == []
    assert run_cli(client, capsys, "runs", "update", base)[0] == 2  # nothing to change

    code, out = run_cli(
        client, capsys, "runs", "clone", base, "--set", "optimizer.learning_rate=0.1",
        "--name", "faster",
    )  # fmt: skip
    assert code == 0 and "faster" in out and f"cloned from: {base}" in out
    clone = client.runs.list(q="faster")[0]
    assert (
        clone.parent_run_id == base and clone.hyperparameters["optimizer"]["learning_rate"] == 0.1
    )
    assert run_cli(client, capsys, "runs", "clone", base, "--set", "learning_rate=1")[0] == 2

    train(base, 3)
    train(clone.id, 5)
    png = tmp_path / "compare.png"
    code, out = run_cli(client, capsys, "runs", "compare", base, clone.id, "--plot", str(png))
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG") and f"wrote {png}" in out
    lines = out.splitlines()
    assert "renamed" in lines[0] and "faster" in lines[0]
    assert any(line.startswith("optimizer.learning_rate") and "0.1" in line for line in lines)
    assert any(line.startswith("loss") for line in lines)
    compared = as_json(client, capsys, "runs", "compare", base, clone.id)
    assert compared["differs"]["optimizer.learning_rate"][1] == 0.1
    assert run_cli(client, capsys, "runs", "compare", base)[0] == 2  # one run: a 422


def test_random_sweep_with_early_stop_list_and_parallel_plot(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    search = [
        "--strategy", "random", "--n-runs", "3", "--seed", "1",
        "--axis", "optimizer.learning_rate=log_uniform:1e-4,1", "--axis", "optimizer.name=sgd,adam",
        "--early-stop", "asha:metric=loss,min_epochs=3",
    ]  # fmt: skip
    sweep = as_json(client, capsys, *SWEEP, *search, "--name", "search")
    again = as_json(client, capsys, *SWEEP, *search)
    assert [r["swept"] for r in sweep["runs"]] == [r["swept"] for r in again["runs"]]
    assert sweep["strategy"] == "random" and sweep["early_stop"]["min_epochs"] == 3
    assert sweep["axes"]["optimizer.learning_rate"] == {"log_uniform": [1e-4, 1]}
    for run, (epochs, status) in zip(
        sweep["runs"], [(10, "succeeded"), (4, "pruned"), (10, "succeeded")], strict=True
    ):
        train(run["id"], epochs, status)

    code, out = run_cli(client, capsys, "sweeps", "get", sweep["id"])
    assert code == 0 and "random" in out and "pruned=1" in out and "saved 6 epochs" in out
    assert "epochs=3" in out and '"optimizer.name": "' in out and "null" not in out
    code, out = run_cli(client, capsys, "sweeps", "list")
    lines = out.splitlines()
    assert lines[0].startswith("ID") and len(lines) == 3
    assert again["id"] in lines[1] and sweep["id"] in lines[2] and "search" in lines[2]
    listed = as_json(client, capsys, "sweeps", "list", "--status", "succeeded")
    assert [s["id"] for s in listed] == [sweep["id"]]
    png = tmp_path / "parallel.png"
    code, out = run_cli(client, capsys, "sweeps", "plot", sweep["id"], "parallel", "-o", str(png))
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG")


def test_sweeps_create_needs_one_search_space(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(client, capsys, *SWEEP)[0] == 2
    both = ["--grid", "epochs=3", "--axis", "epochs=4"]
    assert run_cli(client, capsys, *SWEEP, *both)[0] == 2
    bad = [
        "--strategy",
        "random",
        "--n-runs",
        "2",
        "--axis",
        "optimizer.learning_rate=log_uniform:0,1",
    ]
    assert main([*SWEEP, *bad], client=client) == 2  # the server's 422
    assert "log_uniform" in capsys.readouterr().err


def test_help_documents_the_search_syntax() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "descent", "sweeps", "create", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "log_uniform:1e-4,1" in done.stdout and "--early-stop" in done.stdout
    assert "asha:min_epochs=3" in done.stdout


def test_an_older_servers_sweep_resolves_dotted_names_in_nested_hyperparameters() -> None:
    # Before `swept`, a sweep sent its grid and each run its nested hyperparameters only.
    run = {
        "id": "r1", "kind": "mlp_classifier", "status": "succeeded", "metrics": {"loss": 0.5},
        "hyperparameters": {"optimizer": {"name": "sgd", "learning_rate": 0.1}, "epochs": 5},
        "progress": {"epoch": 5, "epochs": 5},
    }  # fmt: skip
    sweep = descent.Sweep.from_json(
        {
            "id": "s1",
            "status": "succeeded",
            "grid": {"optimizer.learning_rate": [0.1]},
            "runs": [run],
        },
        None,
    )
    assert sweep.axes == {"optimizer.learning_rate": [0.1]} and sweep.strategy == "grid"
    text = describe_sweep(sweep)
    assert '{"optimizer.learning_rate": 0.1}' in text and "null" not in text
    assert sweep.to_frame().loc["r1", "optimizer.learning_rate"] == 0.1


def test_upload_twice_is_one_dataset_unless_no_dedupe(
    client: descent.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n1,2\n2,4\n3,6\n")
    first = as_json(client, capsys, "datasets", "upload", str(csv), "--name", "points")
    assert as_json(client, capsys, "datasets", "upload", str(csv))["id"] == first["id"]
    copy = as_json(client, capsys, "datasets", "upload", str(csv), "--no-dedupe")
    assert copy["id"] != first["id"]
    run = as_json(
        client, capsys, "runs", "submit", "--kind", "linear_regression", "--dataset", first["id"],
        "--features", "x", "--target", "y",
    )  # fmt: skip
    code, out = run_cli(client, capsys, "runs", "get", run["id"])
    assert code == 0 and f"dataset:  points ({first['id']})" in out

"""The argument parser of the `descent` CLI (commands live in `_cli`)."""

from __future__ import annotations

import argparse
import json

from ._cli_kinds import help_text
from ._domain import Kind, Status

S = argparse.SUPPRESS
PREDICT_EXAMPLE = "descent runs predict RUN_ID '[[0.5, 1.0]]'"
KINDS = [kind.value for kind in Kind]
SEARCH_HELP = """search space (--axis, repeatable; dotted names reach nested hyperparameters):
  --axis NAME=V1,V2,...         values to choose from (JSON: 0.1, "adam", [8, 8])
  --axis NAME=DIST:LO,HI        DIST: log_uniform, uniform or int_uniform (random search)
  --axis NAME=choice:V1,V2,...  the same as a list
  --axis 'NAME={"log_uniform": [1e-4, 1]}'  the API's JSON
  e.g. --strategy random --n-runs 8 --seed 1 --axis optimizer.learning_rate=log_uniform:1e-4,1
       --axis optimizer.name=sgd,adam --early-stop asha
early stopping: --early-stop METHOD[:KEY=VALUE,...], METHOD asha or median; keys metric
  (val_loss | loss), min_epochs, reduction_factor, e.g. --early-stop asha:min_epochs=3"""
STATUSES = [status.value for status in Status]


def _common() -> argparse.ArgumentParser:
    # SUPPRESS defaults let the options go before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=S, help="server URL (default: $DESCENT_URL)")
    common.add_argument("--api-key", default=S, help="API key (default: $DESCENT_API_KEY)")
    common.add_argument("--timeout", type=float, default=S, help="seconds per request")
    common.add_argument("--json", action="store_true", default=S, help="print JSON")
    return common


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--dataset", required=True, help="dataset id or builtin:NAME")
    parser.add_argument("--features", required=True, help="comma separated, e.g. x1,x2")
    parser.add_argument("--target", required=True)
    parser.add_argument("--name")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="hyperparameter (JSON value; dotted keys nest: init.a=-0.75)",
    )  # fmt: skip
    # The table of every kind's hyperparameters, kept in sync with the server's models.
    parser.epilog = help_text()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _json_inputs(text: str) -> object:
    """Parse predict's INPUTS; a bad value names the argument and shows an example."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc}): give a list of rows, e.g. {PREDICT_EXAMPLE}"
        ) from None


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--wait-timeout", type=float, help="give up after this many seconds")


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """Build the parser: `descent {datasets,runs,sweeps} COMMAND ...`."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="descent", parents=[common], description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    groups = parser.add_subparsers(dest="group", metavar="{datasets,runs,sweeps,lr-range-test}")

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(command=f"{group_names[id(group)]} {name}")
        return sub

    group_names: dict[int, str] = {}

    def group(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        # `descent runs` alone prints the runs group's help (main reads `group_parser`).
        sub = groups.add_parser(name, help=help, description=help)
        sub.set_defaults(group_parser=sub)
        commands = sub.add_subparsers(title="commands")
        group_names[id(commands)] = name
        return commands

    datasets = group("datasets", "upload and list datasets")
    runs = group("runs", "submit, watch and inspect runs")
    sweeps = group("sweeps", "hyperparameter grids and random searches")

    p = command(datasets, "upload", "upload a CSV file (the same contents again: the same id)")
    p.add_argument("file")
    p.add_argument("--name")
    p.add_argument(
        "--no-dedupe", action="store_true", help="store a copy even if you uploaded these rows"
    )
    p = command(datasets, "list", "list your datasets (or --builtin ones)")
    p.add_argument("--builtin", action="store_true", help="list the course's builtin datasets")
    p.add_argument("--limit", type=int)
    command(datasets, "get", "show a dataset").add_argument("id")
    command(datasets, "delete", "delete a dataset").add_argument("id")

    p = command(runs, "submit", "submit a run")
    _run_options(p)
    p.add_argument("--idempotency-key")
    p.add_argument("--watch", action="store_true", help="wait for the run (exit 1 unless ok)")
    _watch_options(p)
    p = command(runs, "watch", "follow a run live; exit 1 unless it succeeds")
    p.add_argument("id")
    _watch_options(p)
    command(runs, "get", "show a run").add_argument("id")
    p = command(runs, "list", "list your runs (filtered, sorted)")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--dataset", help="only runs on this dataset id")
    p.add_argument("--sweep", help="only the runs of this sweep id")
    p.add_argument("--tag", action="append", help="only runs with this tag (repeat: all of them)")
    p.add_argument("--q", help="only runs whose name contains this text")
    p.add_argument("--created-after", help="RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
    p.add_argument("--created-before", help="RFC 3339 time")
    p.add_argument(
        "--sort", help="created_at, duration_s or metrics.NAME; a leading - sorts descending "
        "(default -created_at), e.g. --sort=-metrics.val_loss",
    )  # fmt: skip
    p.add_argument("--limit", type=int)
    p = command(runs, "tag", "add tags to a run (or --remove them)")
    p.add_argument("id")
    p.add_argument("tags", nargs="+", metavar="TAG")
    p.add_argument("--remove", action="store_true", help="take these tags off instead")
    p = command(runs, "update", "rename a run, replace its tags or set its notes")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--notes")
    p.add_argument("--tag", action="append", help="the run's tags (repeat; replaces them all)")
    p.add_argument("--clear-tags", action="store_true", help="remove every tag")
    p = command(runs, "clone", "submit a copy of a run with some hyperparameters changed")
    p.add_argument("id")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override (JSON value; dotted names: optimizer.learning_rate=0.1)",
    )  # fmt: skip
    p.add_argument("--name")
    p.add_argument("--dataset", help="train on this dataset id instead")
    p.add_argument("--watch", action="store_true", help="wait for the new run (exit 1 unless ok)")
    _watch_options(p)
    p = command(runs, "compare", "show what differs between runs, and their metrics")
    p.add_argument("ids", nargs="+", metavar="ID", help="2 to 20 run ids")
    p.add_argument("--plot", metavar="PNG", help="also save their overlaid loss curves here")
    p = command(runs, "history", "print a run's history")
    p.add_argument("id")
    p.add_argument("--csv", action="store_true", help="CSV, params flattened into columns")
    p.add_argument("--max-points", type=int, help="downsample to about this many rows")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p = command(runs, "plot", "save a plot (loss, params, fit, surface, contour, boundary)")
    p.add_argument("id")
    p.add_argument("name", help="plot name; boundary.gif or fit.gif (mlp_regressor) animate")
    p.add_argument("--epoch", type=int, help="boundary, fit (mlp_regressor): that snapshot")
    p.add_argument("--x", type=float, help="fit: mark the prediction at x")
    p.add_argument("--log", action="store_true", help="loss: log scale")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--dpi", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-o", "--output", help="file to write (default NAME.png)")
    command(runs, "cancel", "cancel a run").add_argument("id")
    command(runs, "delete", "delete a run").add_argument("id")
    p = command(runs, "predict", "predict with a run's parameters")
    p.add_argument("id")
    p.add_argument(
        "inputs", type=_json_inputs, metavar="INPUTS", help='JSON, e.g. "[[0.5, 1.0]]" or "[160]"'
    )
    p = command(runs, "model", "download the trained model")
    p.add_argument("id")
    p.add_argument("-o", "--output", required=True)

    p = command(sweeps, "create", "submit a grid (every combination) or a random search")
    _run_options(p)
    p.epilog = SEARCH_HELP + "\n\n" + (p.epilog or "")
    p.add_argument(
        "--grid", action="append", default=[], metavar="KEY=VALUES",
        help="values as a JSON list or comma separated: learning_rate=1e-3,1e-12,2e-10",
    )  # fmt: skip
    p.add_argument(
        "--axis", action="append", default=[], metavar="NAME=SPEC",
        help="a search axis: NAME=V1,V2 or NAME=DIST:LO,HI (see below)",
    )  # fmt: skip
    p.add_argument("--strategy", choices=["grid", "random"], help="default: grid")
    p.add_argument("--n-runs", type=int, help="random: how many runs to draw")
    p.add_argument("--seed", type=int, help="random: the same seed draws the same runs")
    p.add_argument("--early-stop", metavar="RULE", help="asha or median[:KEY=VALUE,...]")
    p.add_argument("--watch", action="store_true", help="wait for every run")
    _watch_options(p)
    p = command(sweeps, "list", "list your sweeps, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int)
    command(sweeps, "get", "show a sweep and its runs").add_argument("id")
    p = command(sweeps, "watch", "wait for a sweep; exit 1 if no run succeeded")
    p.add_argument("id")
    _watch_options(p)
    p = command(sweeps, "plot", "save a sweep plot (loss, contour, parallel)")
    p.add_argument("id")
    p.add_argument(
        "name", nargs="?", default="loss",
        help="loss (every run's curve), contour, or parallel (swept values to the metric)",
    )  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-o", "--output")
    command(sweeps, "cancel", "cancel a sweep's runs").add_argument("id")
    command(sweeps, "delete", "delete a sweep and its runs").add_argument("id")

    help = "run a learning-rate range test of a run and print the suggested rate"
    p = groups.add_parser("lr-range-test", parents=[common], help=help, description=help)
    p.set_defaults(command="lr_range_test")
    _run_options(p)
    p.add_argument("--min-lr", type=float, default=1e-7, help="the first rate (default 1e-7)")
    p.add_argument("--max-lr", type=float, default=10.0, help="the last rate (default 10)")
    p.add_argument("--steps", type=int, default=100, help="mini-batches, one rate each")
    p.add_argument("--plot", metavar="PNG", help="also save the loss-per-rate curve here")
    p.add_argument("--wait-timeout", type=float, help="give up after this many seconds")
    return parser

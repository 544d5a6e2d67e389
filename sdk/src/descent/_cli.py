"""The `descent` command line: datasets, runs and sweeps from a shell.

Configuration: --url / --api-key, else $DESCENT_URL / $DESCENT_API_KEY.
Exit codes: 0 ok · 1 a watched run ended not `succeeded` (a sweep: none succeeded) · 2 usage or
a request the server rejected (400/409/413/422) · 3 not found · 4 authentication ·
5 server or connection error (5xx, 429 after retries, unreachable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _cli_across
from ._cli_across import search_space
from ._cli_output import (
    EXIT_AUTH,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_SERVER,
    EXIT_USAGE,
    describe_dataset,
    describe_run,
    describe_sweep,
    emit,
    watch_run,
)
from ._cli_output import number as _number
from ._cli_parser import build_parser
from ._client import Client
from ._domain import Status
from ._exceptions import (
    APIError,
    DescentError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from ._models import Plot

METRIC_COLUMNS = ["loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae"]


def main(argv: Sequence[str] | None = None, *, client: Client | None = None) -> int:
    """Run the CLI; return the exit code (`client` lets tests and embedders inject one)."""
    try:
        code = _main(argv, client)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
    except BrokenPipeError:
        # The reader left (`descent ... | head`): that ends the output, not an error. Point
        # stdout at devnull so the exit flush cannot fail again (the recipe in Python's
        # signal module docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code


def _main(argv: Sequence[str] | None, client: Client | None) -> int:
    parser = build_parser(__doc__)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        # `descent runs` alone: that group's help; `descent` alone: the top-level one.
        getattr(args, "group_parser", parser).print_help(sys.stderr)
        return EXIT_USAGE
    name = "cmd_" + args.command.replace(" ", "_")
    handler = globals().get(name) or getattr(_cli_across, name)
    try:
        if client is not None:
            return int(handler(client, args))
        url, key = getattr(args, "url", None), getattr(args, "api_key", None)
        with Client(url, key, timeout=getattr(args, "timeout", 30.0)) as own:
            return int(handler(own, args))
    except BrokenPipeError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        print(f"descent: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DescentError as exc:
        print(f"descent: error: {exc}", file=sys.stderr)
        return exit_code(exc)


def exit_code(exc: DescentError) -> int:
    """Map an exception to the documented exit code."""
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, Unauthorized):
        return EXIT_AUTH
    if isinstance(exc, (ServerError, RateLimited, TransportError)):
        return EXIT_SERVER
    if isinstance(exc, APIError):
        return EXIT_USAGE
    return EXIT_SERVER


def parse_assignments(pairs: Sequence[str], *, lists: bool = False) -> dict[str, Any]:
    """Turn ["a.b=1", "c=x"] into {"a": {"b": 1}, "c": "x"}; values are JSON when they parse."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        value = _value(text)
        if lists and not isinstance(value, list):
            value = [_value(t) for t in text.split(",")] if "," in text else [value]
        if lists:  # grid keys are passed through as written (the server knows dotted names)
            out[key] = value
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{key!r} nests inside a non-object value")
        node[leaf] = value
    return out


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# ---- commands -------------------------------------------------------------------------


def cmd_datasets_upload(client: Client, args: argparse.Namespace) -> int:
    ds = client.datasets.upload(args.file, name=args.name, dedupe=not args.no_dedupe)
    emit(args, ds.raw, describe_dataset(ds))
    return EXIT_OK


def cmd_datasets_list(client: Client, args: argparse.Namespace) -> int:
    items = client.datasets.builtins() if args.builtin else client.datasets.list(limit=args.limit)
    emit(args, [d.raw for d in items], "\n".join(describe_dataset(d) for d in items))
    return EXIT_OK


def cmd_datasets_get(client: Client, args: argparse.Namespace) -> int:
    ds = client.datasets.get(args.id)
    emit(args, ds.raw, describe_dataset(ds))
    return EXIT_OK


def cmd_datasets_delete(client: Client, args: argparse.Namespace) -> int:
    client.datasets.delete(args.id)
    emit(args, {"deleted": args.id}, f"deleted {args.id}")
    return EXIT_OK


def _run_spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kind": args.kind,
        "dataset": args.dataset,
        "features": args.features,
        "target": args.target,
        "device": args.device,
        "hyperparameters": parse_assignments(args.set),
    }
    if args.name:
        spec["name"] = args.name
    return spec


def cmd_runs_submit(client: Client, args: argparse.Namespace) -> int:
    run = client.runs.create(**_run_spec(args), idempotency_key=args.idempotency_key)
    if args.watch:
        return watch_run(client, run.id, args)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_watch(client: Client, args: argparse.Namespace) -> int:
    return watch_run(client, args.id, args)


def cmd_runs_get(client: Client, args: argparse.Namespace) -> int:
    run = client.runs.get(args.id)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_list(client: Client, args: argparse.Namespace) -> int:
    runs = client.runs.list(
        status=args.status, kind=args.kind, dataset_id=args.dataset, sweep_id=args.sweep,
        tag=args.tag, q=args.q, created_after=args.created_after,
        created_before=args.created_before, sort=args.sort, limit=args.limit,
    )  # fmt: skip
    header = f"{'ID':<36}  {'KIND':<18} {'STATUS':<10} {'EPOCH':>13}  {'LOSS':>11}  {'VAL_ACC':>7}"
    lines = [header + "  NAME"] if runs else []
    for r in runs:
        epoch = f"{r.progress.epoch or 0}/{r.progress.epochs}"
        loss, accuracy = r.metrics.get("loss"), r.metrics.get("val_accuracy")
        tags = f"  [{', '.join(r.tags)}]" if r.tags else ""
        lines.append(
            f"{r.id:<36}  {r.kind:<18} {r.status:<10} {epoch:>13}  {_number(loss):>11}"
            f"  {_number(accuracy, '.4f'):>7}  {r.name or ''}{tags}"
        )
    emit(args, [r.raw for r in runs], "\n".join(lines))
    return EXIT_OK


def cmd_runs_history(client: Client, args: argparse.Namespace) -> int:
    if args.csv:
        text = client.runs.history_csv(args.id)
    else:
        rows = client.runs.history(args.id, max_points=args.max_points, as_frame=False)
        text = json.dumps(rows, indent=2) if getattr(args, "json", False) else _table(rows)
    if args.output:
        with open(args.output, "w", newline="") as out:
            out.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:  # line by line: `| head` sees rows as they come and may leave early
        sys.stdout.writelines(text.splitlines(keepends=True))
        if not text.endswith("\n"):
            sys.stdout.write("\n")
    return EXIT_OK


def _table(rows: list[dict[str, Any]]) -> str:
    """Return history rows as a table of the columns this run has (kind-specific)."""
    # A regression has loss and its parameters (a, b or bias, weights); a classifier has
    # accuracies, an mlp_regressor mae and val_mae, and no per-epoch parameters unless
    # weights="full" (too big for a table: --json or --csv carry them).
    metrics = [c for c in METRIC_COLUMNS if any(r.get(c) is not None for r in rows)]
    params = [
        name
        for name, value in (rows[-1].get("params") or {} if rows else {}).items()
        if isinstance(value, (int, float)) or _flat_numbers(value)
    ]
    lines = ["  ".join(f"{c:>12}" for c in ["epoch", *metrics, *params])]
    for row in rows:
        cells = [str(row["epoch"]), *(_number(row.get(c)) for c in metrics)]
        values = row.get("params") or {}
        cells += [_cell(values.get(p)) for p in params]
        lines.append("  ".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list) else _number(value)


def _flat_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)


def _save_plot(plot: Plot, args: argparse.Namespace) -> int:
    extension = "gif" if plot.media_type == "image/gif" else "png"
    path = plot.save(args.output or f"{plot.name.split('.')[0]}.{extension}")
    emit(args, {"path": str(path), "bytes": len(plot.content)}, f"wrote {path}")
    return EXIT_OK


def cmd_runs_plot(client: Client, args: argparse.Namespace) -> int:
    params = parse_assignments(args.set)
    for key in ("epoch", "x", "width", "height", "dpi"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.log:
        params["log"] = True
    return _save_plot(client.runs.plot(args.id, args.name, **params), args)


def cmd_runs_cancel(client: Client, args: argparse.Namespace) -> int:
    run = client.runs.cancel(args.id)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_delete(client: Client, args: argparse.Namespace) -> int:
    client.runs.delete(args.id)
    emit(args, {"deleted": args.id}, f"deleted {args.id}")
    return EXIT_OK


def cmd_runs_predict(client: Client, args: argparse.Namespace) -> int:
    result = client.runs.predict(args.id, args.inputs)  # parsed (and checked) by the parser
    emit(args, result.__dict__, json.dumps(result.predictions))
    return EXIT_OK


def cmd_runs_model(client: Client, args: argparse.Namespace) -> int:
    path = client.runs.download_model(args.id, args.output)
    emit(args, {"path": str(path)}, f"wrote {path}")
    return EXIT_OK


def cmd_lr_range_test(client: Client, args: argparse.Namespace) -> int:
    spec = _run_spec(args)
    test = client.lr_range_test(
        run=spec, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps
    ).wait(timeout=args.wait_timeout)
    if args.plot and test.points:
        test.plot().save(args.plot)
    if test.suggested_learning_rate is None:
        error = (test.error or {}).get("message", test.status)
        human = f"lr range test {test.id} {test.status}: {error}"
    else:
        human = (
            f"lr range test {test.id}: suggested learning rate "
            f"{test.suggested_learning_rate:.4g} ({test.rule}, {len(test.points)} steps)"
        )
    emit(args, test.raw, human)
    return EXIT_OK if test.status == Status.SUCCEEDED else EXIT_RUN_FAILED


def cmd_sweeps_create(client: Client, args: argparse.Namespace) -> int:
    grid = parse_assignments(args.grid, lists=True) if args.grid else None
    sweep = client.sweeps.create(
        run=_run_spec(args), grid=grid, name=args.name, **search_space(args)
    )
    if args.watch:
        return _watch_sweep(client, sweep.id, args)
    emit(args, sweep.raw, describe_sweep(sweep))
    return EXIT_OK


def _watch_sweep(client: Client, sweep_id: str, args: argparse.Namespace) -> int:
    progress = not args.no_progress and not getattr(args, "json", False)
    sweep = client.sweeps.wait(sweep_id, progress=progress, timeout=args.wait_timeout)
    emit(args, sweep.raw, describe_sweep(sweep))
    return EXIT_OK if sweep.status == Status.SUCCEEDED else EXIT_RUN_FAILED


def cmd_sweeps_get(client: Client, args: argparse.Namespace) -> int:
    sweep = client.sweeps.get(args.id)
    emit(args, sweep.raw, describe_sweep(sweep))
    return EXIT_OK


def cmd_sweeps_watch(client: Client, args: argparse.Namespace) -> int:
    return _watch_sweep(client, args.id, args)


def cmd_sweeps_plot(client: Client, args: argparse.Namespace) -> int:
    params = parse_assignments(args.set)
    return _save_plot(client.sweeps.plot(args.id, args.name, **params), args)


def cmd_sweeps_cancel(client: Client, args: argparse.Namespace) -> int:
    sweep = client.sweeps.cancel(args.id)
    emit(args, sweep.raw, describe_sweep(sweep))
    return EXIT_OK


def cmd_sweeps_delete(client: Client, args: argparse.Namespace) -> int:
    client.sweeps.delete(args.id)
    emit(args, {"deleted": args.id}, f"deleted {args.id}")
    return EXIT_OK

"""CLI commands across runs: tag, update, clone, compare; listing sweeps and their search space.

Search-space syntax (`descent sweeps create --axis ...`):
  NAME=V1,V2,...            a list of values to choose from (JSON values: 0.1, "adam", [8, 8])
  NAME=DIST:LO,HI           DIST is log_uniform, uniform or int_uniform
  NAME=choice:V1,V2,...     the same as a list, spelled as a distribution
  NAME={"log_uniform": [1e-4, 1]}   the API's JSON, as is
Early stopping (`--early-stop`): METHOD[:KEY=VALUE,...], e.g. `asha` or
`median:metric=loss,min_epochs=3`; keys: metric (val_loss | loss), min_epochs, reduction_factor.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._cli_output import (
    EXIT_OK,
    describe_comparison,
    describe_run,
    describe_sweeps,
    emit,
    watch_run,
)
from ._client import Client

DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform", "choice")
EARLY_STOP_METHODS = ("asha", "median")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(text: str) -> list[Any]:
    """Parse "a,b,c" (or a JSON list) into a list of JSON values."""
    value = _value(text)
    if isinstance(value, list):
        return value
    return [_value(part.strip()) for part in text.split(",")]


def parse_axis(text: str) -> tuple[str, Any]:
    """Parse one --axis NAME=SPEC into (name, a list of values or a distribution object)."""
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise ValueError(f"--axis expects NAME=VALUES or NAME=DIST:LO,HI, got {text!r}")
    whole = _value(spec)
    if isinstance(whole, (dict, list)):
        return name, whole
    dist, colon, rest = spec.partition(":")
    if colon and dist in DISTRIBUTIONS:
        values = _values(rest)
        if dist != "choice" and len(values) != 2:
            raise ValueError(f"--axis {name}={dist}: expects two bounds LO,HI, got {rest!r}")
        return name, {dist: values}
    if colon and dist.isidentifier() and dist not in DISTRIBUTIONS:
        known = ", ".join(DISTRIBUTIONS)
        raise ValueError(f"--axis {name}: unknown distribution {dist!r} (known: {known})")
    return name, _values(spec)


def parse_early_stop(text: str) -> dict[str, Any]:
    """Parse --early-stop METHOD[:KEY=VALUE,...] (or a JSON object) into the API's object."""
    whole = _value(text)
    if isinstance(whole, dict):
        return whole
    method, _, options = text.partition(":")
    if method not in EARLY_STOP_METHODS:
        raise ValueError(f"--early-stop: method must be asha or median, got {method!r}")
    rule: dict[str, Any] = {"method": method}
    for option in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = option.partition("=")
        if not sep:
            raise ValueError(f"--early-stop: expected KEY=VALUE, got {option!r}")
        rule[key] = _value(value)
    return rule


def search_space(args: argparse.Namespace) -> dict[str, Any]:
    """Return sweeps.create's strategy, axes, n_runs, seed and early_stop from the options."""
    axes = dict(parse_axis(a) for a in args.axis) or None
    if args.grid and axes:
        raise ValueError("give --grid or --axis, not both")
    if not args.grid and not axes:
        raise ValueError("give the search space: --axis NAME=... (or --grid NAME=VALUES)")
    early = parse_early_stop(args.early_stop) if args.early_stop else None
    return {
        "strategy": args.strategy,
        "axes": axes,
        "n_runs": args.n_runs,
        "seed": args.seed,
        "early_stop": early,
    }


def cmd_runs_tag(client: Client, args: argparse.Namespace) -> int:
    """Add tags to a run (or take them off with --remove)."""
    run = client.runs.get(args.id)
    if args.remove:
        tags = [t for t in run.tags if t not in args.tags]
    else:
        tags = [*run.tags, *(t for t in dict.fromkeys(args.tags) if t not in run.tags)]
    run.update(tags=tags)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_update(client: Client, args: argparse.Namespace) -> int:
    """Rename a run, replace its tags, or set its notes."""
    tags = [] if args.clear_tags else args.tag
    if args.name is None and args.notes is None and tags is None:
        raise ValueError("nothing to change: give --name, --notes, --tag or --clear-tags")
    run = client.runs.update(args.id, name=args.name, tags=tags, notes=args.notes)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_clone(client: Client, args: argparse.Namespace) -> int:
    """Submit a copy of a run with --set overrides (dotted names)."""
    overrides = {}
    for pair in args.set:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        overrides[key] = _value(text)
    run = client.runs.clone(args.id, name=args.name, dataset_id=args.dataset, **overrides)
    if args.watch:
        return watch_run(client, run.id, args)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK


def cmd_runs_compare(client: Client, args: argparse.Namespace) -> int:
    """Show what differs between runs and their metrics; --plot saves the overlaid loss."""
    comparison = client.runs.compare(args.ids)
    text = describe_comparison(comparison)
    if args.plot:
        path = comparison.plot().save(args.plot)
        text += f"\nwrote {path}"
    emit(args, comparison.raw, text)
    return EXIT_OK


def cmd_sweeps_list(client: Client, args: argparse.Namespace) -> int:
    """List your sweeps, newest first."""
    sweeps = client.sweeps.list(status=args.status, limit=args.limit)
    emit(args, [s.raw for s in sweeps], describe_sweeps(sweeps))
    return EXIT_OK

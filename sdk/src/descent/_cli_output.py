"""What the `descent` CLI prints: JSON with --json, else short readable lines and tables."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ._across import Comparison, epochs_run, swept_values
from ._client import Client
from ._models import Dataset
from ._run import Run, Sweep

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_AUTH, EXIT_SERVER = range(6)


def emit(args: argparse.Namespace, value: Any, human: str) -> None:
    """Print JSON with --json, else the human-readable text."""
    if getattr(args, "json", False):
        print(json.dumps(value, indent=2, default=str))
    else:
        print(human)


def watch_run(client: Client, run_id: str, args: argparse.Namespace) -> int:
    """Wait for a run (a progress bar unless --no-progress/--json), print it, return the exit."""
    progress = not args.no_progress and not getattr(args, "json", False)
    run = client.runs.wait(run_id, progress=progress, timeout=args.wait_timeout)
    emit(args, run.raw, describe_run(run))
    return EXIT_OK if run.succeeded else EXIT_RUN_FAILED


def number(value: Any, spec: str = ".6g") -> str:
    """Format a number, or "-" for anything else (None, a missing metric)."""
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def describe_run(run: Run) -> str:
    """Return a few readable lines about a run."""
    lines = [
        f"{run.id}  {run.kind}  {run.status}" + (f"  ({run.name})" if run.name else ""),
        f"  progress: epoch {run.progress.epoch or 0}/{run.progress.epochs}",
    ]
    if run.dataset_id:
        named = run.dataset_name and run.dataset_name != run.dataset_id
        lines.append(
            f"  dataset:  {run.dataset_name} ({run.dataset_id})"
            if named
            else f"  dataset:  {run.dataset_id}"
        )
    metrics = {k: v for k, v in run.metrics.items() if v is not None}
    if metrics:
        lines.append("  metrics:  " + "  ".join(f"{k}={v:.6g}" for k, v in metrics.items()))
    if run.tags:
        lines.append("  tags:     " + ", ".join(run.tags))
    if run.parent_run_id:
        lines.append(f"  cloned from: {run.parent_run_id}")
    if run.notes:
        lines.append(f"  notes:    {run.notes}")
    if run.analysis:
        lines.append(f"  analysis: {json.dumps(run.analysis)}")
    if run.result:
        lines.append(f"  result:   {json.dumps(run.result, default=str)}")
    if run.error:
        lines.append(f"  error:    {run.error.get('code')}: {run.error.get('message')}")
    if run.diagnostics:
        lines.append("  diagnoses:")
        lines += ["    " + str(d).replace("\n", "\n    ") for d in run.diagnostics]
    return "\n".join(lines)


def describe_dataset(ds: Dataset) -> str:
    """Return one line about a dataset."""
    columns = ", ".join(f"{c.name}:{c.dtype}" for c in ds.columns)
    return f"{ds.id}  {ds.name}  {ds.n_rows} rows  [{columns}]"


def describe_sweep(sweep: Sweep) -> str:
    """Return a readable summary of a sweep and each run's swept values (dotted names too)."""
    counts = "  ".join(f"{status}={n}" for status, n in sweep.counts.items() if n)
    head = f"{sweep.id}  {sweep.strategy}  {sweep.status}  best: {sweep.best_run_id or '-'}"
    lines = [head + (f"  [{counts}]" if counts else "")]
    if sweep.epochs_saved:
        lines.append(f"  early stopping saved {sweep.epochs_saved} epochs")
    for run in sweep.runs:
        values = swept_values(run, sweep.axes)
        loss = run.metrics.get("val_loss", run.metrics.get("loss"))
        metric = "val_loss" if "val_loss" in run.metrics else "loss"
        lines.append(
            f"  {run.id}  {run.status:<10} {metric}={number(loss)}  epochs={epochs_run(run)}"
            f"  {json.dumps(values)}"
        )
    return "\n".join(lines)


def describe_sweeps(sweeps: Sequence[Sweep]) -> str:
    """Return one line per sweep: id, strategy, status, counts, best run and name."""
    lines = [f"{'ID':<36}  {'STRATEGY':<8} {'STATUS':<10} {'RUNS':>4}  {'BEST RUN':<36}  NAME"]
    for sweep in sweeps:
        total = sum(sweep.counts.values()) or len(sweep.runs)
        lines.append(
            f"{sweep.id:<36}  {sweep.strategy:<8} {sweep.status:<10} {total:>4}"
            f"  {sweep.best_run_id or '-':<36}  {sweep.name or ''}"
        )
    return "\n".join(lines) if sweeps else ""


def describe_comparison(comparison: Comparison[Run]) -> str:
    """Return the runs side by side: what differs, then the metrics any of them has."""
    labels = [_label(run) for run in comparison.runs]
    rows = [("", labels)]
    rows += [(name, [_cell(v) for v in values]) for name, values in comparison.differs.items()]
    rows += [
        (name, [number(v) for v in values])
        for name, values in comparison.metrics.items()
        if any(v is not None for v in values)
    ]
    width = max(len(name) for name, _ in rows)
    cells = max(12, *(len(c) for _, values in rows for c in values))
    lines = [
        f"{name:<{width}}  " + "  ".join(f"{c:>{cells}}" for c in values) for name, values in rows
    ]
    if not comparison.differs:
        lines.append("(no hyperparameter differs)")
    return "\n".join(lines)


def _label(run: Run) -> str:
    """Return a run's column heading: its name when short, else the start of its id."""
    return run.name if run.name and len(run.name) <= 20 else run.id[:8]


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value)
    return value if isinstance(value, str) else json.dumps(value)

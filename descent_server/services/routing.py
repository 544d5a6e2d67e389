"""Which worker queue a run goes to: a pure function of the run and the deployment."""

from __future__ import annotations

from descent_server.services.errors import InvalidInput


def route_queue(
    *,
    kind: str,
    device: str,
    n_rows: int,
    epochs: int,
    gpu_workers: bool,
    gpu_min_samples: int,
) -> str:
    """Return "cpu" or "gpu": regressions are numpy (cpu); MLPs go to gpu when asked or worth it."""
    if kind == "linear_regression":
        return "cpu"
    if device == "cpu":
        return "cpu"
    if device == "gpu":
        if not gpu_workers:
            raise InvalidInput.at(["body", "device"], "this server has no GPU workers")
        return "gpu"
    # auto: a GPU only pays for its start-up on big enough jobs.
    return "gpu" if gpu_workers and n_rows * epochs >= gpu_min_samples else "cpu"

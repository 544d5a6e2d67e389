"""Which worker queue a run goes to: a pure function of the run and the deployment."""

from __future__ import annotations

from descent_server.services.errors import InvalidInput


def route_queue(
    *,
    device: str,
    n_rows: int,
    epochs: int,
    gpu_workers: bool,
    gpu_min_samples: int,
) -> str:
    """Return "cpu" or "gpu" for a kind that can use a GPU: when asked, or when it pays."""
    if device == "cpu":
        return "cpu"
    if device == "gpu":
        if not gpu_workers:
            raise InvalidInput.at(["body", "device"], "this server has no GPU workers")
        return "gpu"
    # auto: a GPU only pays for its start-up on big enough jobs.
    return "gpu" if gpu_workers and n_rows * epochs >= gpu_min_samples else "cpu"

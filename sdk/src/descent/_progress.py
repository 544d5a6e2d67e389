"""A tqdm progress bar for a run (epochs, loss) and its diagnoses as they arrive.

The bar is silently absent without tqdm; the diagnoses are printed either way.
"""

from __future__ import annotations

from typing import Any

from ._diagnostics import Diagnosis, diagnoses_from_json
from ._domain import FINAL_STATUSES


class RunProgress:
    """Show a run's epochs, latest loss and each new diagnosis; a no-op when disabled."""

    def __init__(self, run: dict[str, Any], enabled: bool = True) -> None:
        self._bar: Any = None
        self._enabled = enabled
        self._printed: set[tuple[str, int | None, str]] = set()
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            total = (run.get("progress") or {}).get("epochs") or None
            label = run.get("name") or str(run.get("id", ""))[:8]
            self._bar = tqdm(total=total, desc=label, unit="epoch", dynamic_ncols=True)
        self.status(run)

    def status(self, run: dict[str, Any]) -> None:
        """Update from a Run: progress, loss, status and any diagnosis not yet printed."""
        progress = run.get("progress") or {}
        loss = (run.get("metrics") or {}).get("loss")
        self._show(progress.get("epoch"), loss, run.get("status"))
        for diagnosis in diagnoses_from_json(run.get("diagnostics")):
            self.diagnosis(diagnosis)

    def diagnosis(self, diagnosis: Any) -> None:
        """Print a Diagnosis (message and hint) above the bar, once."""
        if not self._enabled or not isinstance(diagnosis, Diagnosis):
            return
        if diagnosis.key in self._printed:
            return
        self._printed.add(diagnosis.key)
        if self._bar is not None:
            self._bar.write(str(diagnosis))
        else:
            print(diagnosis, flush=True)

    def epoch(self, row: dict[str, Any]) -> None:
        """Update from one history row."""
        self._show(row.get("epoch", -1), row.get("loss"), None)

    def _show(self, epoch: int | None, loss: float | None, status: str | None) -> None:
        if self._bar is None:
            return
        postfix: dict[str, Any] = {}
        if loss is not None:
            postfix["loss"] = f"{loss:.4g}"
        if status is not None:
            postfix["status"] = status
        if epoch is not None and epoch > self._bar.n:
            self._bar.update(epoch - self._bar.n)
        if postfix:
            self._bar.set_postfix(postfix, refresh=True)

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()


class SweepProgress:
    """A bar counting the finished runs of a sweep."""

    def __init__(self, sweep: dict[str, Any], enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=len(sweep.get("runs") or []), desc="runs", unit="run")
            self.update(sweep)

    def update(self, sweep: dict[str, Any]) -> None:
        if self._bar is not None:
            done = sum(r.get("status") in FINAL_STATUSES for r in sweep.get("runs") or [])
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

"""Dataset columns <-> bytes: an npz of plain numpy arrays (floats, unicode strings), no pickle."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np

_NAMES = "__names__"


def encode(columns: dict[str, np.ndarray]) -> bytes:
    """Serialize named 1-D columns (float64 or unicode) to npz bytes, keeping column order."""
    arrays: dict[str, Any] = {f"c{i}": _plain(values) for i, values in enumerate(columns.values())}
    # Names are stored as data, not as zip member names, so any column name round-trips.
    arrays[_NAMES] = np.array(list(columns), dtype=str)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode(content: bytes) -> dict[str, np.ndarray]:
    """Load the columns written by `encode`, in their original order."""
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
        names = [str(name) for name in npz[_NAMES]]
        return {name: npz[f"c{i}"] for i, name in enumerate(names)}


def fingerprint(columns: dict[str, np.ndarray]) -> str:
    """Return a sha256 of the columns' names, dtypes and values (stable across encodings)."""
    digest = hashlib.sha256()
    for name, values in columns.items():
        values = _plain(values)
        digest.update(name.encode() + b"\0" + values.dtype.str.encode() + b"\0")
        if values.dtype.kind == "U":
            digest.update("\0".join(values.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
        digest.update(b"\1")
    return digest.hexdigest()


def _plain(values: np.ndarray) -> np.ndarray:
    """Return the column as float64 or a unicode array: the only dtypes stored."""
    values = np.asarray(values)
    if values.dtype.kind in "US":
        return values.astype(str)
    return values.astype(np.float64)

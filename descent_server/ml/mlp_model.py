"""A trained MLP as plain numpy: serialisable without pickle, servable without Keras."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent_server.ml.backprop import Network
from descent_server.ml.normalize import Normalizer

__all__ = ["MLPModel", "Normalizer", "TrainingState"]

_FORMAT = 1
_STATE_FORMAT = 1


def _jsonable(value: Any) -> Any:
    # numpy scalars (np.int64(3), np.str_("a")) become plain Python values.
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class TrainingState:
    """What the rest of a run depends on besides its weights, as of the end of `epoch`.

    With the weights of that epoch it makes a resume exact: the optimizer's variables (step
    count, momentums, Adam's and RMSprop's moment estimates) and the seed, from which the
    validation split, the gradient-norm rows and every epoch's batch order are drawn.
    """

    epoch: int
    seed: int
    optimizer: list[np.ndarray]  # Keras's optimizer.variables, in their order

    def to_bytes(self) -> bytes:
        """Serialise to an .npz archive (no pickle)."""
        meta = {"format": _STATE_FORMAT, "epoch": self.epoch, "seed": self.seed}
        return _pack(meta, {f"optimizer_{i}": v for i, v in enumerate(self.optimizer)})

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainingState:
        """Load a state written by to_bytes()."""
        meta, arrays = _unpack(data, _STATE_FORMAT, "training state")
        variables = [arrays[f"optimizer_{i}"] for i in range(len(arrays))]
        return cls(int(meta["epoch"]), int(meta["seed"]), variables)


@dataclass(frozen=True)
class MLPModel:
    """Dense-layer weights plus what is needed to use them on raw data.

    A classifier has its class names in `classes`; a regressor (a linear output unit) has none.
    """

    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    output: str
    normalizer: Normalizer
    classes: list[Any]
    # Set on the models a training run hands out per epoch (to resume from); never serialised
    # with the weights, which stay what predict needs.
    state: TrainingState | None = field(default=None, repr=False)

    @property
    def network(self) -> Network:
        """Return the numpy network of these weights."""
        return Network(self.kernels, self.biases, self.activation, self.output)

    @property
    def n_params(self) -> int:
        """Return the number of trainable numbers."""
        return int(sum(w.size + b.size for w, b in zip(self.kernels, self.biases, strict=True)))

    @property
    def regressor(self) -> bool:
        """Tell whether this model predicts numbers (a linear output) rather than classes."""
        return self.output == "linear"

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and self.kernels[0].shape[0] == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.kernels[0].shape[0]:
            raise ValueError(f"expected inputs of shape (n, {self.kernels[0].shape[0]})")
        return self.network.predict(self.normalizer.apply(x))

    def predict_values(self, x: np.ndarray) -> np.ndarray:
        """Return a regressor's predicted values (n,) for raw inputs x (n, d), in numpy."""
        if not self.regressor:
            raise ValueError("predict_values needs a regressor; a classifier has predict_proba")
        return self._outputs(x)[:, 0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return class probabilities (n, len(classes)) for raw inputs x (n, d), in numpy."""
        if self.regressor:
            raise ValueError("a regressor has no class probabilities: use predict_values")
        out = self._outputs(x)
        if out.shape[1] == 1:  # one sigmoid unit: P(class 1)
            return np.hstack([1.0 - out, out])
        if self.output == "sigmoid":  # independent sigmoids: rescale to sum to 1
            return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return each row's prediction: a class index, or a regressor's value."""
        if self.regressor:
            return self.predict_values(x)
        return np.argmax(self.predict_proba(x), axis=1)

    def to_bytes(self) -> bytes:
        """Serialise to an .npz archive (no pickle: metadata is a JSON string)."""
        meta = {
            "format": _FORMAT,
            "activation": self.activation,
            "output": self.output,
            "normalize": self.normalizer.kind,
            "classes": [_jsonable(c) for c in self.classes],
            "layers": len(self.kernels),
        }
        arrays = {"offset": self.normalizer.offset, "scale": self.normalizer.scale}
        for i, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            arrays[f"kernel_{i}"], arrays[f"bias_{i}"] = w, b
        return _pack(meta, arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> MLPModel:
        """Load a model written by to_bytes()."""
        meta, arrays = _unpack(data, _FORMAT, "MLP weights")
        n = meta["layers"]
        return cls(
            kernels=[arrays[f"kernel_{i}"] for i in range(n)],
            biases=[arrays[f"bias_{i}"] for i in range(n)],
            activation=meta["activation"],
            output=meta["output"],
            normalizer=Normalizer(meta["normalize"], arrays["offset"], arrays["scale"]),
            classes=list(meta["classes"]),
        )


def _pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Write an .npz archive: `meta` as a JSON string array beside `arrays` (no pickle)."""
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack(data: bytes, fmt: int, what: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read an archive written by _pack(); refuse one of another format."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != fmt:
            raise ValueError(f"unknown {what} format {meta.get('format')!r}")
        return meta, {name: npz[name] for name in npz.files if name != "meta"}

"""An MLP resumed from a checkpoint equals the run that was never interrupted, bit for bit.

Each test trains N epochs straight through, then again from the checkpoint of epoch K (the
weights and the training state, round-tripped through their bytes as the worker stores
them) in a fresh Keras session. Equality is exact (==, not approx): the same backend on the
same CPU runs the same float32 operations on the same values in the same order, so any
difference at all would mean some state was not carried over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from descent_server.ml import keras_backend as kb
from descent_server.ml.mlp import (
    MLPConfig,
    MLPModel,
    count_params,
    split_rows,
    steps_per_execution,
    train_mlp,
)
from descent_server.ml.mlp_model import TrainingState
from descent_server.ml.types import EpochRecord

ROOT = Path(__file__).resolve().parents[2]
N, K = 8, 3  # epochs in all; the checkpoint's epoch
OPTIMIZERS = [
    pytest.param({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9}, id="sgd-momentum"),
    pytest.param({"optimizer": "adam", "learning_rate": 0.01}, id="adam"),
    pytest.param({"optimizer": "rmsprop", "learning_rate": 0.005, "momentum": 0.5}, id="rmsprop"),
]


def blobs(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Return three overlapping 2-d blobs of n points each (overlap keeps the loss moving)."""
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0], [2.0, 1.0], [0.5, 2.5]])
    x = np.concatenate([rng.normal(c, 1.0, (n, 2)) for c in centres])
    return x, np.repeat([0, 1, 2], n)


def config_of(**optimizer: object) -> MLPConfig:
    """Return a small net with odd batches (a partial last one) and every weight recorded."""
    return MLPConfig(
        hidden_layers=(6, 5), epochs=N, batch_size=17, seed=3, weights="full",
        snapshot_every=2, snapshot_resolution=12, **optimizer,  # type: ignore[arg-type]
    )  # fmt: skip


def train_with_checkpoints(config: MLPConfig, **kwargs: object):
    """Train; return (result, {epoch: model}) with each epoch's model as the worker gets it."""
    saved: dict[int, MLPModel] = {}
    result = train_mlp(*blobs(), [0, 1, 2], config, on_model=saved.__setitem__, **kwargs)
    return result, saved


def stored(model: MLPModel) -> MLPModel:
    """Return the model after the trip through the worker's two artifacts (weights, state)."""
    assert model.state is not None
    state = TrainingState.from_bytes(model.state.to_bytes())
    return replace(MLPModel.from_bytes(model.to_bytes()), state=state)


def same_record(a: EpochRecord, b: EpochRecord) -> bool:
    """Tell whether two epoch records are identical, snapshots included."""
    fields = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "params",
              "grad_norms", "weight_norms")  # fmt: skip
    if any(getattr(a, f) != getattr(b, f) for f in fields):
        return False
    if a.snapshot is None or b.snapshot is None:
        return a.snapshot is None and b.snapshot is None
    return bool(np.array_equal(a.snapshot, b.snapshot))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_resumed_run_equals_the_uninterrupted_one(optimizer):
    config = config_of(**optimizer)
    full, full_saved = train_with_checkpoints(config)
    checkpoint = stored(full_saved[K])
    assert checkpoint.state is not None and checkpoint.state.epoch == K
    assert len(checkpoint.state.optimizer) >= 2  # the step count and the learning rate at least

    resumed, resumed_saved = train_with_checkpoints(config, initial_model=checkpoint, start_epoch=K)
    assert [r.epoch for r in resumed.history] == list(range(K + 1, N + 1))
    for ours, reference in zip(resumed.history, full.history[K + 1 :], strict=True):
        assert same_record(ours, reference), f"epoch {ours.epoch} differs"
    for mine, theirs in zip(resumed.model.kernels + resumed.model.biases,
                            full.model.kernels + full.model.biases, strict=True):  # fmt: skip
        assert np.array_equal(mine, theirs)
    end, reference_end = resumed_saved[N].state, full_saved[N].state
    assert end is not None and reference_end is not None
    for mine, theirs in zip(end.optimizer, reference_end.optimizer, strict=True):
        assert np.array_equal(mine, theirs)  # the optimizer ends where it would have


def test_a_resume_is_exact_when_backend_calls_split_the_epochs():
    """Cancel checks that cut an epoch into calls not dividing it: the batches stay exact."""
    config = config_of(optimizer="adam", learning_rate=0.01)
    x, y = blobs()
    train, _ = split_rows(y, config.validation_split, config.validation, 3)
    steps = -(-train.size // config.batch_size)
    n_params = count_params(2, config.hidden_layers, 3)
    check_s = next(
        c for c in np.geomspace(1e-5, 1e-2, 200)
        if steps % steps_per_execution(steps, config.batch_size, n_params, float(c)) != 0
    )  # fmt: skip
    full, full_saved = train_with_checkpoints(config, cancel_check_s=check_s)
    resumed, _ = train_with_checkpoints(
        config, initial_model=stored(full_saved[K]), start_epoch=K, cancel_check_s=check_s
    )
    for ours, reference in zip(resumed.history, full.history[K + 1 :], strict=True):
        assert same_record(ours, reference), f"epoch {ours.epoch} differs"


@pytest.mark.parametrize("optimizer", OPTIMIZERS[1:])
def test_weights_alone_do_not_resume_exactly(optimizer):
    """The control: without the optimizer's state the rest of the run goes elsewhere."""
    config = config_of(**optimizer)
    full, full_saved = train_with_checkpoints(config)
    weights_only = replace(stored(full_saved[K]), state=None)
    resumed = train_mlp(*blobs(), [0, 1, 2], config, initial_model=weights_only, start_epoch=K)
    assert resumed.history[0].loss != full.history[K + 1].loss


def test_a_random_seed_is_carried_in_the_state():
    config = replace(config_of(optimizer="adam", learning_rate=0.01), seed=None)
    full, full_saved = train_with_checkpoints(config)
    checkpoint = stored(full_saved[K])
    assert checkpoint.state is not None and checkpoint.state.seed == full.seed
    resumed = train_mlp(*blobs(), [0, 1, 2], config, initial_model=checkpoint, start_epoch=K)
    assert resumed.seed == full.seed
    for ours, reference in zip(resumed.history, full.history[K + 1 :], strict=True):
        assert same_record(ours, reference), f"epoch {ours.epoch} differs"


def test_a_state_of_another_epoch_is_refused():
    config = config_of(optimizer="adam")
    _, saved = train_with_checkpoints(replace(config, epochs=K))
    with pytest.raises(ValueError, match="epoch"):
        train_mlp(*blobs(), [0, 1, 2], config, initial_model=saved[K], start_epoch=K - 1)


@pytest.mark.parametrize("calls_per_epoch", [1, 2])  # 2: 5 steps in calls of 3, split epochs
def test_each_epoch_s_batches_follow_the_order_of_that_epoch(calls_per_epoch):
    x = np.arange(10.0, dtype=np.float32)[:, None]
    y = -x
    order = {e: np.random.default_rng([4, e]).permutation(10) for e in range(6)}
    model = SimpleNamespace(steps_per_execution=1 if calls_per_epoch == 1 else 3)
    feed, callbacks = kb.epoch_batches(model, x, y, 2, order.__getitem__, range(2, 6))
    seen: dict[int, list[float]] = {}
    if callbacks:  # a PyDataset, reordered by its callback at each epoch's start
        for epoch in range(2, 6):
            callbacks[0].on_epoch_begin(epoch)
            batches = [feed["x"][i] for i in range(len(feed["x"]))]
            seen[epoch] = [float(v) for xb, yb in batches for v in xb[:, 0]]
            assert all(np.array_equal(yb, -xb) for xb, yb in batches)
    else:  # one dataset of all epochs, `steps_per_epoch` batches each
        assert feed["steps_per_epoch"] == 5
        to_numpy = kb.keras_module().ops.convert_to_numpy
        flat = [float(v) for xb, _ in feed["x"] for v in to_numpy(xb).ravel()]
        seen = {epoch: flat[(epoch - 2) * 10 : (epoch - 1) * 10] for epoch in range(2, 6)}
    for epoch in range(2, 6):
        assert seen[epoch] == [float(i) for i in order[epoch]]


def test_the_state_round_trips_through_bytes():
    state = TrainingState(7, 2**40, [np.array(7, dtype=np.int64), np.ones((2, 3), np.float32)])
    back = TrainingState.from_bytes(state.to_bytes())
    assert (back.epoch, back.seed) == (7, 2**40)
    assert [a.dtype for a in back.optimizer] == [np.int64, np.float32]
    assert all(np.array_equal(a, b) for a, b in zip(back.optimizer, state.optimizer, strict=True))


JAX_SCRIPT = """
import json, sys
sys.path.insert(0, "tests/ml")
from test_mlp_resume import K, blobs, config_of, same_record, stored, train_with_checkpoints
from descent_server.ml.mlp import train_mlp
config = config_of(optimizer="adam", learning_rate=0.01)
full, saved = train_with_checkpoints(config)
resumed = train_mlp(*blobs(), [0, 1, 2], config, initial_model=stored(saved[K]), start_epoch=K)
same = [same_record(a, b) for a, b in zip(resumed.history, full.history[K + 1:])]
print(json.dumps({"backend": full.backend, "epochs": [r.epoch for r in resumed.history],
                  "same": same}))
"""


def test_a_resumed_adam_run_is_exact_on_jax_too():
    pytest.importorskip("jax")
    proc = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], cwd=ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, "KERAS_BACKEND": "jax"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    assert out["epochs"] == list(range(K + 1, N + 1))
    assert all(out["same"]), out["same"]

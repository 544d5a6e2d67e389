"""Cancel lands inside an epoch: regression mini-batches and the Keras fit stop mid-epoch."""

from __future__ import annotations

import numpy as np

from descent_server.ml import keras_backend as kb
from descent_server.ml.mlp import MLPConfig, steps_per_execution, train_mlp
from descent_server.ml.regression import RegressionConfig, train_regression
from tests.ml.test_mlp import small_blobs


def stop_on_call(n: int) -> tuple[list[int], object]:
    """Return (calls, should_stop) that says yes from its n-th call on."""
    calls: list[int] = []

    def should_stop() -> bool:
        calls.append(len(calls) + 1)
        return len(calls) >= n

    return calls, should_stop


def test_a_minibatch_regression_stops_inside_its_epoch() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 10_000)
    y = 0.5 * x + 2 + rng.normal(size=10_000)
    # Call 1 is before epoch 1; call 2 comes ~4,096 rows into it.
    calls, should_stop = stop_on_call(2)
    config = RegressionConfig(learning_rate=0.001, epochs=5, batch_size=10, seed=1)
    result = train_regression(x, y, config, should_stop=should_stop)  # type: ignore[arg-type]
    assert result.status == "cancelled"
    assert result.epochs_run == 0 and list(result.history.epochs) == [0]
    assert result.params == {"a": 0.0, "b": 0.0}  # the recorded state, not a half epoch
    assert len(calls) == 2


def test_an_uncancelled_minibatch_regression_is_unchanged_by_the_checks() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 10_000)
    y = 0.5 * x + 2 + rng.normal(size=10_000)
    config = RegressionConfig(learning_rate=0.001, epochs=3, batch_size=10, seed=1)
    checked = train_regression(x, y, config, should_stop=lambda: False)
    plain = train_regression(x, y, config)
    assert checked.status == "succeeded" and checked.params == plain.params


def test_the_keras_fit_stops_inside_its_epoch() -> None:
    x, y = small_blobs()
    calls, should_stop = stop_on_call(2)  # 1: after epoch 0's record; 2: after a batch
    config = MLPConfig(seed=1, epochs=3, batch_size=8, hidden_layers=(8,))
    seen: list[int] = []
    result = train_mlp(
        x, y, [0, 1, 2], config, on_epoch=lambda r: seen.append(r.epoch),
        should_stop=should_stop, cancel_check_s=0.0,  # type: ignore[arg-type]
    )  # fmt: skip
    assert result.status == "cancelled"
    assert seen == [0] and [r.epoch for r in result.history] == [0]
    assert result.epochs_run == 0
    # The model handed back (and the Keras model saved from it) is epoch 0's, not a half epoch.
    for kept, keras_weight in zip(result.model.kernels, kb.get_weights(result.keras_model)[0::2],
                                  strict=True):  # fmt: skip
        np.testing.assert_array_equal(kept, keras_weight)


def test_a_backend_call_is_sized_to_the_cancel_interval() -> None:
    # Small work: the whole epoch in one call, as before.
    assert steps_per_execution(85, 32, 1_883, 0.5) == 85
    # One row at a time through 4 million parameters: a few batches per call, at least one.
    assert 1 <= steps_per_execution(2_700, 1, 4_200_000, 0.5) < 50
    assert steps_per_execution(2_700, 512, 100_000_000, 0.5) == 1

"""The Keras adapter: how TensorFlow is set up when a worker first imports it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "1 1"), ({"TF_NUM_INTRAOP_THREADS": "2"}, "0 1")],  # 0: left to TensorFlow (its env)
)
def test_tensorflow_on_cpu_uses_one_thread_per_process_unless_told_otherwise(
    env: dict[str, str], expected: str
) -> None:
    code = (
        "from descent_server.ml.keras_backend import keras_module\n"
        "import tensorflow as tf\n"
        "keras_module()\n"
        "t = tf.config.threading\n"
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TF_NUM_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "", **env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == expected

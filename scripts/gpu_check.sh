#!/usr/bin/env bash
# GPU check (issue 7), for a machine with an NVIDIA GPU, JAX with CUDA and no TensorFlow:
#   1. installs the Keras wheels it is given (keras, namex, optree) into a private folder,
#   2. runs the ml/ test suite with KERAS_BACKEND=jax (on the GPU, JAX's default device),
#   3. runs scripts/gpu_check.py: a seeded MLP gives the same history on CPU and GPU (to the
#      tolerance it prints), and a throughput table (course MLP and a large job, CPU vs GPU).
# Usage: scripts/gpu_check.sh [--wheels DIR] [--cpu-only] [--small] [--no-suite] [--json FILE]
#   --cpu-only  no GPU needed: both sides run on the CPU (a smoke test of the code path; CI)
#   --small     small sizes, seconds instead of minutes
# The wheels for a Python 3.12 GPU host, fetched where PyPI is reachable (.whl/ is gitignored):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
#     -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
WHEELS=.whl
SITE="${GPU_CHECK_SITE:-/tmp/site}"
SUITE=1
CHECK_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS="$2"; shift 2 ;;
        --no-suite) SUITE=0; shift ;;
        --cpu-only) CHECK_ARGS+=(--cpu-only); export JAX_PLATFORMS=cpu; shift ;;
        --small) CHECK_ARGS+=(--small); shift ;;
        --json) CHECK_ARGS+=(--json "$2"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

export KERAS_BACKEND=jax
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
if [ "${#wheels[@]}" -gt 0 ]; then
    echo "== installing ${#wheels[@]} wheels from $WHEELS into $SITE"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" \
        "${wheels[@]}"
    export PYTHONPATH="$SITE:$PYTHONPATH"
else
    echo "== no wheels in $WHEELS: using the Keras already installed"
fi

if [ "$SUITE" = 1 ]; then
    echo "== ml test suite (KERAS_BACKEND=jax)"
    # confcutdir: the service's conftests (database, broker) are not needed for ml/.
    "$PYTHON" -m pytest tests/ml -q -p no:cacheprovider --confcutdir=tests/ml
fi

echo "== seeded CPU/GPU equivalence and throughput"
"$PYTHON" scripts/gpu_check.py "${CHECK_ARGS[@]}"

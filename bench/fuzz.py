"""The long schemathesis run: every check, every operation, thousands of cases, a real server.

    python -m bench.fuzz [--backend sqlite|postgres] [--max-examples 100] [--seed 1]

Starts `descent-server api` (auth on) and a real worker on a scratch database, seeds owned
objects (a dataset, a trained run, a sweep), then runs the `schemathesis` CLI twice with
every check (schemathesis.toml enables them all) and every phase (examples, coverage,
fuzzing, stateful): once with the seeded objects' ids as path parameters (so cases get past
the 404s), once with random ones. Prints the numbers (cases, failures) and exits 1 if any
check failed; each pass's full output is in /tmp/descent-fuzz-<backend>-<pass>.log. The CI
variant is tests/api/test_schemathesis.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy.orm import sessionmaker

from bench import runs
from bench.common import BIN, Stack, scratch_postgres
from descent_server.db.migrate import upgrade
from descent_server.db.session import make_engine
from descent_server.services import keys

ROOT = Path(__file__).resolve().parents[1]
MOVIES = {**runs.MOVIES, "hyperparameters": {"learning_rate": 2e-10, "epochs": 50}}
# Limits that would only answer 429 to a fuzzer hammering one owner (they have tests of
# their own); every other limit keeps its default.
KNOBS = {
    "DESCENT_AUTH_ENABLED": "true",
    "DESCENT_MAX_CONCURRENT_RUNS": "1000000",
    "DESCENT_SUBMIT_RATE_PER_MINUTE": "1000000",
    "DESCENT_UPLOAD_RATE_PER_MINUTE": "1000000",
    "DESCENT_EXPORT_RATE_PER_MINUTE": "1000000",
    "DESCENT_RENDER_RATE_PER_MINUTE": "1000000",
    "DESCENT_PREDICT_RATE_PER_MINUTE": "1000000",
    "DESCENT_RENDER_PER_OWNER": "100",
}


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """Yield (database URL, broker URL) of a fresh migrated database."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'descent.db'}"
        upgrade(url)
        yield url, ""
        return
    from tests.helpers.redis_db import reserved_redis_db

    with scratch_postgres("descent_fuzz") as url, reserved_redis_db("fuzz") as broker:
        yield url, broker


def api_key(url: str) -> str:
    """Create a key for the owner "fuzz"."""
    engine = make_engine(url)
    try:
        with sessionmaker(bind=engine)() as session:
            return keys.create(session=session, owner="fuzz")[1]
    finally:
        engine.dispose()


def seed(base: str, key: str) -> dict[str, str]:
    """Create a dataset, a run (trained by the worker) and a sweep; return their ids."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        columns = {"x": [1, 2, 3, 4], "y": [2, 4, 7, 9], "label": ["a", "b", "a", "b"]}
        dataset = client.post("/v1/datasets", json={"name": "seed", "columns": columns})
        run = client.post("/v1/runs", json=MOVIES)
        sweep = client.post("/v1/sweeps", json={"run": MOVIES, "grid": {"epochs": [5, 10]}})
        for response in (dataset, run, sweep):
            response.raise_for_status()
        run_id = run.json()["id"]
        deadline = time.monotonic() + 120
        while client.get(f"/v1/runs/{run_id}").json()["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise RuntimeError("the seeded run did not finish in 120 s")
            time.sleep(0.5)
    return {"dataset_id": dataset.json()["id"], "run_id": run_id, "sweep_id": sweep.json()["id"]}


def schemathesis(
    base: str, key: str, args: argparse.Namespace, config: Path, extra: list[str]
) -> tuple[int, str]:
    """Run the CLI once; return (exit status, output)."""
    command = [
        str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{base}/openapi.json",
        "--mode", "all", "--max-examples", str(args.max_examples),
        "--seed", str(args.seed), "--header", f"Authorization: Bearer {key}",
        "--exclude-path-regex", "/events$", "--request-timeout", "60", "--workers", "1",
        "--continue-on-failure", "--generation-database", "none", "--no-color", *extra,
    ]  # fmt: skip
    # In the scratch folder: the CLI keeps a cache of crashes (.schemathesis/) where it runs.
    proc = subprocess.run(command, capture_output=True, text=True, cwd=config.parent)
    return proc.returncode, proc.stdout + proc.stderr


def summary(output: str) -> str:
    """Return the CLI's closing lines (test cases, failures) for the report."""
    wanted = re.compile(r"generated|passed|failed|error|(Examples|Coverage|Fuzzing|Stateful) \(")
    keep = [line.strip()[:160] for line in output.splitlines() if wanted.search(line)]
    return "\n".join(keep[-14:])


def main() -> int:
    """Fuzz a real server; print each pass's numbers; 1 if any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as scratch, database(args.backend, Path(scratch)) as urls:
        tmp = Path(scratch)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")},
            **KNOBS, "DESCENT_DATABASE_URL": urls[0], "DESCENT_BROKER_URL": urls[1],
            "DESCENT_DATA_DIR": str(tmp), "OPENBLAS_NUM_THREADS": "1",
        }  # fmt: skip
        stack = Stack(env=env, data_dir=tmp)
        try:
            base = stack.api(workers=2)
            stack.worker()
            key = api_key(urls[0])
            ids = seed(base, key)
            base_config = (ROOT / "schemathesis.toml").read_text()
            with_ids = (
                base_config
                + "\n[parameters]\n"
                + "".join(f'"path.{name}" = "{value}"\n' for name, value in ids.items())
            )
            # The seeded pass goes first and deletes nothing: a DELETE would leave every later
            # case a 404 (the random pass's stateful phase finds the seeds through the listings).
            passes = [
                ("seeded ids", with_ids, ["--exclude-method", "DELETE"]),
                ("random ids", base_config, []),
            ]
            for label, text, extra in passes:
                config = tmp / f"schemathesis-{label.split()[0]}.toml"
                config.write_text(text)
                status, output = schemathesis(base, key, args, config, extra)
                (tmp.parent / f"descent-fuzz-{args.backend}-{label.split()[0]}.log").write_text(
                    output
                )
                print(f"== {args.backend}, {label}: exit {status}\n{summary(output)}\n")
                failed |= status != 0
        finally:
            stack.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The pure core stays pure: importing every ml module pulls in no web, database or queue code."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "celery", "kombu", "descent_server.settings")

# Runs in a fresh interpreter so modules imported by other tests cannot hide a violation.
PROBE = f"""
import importlib, json, pkgutil, sys
import descent_server.ml as ml
names = sorted(m.name for m in pkgutil.walk_packages(ml.__path__, "descent_server.ml."))
for name in names:
    importlib.import_module(name)
bad = [m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r} or m in {FORBIDDEN!r}]
print(json.dumps({{"imported": names, "forbidden": sorted(bad)}}))
"""


def test_ml_imports_without_fastapi_sqlalchemy_or_celery() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=300
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for required in ("regression", "surface", "quadratic", "types"):
        assert f"descent_server.ml.{required}" in report["imported"]
    assert report["forbidden"] == []

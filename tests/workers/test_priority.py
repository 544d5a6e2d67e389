"""A worker lowers its CPU priority (DESCENT_WORKER_NICE) so the API keeps the cores first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import os, sys
from descent_server.workers.celery_app import lower_priority
before = os.nice(0)
lower_priority(int(sys.argv[1]))
group = open("/proc/self/autogroup").read() if os.path.exists("/proc/self/autogroup") else ""
print(os.nice(0) - before, os.getsid(0) == os.getpid(), group.strip())
"""


def _run(nice: int, *, own_session: bool) -> tuple[int, bool, str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(nice)],
        capture_output=True, text=True, check=True, start_new_session=own_session,
    )  # fmt: skip
    raised, leader, *group = done.stdout.strip().split(maxsplit=2)
    return int(raised), leader == "True", "".join(group)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="os.nice is POSIX only")
def test_a_worker_of_its_own_session_lowers_itself_and_its_session() -> None:
    raised, leader, group = _run(10, own_session=True)
    assert leader and raised == min(10, 19 - os.nice(0))
    if group:  # kernels with autogroups: "/autogroup-N nice 10"
        assert group.endswith("nice 10")


def test_a_worker_sharing_the_api_session_leaves_the_session_alone() -> None:
    raised, leader, group = _run(5, own_session=False)
    assert not leader and raised == min(5, 19 - os.nice(0))
    if group:
        assert not group.endswith("nice 5")


def test_zero_changes_nothing() -> None:
    raised, _, _ = _run(0, own_session=True)
    assert raised == 0

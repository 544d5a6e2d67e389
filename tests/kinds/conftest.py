"""One embedded-mode API server and worker for the kinds' end-to-end tests, with the toy
fourth kind loaded through the `kind_modules` setting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from descent_server.db.migrate import upgrade
from tests.faults.stack import Stack

REPO = Path(__file__).resolve().parents[2]
TOY = '["tests.kinds.toy_mean"]'  # the setting is a JSON list of module names


@pytest.fixture(scope="module")
def kinds_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An embedded-mode server and worker that load the toy kind."""
    tmp = tmp_path_factory.mktemp("kinds")
    url = f"sqlite:///{tmp / 'descent.db'}"
    upgrade(url)
    with pytest.MonkeyPatch.context() as patch:
        # The service processes import the toy module from this checkout's tests package.
        patch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        stack = Stack(database_url=url, broker_url="", tmp=tmp, api_knobs={"kind_modules": TOY})
        try:
            stack.start()
            stack.start_worker("toy-worker", kind_modules=TOY)
            yield stack
        finally:
            stack.close()

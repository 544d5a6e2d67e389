"""The README's curl walkthrough runs as written against a live `descent-server dev`.

The ```bash blocks of "Five minutes with curl" run in order in one bash (set -euo pipefail),
only the port of `API=` changed. Every `# {...}` comment in them is an output the README
promises: each must match a JSON text the script printed ("..." stands for anything).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.ops.procs import free_port, server_command, wait_healthy

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Five minutes with curl"
API_LINE = "API=http://127.0.0.1:8000/v1"
SCRIPT_TIMEOUT_S = 240
PICTURES = ["fit.png", "learning-rates.png", "surface.png", "contour.png", "boundary-5.png"]
# Step 4's event-stream command (through the end of its jq program) and the comments after it.
SSE_COMMAND = re.compile(
    r"^curl -sN \$API/runs/\$MLP/events .*?end'\n((?:# [^\n]*\n)*)", flags=re.S | re.M
)
SSE_BEGIN, SSE_END = '{"readme_sse":"begin"}', '{"readme_sse":"end"}'  # JSON, like the rest
EPOCH_LINE = r'\{"epoch":%d,"loss":[-+.e0-9]+,"val_accuracy":[-+.e0-9]+\}'


def walkthrough_blocks() -> list[str]:
    """Return the ```bash blocks of the walkthrough section, in order."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```bash\n(.*?)^```$", section, flags=re.S | re.M)


def promised_outputs(blocks: list[str]) -> list[str]:
    """Return the JSON outputs shown in `# {...}` comments, cut after the last brace."""
    found = re.findall(r"^\s*# (\{.*\})", "\n".join(blocks), flags=re.M)
    return [line[: line.rindex("}") + 1] for line in found]


def json_texts(stdout: str) -> list[tuple[str, Any]]:
    """Split stdout into its JSON texts (curl prints some without a newline): (raw, value)."""
    decoder = json.JSONDecoder()
    texts, pos = [], 0
    while True:
        while pos < len(stdout) and stdout[pos].isspace():
            pos += 1
        if pos == len(stdout):
            return texts
        value, end = decoder.raw_decode(stdout, pos)
        texts.append((stdout[pos:end], value))
        pos = end


def canonical(text: str) -> str:
    """Write exponents one way (jq 1.6 prints e-08, the server and jq 1.7 e-8)."""
    return re.sub(r"e([+-]?)0*(\d)", lambda m: "e" + m[1].replace("+", "") + m[2], text)


def matches(promise: str, raw: str) -> bool:
    """True if `raw` is the promised output, "..." in the promise matching anything."""
    pattern = ".*?".join(re.escape(part) for part in canonical(promise).split("..."))
    return re.fullmatch(pattern, canonical(raw)) is not None


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """Start `descent-server dev` on a free port in tmp_path; yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server_command(port), cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(proc, url, log)
        yield url
    finally:
        proc.terminate()  # the dev server stops its worker on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def by_key(texts: list[Any], key: str) -> list[dict[str, Any]]:
    """Return the printed JSON objects that have `key`."""
    return [t for t in texts if isinstance(t, dict) and key in t]


def test_readme_walkthrough_runs_as_written(dev_server: str, tmp_path: Path) -> None:
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the README walkthrough needs `{tool}` installed"
    blocks = walkthrough_blocks()
    assert len(blocks) >= 5 and blocks[0].strip() == API_LINE, blocks[:1]
    script = "\n".join(blocks).replace(API_LINE, f"API={dev_server}/v1")
    sse = SSE_COMMAND.search(script)
    assert sse, "step 4's `curl -sN $API/runs/$MLP/events | jq ...` is gone"
    command = sse[0].removesuffix(sse[1])
    script = script.replace(command, f"echo '{SSE_BEGIN}'\n{command}echo '{SSE_END}'\n")
    work = tmp_path / "walkthrough"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=work, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    printed = json_texts(done.stdout)
    raws, values = [raw for raw, _ in printed], [value for _, value in printed]

    promises = promised_outputs(blocks)
    assert len(promises) >= 10
    for promise in promises:
        assert any(matches(promise, raw) for raw in raws), f"{promise}\nnot in:\n{done.stdout}"

    # 1. The course run: the notebook's parameters, loss and prediction for 12008.
    course = by_key(values, "params")[0]
    assert course["status"] == "succeeded"
    assert course["params"]["a"] == pytest.approx(0.07145849581, rel=1e-9)
    assert course["params"]["b"] == pytest.approx(-99.99993453, rel=1e-9)
    assert course["loss"] == pytest.approx(3548.244901, rel=1e-9)
    regression_predict = by_key(values, "predictions")[0]
    assert regression_predict["predictions"] == [pytest.approx(758.0736831, rel=1e-9)]

    # 2. The learning-rate lesson: 1e-3 diverges, 1e-12 barely moves, 2e-10 learns.
    sweep = {row["lr"]: row for row in by_key(values, "lr")}
    assert {lr: row["status"] for lr, row in sweep.items()} == {
        0.001: "diverged", 1e-12: "succeeded", 2e-10: "succeeded",
    }  # fmt: skip
    assert sweep[1e-12]["loss"] > 9e7  # from 1.004e8 before training
    assert sweep[2e-10]["loss"] == pytest.approx(3548.244901, rel=1e-9)

    # 3. The notebook's grid search optimum.
    grid_optimum = by_key(values, "a")[0]
    assert grid_optimum["a"] == pytest.approx(0.0707070707, rel=1e-9)
    assert grid_optimum["b"] == pytest.approx(-90.9090909, rel=1e-9)

    # 4. The event stream prints exactly what the README shows: epochs 0..20 in order and
    # nothing between them, then the final status (the progress status events filtered out).
    streamed_lines = done.stdout.split(SSE_BEGIN + "\n")[1].split(SSE_END)[0].splitlines()
    assert len(streamed_lines) == 22, streamed_lines
    for epoch, line in enumerate(streamed_lines[:21]):
        assert re.fullmatch(EPOCH_LINE % epoch, line), (epoch, line)
    assert streamed_lines[21] == '{"status":"succeeded"}'
    shown = [line.removeprefix("# ") for line in sse[1].splitlines()]
    assert len(shown) == 4 and shown[1] == "...", shown
    for promise, line in zip(shown, [streamed_lines[0], "...", *streamed_lines[20:]], strict=True):
        assert matches(promise, line), (promise, line)

    # 4. The MLP: every epoch streamed, then succeeded with the course's accuracy.
    streamed = [row["epoch"] for row in by_key(values, "epoch") if "val_accuracy" in row]
    assert streamed == list(range(21))
    mlp = by_key(values, "metrics")[-1]
    assert mlp["status"] == "succeeded" and mlp["metrics"]["val_accuracy"] >= 0.9
    assert by_key(values, "predictions")[1]["predictions"] == [0, 1, 2]

    # 5. The curve: a misplaced learning rate gets its right name, then a sine is learnt.
    hint = by_key(values, "loc")[0]
    assert hint["msg"].endswith("hyperparameters.optimizer.learning_rate")
    curve = by_key(values, "val_mae")[0]
    assert curve["status"] == "succeeded" and curve["val_mae"] < 0.1
    assert by_key(values, "predictions")[2]["predictions"] == [1, -1]
    with Image.open(work / "fit-curve.gif") as film:
        assert film.format == "GIF" and film.n_frames == 11

    for name in PICTURES:
        with Image.open(work / name) as image:
            assert image.format == "PNG" and image.size == (800, 600), name
            image.load()
    with Image.open(work / "boundary.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 21

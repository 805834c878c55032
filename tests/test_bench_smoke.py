"""The benchmarks still run (at toy sizes) and print their JSON figures: they can't rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.rig import REPO


@pytest.mark.parametrize(
    ("module", "args", "figure"),
    [
        (
            "bench.live_check",
            ["--channels", "6", "--latency-ms", "5", "--podcasts", "1", "3"],
            "speedup",
        ),
        ("bench.posting", ["--tweets", "6", "--latency-ms", "5"], "speedup"),
        ("bench.shards", ["--podcasts", "12"], "speedup"),
        ("bench.page_parse", ["--target-kb", "60", "--repeats", "2"], "ratio_to_json_loads"),
    ],
)
def test_benchmark_runs_and_prints_json(module: str, args: list[str], figure: str) -> None:
    """Each benchmark exits 0 and ends with a BENCH_JSON line holding its comparison figure."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    assert figure in json.dumps(figures)

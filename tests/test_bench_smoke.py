"""The benchmarks still run (at toy sizes) and print their JSON figures: they can't rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.rig import REPO

# Toy sizes of every section of bench.load (the real run: 800 KB pages, 5,000 channels).
LOAD_TOY_SIZES = [
    "--small-pages=20",
    "--channels=10",
    "--pad-kib=20",
    "--latency-ms=5",
    "--api-channels=100",
    "--podcasts=10",
    "--commands=5",
    "--posting-podcasts=2",
    "--hosts=2",
    "--x-latency-ms=5",
]


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
        ("bench.load", LOAD_TOY_SIZES, "cpu_ratio"),
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
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    assert figure in json.dumps(figures)

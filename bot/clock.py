"""The one clock: services take `clock=utcnow` so tests can move time instead of sleeping."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

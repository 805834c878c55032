"""The timezones a podcast may use: canonical IANA names that Python and PostgreSQL both know.

Python's zoneinfo loads anything under its search path: `localtime`, `posixrules`, `Factory`,
`posix/Europe/Paris`, `right/UTC`. PostgreSQL refuses some of those, and a name that one side
accepts and the other refuses must never reach the database. So OnAir accepts only the zones
(not links, not the legacy `EST5EDT` kind) listed in the `tzdata` package's `tzdata.zi`, plus
`UTC`, and computes every local date in Python.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from zoneinfo import ZoneInfo

UTC_NAME = "UTC"


@functools.cache
def canonical_timezones() -> dict[str, str]:
    """Lower-cased name -> canonical name, for every Area/Location zone and UTC."""
    text = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8")
    names = {UTC_NAME}
    for line in text.splitlines():
        # "Z Europe/Paris 0:9:21 - LMT 1891 Mar 16": a zone; "L" lines are links (aliases).
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0] == "Z" and "/" in parts[1]:
            names.add(parts[1])
    return {name.lower(): name for name in names if _loadable(name)}


def _loadable(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # any failure means Python can't use it
        return False
    return True


def canonical_name(text: str) -> str | None:
    """The canonical spelling of `text` (any case, spaces for underscores), or None."""
    key = text.strip().replace(" ", "_").lower()
    return canonical_timezones().get(key)


def matching(text: str, limit: int = 25) -> list[str]:
    """Canonical names containing `text` (for autocomplete), shortest match first."""
    needle = text.strip().replace(" ", "_").lower()
    found = [name for key, name in canonical_timezones().items() if needle in key]
    return sorted(found, key=lambda n: (not n.lower().startswith(needle), n))[:limit]


def local_today(timezone: str, now: dt.datetime) -> dt.date:
    """The date it is at `now` in `timezone` (a canonical name; raises for anything else)."""
    if canonical_name(timezone) != timezone:
        raise ValueError("not a canonical timezone")
    return now.astimezone(ZoneInfo(timezone)).date()

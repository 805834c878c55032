"""How many YouTube Data API units a day the live check will spend, against the daily quota.

In Data API mode a check asks ``videos.list`` only about the ids that can still change (videos
known to be live or waiting, and new ids from the feeds), 50 ids per 1-unit call, all channels
together; final videos are never asked again (bot/final_videos.py). So a day costs about
⌈changing ids / 50⌉ units per check times the checks a day.
"""

from __future__ import annotations

import math

VIDEOS_PER_CALL = 50
DEFAULT_DAILY_QUOTA = 10_000  # a new Google Cloud project's YouTube Data API v3 quota
WARN_AT = 0.8  # warn when the projection reaches this share of the quota


def units_per_check(changing_ids: int) -> int:
    return math.ceil(changing_ids / VIDEOS_PER_CALL)


def projected_units_per_day(units_of_one_check: int, interval_seconds: float) -> int:
    return math.ceil(units_of_one_check * 86_400 / interval_seconds)


def quota_warning(projected: int, quota: int = DEFAULT_DAILY_QUOTA) -> str | None:
    """A plain sentence when the projection would use up (most of) the day's quota."""
    if projected < quota * WARN_AT:
        return None
    return (
        f"about {projected:,} Data API units a day would use up YouTube's default "
        f"quota of {quota:,}: raise LIVE_CHECK_INTERVAL_SECONDS or the project's quota "
        "(OnAir falls back to page checks when the quota runs out)"
    )

"""How many YouTube Data API units a day the live check will spend, against the daily quota.

In Data API mode a check asks ``videos.list`` only about the ids that can still change (videos
known to be live or waiting, and new ids from the feeds), 50 ids per 1-unit call, all channels
together; final videos are never asked again (bot/final_videos.py). So a day costs about
⌈changing ids / 50⌉ units per check times the checks a day.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from zoneinfo import ZoneInfo

log = logging.getLogger("onair.quota")

VIDEOS_PER_CALL = 50
DEFAULT_DAILY_QUOTA = 10_000  # a new Google Cloud project's YouTube Data API v3 quota
WARN_AT = 0.8  # warn when the projection reaches this share of the quota
# "Daily quotas reset at midnight Pacific Time" (YouTube Data API docs, "Quota usage").
QUOTA_DAY_ZONE = ZoneInfo("America/Los_Angeles")


def units_per_check(changing_ids: int) -> int:
    return math.ceil(changing_ids / VIDEOS_PER_CALL)


def projected_units_per_day(units_of_one_check: int, interval_seconds: float) -> int:
    return math.ceil(units_of_one_check * 86_400 / interval_seconds)


def quota_warning(projected: int, quota: int = DEFAULT_DAILY_QUOTA) -> str | None:
    """A plain sentence when the projection would use up (most of) the day's quota."""
    if projected < quota * WARN_AT:
        return None
    return (
        f"about {projected:,} Data API units a day would use up the daily "
        f"quota of {quota:,} (YOUTUBE_DAILY_QUOTA): raise LIVE_CHECK_INTERVAL_SECONDS or the "
        "project's quota (OnAir falls back to page checks when the quota runs out)"
    )


def quota_day(now: dt.datetime) -> dt.date:
    return now.astimezone(QUOTA_DAY_ZONE).date()


def seconds_left_in_quota_day(now: dt.datetime) -> float:
    local = now.astimezone(QUOTA_DAY_ZONE)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), QUOTA_DAY_ZONE)
    return (midnight - local).total_seconds()


class QuotaWatch:
    """The running bot's view of the day's Data API units: spent since YouTube's reset, and
    where the current rate ends the day. Warns once per quota day, before the quota would run
    out, so the operator can act while checks still use the API."""

    def __init__(self, quota: int = DEFAULT_DAILY_QUOTA) -> None:
        self.quota = quota
        self.spent_today = 0
        self.projected_today = 0
        self._day: dt.date | None = None
        self._last_at: dt.datetime | None = None
        self._warned_on: dt.date | None = None

    def observe(self, units: int, now: dt.datetime) -> str | None:
        """Count one check's units; the warning, the first time today's projection nears the
        quota (None otherwise)."""
        day = quota_day(now)
        if day != self._day:
            self._day, self.spent_today = day, 0
        self.spent_today += units
        rate = 0.0
        if self._last_at is not None and now > self._last_at:
            rate = units / (now - self._last_at).total_seconds()
        self._last_at = now
        self.projected_today = self.spent_today + math.ceil(rate * seconds_left_in_quota_day(now))
        warning = quota_warning(self.projected_today, self.quota)
        if warning is None or self._warned_on == day:
            return None
        self._warned_on = day
        log.warning(
            "YouTube quota: %s units spent today, about %s by the reset at rate; %s",
            self.spent_today,
            self.projected_today,
            warning,
        )
        return warning

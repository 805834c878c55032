"""What an operator scrapes at GET /metrics: one registry per process, filled by the services.

Labels only ever carry values from fixed sets (a channel state, a post outcome, a reason code
from bot/errors.py's catalogue, an HTTP status, a command's qualified name), never a secret, an
id or free text such as a stream title, so the number of series stays small and nothing leaks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import aiohttp
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from bot.errors import Reason
from bot.quota import QuotaWatch
from bot.youtube.transport import Reply
from db.models import AttemptOutcome

CHANNEL_STATES = ("live", "upcoming", "offline", "unknown", "blocked")
# Post attempt labels: the enums of db/models.py and the reason catalogue of bot/errors.py.
OUTCOMES = frozenset(AttemptOutcome)
REASONS = frozenset(Reason)
# An unknown check because YouTube turned us away (not because it failed): "blocked".
BLOCKED_REASONS = frozenset({"captcha", "consent", "rate_limited", "backoff"})


def channel_state(state: str, reason: str | None) -> str:
    """The metric's state of one check: LiveCheck.state, with YouTube's refusals as blocked."""
    if state == "unknown" and reason in BLOCKED_REASONS:
        return "blocked"
    return state if state in CHANNEL_STATES else "unknown"


class _UnitsCollector(Collector):
    """The YouTube client's own running count of Data API units, read at scrape time."""

    def __init__(self) -> None:
        self.source: object | None = None

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "onair_youtube_api_units", "YouTube Data API quota units spent by this process."
        )
        family.add_metric([], float(getattr(self.source, "units_used", 0)))
        yield family


class Metrics:
    """Every OnAir instrument, on its own registry (so two bots in one test process don't mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.checks = Counter(
            "onair_live_checks", "Live checks run, by result (ok or error).", ["result"], registry=r
        )
        self.check_seconds = Histogram(
            "onair_live_check_duration_seconds",
            "How long one live check took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.channels = Gauge(
            "onair_channels",
            "YouTube channels of this process's podcasts, by their last checked state.",
            ["state"],
            registry=r,
        )
        self.posts = Counter(
            "onair_post_attempts",
            "Attempts to post a tweet, by outcome and catalogue reason.",
            ["outcome", "reason"],
            registry=r,
        )
        self.x_answers = Counter(
            "onair_x_responses", "HTTP answers from X, by status code.", ["status"], registry=r
        )
        self.youtube_answers = Counter(
            "onair_youtube_responses",
            "HTTP answers from YouTube (pages, feeds, Data API), by status code.",
            ["status"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "onair_command_duration_seconds",
            "Time from a slash command's arrival to its handler finishing, by command.",
            ["command"],
            registry=r,
        )
        self.last_check_age = Gauge(
            "onair_last_live_check_age_seconds",
            "Seconds since the last live check finished (since start-up before the first).",
            registry=r,
        )
        self.last_check_age.set_function(self.seconds_since_last_check)
        self._units = _UnitsCollector()
        r.register(self._units)
        self._started = time.monotonic()
        self.last_check_at: float | None = None  # time.monotonic() of the last finished check
        self._channel_states: dict[str, str] = {}
        for state in CHANNEL_STATES:
            self.channels.labels(state).set(0)

    # -- what the services report ---------------------------------------------------------------

    def count_units_of(self, youtube_client: object) -> None:
        """Report `youtube_client.units_used` as onair_youtube_api_units."""
        self._units.source = youtube_client

    def watch_quota(self, watch: QuotaWatch) -> None:
        """Today's Data API units, spent and projected to YouTube's reset (bot/quota.py)."""
        spent = Gauge(
            "onair_youtube_api_units_today",
            "Data API units spent since YouTube's daily reset (midnight Pacific time).",
            registry=self.registry,
        )
        spent.set_function(lambda: watch.spent_today)
        projected = Gauge(
            "onair_youtube_api_units_projected_today",
            "Data API units the day ends with at the current rate; compare with the quota.",
            registry=self.registry,
        )
        projected.set_function(lambda: watch.projected_today)

    def check_finished(self, seconds: float, *, ok: bool) -> None:
        self.checks.labels("ok" if ok else "error").inc()
        self.check_seconds.observe(seconds)
        if ok:
            self.last_check_at = time.monotonic()

    def seconds_since_last_check(self) -> float:
        return time.monotonic() - (self.last_check_at or self._started)

    def channel_states(self, states: Mapping[str, str]) -> None:
        """The latest `channel_state` of every channel just checked (others keep theirs)."""
        self._channel_states.update(states)
        counts = dict.fromkeys(CHANNEL_STATES, 0)
        for state in self._channel_states.values():
            counts[state] += 1
        for state, count in counts.items():
            self.channels.labels(state).set(count)

    def post_attempts(self, attempts: Iterable[Mapping[str, object]]) -> None:
        """One count per post_attempts row, labelled from the enums only ("other" otherwise)."""
        for attempt in attempts:
            outcome, reason = attempt["outcome"], attempt.get("reason")
            self.posts.labels(
                str(outcome) if outcome in OUTCOMES else "other",
                "none" if reason is None else str(reason) if reason in REASONS else "other",
            ).inc()

    # -- hooks for the HTTP clients -------------------------------------------------------------

    async def youtube_response(self, response: Reply) -> None:
        """Response hook for the YouTube client (one call per answer, redirects included)."""
        self.youtube_answers.labels(str(response.status_code)).inc()

    def x_status(self, status: int) -> None:
        """One answer from X (the v2 API through aiohttp, the PIN flow through requests)."""
        self.x_answers.labels(str(status)).inc()

    def x_trace_config(self) -> aiohttp.TraceConfig:
        """aiohttp tracing for the X client's session: one count per answer."""

        async def on_end(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.x_status(params.response.status)

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        return trace

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Asking YouTube: requests, same-site redirects, Retry-After and backoff, Data API quota state.

One ``aiohttp.ClientSession`` for every page, feed and API call, with a concurrency bound and a
hard deadline per request. aiohttp, not httpx, because this is the hot path: a check receives
megabytes of HTML on the event loop that must also answer Discord within 3 seconds, and
httpx/httpcore spends several times aiohttp's CPU receiving the same pages (README, "Performance";
bench/load.py measures both). A ``/live`` page is read only until the parts that decide
live/upcoming/offline have arrived (``LivePageCutoff``): the rest is received only to
keep the connection, never kept or scanned. Failing channels back off on their own, honouring ``Retry-After``; the
others are not slowed down. Quota exhaustion pauses the Data API until midnight Pacific time,
when Google resets the quota; a rejected key pauses it for good. Each of those is reported once
(``take_notices``) to whoever checks the next batch.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from bot.youtube.channel_input import YOUTUBE_HOSTS, is_channel_id
from bot.youtube.parsers import google_error_reasons
from bot.youtube.types import LiveCheck

log = logging.getLogger("bot.youtube")

API_UNIT_COST = {"videos": 1, "channels": 1}
PACIFIC = ZoneInfo("America/Los_Angeles")
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MAX_SAME_SITE_REDIRECTS = 3
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0

# Reasons that say "YouTube wants us to slow down or is struggling": the channel backs off.
BACKOFF_REASONS = frozenset(
    {"rate_limited", "server_error", "timeout", "network", "captcha", "blocked"}
)
# Reasons that say "YouTube won't show pages to this machine": admins are told what to do.
BLOCKED_REASONS = frozenset({"blocked", "captcha"})
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
KEY_REJECTED_REASONS = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "accessNotConfigured",
        "ipRefererBlocked",
        "forbidden",
    }
)


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_BODY_BYTES = 8 * 1024 * 1024  # a real /live page is about 1 MB
DISCARD_SECONDS = 1.0  # the longest a decided page's tail is read (and ignored) for

# Called with the body received so far; True once enough of it has arrived.
BodyCutoff = Callable[[bytes | bytearray], bool]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read and closed: what the client and the parsers look at.

    ``cut_by`` is the judge that ended the read early (None: read to the end); ``text`` is
    decoded only when asked for, since a page a judge has decided need not be."""

    status_code: int
    headers: CIMultiDictProxy[str]
    body: bytes | bytearray
    url: str
    charset: str | None = None
    cut_by: BodyCutoff | None = None

    @functools.cached_property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python doesn't know: YouTube sends UTF-8
            return self.body.decode("utf-8", errors="replace")

    @property
    def is_redirect(self) -> bool:
        return self.status_code in REDIRECT_STATUSES and "location" in self.headers

    def json(self) -> Any:
        return json.loads(self.text)


class Trouble(Exception):
    """YouTube couldn't be asked; ``reason`` becomes LiveCheck.reason."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ApiFallback(Exception):
    """The Data API can't answer this check; the page check answers instead."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date), capped at a day."""
    if not value:
        return None
    text = value.strip()
    seconds: float | None
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time, when the Data API's daily quota resets."""
    local = now.astimezone(PACIFIC)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=PACIFIC).astimezone(UTC)


class Transport:
    """The HTTP side of ``YouTubeClient`` and everything it must remember between requests."""

    def __init__(
        self,
        base_url: str,
        api_base_url: str,
        api_key: str | None,
        *,
        timeout: float,
        max_concurrency: int,
        clock: Callable[[], datetime],
        backoff_base: float,
        backoff_max: float,
        on_response: Callable[[Reply], Awaitable[None]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_host = urlsplit(self.base_url).netloc.lower()
        self._api_base_url = api_base_url.rstrip("/")
        self._api_key = api_key or None
        self._timeout = timeout
        self.clock = clock
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._session: aiohttp.ClientSession | None = None  # made in the event loop, on first use
        self._on_response = on_response
        self._next_allowed_at: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}
        self._api_paused_until: datetime | None = None
        self._api_key_rejected = False
        self._quota_notice_pending = False
        self._key_notice_pending = False
        self._pages_blocked = False
        self._blocked_notice_pending = False
        self.units_used = 0  # Data API units spent (an estimate of Google's count)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency, keepalive_timeout=60.0),
                headers={
                    "User-Agent": BROWSER_USER_AGENT,
                    "Accept-Language": "en-US,en;q=0.9",
                    # "reject all" consent: skips the EU consent interstitial. A header, not the
                    # cookie jar: the jar would keep whatever cookies YouTube sets.
                    "Cookie": "SOCS=CAI",
                },
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )
        return self._session

    # ----- Data API state ----------------------------------------------------------------------

    @property
    def api_mode(self) -> bool:
        """True while checks use the Data API (a key is set, accepted, and quota remains)."""
        if self._api_key is None or self._api_key_rejected:
            return False
        return self._api_paused_until is None or self.clock() >= self._api_paused_until

    @property
    def api_paused_until(self) -> datetime | None:
        if self._api_paused_until is not None and self.clock() < self._api_paused_until:
            return self._api_paused_until
        return None

    def take_notices(self) -> tuple[bool, bool, bool]:
        """(quota exhausted, key rejected, pages blocked) if it happened since the last call."""
        notices = (
            self._quota_notice_pending,
            self._key_notice_pending,
            self._blocked_notice_pending,
        )
        self._quota_notice_pending = self._key_notice_pending = False
        self._blocked_notice_pending = False
        return notices

    def _pause_api_for_quota(self) -> None:
        now = self.clock()
        if self._api_paused_until is not None and now < self._api_paused_until:
            return  # another concurrent call already switched; report it once
        self._api_paused_until = next_quota_reset(now)
        self._quota_notice_pending = True
        log.warning(
            "YouTube Data API quota exhausted; page checks until %s",
            self._api_paused_until.isoformat(),
        )

    def _reject_api_key(self) -> None:
        if self._api_key_rejected:
            return
        self._api_key_rejected = True
        self._key_notice_pending = True
        log.error("YouTube rejected the configured API key; using page checks from now on")

    # ----- per-channel backoff -----------------------------------------------------------------

    def next_allowed_at(self, channel_id: str) -> datetime | None:
        return self._next_allowed_at.get(channel_id)

    def refuse_early(self, channel_id: str) -> LiveCheck | None:
        """An answer without asking YouTube: a malformed id, or a channel in backoff."""
        if not is_channel_id(channel_id):
            return LiveCheck(channel_id, "unknown", reason="invalid_channel")
        now = self.clock()
        allowed_at = self._next_allowed_at.get(channel_id)
        if allowed_at is not None and now < allowed_at:
            wait = (allowed_at - now).total_seconds()
            return LiveCheck(channel_id, "unknown", reason="backoff", retry_after=wait)
        return None

    def settle(self, check: LiveCheck) -> LiveCheck:
        """A clear answer ends the channel's backoff (and, from a page, the block)."""
        if check.state != "unknown":
            self._failures.pop(check.channel_id, None)
            self._next_allowed_at.pop(check.channel_id, None)
            if check.source == "page":
                self._pages_blocked = False
        return check

    def record_failure(self, channel_id: str, trouble: Trouble) -> LiveCheck:
        if trouble.reason in BLOCKED_REASONS and not self._pages_blocked:
            self._pages_blocked = True
            self._blocked_notice_pending = True
            log.warning("YouTube answers page checks with its bot wall or consent page")
        if trouble.reason not in BACKOFF_REASONS:
            return LiveCheck(channel_id, "unknown", reason=trouble.reason)
        failures = self._failures.get(channel_id, 0) + 1
        self._failures[channel_id] = failures
        if trouble.retry_after is not None:
            delay = trouble.retry_after
        else:
            delay = min(self._backoff_max, self._backoff_base * 2 ** min(failures - 1, 30))
        self._next_allowed_at[channel_id] = self.clock() + timedelta(seconds=delay)
        log.info("YouTube check of %s: %s; next try in %.0fs", channel_id, trouble.reason, delay)
        return LiveCheck(channel_id, "unknown", reason=trouble.reason, retry_after=delay)

    # ----- HTTP --------------------------------------------------------------------------------

    async def _send(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        cutoff: BodyCutoff | None = None,
    ) -> Reply:
        """One GET within the concurrency bound and a hard deadline for the whole exchange."""
        async with self._semaphore:
            try:
                async with asyncio.timeout(self._timeout) as deadline:
                    return await self._get(url, params, headers, cutoff, deadline.when())
            except TimeoutError:
                raise Trouble("timeout") from None
            except (aiohttp.ClientError, UnicodeError, ValueError):
                raise Trouble("network") from None

    async def _get(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        cutoff: BodyCutoff | None,
        deadline: float | None,
    ) -> Reply:
        async with self._http().get(
            url, params=params, headers=headers, allow_redirects=False
        ) as response:
            body: bytes | bytearray = b""
            cut_by = None
            while len(body) <= MAX_BODY_BYTES:
                chunk = await response.content.readany()
                if not chunk:
                    break
                if not body:
                    body = chunk  # often the whole deciding part: not copied
                else:
                    if isinstance(body, bytes):
                        body = bytearray(body)
                    body += chunk
                if cutoff is not None and response.status == 200 and cutoff(body):
                    cut_by = cutoff
                    await self._discard_rest(response, len(body), deadline)
                    break
            else:
                raise Trouble("unparseable")
            reply = Reply(
                response.status,
                CIMultiDictProxy(CIMultiDict(response.headers)),
                body,
                str(response.url),
                response.charset,
                cut_by,
            )
        if self._on_response is not None:
            await self._on_response(reply)
        return reply

    @staticmethod
    async def _discard_rest(
        response: aiohttp.ClientResponse, received: int, deadline: float | None
    ) -> None:
        """Read what follows a decided part without keeping or scanning it, so the
        connection serves the next request: opening a new one costs more CPU than receiving
        the rest of a page (bench/load.py), and over TLS far more. A tail that is too long or
        too slow is not waited for: the connection is dropped instead."""
        loop = asyncio.get_running_loop()
        until = loop.time() + DISCARD_SECONDS
        if deadline is not None:
            until = min(until, deadline - DISCARD_SECONDS)
        try:
            async with asyncio.timeout_at(until):
                while received <= MAX_BODY_BYTES and (chunk := await response.content.readany()):
                    received += len(chunk)
        except TimeoutError:
            pass
        if received > MAX_BODY_BYTES or not response.content.at_eof():
            response.close()

    async def fetch_page(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        cutoff: Callable[[], BodyCutoff] | None = None,
    ) -> Reply:
        """GET a www page (``path`` under the base URL), following only same-site redirects.

        Returns 200 and 404 responses; everything else is a ``Trouble``. A redirect elsewhere
        (consent.youtube.com, google.com/sorry) is reported, never followed. ``cutoff`` makes,
        for each answer, the judge of when enough of its body has arrived.
        """
        url = self.base_url + path
        for _ in range(MAX_SAME_SITE_REDIRECTS + 1):
            response = await self._send(
                url, params=params, cutoff=cutoff() if cutoff is not None else None
            )
            status = response.status_code
            if status in (200, 404):
                return response
            if response.is_redirect:
                target = self._same_site_target(response)
                if target is None:
                    location = response.headers.get("location", "").lower()
                    if "consent." in location:
                        raise Trouble("blocked")
                    if "/sorry/" in location:
                        raise Trouble("captcha")
                    raise Trouble("unparseable")
                url, params = target, None
                continue
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
            if status == 429:
                raise Trouble("rate_limited", retry_after)
            if status >= 500:
                raise Trouble("server_error", retry_after)
            raise Trouble("unexpected_status")
        raise Trouble("unparseable")  # a redirect loop

    def _same_site_target(self, response: Reply) -> str | None:
        """Where a redirect points, mapped onto ``base_url`` when it stays on YouTube."""
        location: str | None = response.headers.get("location")
        if not location:
            return None
        absolute = urljoin(response.url, location)
        parts = urlsplit(absolute)
        host = parts.netloc.lower()
        if host != self._base_host and (parts.hostname or "").lower() not in YOUTUBE_HOSTS:
            return None
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + path

    async def api_get(self, resource: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A Data API call; the key travels in a header so it never lands in logged URLs."""
        if self._api_key is None:
            raise ApiFallback
        response = await self._send(
            f"{self._api_base_url}/{resource}",
            params=params,
            headers={"X-Goog-Api-Key": self._api_key},
        )
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 200:
            if not isinstance(body, dict):
                raise ApiFallback
            self.units_used += API_UNIT_COST[resource]
            return body
        reasons = google_error_reasons(body)
        if reasons & QUOTA_REASONS:
            self._pause_api_for_quota()
            raise ApiFallback
        if status in (400, 401, 403) and reasons & KEY_REJECTED_REASONS:
            self._reject_api_key()
            raise ApiFallback
        if status == 429 or "rateLimitExceeded" in reasons:
            raise Trouble(
                "rate_limited",
                parse_retry_after(response.headers.get("retry-after"), self.clock()),
            )
        raise ApiFallback  # 5xx or anything odd: the free page check answers this time

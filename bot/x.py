"""Linking X accounts (OAuth 1.0a PIN flow) and posting tweets on their behalf.

Knows nothing of Discord or the database: plain values in, dataclasses out. tweepy's AsyncClient
(v2) and requests-oauthlib's OAuth1Session (the PIN flow, which tweepy itself wraps) are used as
published; all traffic goes to ``api_base_url`` (X_API_BASE_URL) through one transport seam.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import aiohttp
from yarl import URL

from bot.errors import Reason, XNotConfigured, explain
from bot.publisher import Credentials, PostLimits, PostResult, Quota
from bot.tweet_text import weighted_length

if TYPE_CHECKING:
    # tweepy with requests and oauthlib (~7 MiB) load at the first X call, not at start-up
    # (tests/test_memory.py): a bot nobody has linked X to yet never needs them.
    from requests.adapters import HTTPAdapter
    from requests_oauthlib import OAuth1Session
    from requests_oauthlib.oauth1_session import TokenRequestDenied
    from tweepy.asynchronous import AsyncClient

logger = logging.getLogger("onair.x")

X_ORIGIN = "https://api.twitter.com"
DEFAULT_API_BASE_URL = X_ORIGIN
# Without a username the x.com link still resolves to the tweet.
TWEET_URL = "https://x.com/{username}/status/{tweet_id}"
# X's 15-minute window: when a 429 carries no reset header, try again after it.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)


# ---- results and errors ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PendingLink:
    """A started PIN flow: send the user to ``authorization_url``; keep the token pair for
    ``finish_link``."""

    request_token: str
    request_token_secret: str = dataclasses.field(repr=False)
    authorization_url: str


@dataclasses.dataclass(frozen=True)
class LinkedAccount:
    """An X account that authorised the app; the token pair posts as that account."""

    user_id: str
    username: str
    access_token: str = dataclasses.field(repr=False)
    access_token_secret: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class XIdentity:
    """Who a token pair belongs to."""

    user_id: str
    username: str
    name: str


class XError(Exception):
    """Base of this module's errors; messages are plain and free of secrets."""

    reason_code: Reason = Reason.UNEXPECTED

    def __init__(self, message: str, reason_code: Reason | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


class XLinkFailed(XError):
    """X refused the PIN flow (wrong or expired PIN, or it rejected the app credentials)."""

    reason_code = Reason.BAD_PIN


class XUnavailable(XError):
    """X could not be asked right now (timeout, network, 5xx, rate limit); try again later."""

    reason_code = Reason.SERVER_ERROR


# ---- the one seam: X's origin rerouted to X_API_BASE_URL --------------------------------------
# tweepy (v2) and requests-oauthlib (the PIN flow) are used through their public APIs, so every
# request is built and OAuth-signed for https://api.twitter.com, the URL X itself verifies the
# signature against. Only at the transport is the request sent to X_API_BASE_URL instead (the
# same in production by default; a proxy or the test emulator otherwise): an aiohttp client
# middleware (aiohttp >= 3.12, "Client Middleware" in its docs) and a requests transport adapter
# ("Transport Adapters" in the requests docs).


def _rerouted(url: str, api_base_url: str) -> str:
    return api_base_url + url[len(X_ORIGIN) :] if url.startswith(X_ORIGIN) else url


def _reroute_middleware(api_base_url: str) -> aiohttp.ClientMiddlewareType:
    target = URL(api_base_url)

    async def reroute(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if str(request.url).startswith(X_ORIGIN) and api_base_url != X_ORIGIN:
            request.url = URL(_rerouted(str(request.url), api_base_url), encoded=True)
            request.headers["Host"] = target.raw_authority
        return await handler(request)

    return reroute


@cache
def _reroute_adapter_class() -> Callable[[str, float], HTTPAdapter]:
    """The requests transport adapter of the PIN flow (defined at its first use, with
    requests)."""
    import requests
    from requests.adapters import HTTPAdapter

    class RerouteAdapter(HTTPAdapter):
        """Sends the PIN flow's requests to X_API_BASE_URL, with a deadline on each (requests
        has no session-wide timeout)."""

        def __init__(self, api_base_url: str, timeout: float) -> None:
            super().__init__(max_retries=0)
            self._api_base_url = api_base_url
            self._timeout = timeout

        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float, float] | tuple[float, None] | None = None,
            verify: bool | str = True,
            cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
            proxies: Mapping[str, str] | None = None,
        ) -> requests.Response:
            request.url = _rerouted(request.url or "", self._api_base_url)
            return super().send(
                request,
                stream=stream,
                timeout=self._timeout if timeout is None else timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )

    return RerouteAdapter


# ---- the service -----------------------------------------------------------------------------

_T = TypeVar("_T")


class XService:
    """X for OnAir: link accounts with a PIN, check links, post tweets.

    Created once at start-up; ``aclose()`` at shutdown closes the shared HTTP session.
    """

    def __init__(
        self,
        api_base_url: str = DEFAULT_API_BASE_URL,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        timeout: float = 15.0,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        on_oauth_status: Callable[[int], None] | None = None,
    ) -> None:
        self._api_base_url = api_base_url.rstrip("/")
        self._trace_configs = trace_configs
        self._on_oauth_status = on_oauth_status
        self._consumer_key = consumer_key or None
        self._consumer_secret = consumer_secret or None
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        """Whether the app credentials are set; without them nothing here can work."""
        return self._consumer_key is not None and self._consumer_secret is not None

    async def aclose(self) -> None:
        """Close the shared HTTP session (safe to call more than once)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- linking (PIN flow) ------------------------------------------------------------------

    async def start_link(self) -> PendingLink:
        """Ask X for a request token; the user opens ``authorization_url`` and gets a PIN.

        Raises XNotConfigured, XLinkFailed (X refused the app credentials), XUnavailable.
        """
        oauth = self._oauth_session()  # callback "oob": the PIN flow
        token = await self._run_oauth_step(
            "request_token", lambda: oauth.fetch_request_token(f"{X_ORIGIN}/oauth/request_token")
        )
        request_token = str(token["oauth_token"])
        return PendingLink(
            request_token=request_token,
            request_token_secret=str(token["oauth_token_secret"]),
            # Where the member's browser goes: X's authorize page (behind X_API_BASE_URL).
            authorization_url=f"{self._api_base_url}/oauth/authorize?oauth_token={request_token}",
        )

    async def finish_link(
        self, request_token: str, request_token_secret: str, pin: str
    ) -> LinkedAccount:
        """Exchange the PIN the user typed for the account's access token pair.

        Raises XNotConfigured, XLinkFailed (wrong or expired PIN), XUnavailable.
        """
        pin = pin.strip()
        oauth = self._oauth_session(request_token, request_token_secret, pin)
        if not pin:
            raise XLinkFailed("The PIN is empty.", Reason.BAD_PIN)
        token = await self._run_oauth_step(
            "access_token", lambda: oauth.fetch_access_token(f"{X_ORIGIN}/oauth/access_token")
        )
        access_token = str(token["oauth_token"])
        access_token_secret = str(token["oauth_token_secret"])
        # /2/users/me says whose the pair is and proves it works for posting (v2).
        identity = await self.verify(access_token, access_token_secret)
        if identity is None:
            raise XLinkFailed(explain(Reason.UNAUTHORIZED, closed=False), Reason.UNAUTHORIZED)
        return LinkedAccount(
            user_id=identity.user_id,
            username=identity.username,
            access_token=access_token,
            access_token_secret=access_token_secret,
        )

    # ---- v2 ----------------------------------------------------------------------------------

    async def verify(self, access_token: str, access_token_secret: str) -> XIdentity | None:
        """Who the tokens belong to, or None if X no longer accepts them (401).

        Raises XNotConfigured, XUnavailable (any other failure: the answer is unknown).
        """
        import tweepy

        client = self._client(access_token, access_token_secret)
        started = time.monotonic()
        try:
            answer = await client.get_me(user_auth=True)
            data = answer["data"]
            return XIdentity(
                user_id=str(data["id"]), username=str(data["username"]), name=str(data["name"])
            )
        except tweepy.Unauthorized:
            logger.warning("X verify: tokens no longer accepted (401)")
            return None
        except Exception as error:
            reason_code, status, _ = _classify(error)
            raise _unavailable("verify", reason_code, status, error, started) from None

    async def revoke(self, access_token: str, access_token_secret: str) -> None:
        """Invalidate the token pair at X, so it can never be used again.

        ``POST /1.1/oauth/invalidate_token`` signed (OAuth 1.0a user context) with the pair
        itself (https://developer.x.com/en/docs/authentication/api-reference/invalidate_access_token);
        tweepy has no call for it. A 401 means X already no longer accepts the pair: revoked
        too. Raises XNotConfigured, XUnavailable (X couldn't be asked: not revoked).
        """
        import tweepy

        client = self._client(access_token, access_token_secret)
        started = time.monotonic()
        try:
            await client.request("POST", "/1.1/oauth/invalidate_token", params={}, user_auth=True)
        except tweepy.Unauthorized:
            logger.info("X revoke: tokens were already no longer accepted (401)")
        except Exception as error:
            reason_code, status, _ = _classify(error)
            raise _unavailable("revoke", reason_code, status, error, started) from None

    async def post(self, credentials: Credentials, text: str) -> PostResult:
        """Post ``text`` as the owner of ``credentials``; X's answers are results, not raised.

        Every result carries the limits X's headers reported (``posting_limits``), so the
        poster can keep to them per account."""
        started = time.monotonic()
        if not self.configured:
            logger.warning("X post skipped: X is not configured")
            return PostResult(reason=Reason.NOT_CONFIGURED)
        # tweepy's documented return_type: the aiohttp response itself, headers included.
        client = self._client(credentials.token, credentials.secret, aiohttp.ClientResponse)
        try:
            response = await client.create_tweet(text=text, user_auth=True)
            tweet_id = str((await response.json())["data"]["id"])
        except Exception as error:
            reason, status, retry_at = _classify(error)
            duration_ms = _elapsed_ms(started)
            logger.warning(
                "X post not done: reason=%s status=%s error=%s duration_ms=%d",
                reason,
                status,
                type(error).__name__,
                duration_ms,
            )
            return PostResult(
                reason=reason,
                http_status=status,
                retry_at=retry_at,
                duration_ms=duration_ms,
                limits=posting_limits(_headers_of(error)),
            )
        duration_ms = _elapsed_ms(started)
        logger.info("X post done: tweet_id=%s duration_ms=%d", tweet_id, duration_ms)
        return PostResult(
            tweet_id=tweet_id,
            tweet_url=TWEET_URL.format(username=credentials.username or "i/web", tweet_id=tweet_id),
            http_status=201,
            duration_ms=duration_ms,
            limits=posting_limits(response.headers),
        )

    def weighted_length(self, text: str) -> int:
        return weighted_length(text)

    # ---- internals ---------------------------------------------------------------------------

    def _require_configured(self) -> tuple[str, str]:
        key, secret = self._consumer_key, self._consumer_secret
        if key is None or secret is None:
            raise XNotConfigured()
        return key, secret

    def _oauth_session(
        self, token: str | None = None, token_secret: str | None = None, pin: str | None = None
    ) -> OAuth1Session:
        """A requests-oauthlib session for one PIN-flow step (the library tweepy's own
        OAuth1UserHandler uses), sent through the reroute adapter."""
        from requests_oauthlib import OAuth1Session

        consumer_key, consumer_secret = self._require_configured()
        oauth = OAuth1Session(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=token,
            resource_owner_secret=token_secret,
            callback_uri="oob" if token is None else None,
            verifier=pin or None,
        )
        oauth.mount(X_ORIGIN, _reroute_adapter_class()(self._api_base_url, self._timeout))
        on_status = self._on_oauth_status
        if on_status is not None:  # /metrics counts X's answers by status
            oauth.hooks["response"].append(
                lambda response, *_, **__: on_status(response.status_code)
            )
        return oauth

    def _client(
        self, access_token: str, access_token_secret: str, return_type: type = dict
    ) -> AsyncClient:
        from tweepy.asynchronous import AsyncClient

        consumer_key, consumer_secret = self._require_configured()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                middlewares=(_reroute_middleware(self._api_base_url),),
                trace_configs=self._trace_configs,
            )
        client = AsyncClient(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=return_type,
        )
        client.session = self._session  # tweepy uses (and leaves open) a session set here
        return client

    async def _run_oauth_step(self, step: str, call: Callable[[], _T]) -> _T:
        """Run a blocking PIN-flow call in a thread, bounded by the timeout.

        requests' own timeout (see _reroute_adapter_class) ends the thread soon after, too.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.to_thread(call)
        except Exception as error:
            status, reason_code = _oauth_failure(error)
            unavailable = _unavailable(step, reason_code, status, error, started)
            if reason_code in (Reason.BAD_PIN, Reason.APP_REJECTED):
                raise XLinkFailed(explain(reason_code, closed=False), reason_code) from None
            raise unavailable from None


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _unavailable(
    step: str, reason: Reason | None, status: int | None, error: BaseException, started: float
) -> XUnavailable:
    """Log a failed X call (never its text: it may quote a token) and say X can't be asked."""
    logger.warning(
        "X %s failed: reason=%s status=%s error=%s duration_ms=%d",
        step,
        reason,
        status,
        type(error).__name__,
        _elapsed_ms(started),
    )
    return XUnavailable("X could not be asked right now; try again in a few minutes.", reason)


def _classify(error: BaseException) -> tuple[Reason, int | None, datetime | None]:
    """(reason, http_status, retry_at) for an error from a v2 call."""
    import tweepy

    if isinstance(error, tweepy.HTTPException):
        status = error.response.status
        reason, retry_at = _refusal(status, error.api_messages, error.response.headers)
        return reason, status, retry_at
    if isinstance(error, aiohttp.ContentTypeError) and error.status >= 400:
        # tweepy reads every error body as JSON; X's edge answers an HTML page when overloaded.
        reason, retry_at = _refusal(error.status, [], error.headers or {})
        return reason, error.status, retry_at
    if isinstance(error, TimeoutError):  # also aiohttp's ServerTimeoutError
        return Reason.TIMEOUT, None, None
    if isinstance(error, aiohttp.ClientConnectionError):
        return Reason.NETWORK_ERROR, None, None
    # ContentTypeError, JSON decode errors, a 2xx answer without data.id, other client errors.
    if isinstance(error, aiohttp.ClientError | ValueError | KeyError | TypeError):
        return Reason.BAD_RESPONSE, None, None
    raise error


def _refusal(
    status: int, messages: list[str], headers: Mapping[str, str]
) -> tuple[Reason, datetime | None]:
    """Which reason an error status means, from X's message (tweepy keeps a v2 problem's
    `detail`, or each `errors[].message`). The texts are those X sends (see the emulator's
    bodies in tests/emulators/x_api.py for where each is recorded)."""
    text = " ".join(str(m) for m in messages).lower()
    if status == 402:  # pay-per-use: "Your enrolled account [...] does not have any credits"
        return Reason.CREDITS_DEPLETED, None
    if status == 429:
        if "usage cap" in text:  # UsageCapped: "Usage cap exceeded: Monthly product cap"
            return Reason.USAGE_CAPPED, None
        return _rate_limit_reason(headers)
    if status >= 500:
        return Reason.SERVER_ERROR, None
    if status == 401:
        return Reason.UNAUTHORIZED, None
    if status == 403:
        if "spending limit" in text:
            return Reason.SPENDING_LIMIT, None
        if "attached to a project" in text:  # reason "client-not-enrolled"
            return Reason.CLIENT_NOT_ENROLLED, None
        if "reply to this conversation is not allowed" in text:
            return Reason.REPLY_RESTRICTED, None
        if "duplicate" in text:
            return Reason.DUPLICATE, None
        return Reason.FORBIDDEN, None
    return Reason.BAD_REQUEST, None


def _rate_limit_reason(headers: Mapping[str, str]) -> tuple[Reason, datetime]:
    """A used-up 24-hour cap of POST /2/tweets (x-user-limit-24hour-*: this host's account;
    x-app-limit-24hour-*: the app, all hosts together), else the 15-minute window."""
    for scope, reason in (("user", Reason.DAILY_CAP), ("app", Reason.APP_DAILY_CAP)):
        if headers.get(f"x-{scope}-limit-24hour-remaining") == "0":
            reset = _epoch(headers.get(f"x-{scope}-limit-24hour-reset"))
            return reason, reset or datetime.now(UTC) + timedelta(hours=24)
    reset = _epoch(headers.get("x-rate-limit-reset"))
    return Reason.RATE_LIMITED, reset or datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT


def _headers_of(error: BaseException) -> Mapping[str, str]:
    """The headers of the answer behind `error`, if there was an answer."""
    import tweepy

    if isinstance(error, tweepy.HTTPException):
        headers: Mapping[str, str] = error.response.headers
        return headers
    if isinstance(error, aiohttp.ClientResponseError) and error.headers is not None:
        return error.headers
    return {}


def posting_limits(headers: Mapping[str, str]) -> PostLimits | None:
    """X's limits of POST /2/tweets from an answer's headers: x-rate-limit-* (this account's
    15-minute window), x-user-limit-24hour-* and x-app-limit-24hour-* (the 24-hour caps of
    the account and of the app). Header names and meanings: docs.x.com/x-api/fundamentals/
    rate-limits; the 24-hour ones as X sends them (e.g. the twapi-v2 crate's header list,
    node-twitter-api-v2 issue #495). None when the answer said nothing about limits."""
    limits = PostLimits(
        window=_quota(headers, "x-rate-limit"),
        user_day=_quota(headers, "x-user-limit-24hour"),
        app_day=_quota(headers, "x-app-limit-24hour"),
    )
    return None if limits == PostLimits() else limits


def _quota(headers: Mapping[str, str], prefix: str) -> Quota | None:
    limit, remaining = headers.get(f"{prefix}-limit"), headers.get(f"{prefix}-remaining")
    reset = _epoch(headers.get(f"{prefix}-reset"))
    if limit is None or remaining is None or reset is None:
        return None
    if not (limit.isdigit() and remaining.isdigit()):
        return None
    return Quota(int(limit), int(remaining), reset)


def _epoch(value: str | None) -> datetime | None:
    if value is None or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)


def _oauth_failure(error: BaseException) -> tuple[int | None, Reason]:
    """(http_status, reason_code) for an error from tweepy's OAuth1UserHandler.

    tweepy wraps the cause in TweepyException (sometimes twice); look down the chain.
    """
    import requests
    from requests_oauthlib.oauth1_session import TokenRequestDenied

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TokenRequestDenied):
            status = seen.status_code
            if status >= 500:
                return status, Reason.SERVER_ERROR
            if status == 429:
                return status, Reason.RATE_LIMITED
            # X answers 401 both for a wrong/expired PIN (access_token step) and for rejected
            # app credentials (request_token step).
            return status, Reason.BAD_PIN if _is_access_step(seen) else Reason.APP_REJECTED
        if isinstance(seen, TimeoutError | requests.Timeout):
            return None, Reason.TIMEOUT
        if isinstance(seen, requests.ConnectionError):
            return None, Reason.NETWORK_ERROR
        seen = seen.__cause__ or seen.__context__
    return None, Reason.BAD_RESPONSE


def _is_access_step(denied: TokenRequestDenied) -> bool:
    return denied.response.request.path_url.endswith("/oauth/access_token")

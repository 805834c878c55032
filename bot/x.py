"""Linking X accounts (OAuth 1.0a PIN flow) and posting tweets on their behalf.

Knows nothing of Discord or the database: plain values in, dataclasses out. All traffic goes to
``api_base_url`` (X_API_BASE_URL), which tweepy does not support on its own; the two small
subclasses below each override the one tweepy method that hardcodes https://api.twitter.com.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import aiohttp
import requests
import tweepy
from oauthlib.oauth1 import Client as OAuthClient
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1Session
from requests_oauthlib.oauth1_session import TokenRequestDenied
from tweepy.asynchronous import AsyncClient
from yarl import URL

from bot.errors import Reason, explain

logger = logging.getLogger("onair.x")

DEFAULT_API_BASE_URL = "https://api.twitter.com"
# Without a username the x.com link still resolves to the tweet.
TWEET_URL = "https://x.com/{username}/status/{tweet_id}"
# X's 15-minute window: when a 429 carries no reset header, try again after it.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)

PostOutcome = Literal["posted", "retry", "failed"]

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


@dataclasses.dataclass(frozen=True)
class PostResult:
    """What happened to one tweet.

    outcome "posted": tweet_id/tweet_url are set. "retry": a temporary problem; try again, at
    ``retry_at`` when X said when (429), else on the caller's own backoff. "failed": retrying the
    same text with the same tokens will not help; ``reason_code`` says why (bot.errors.CATALOGUE).
    After a "timeout" or "bad_response" the tweet may in fact have been posted; a retry then
    answers "duplicate".
    """

    outcome: PostOutcome
    reason_code: Reason | None = None
    tweet_id: str | None = None
    tweet_url: str | None = None
    http_status: int | None = None
    retry_at: datetime | None = None
    duration_ms: int = 0


class XError(Exception):
    """Base of this module's errors; messages are plain and free of secrets."""

    reason_code: Reason = Reason.UNEXPECTED

    def __init__(self, message: str, reason_code: Reason | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


class XNotConfigured(XError):
    """X_CONSUMER_KEY / X_CONSUMER_SECRET are missing."""

    reason_code = Reason.NOT_CONFIGURED


class XLinkFailed(XError):
    """X refused the PIN flow (wrong or expired PIN, or it rejected the app credentials)."""

    reason_code = Reason.BAD_PIN


class XUnavailable(XError):
    """X could not be asked right now (timeout, network, 5xx, rate limit); try again later."""

    reason_code = Reason.SERVER_ERROR


# ---- tweepy pointed at api_base_url ----------------------------------------------------------


class _TimeoutAdapter(HTTPAdapter):
    """requests has no session-wide timeout; this adapter supplies one to every request."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class _OAuth1UserHandler(tweepy.OAuth1UserHandler):
    """tweepy's (synchronous) PIN-flow handler, aimed at ``api_base_url`` and with a timeout."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_base_url: str,
        timeout: float,
        on_status: Callable[[int], None] | None = None,
    ) -> None:
        self._api_base_url = api_base_url
        self._timeout = timeout
        self._on_status = on_status
        super().__init__(consumer_key, consumer_secret, callback="oob")  # "oob": the PIN flow

    def _get_oauth_url(self, endpoint: str) -> str:
        # tweepy: 'https://api.twitter.com/oauth/' + endpoint. Used for request_token,
        # authorize (the URL shown to users) and access_token.
        return f"{self._api_base_url}/oauth/{endpoint}"

    # tweepy assigns ``self.oauth`` a fresh requests session in __init__ and again in
    # get_access_token, and never passes a timeout; equip each one as it is assigned.
    @property
    def oauth(self) -> OAuth1Session:
        return self._oauth_session

    @oauth.setter
    def oauth(self, session: OAuth1Session) -> None:
        adapter = _TimeoutAdapter(self._timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        on_status = self._on_status
        if on_status is not None:  # /metrics counts X's answers by status
            session.hooks["response"].append(
                lambda response, *_, **__: on_status(response.status_code)
            )
        self._oauth_session = session


class _AsyncClient(AsyncClient):
    """tweepy's v2 AsyncClient, aimed at ``api_base_url`` and sharing the service's session."""

    def __init__(self, *, api_base_url: str, session: aiohttp.ClientSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api_base_url = api_base_url
        self.session = session  # tweepy uses (and does not close) a session set here

    async def request(
        self,
        method: str,
        route: str,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        user_auth: bool = False,
    ) -> aiohttp.ClientResponse:
        """tweepy 4.17's AsyncBaseClient.request, with three deliberate differences:

        1. the URL is ``api_base_url + route`` (tweepy: "https://api.twitter.com" + route), so
           the OAuth signature covers the URL actually requested;
        2. an error body that is not JSON (an HTML 503 page) no longer escapes as
           aiohttp.ContentTypeError: the status decides which tweepy error is raised;
        3. no ``wait_on_rate_limit`` sleeping: OnAir schedules its own retries.
        """
        url = self._api_base_url + route
        headers = {"User-Agent": self.user_agent}
        if json is not None:
            headers["Content-Type"] = "application/json"
        if user_auth:
            oauth_client = OAuthClient(
                self.consumer_key,
                self.consumer_secret,
                self.access_token,
                self.access_token_secret,
            )
            url = str(URL(url).with_query(sorted((params or {}).items())))
            url, headers, _ = oauth_client.sign(url, method, headers=headers)
            # As in tweepy: oauthlib signed colons percent-encoded; aiohttp would not encode them.
            before_query, _, query = url.partition("?")
            request_url: str | URL = URL(
                f"{before_query}?{query.replace(':', '%3A')}", encoded=True
            )
            params = None
        else:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
            request_url = url

        async with self.session.request(
            method, request_url, params=params, json=json, headers=headers
        ) as response:
            body = await response.read()
        if 200 <= response.status < 300:
            return response
        raise _tweepy_error(response, _json_object(body))


def _json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``, or {} when it is not one (tweepy's errors accept {})."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tweepy_error(response: aiohttp.ClientResponse, body: dict[str, Any]) -> tweepy.HTTPException:
    """The exception tweepy raises for this status (same classes as tweepy's own request)."""
    status = response.status
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset")
        reset_time = int(reset) if reset is not None and reset.isdigit() else None
        return tweepy.TooManyRequests(response, response_json=body, reset_time=reset_time)
    error_classes: dict[int, type[tweepy.HTTPException]] = {
        400: tweepy.BadRequest,
        401: tweepy.Unauthorized,
        403: tweepy.Forbidden,
        404: tweepy.NotFound,
    }
    if status >= 500:
        return tweepy.TwitterServerError(response, response_json=body)
    return error_classes.get(status, tweepy.HTTPException)(response, response_json=body)


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
        handler = self._oauth_handler()
        authorization_url = await self._run_oauth_step(
            "request_token", handler.get_authorization_url
        )
        token = handler.request_token
        return PendingLink(
            request_token=token["oauth_token"],
            request_token_secret=token["oauth_token_secret"],
            authorization_url=authorization_url,
        )

    async def finish_link(
        self, request_token: str, request_token_secret: str, pin: str
    ) -> LinkedAccount:
        """Exchange the PIN the user typed for the account's access token pair.

        Raises XNotConfigured, XLinkFailed (wrong or expired PIN), XUnavailable.
        """
        handler = self._oauth_handler()
        pin = pin.strip()
        if not pin:
            raise XLinkFailed("The PIN is empty.", Reason.BAD_PIN)
        handler.request_token = {
            "oauth_token": request_token,
            "oauth_token_secret": request_token_secret,
        }
        access_token, access_token_secret = await self._run_oauth_step(
            "access_token", lambda: handler.get_access_token(pin)
        )
        # tweepy keeps only the token pair from X's answer; /2/users/me says whose it is and
        # proves the pair works for posting (v2).
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
            logger.warning(
                "X verify failed: reason=%s status=%s error=%s duration_ms=%d",
                reason_code,
                status,
                type(error).__name__,
                _elapsed_ms(started),
            )
            raise XUnavailable(
                "X could not be asked right now; try again in a few minutes.", reason_code
            ) from None

    async def revoke(self, access_token: str, access_token_secret: str) -> None:
        """Invalidate the token pair at X, so it can never be used again.

        ``POST /1.1/oauth/invalidate_token`` signed (OAuth 1.0a user context) with the pair
        itself (https://developer.x.com/en/docs/authentication/api-reference/invalidate_access_token);
        tweepy has no call for it. A 401 means X already no longer accepts the pair: revoked
        too. Raises XNotConfigured, XUnavailable (X couldn't be asked: not revoked).
        """
        client = self._client(access_token, access_token_secret)
        started = time.monotonic()
        try:
            await client.request("POST", "/1.1/oauth/invalidate_token", user_auth=True)
        except tweepy.Unauthorized:
            logger.info("X revoke: tokens were already no longer accepted (401)")
        except Exception as error:
            reason_code, status, _ = _classify(error)
            logger.warning(
                "X revoke failed: reason=%s status=%s error=%s duration_ms=%d",
                reason_code,
                status,
                type(error).__name__,
                _elapsed_ms(started),
            )
            raise XUnavailable(
                "X could not be asked right now; try again in a few minutes.", reason_code
            ) from None

    async def post_tweet(
        self,
        access_token: str,
        access_token_secret: str,
        text: str,
        *,
        username: str | None = None,
    ) -> PostResult:
        """Post ``text`` as the account owning the tokens; never raises for X's answers.

        ``username`` only shapes ``tweet_url`` (https://x.com/i/web/status/<id> without it).
        """
        started = time.monotonic()
        if not self.configured:
            logger.warning("X post skipped: X is not configured")
            return PostResult(outcome="failed", reason_code=Reason.NOT_CONFIGURED)
        client = self._client(access_token, access_token_secret)
        try:
            answer = await client.create_tweet(text=text, user_auth=True)
            tweet_id = str(answer["data"]["id"])
        except Exception as error:
            reason_code, status, retry_at = _classify(error)
            outcome: PostOutcome = "failed" if reason_code in _FINAL_REASONS else "retry"
            duration_ms = _elapsed_ms(started)
            logger.warning(
                "X post not done: outcome=%s reason=%s status=%s error=%s duration_ms=%d",
                outcome,
                reason_code,
                status,
                type(error).__name__,
                duration_ms,
            )
            return PostResult(
                outcome=outcome,
                reason_code=reason_code,
                http_status=status,
                retry_at=retry_at,
                duration_ms=duration_ms,
            )
        duration_ms = _elapsed_ms(started)
        logger.info("X post done: tweet_id=%s duration_ms=%d", tweet_id, duration_ms)
        return PostResult(
            outcome="posted",
            tweet_id=tweet_id,
            tweet_url=TWEET_URL.format(username=username or "i/web", tweet_id=tweet_id),
            http_status=201,
            duration_ms=duration_ms,
        )

    # ---- internals ---------------------------------------------------------------------------

    def _require_configured(self) -> tuple[str, str]:
        key, secret = self._consumer_key, self._consumer_secret
        if key is None or secret is None:
            missing = [
                n for n, v in (("X_CONSUMER_KEY", key), ("X_CONSUMER_SECRET", secret)) if v is None
            ]
            raise XNotConfigured(f"X is not configured: set {' and '.join(missing)}.")
        return key, secret

    def _oauth_handler(self) -> _OAuth1UserHandler:
        consumer_key, consumer_secret = self._require_configured()
        return _OAuth1UserHandler(
            consumer_key,
            consumer_secret,
            api_base_url=self._api_base_url,
            timeout=self._timeout,
            on_status=self._on_oauth_status,
        )

    def _client(self, access_token: str, access_token_secret: str) -> _AsyncClient:
        consumer_key, consumer_secret = self._require_configured()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                trace_configs=self._trace_configs,
            )
        return _AsyncClient(
            api_base_url=self._api_base_url,
            session=self._session,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            return_type=dict,
        )

    async def _run_oauth_step(self, step: str, call: Callable[[], _T]) -> _T:
        """Run a blocking tweepy OAuth call in a thread, bounded by the timeout.

        requests' own timeout (see _TimeoutAdapter) ends the thread soon after, too.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.to_thread(call)
        except Exception as error:
            status, reason_code = _oauth_failure(error)
            logger.warning(
                "X %s failed: reason=%s status=%s error=%s duration_ms=%d",
                step,
                reason_code,
                status,
                type(error).__name__,
                _elapsed_ms(started),
            )
            if reason_code in (Reason.BAD_PIN, Reason.APP_REJECTED):
                raise XLinkFailed(explain(reason_code, closed=False), reason_code) from None
            raise XUnavailable(
                "X could not be asked right now; try again in a few minutes.", reason_code
            ) from None


# Reason codes for which retrying the same tweet cannot help.
_FINAL_REASONS = frozenset(
    {Reason.UNAUTHORIZED, Reason.DUPLICATE, Reason.FORBIDDEN, Reason.BAD_REQUEST}
)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _classify(error: BaseException) -> tuple[Reason, int | None, datetime | None]:
    """(reason_code, http_status, retry_at) for an error from a v2 call."""
    if isinstance(error, tweepy.HTTPException):
        status = error.response.status
        if status == 429:
            reason_code, retry_at = _rate_limit_reason(error.response.headers)
            return reason_code, status, retry_at
        if status >= 500:
            return Reason.SERVER_ERROR, status, None
        if status == 401:
            return Reason.UNAUTHORIZED, status, None
        if status == 403:
            duplicate = any("duplicate" in str(m).lower() for m in error.api_messages)
            return (Reason.DUPLICATE if duplicate else Reason.FORBIDDEN), status, None
        return Reason.BAD_REQUEST, status, None
    if isinstance(error, TimeoutError):  # also aiohttp's ServerTimeoutError
        return Reason.TIMEOUT, None, None
    if isinstance(error, aiohttp.ClientConnectionError):
        return Reason.NETWORK_ERROR, None, None
    # ContentTypeError, JSON decode errors, a 2xx answer without data.id, other client errors.
    if isinstance(error, aiohttp.ClientError | ValueError | KeyError | TypeError):
        return Reason.BAD_RESPONSE, None, None
    raise error


def _rate_limit_reason(headers: Mapping[str, str]) -> tuple[Reason, datetime]:
    """daily_cap when a 24-hour limit is used up (user or app), else rate_limited."""
    for scope in ("user", "app"):
        if headers.get(f"x-{scope}-limit-24hour-remaining") == "0":
            reset = _epoch(headers.get(f"x-{scope}-limit-24hour-reset"))
            return Reason.DAILY_CAP, reset or datetime.now(UTC) + timedelta(hours=24)
    reset = _epoch(headers.get("x-rate-limit-reset"))
    return Reason.RATE_LIMITED, reset or datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT


def _epoch(value: str | None) -> datetime | None:
    if value is None or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)


def _oauth_failure(error: BaseException) -> tuple[int | None, Reason]:
    """(http_status, reason_code) for an error from tweepy's OAuth1UserHandler.

    tweepy wraps the cause in TweepyException (sometimes twice); look down the chain.
    """
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

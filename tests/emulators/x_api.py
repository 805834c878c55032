"""Loopback emulator of the parts of X (api.twitter.com) that OnAir uses.

- OAuth 1.0a PIN flow: POST /oauth/request_token, GET /oauth/authorize, POST /oauth/access_token.
- API v2: POST /2/tweets, GET /2/users/me.
- POST /1.1/oauth/invalidate_token: revoke an access token (user context with that token).

Every signed request is checked like X does: a real HMAC-SHA1 OAuth 1.0a signature (oauthlib's
``SignatureOnlyEndpoint``) over the URL the client actually requested, with the consumer secret
and, when a token is sent, that token's secret. Tests point ``X_API_BASE_URL`` at ``base_url``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, RequestValidator, SignatureOnlyEndpoint

from tests.emulators.base import Fault, LoopbackEmulator

# Bodies copied from X's answers, so clients parse what they would parse in production.
UNAUTHORIZED_BODY = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
DUPLICATE_BODY = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_MANY_REQUESTS_BODY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
SERVICE_UNAVAILABLE_BODY = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}
# X as it answers since pay-per-use (February 2026). X's own docs describe the credit model
# (docs.x.com/x-api/getting-started/pricing) but not these bodies; they are as the live API sends
# them, recorded in public client code and bug reports (e.g. xdevplatform/samples#58 for
# client-not-enrolled, and the 402/429 bodies quoted by projects posting with twitter-api-v2).
CREDITS_DEPLETED_BODY = {
    "type": "https://api.twitter.com/2/problems/credits",
    "title": "CreditsDepleted",
    "detail": "Your enrolled account [1146115155501039616] does not have any credits to fulfill "
    "this request.",
}
USAGE_CAPPED_BODY = {
    "account_id": 1146115155501039616,
    "product_name": "standard-basic",
    "title": "UsageCapped",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}
SPENDING_LIMIT_BODY = {
    "title": "Forbidden",
    "detail": "Your account has hit its spending limit for this billing cycle",
    "type": "about:blank",
    "status": 403,
}
CLIENT_NOT_ENROLLED_BODY = {
    "client_id": "27512824",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
    "tokens from a Twitter developer App that is attached to a Project. You can create a project "
    "via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
REPLY_RESTRICTED_BODY = {
    "detail": "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
# The OAuth 1.0a endpoints answer in the v1.1 error format.
OAUTH_NOT_AUTHENTICATED_BODY = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
INVALID_VERIFIER_TEXT = "Error processing your OAuth request: Invalid oauth_verifier parameter"
OVERLOADED_HTML = (
    "<!DOCTYPE html><html><head><title>Over capacity</title></head>"
    "<body><h1>X is over capacity.</h1></body></html>"
)

REQUEST_TOKEN_TTL_SECONDS = 15 * 60
X_ORIGIN = "https://api.twitter.com"
TWEET_PATH = "/2/tweets"
# https://developer.x.com/en/docs/authentication/api-reference/invalidate_access_token: signed
# with the token to revoke; 200 {"access_token": ...}; an invalid token gets 401, code 89.
INVALIDATE_TOKEN_PATH = "/1.1/oauth/invalidate_token"
INVALID_TOKEN_BODY = {"errors": [{"code": 89, "message": "Invalid or expired token."}]}


# POST /2/tweets limits (docs.x.com/x-api/fundamentals/rate-limits, "Manage posts"): 100
# requests per 15 minutes per user, 10,000 per 24 hours per app. Every answer states them in
# headers: x-rate-limit-limit/-remaining/-reset for the user's 15-minute window (reset: Unix
# seconds), x-app-limit-24hour-* for the app's day (as X sends them: e.g. the twapi-v2 crate's
# list of X's headers, node-twitter-api-v2 issue #495); x-user-limit-24hour-* where the access
# tier caps each user's day too (Basic: 100 per user, tweepy discussion #2129). Past a limit X
# answers 429 with the same headers, remaining 0.
USER_WINDOW = (100, 15 * 60.0)
APP_DAY = (10_000, 24 * 3600.0)


@dataclasses.dataclass
class _Window:
    """A fixed window of requests, started by its first request."""

    limit: int
    seconds: float
    used: int = 0
    reset_at: float = 0.0  # epoch seconds

    def roll(self, now: float) -> None:
        if now >= self.reset_at:  # X's resets are whole Unix seconds
            self.used, self.reset_at = 0, math.ceil(now + self.seconds)

    def headers(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}-limit": str(self.limit),
            f"{prefix}-remaining": str(max(self.limit - self.used, 0)),
            f"{prefix}-reset": str(int(self.reset_at)),
        }


@dataclasses.dataclass
class XAccount:
    """An X user that can approve apps and post."""

    user_id: str
    username: str
    name: str


@dataclasses.dataclass
class EmulatedTweet:
    """One tweet the emulator accepted."""

    tweet_id: str
    username: str
    text: str


@dataclasses.dataclass
class _RequestToken:
    secret: str
    expires_at: float
    pin: str | None = None
    username: str | None = None


@dataclasses.dataclass
class _AccessToken:
    secret: str
    username: str
    revoked: bool = False


class _SignatureValidator(RequestValidator):
    """Tells oauthlib which consumer and token secrets are valid; the emulator owns the state."""

    enforce_ssl = False  # the emulator is plain http on loopback
    allowed_signature_methods = (SIGNATURE_HMAC_SHA1,)  # what X accepts
    dummy_client = "dummy-consumer-key"
    dummy_access_token = "dummy-access-token"

    def __init__(self, emulator: XEmulator) -> None:
        super().__init__()
        self._emulator = emulator
        self._seen_nonces: set[tuple[str, str, str]] = set()

    # Format checks: X does not restrict key/nonce formats beyond being present.
    def check_client_key(self, client_key: str) -> bool:
        return bool(client_key)

    def check_nonce(self, nonce: str) -> bool:
        return bool(nonce) and len(nonce) <= 64

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: object,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        """A nonce may be used once (oauthlib already checked the timestamp is recent)."""
        key = (client_key, timestamp, nonce)
        if key in self._seen_nonces:
            return False
        self._seen_nonces.add(key)
        return True

    def validate_client_key(self, client_key: str, request: object) -> bool:
        return secrets.compare_digest(client_key, self._emulator.consumer_key)

    def get_client_secret(self, client_key: str, request: object) -> str:
        if self.validate_client_key(client_key, request):
            return self._emulator.consumer_secret
        return "dummy-consumer-secret"

    def get_access_token_secret(self, client_key: str, token: str, request: object) -> str:
        """The secret of a request token or access token; which kind is allowed is checked later."""
        return self._emulator._token_secret(token) or "dummy-token-secret"


class XEmulator(LoopbackEmulator):
    """X's OAuth 1.0a PIN flow and the v2 endpoints OnAir calls, with recorded tweets."""

    def __init__(
        self,
        consumer_key: str = "emulated-consumer-key",
        consumer_secret: str = "emulated-consumer-secret",  # noqa: S107 - test fixture value
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.accounts: dict[str, XAccount] = {}
        self.all_tweets: list[EmulatedTweet] = []
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self.invalidated_tokens: list[str] = []  # revoked through invalidate_token, in order
        self._user_ids = itertools.count(1_700_000_001)
        self._tweet_ids = itertools.count(1_870_000_000_000_000_001)
        self._signature_endpoint = SignatureOnlyEndpoint(_SignatureValidator(self))
        # POST /2/tweets limits as X keeps them (USER_WINDOW, APP_DAY); a user's 24-hour cap
        # only once a test sets `user_day_limit`.
        self.user_windows: dict[str, _Window] = {}
        self.user_days: dict[str, _Window] = {}
        self.user_day_limit: int | None = None
        self.app_day = _Window(*APP_DAY)
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/oauth/request_token", self._request_token)
        router.add_get("/oauth/authorize", self._authorize_page)
        router.add_post("/oauth/access_token", self._access_token)
        router.add_post(TWEET_PATH, self._create_tweet)
        router.add_get("/2/users/me", self._users_me)
        router.add_post(INVALIDATE_TOKEN_PATH, self._invalidate_token)
        router.add_post(INVALIDATE_TOKEN_PATH + ".json", self._invalidate_token)

    # ---- test controls -------------------------------------------------------------------

    def account(self, username: str) -> XAccount:
        """The account called ``username``, created on first use."""
        if username not in self.accounts:
            user_id = str(next(self._user_ids))
            self.accounts[username] = XAccount(user_id, username, username.title())
        return self.accounts[username]

    def authorize(self, request_token: str, username: str = "alice") -> str:
        """Simulate ``username`` approving the app in the browser; returns the PIN X shows."""
        pending = self._request_tokens.get(request_token)
        if pending is None:
            raise KeyError("unknown request token")
        self.account(username)
        pending.username = username
        pending.pin = f"{secrets.randbelow(10**7):07d}"
        return pending.pin

    def expire(self, request_token: str) -> None:
        """Make a request token (and so its PIN) expire, as X does after a while."""
        self._request_tokens[request_token].expires_at = 0.0

    def issue_access_token(self, username: str = "alice") -> tuple[str, str]:
        """Access token and secret for ``username`` without the PIN flow (for other tests)."""
        account = self.account(username)
        # X's access tokens start with the user id.
        token = f"{account.user_id}-{secrets.token_urlsafe(24)}"
        secret = secrets.token_urlsafe(32)
        self._access_tokens[token] = _AccessToken(secret, username)
        return token, secret

    def revoke(self, username: str) -> None:
        """The user revoked the app: every access token of ``username`` now gets 401."""
        for access in self._access_tokens.values():
            if access.username == username:
                access.revoked = True

    def tweets_of(self, username: str) -> list[str]:
        """Texts ``username`` posted, oldest first."""
        return [t.text for t in self.all_tweets if t.username == username]

    def set_window(self, username: str, remaining: int, reset_in: float) -> None:
        """``username``'s 15-minute window for POST /2/tweets has ``remaining`` requests left
        and resets in ``reset_in`` seconds."""
        window = self._user_window(username)
        window.used = window.limit - remaining
        window.reset_at = math.ceil(time.time() + reset_in)

    def set_app_day(self, remaining: int, reset_in: float) -> None:
        """The app's 24-hour cap of POST /2/tweets has ``remaining`` requests left."""
        self.app_day.roll(time.time())
        self.app_day.used = self.app_day.limit - remaining
        self.app_day.reset_at = math.ceil(time.time() + reset_in)

    def _limits_for(self, username: str) -> tuple[bool, dict[str, str]]:
        """Count one POST /2/tweets of ``username``: (within every limit, X's headers)."""
        now = time.time()
        windows = [
            (self._user_window(username), "x-rate-limit"),
            (self.app_day, "x-app-limit-24hour"),
        ]
        if self.user_day_limit is not None:
            day = self.user_days.setdefault(username, _Window(self.user_day_limit, APP_DAY[1]))
            windows.append((day, "x-user-limit-24hour"))
        for window, _ in windows:
            window.roll(now)
        allowed = all(window.used < window.limit for window, _ in windows)
        if allowed:
            for window, _ in windows:
                window.used += 1
        headers: dict[str, str] = {}
        for window, prefix in windows:
            headers.update(window.headers(prefix))
        return allowed, headers

    def _user_window(self, username: str) -> _Window:
        window = self.user_windows.get(username)
        if window is None:
            window = self.user_windows[username] = _Window(*USER_WINDOW)
        return window

    # ---- fault helpers (each returns the Fault so a test can inspect or remove it) -------

    def rate_limit(self, path: str = TWEET_PATH, reset_in: float = 900.0, times: int = 1) -> Fault:
        """429 for the 15-minute window, with X's x-rate-limit-* headers."""
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time() + reset_in)),
        }
        return self._json_fault(path, 429, TOO_MANY_REQUESTS_BODY, headers, times)

    def daily_cap(
        self,
        path: str = TWEET_PATH,
        reset_in: float = 20 * 3600.0,
        times: int = 1,
        scope: str = "user",
    ) -> Fault:
        """429 because the 24-hour cap (per user, or per app with scope="app") is used up.

        The 15-minute window still has room, as on X: only the 24-hour headers say why.
        """
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "99",
            "x-rate-limit-reset": str(int(time.time() + 900)),
            f"x-{scope}-limit-24hour-limit": "17",
            f"x-{scope}-limit-24hour-remaining": "0",
            f"x-{scope}-limit-24hour-reset": str(int(time.time() + reset_in)),
        }
        return self._json_fault(path, 429, TOO_MANY_REQUESTS_BODY, headers, times)

    def credits_depleted(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """402: the app's pay-per-use credits are used up (every user of the app gets it)."""
        return self._json_fault(path, 402, CREDITS_DEPLETED_BODY, self._window_headers(), times)

    def usage_capped(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """429 UsageCapped: the monthly cap is reached. Not the 15-minute window: that still
        has room, and x-rate-limit-reset says nothing about when the cap lifts."""
        return self._json_fault(path, 429, USAGE_CAPPED_BODY, self._window_headers(), times)

    def spending_limit(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """403: the spending limit the app's owner set for this billing cycle is reached."""
        return self._json_fault(path, 403, SPENDING_LIMIT_BODY, self._window_headers(), times)

    def client_not_enrolled(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """403 client-not-enrolled: the app is not attached to a Project."""
        return self._json_fault(path, 403, CLIENT_NOT_ENROLLED_BODY, {}, times)

    def reply_restricted(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """403: the conversation's author restricted who may reply."""
        return self._json_fault(path, 403, REPLY_RESTRICTED_BODY, self._window_headers(), times)

    @staticmethod
    def _window_headers() -> dict[str, str]:
        """The 15-minute window's headers, with room left, as on X's other answers."""
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "99",
            "x-rate-limit-reset": str(int(time.time() + 900)),
        }

    def server_error_html(self, path: str = TWEET_PATH, status: int = 503, times: int = 1) -> Fault:
        """5xx with an HTML page, as X's edge sends when overloaded."""
        return self.inject(
            Fault(kind="status", path_prefix=path, status=status, body=OVERLOADED_HTML, times=times)
        )

    def server_error_json(self, path: str = TWEET_PATH, status: int = 503, times: int = 1) -> Fault:
        """5xx with a JSON problem body."""
        body = {**SERVICE_UNAVAILABLE_BODY, "status": status}
        return self._json_fault(path, status, body, {}, times)

    def unauthorized(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """401 whatever the signature (see ``revoke`` for the realistic way)."""
        return self._json_fault(path, 401, UNAUTHORIZED_BODY, {}, times)

    def duplicate(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """403 duplicate content, whatever the text."""
        return self._json_fault(path, 403, DUPLICATE_BODY, {}, times)

    def hang(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """Accept the request and never answer."""
        return self.inject(Fault(kind="hang", path_prefix=path, times=times))

    def slow(self, seconds: float, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """Answer normally after ``seconds``."""
        return self.inject(Fault(kind="latency", path_prefix=path, seconds=seconds, times=times))

    def garbage(self, path: str = TWEET_PATH, times: int = 1) -> Fault:
        """200 with a body that is not JSON."""
        return self.inject(Fault(kind="garbage", path_prefix=path, times=times))

    def _json_fault(
        self, path: str, status: int, body: dict[str, object], headers: dict[str, str], times: int
    ) -> Fault:
        return self.inject(
            Fault(
                kind="status",
                path_prefix=path,
                status=status,
                body=json.dumps(body),
                headers=headers,
                content_type="application/json",
                times=times,
            )
        )

    # ---- signature checking --------------------------------------------------------------

    def _token_secret(self, token: str) -> str | None:
        if token in self._request_tokens:
            return self._request_tokens[token].secret
        if token in self._access_tokens:
            return self._access_tokens[token].secret
        return None

    async def _signed(self, request: web.Request) -> OAuthRequest | None:
        """oauthlib's view of the request if its signature is valid, else None."""
        body = (await request.read()).decode("utf-8", errors="replace")
        # As X does, the signature is checked against X's own URL, whatever address the
        # request reached it through (OnAir signs for https://api.twitter.com and sends the
        # request to X_API_BASE_URL).
        uri = f"{X_ORIGIN}{request.raw_path}"
        valid, oauth_request = self._signature_endpoint.validate_request(
            uri, request.method, body, dict(request.headers)
        )
        return oauth_request if valid else None

    async def _account_for_access_token(self, request: web.Request) -> XAccount | None:
        signed = await self._signed(request)
        if signed is None or signed.resource_owner_key is None:
            return None
        access = self._access_tokens.get(signed.resource_owner_key)
        if access is None or access.revoked:
            return None
        return self.accounts[access.username]

    # ---- OAuth 1.0a ----------------------------------------------------------------------

    async def _request_token(self, request: web.Request) -> web.Response:
        signed = await self._signed(request)
        if signed is None or signed.resource_owner_key is not None:
            return web.json_response(OAUTH_NOT_AUTHENTICATED_BODY, status=401)
        if not signed.redirect_uri:
            # X requires a callback; "oob" asks for the PIN flow.
            return web.Response(
                status=403, text="Callback URL not approved", content_type="text/plain"
            )
        token = secrets.token_urlsafe(24)
        secret = secrets.token_urlsafe(32)
        self._request_tokens[token] = _RequestToken(
            secret=secret, expires_at=time.time() + REQUEST_TOKEN_TTL_SECONDS
        )
        body = urlencode(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )
        return web.Response(text=body, content_type="text/html")

    async def _authorize_page(self, request: web.Request) -> web.Response:
        token = request.query.get("oauth_token", "")
        if token not in self._request_tokens:
            return web.Response(
                status=400,
                text="<html><body>This page is no longer valid.</body></html>",
                content_type="text/html",
            )
        return web.Response(
            text=(
                "<html><body><h1>Authorize app to access your account?</h1>"
                "<form method='post'><button>Authorize app</button></form></body></html>"
            ),
            content_type="text/html",
        )

    async def _access_token(self, request: web.Request) -> web.Response:
        signed = await self._signed(request)
        token = signed.resource_owner_key if signed is not None else None
        pending = self._request_tokens.get(token or "")
        verifier = (signed.verifier if signed is not None else None) or ""
        if (
            pending is None
            or pending.pin is None
            or pending.username is None
            or pending.expires_at < time.time()
            or not secrets.compare_digest(verifier, pending.pin)
        ):
            return web.Response(status=401, text=INVALID_VERIFIER_TEXT, content_type="text/plain")
        assert token is not None
        del self._request_tokens[token]  # a request token is good for one exchange
        access_token, access_secret = self.issue_access_token(pending.username)
        account = self.accounts[pending.username]
        body = urlencode(
            {
                "oauth_token": access_token,
                "oauth_token_secret": access_secret,
                "user_id": account.user_id,
                "screen_name": account.username,
            }
        )
        return web.Response(text=body, content_type="text/html")

    # ---- v2 ------------------------------------------------------------------------------

    async def _users_me(self, request: web.Request) -> web.Response:
        account = await self._account_for_access_token(request)
        if account is None:
            return web.json_response(UNAUTHORIZED_BODY, status=401)
        return web.json_response(
            {"data": {"id": account.user_id, "name": account.name, "username": account.username}}
        )

    async def _invalidate_token(self, request: web.Request) -> web.Response:
        signed = await self._signed(request)
        token = signed.resource_owner_key if signed is not None else None
        access = self._access_tokens.get(token) if token is not None else None
        if token is None or access is None or access.revoked:
            return web.json_response(INVALID_TOKEN_BODY, status=401)
        access.revoked = True
        self.invalidated_tokens.append(token)
        return web.json_response({"access_token": token})

    async def _create_tweet(self, request: web.Request) -> web.Response:
        account = await self._account_for_access_token(request)
        if account is None:
            return web.json_response(UNAUTHORIZED_BODY, status=401)
        try:
            payload = json.loads(await request.read())
            text = payload["text"]
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                {
                    "errors": [{"message": "The `text` field is required.", "parameters": {}}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status=400,
            )
        allowed, headers = self._limits_for(account.username)
        if not allowed:
            return web.json_response(TOO_MANY_REQUESTS_BODY, status=429, headers=headers)
        if text in self.tweets_of(account.username):
            return web.json_response(DUPLICATE_BODY, status=403, headers=headers)
        tweet_id = str(next(self._tweet_ids))
        self.all_tweets.append(EmulatedTweet(tweet_id, account.username, text))
        return web.json_response(
            {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
            status=201,
            headers=headers,
        )

"""bot/x.py against the X emulator: real tweepy (requests + aiohttp) over loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.errors import CATALOGUE, Party, Reason, XNotConfigured, explain
from bot.publisher import Credentials, PostResult
from bot.x import (
    LinkedAccount,
    XLinkFailed,
    XService,
    XUnavailable,
)
from tests.emulators.base import Fault
from tests.emulators.x_api import XEmulator

TINY_TIMEOUT = 0.3


@pytest.fixture
async def emu() -> AsyncIterator[XEmulator]:
    async with XEmulator() as emulator:
        yield emulator


@pytest.fixture
async def x(emu: XEmulator) -> AsyncIterator[XService]:
    service = XService(emu.base_url, emu.consumer_key, emu.consumer_secret, timeout=2.0)
    yield service
    await service.aclose()


@pytest.fixture
async def impatient_x(emu: XEmulator) -> AsyncIterator[XService]:
    service = XService(emu.base_url, emu.consumer_key, emu.consumer_secret, timeout=TINY_TIMEOUT)
    yield service
    await service.aclose()


async def link(x: XService, emu: XEmulator, username: str = "alice") -> LinkedAccount:
    pending = await x.start_link()
    pin = emu.authorize(pending.request_token, username=username)
    return await x.finish_link(pending.request_token, pending.request_token_secret, pin)


async def post(x: XService, emu: XEmulator, text: str = "We're live!") -> PostResult:
    token, secret = emu.issue_access_token("alice")
    return await x.post(Credentials(token, secret, "alice"), text)


def assert_not_done(result: PostResult, outcome: str, reason_code: str, status: int | None) -> None:
    """`outcome` is what the catalogue makes of the reason: "retry" or "failed"."""
    retryable = CATALOGUE[Reason(reason_code)].retryable
    assert (("retry" if retryable else "failed"), result.reason, result.http_status) == (
        outcome,
        reason_code,
        status,
    )
    assert result.tweet_id is None and result.tweet_url is None
    assert Reason(reason_code) in CATALOGUE


# ---- PIN flow --------------------------------------------------------------------------------


async def test_pin_flow_links_account_and_tokens_post(x: XService, emu: XEmulator) -> None:
    """start_link -> user approves -> finish_link gives working tokens for that account."""
    pending = await x.start_link()
    assert pending.authorization_url == (
        f"{emu.base_url}/oauth/authorize?oauth_token={pending.request_token}"
    )
    async with aiohttp.ClientSession() as browser, browser.get(pending.authorization_url) as page:
        assert page.status == 200
        assert "Authorize" in await page.text()

    pin = emu.authorize(pending.request_token, username="alice")
    linked = await x.finish_link(pending.request_token, pending.request_token_secret, f" {pin}\n")

    assert linked.username == "alice"
    assert linked.user_id == emu.accounts["alice"].user_id
    result = await x.post(Credentials(linked.access_token, linked.access_token_secret, ""), "Hello")
    assert result.accepted
    assert emu.tweets_of("alice") == ["Hello"]


async def test_wrong_pin_fails_link(x: XService, emu: XEmulator) -> None:
    """A PIN other than the one X showed is refused as bad_pin."""
    pending = await x.start_link()
    pin = emu.authorize(pending.request_token)
    wrong = f"{(int(pin) + 1) % 10**7:07d}"
    with pytest.raises(XLinkFailed) as caught:
        await x.finish_link(pending.request_token, pending.request_token_secret, wrong)
    assert caught.value.reason_code == "bad_pin"
    assert emu.count("/2/users/me") == 0


async def test_expired_pin_fails_link(x: XService, emu: XEmulator) -> None:
    """The right PIN after the request token expired is refused as bad_pin."""
    pending = await x.start_link()
    pin = emu.authorize(pending.request_token)
    emu.expire(pending.request_token)
    with pytest.raises(XLinkFailed) as caught:
        await x.finish_link(pending.request_token, pending.request_token_secret, pin)
    assert caught.value.reason_code == "bad_pin"


async def test_pin_cannot_be_used_twice(x: XService, emu: XEmulator) -> None:
    """A request token is exchanged once; replaying the PIN fails."""
    pending = await x.start_link()
    pin = emu.authorize(pending.request_token)
    await x.finish_link(pending.request_token, pending.request_token_secret, pin)
    with pytest.raises(XLinkFailed):
        await x.finish_link(pending.request_token, pending.request_token_secret, pin)


async def test_empty_pin_fails_without_asking_x(x: XService, emu: XEmulator) -> None:
    """A blank PIN is refused locally."""
    with pytest.raises(XLinkFailed):
        await x.finish_link("token", "secret", "   ")
    assert emu.count("/oauth") == 0


async def test_start_link_when_x_is_down(x: XService, emu: XEmulator) -> None:
    """A 503 on request_token is XUnavailable (try later), not a link failure."""
    emu.server_error_html("/oauth/request_token")
    with pytest.raises(XUnavailable) as caught:
        await x.start_link()
    assert caught.value.reason_code == "server_error"


async def test_start_link_times_out(impatient_x: XService, emu: XEmulator) -> None:
    """A hanging request_token ends in XUnavailable(timeout) within the timeout."""
    emu.hang("/oauth/request_token")
    with pytest.raises(XUnavailable) as caught:
        await impatient_x.start_link()
    assert caught.value.reason_code == "timeout"


async def test_finish_link_when_x_is_down(x: XService, emu: XEmulator) -> None:
    """A 503 JSON on access_token is XUnavailable, and the PIN stays usable."""
    pending = await x.start_link()
    pin = emu.authorize(pending.request_token)
    emu.server_error_json("/oauth/access_token")
    with pytest.raises(XUnavailable):
        await x.finish_link(pending.request_token, pending.request_token_secret, pin)
    linked = await x.finish_link(pending.request_token, pending.request_token_secret, pin)
    assert linked.username == "alice"


# ---- verify ----------------------------------------------------------------------------------


async def test_verify_returns_identity_then_none_after_revoke(x: XService, emu: XEmulator) -> None:
    """verify names the account; after the user revokes the app it returns None."""
    token, secret = emu.issue_access_token("bob")
    identity = await x.verify(token, secret)
    assert identity is not None
    assert (identity.user_id, identity.username) == (emu.accounts["bob"].user_id, "bob")

    emu.revoke("bob")
    assert await x.verify(token, secret) is None


async def test_verify_with_wrong_token_secret_is_none(x: XService, emu: XEmulator) -> None:
    """A bad signature (wrong token secret) is rejected by the emulator: 401 -> None."""
    token, _ = emu.issue_access_token("alice")
    assert await x.verify(token, "not-the-secret") is None


async def test_verify_when_x_is_down_raises_unavailable(x: XService, emu: XEmulator) -> None:
    """Anything but 401 means "unknown", not "unlinked"."""
    token, secret = emu.issue_access_token("alice")
    emu.server_error_html("/2/users/me")
    with pytest.raises(XUnavailable) as caught:
        await x.verify(token, secret)
    assert caught.value.reason_code == "server_error"


# ---- posting ---------------------------------------------------------------------------------


async def test_post_success_records_tweet_and_returns_link(x: XService, emu: XEmulator) -> None:
    """A posted tweet is on X and the result carries its id and x.com URL."""
    result = await post(x, emu, "Episode 12 is live")
    assert result.accepted and result.reason is None
    assert result.http_status == 201
    assert emu.all_tweets[-1].text == "Episode 12 is live"
    assert result.tweet_id == emu.all_tweets[-1].tweet_id
    assert result.tweet_url == f"https://x.com/alice/status/{result.tweet_id}"


async def test_post_without_username_uses_web_link(x: XService, emu: XEmulator) -> None:
    """Without a username the URL uses x.com/i/web."""
    token, secret = emu.issue_access_token("alice")
    result = await x.post(Credentials(token, secret, ""), "hi")
    assert result.tweet_url == f"https://x.com/i/web/status/{result.tweet_id}"


async def test_same_text_twice_is_duplicate(x: XService, emu: XEmulator) -> None:
    """The emulator refuses repeated text on one account like X; the second post fails."""
    assert (await post(x, emu, "same")).accepted
    assert_not_done(await post(x, emu, "same"), "failed", "duplicate", 403)
    assert emu.tweets_of("alice") == ["same"]


async def test_rate_limited_retries_at_reset(x: XService, emu: XEmulator) -> None:
    """429 -> retry at x-rate-limit-reset."""
    fault = emu.rate_limit(reset_in=600)
    result = await post(x, emu)
    assert_not_done(result, "retry", "rate_limited", 429)
    reset = int(fault.headers["x-rate-limit-reset"])
    assert result.retry_at == datetime.fromtimestamp(reset, UTC)


@pytest.mark.parametrize(("scope", "reason"), [("user", "daily_cap"), ("app", "app_daily_cap")])
async def test_daily_cap_retries_at_24_hour_reset(
    x: XService, emu: XEmulator, scope: str, reason: str
) -> None:
    """429 from POST /2/tweets' 24-hour cap: the host's (x-user-limit-24hour-*) or the app's
    (x-app-limit-24hour-*), retried at that reset, not the 15-minute one."""
    fault = emu.daily_cap(reset_in=20 * 3600, scope=scope)
    result = await post(x, emu)
    assert_not_done(result, "retry", reason, 429)
    reset = int(fault.headers[f"x-{scope}-limit-24hour-reset"])
    assert result.retry_at == datetime.fromtimestamp(reset, UTC)


@pytest.mark.parametrize(
    ("fault", "reason", "status", "party"),
    [
        ("credits_depleted", "credits_depleted", 402, Party.APP),
        ("usage_capped", "usage_capped", 429, Party.APP),
        ("spending_limit", "spending_limit", 403, Party.APP),
        ("client_not_enrolled", "client_not_enrolled", 403, Party.APP),
        ("reply_restricted", "reply_restricted", 403, Party.HOST),
    ],
)
async def test_x_pay_per_use_answers_map_to_their_reasons(
    x: XService, emu: XEmulator, fault: str, reason: str, status: int, party: Party
) -> None:
    """X's 2026 answers (402 CreditsDepleted, 429 UsageCapped, 403 spending limit /
    client-not-enrolled / reply restriction) reach their own catalogue reasons through tweepy;
    the app's own limits are the app's, not the host's, and never wait on the 15-minute reset."""
    getattr(emu, fault)()
    result = await post(x, emu)
    assert (result.reason, result.http_status, result.tweet_id) == (reason, status, None)
    assert CATALOGUE[Reason(reason)].party is party
    if reason == "usage_capped":
        assert result.retry_at is None  # the 15-minute window says nothing about the cap
    assert emu.all_tweets == []


async def test_html_503_is_retry_not_crash(x: XService, emu: XEmulator) -> None:
    """An HTML 503 page (not JSON) is a server_error to retry."""
    emu.server_error_html()
    assert_not_done(await post(x, emu), "retry", "server_error", 503)
    assert emu.all_tweets == []


async def test_json_503_is_retry(x: XService, emu: XEmulator) -> None:
    """A JSON 503 is a server_error to retry."""
    emu.server_error_json()
    assert_not_done(await post(x, emu), "retry", "server_error", 503)


async def test_non_json_success_body_is_retry(x: XService, emu: XEmulator) -> None:
    """A 200 whose body is not JSON is bad_response, retried."""
    emu.garbage()
    assert_not_done(await post(x, emu), "retry", "bad_response", None)


async def test_hang_times_out_and_retries(impatient_x: XService, emu: XEmulator) -> None:
    """A request X never answers ends as timeout within the configured timeout."""
    emu.hang()
    result = await post(impatient_x, emu)
    assert_not_done(result, "retry", "timeout", None)
    assert result.duration_ms < 2000


async def test_slow_answer_within_timeout_posts(x: XService, emu: XEmulator) -> None:
    """Latency below the timeout still posts."""
    emu.slow(0.1)
    assert (await post(x, emu)).accepted


async def test_unauthorized_fails(x: XService, emu: XEmulator) -> None:
    """401 is final: the user must relink."""
    emu.unauthorized()
    assert_not_done(await post(x, emu), "failed", "unauthorized", 401)
    assert "/x link" in explain(Reason.UNAUTHORIZED)


async def test_revoked_tokens_fail_unauthorized(x: XService, emu: XEmulator) -> None:
    """Tokens revoked on X give failed/unauthorized."""
    token, secret = emu.issue_access_token("alice")
    emu.revoke("alice")
    assert_not_done(
        await x.post(Credentials(token, secret, ""), "hi"), "failed", "unauthorized", 401
    )


async def test_duplicate_fault_fails(x: XService, emu: XEmulator) -> None:
    """X's 403 duplicate body maps to failed/duplicate."""
    emu.duplicate()
    assert_not_done(await post(x, emu), "failed", "duplicate", 403)


async def test_other_403_fails_forbidden(x: XService, emu: XEmulator) -> None:
    """A 403 that is not about duplicates is failed/forbidden."""
    body = {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Forbidden"}
    emu.inject(
        Fault(
            kind="status",
            path_prefix="/2/tweets",
            status=403,
            body=json.dumps(body),
            content_type="application/json",
        )
    )
    assert_not_done(await post(x, emu), "failed", "forbidden", 403)


async def test_empty_text_fails_bad_request(x: XService, emu: XEmulator) -> None:
    """A 400 from X is final: bad_request."""
    emu.inject(
        Fault(kind="status", path_prefix="/2/tweets", status=400, body="{}", content_type="x/y")
    )
    assert_not_done(await post(x, emu), "failed", "bad_request", 400)


async def test_network_error_retries(emu: XEmulator) -> None:
    """Nothing listening at the base URL: network_error, retried."""
    service = XService("http://127.0.0.1:9", "k", "s", timeout=TINY_TIMEOUT)
    try:
        result = await service.post(Credentials("t", "s", ""), "hi")
    finally:
        await service.aclose()
    assert_not_done(result, "retry", "network_error", None)


# ---- credentials -----------------------------------------------------------------------------


async def test_wrong_consumer_secret_is_rejected(emu: XEmulator) -> None:
    """The emulator checks real signatures: a wrong consumer secret gets 401 everywhere."""
    service = XService(emu.base_url, emu.consumer_key, "wrong-secret", timeout=2.0)
    token, secret = emu.issue_access_token("alice")
    try:
        with pytest.raises(XLinkFailed) as caught:
            await service.start_link()
        assert caught.value.reason_code == "app_rejected"
        assert await service.verify(token, secret) is None
        assert_not_done(
            await service.post(Credentials(token, secret, ""), "hi"), "failed", "unauthorized", 401
        )
    finally:
        await service.aclose()
    assert emu.all_tweets == []


async def test_not_configured(emu: XEmulator) -> None:
    """Without consumer credentials nothing reaches X and the message names the settings."""
    service = XService(emu.base_url, None, None)
    assert not service.configured
    with pytest.raises(XNotConfigured) as caught:
        await service.start_link()
    assert "X_CONSUMER_KEY" in str(caught.value) and "X_CONSUMER_SECRET" in str(caught.value)
    with pytest.raises(XNotConfigured):
        await service.finish_link("t", "s", "1234567")
    with pytest.raises(XNotConfigured):
        await service.verify("t", "s")
    result = await service.post(Credentials("t", "s", ""), "hi")
    assert result.reason == "not_configured"
    assert emu.requests == []

    half = XService(emu.base_url, "key", "")
    with pytest.raises(XNotConfigured) as caught:
        await half.start_link()
    assert "X_CONSUMER_SECRET" in str(caught.value)


# ---- secrets stay out of logs ----------------------------------------------------------------


async def test_no_token_or_secret_in_logs(
    x: XService, emu: XEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Across linking, posting and failures, logs never contain keys, tokens, secrets or PINs."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="onair")

    pending = await x.start_link()
    pin = emu.authorize(pending.request_token)
    with pytest.raises(XLinkFailed):
        await x.finish_link(pending.request_token, pending.request_token_secret, "0000000")
    linked = await x.finish_link(pending.request_token, pending.request_token_secret, pin)
    token, secret = linked.access_token, linked.access_token_secret
    await x.post(Credentials(token, secret, ""), "one")
    await x.post(Credentials(token, secret, ""), "one")
    emu.server_error_html()
    await x.post(Credentials(token, secret, ""), "two")
    emu.rate_limit()
    await x.post(Credentials(token, secret, ""), "two")
    emu.revoke("alice")
    await x.post(Credentials(token, secret, ""), "two")
    await x.verify(token, secret)

    warnings = [r for r in caplog.records if r.name == "onair.x" and r.levelno >= logging.WARNING]
    assert len(warnings) >= 5
    secrets = [
        emu.consumer_key,
        emu.consumer_secret,
        pending.request_token,
        pending.request_token_secret,
        pin,
        token,
        secret,
    ]
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for value in secrets:
        assert value not in logged
    assert token not in repr(linked) and secret not in repr(linked)

"""Linking a host's X account with the PIN flow (OAuth 1.0a, callback "oob").

The pending request is stored encrypted, bound to one member of one server, and expires after
10 minutes; each PIN is tried once. Tokens are stored encrypted and never shown or logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.crypto import TokenCipher, TokenUnreadable
from bot.errors import (
    InvalidInput,
    PodcastNotSetUp,
    ServiceUnavailable,
    XAppRejected,
    XLinkExpired,
    XLinkRejected,
    XNotConfigured,
    XNotLinked,
)
from bot.publisher import credentials_of
from bot.x import XLinkFailed, XService, XUnavailable
from db import queries
from db.models import XAccount

LINK_TTL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class LinkStatus:
    username: str
    tokens_work: bool | None  # None: X couldn't be asked right now


class XLinkService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        x: XService,
        cipher: TokenCipher,
        *,
        x_limiter: AsyncLimiter,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._x = x
        self._cipher = cipher
        self._x_limiter = x_limiter
        self._clock = clock

    def _require_configured(self) -> None:
        if not self._x.configured:
            raise XNotConfigured()

    async def start(self, guild_id: int, user_id: int) -> str:
        """Begin the PIN flow; returns the URL where the member authorizes OnAir."""
        self._require_configured()
        podcast_id = await self._podcast_id(guild_id)
        try:
            async with self._x_limiter:
                pending = await self._x.start_link()
        except XLinkFailed:
            raise XAppRejected() from None
        except XUnavailable:
            raise ServiceUnavailable(service="X") from None
        async with self._sessions() as session, session.begin():
            await queries.save_link_request(
                session,
                podcast_id=podcast_id,
                discord_user_id=user_id,
                request_token=pending.request_token,
                request_token_secret_encrypted=self._cipher.encrypt(pending.request_token_secret),
                expires_at=self._clock() + LINK_TTL,
            )
        return pending.authorization_url

    async def verify(self, guild_id: int, user_id: int, display_name: str, pin: str) -> str:
        """Exchange the PIN for tokens and store them encrypted; returns the @handle."""
        self._require_configured()
        cleaned = pin.strip()
        if not (cleaned.isascii() and cleaned.isdigit()) or not 4 <= len(cleaned) <= 12:
            raise InvalidInput(problem="The PIN is the number X showed you, like 1234567.")
        podcast_id = await self._podcast_id(guild_id)
        async with self._sessions() as session, session.begin():
            request = await queries.take_link_request(session, podcast_id, user_id)
        if request is None or request.expires_at <= self._clock():
            raise XLinkExpired()
        try:
            secret = self._cipher.decrypt(request.request_token_secret_encrypted)
        except TokenUnreadable:
            raise XLinkExpired() from None
        try:
            async with self._x_limiter:
                account = await self._x.finish_link(request.request_token, secret, cleaned)
        except XLinkFailed:
            raise XLinkRejected() from None
        except XUnavailable:
            raise ServiceUnavailable(service="X") from None
        async with self._sessions() as session, session.begin():
            host_ids = await queries.upsert_hosts(session, podcast_id, [(user_id, display_name)])
            await queries.save_x_account(
                session,
                host_ids[user_id],
                x_user_id=account.user_id,
                username=account.username,
                access_token_encrypted=self._cipher.encrypt(account.access_token),
                access_token_secret_encrypted=self._cipher.encrypt(account.access_token_secret),
            )
        return account.username

    async def status(self, guild_id: int, user_id: int) -> LinkStatus:
        podcast_id = await self._podcast_id(guild_id)
        async with self._sessions() as session:
            host = await queries.get_host(session, podcast_id, user_id)
        account = host.x_account if host is not None else None
        if account is None:
            raise XNotLinked()
        if not self._x.configured:
            return LinkStatus(account.username, None)
        try:
            credentials = credentials_of(account, self._cipher)
        except TokenUnreadable:
            return LinkStatus(account.username, False)
        try:
            async with self._x_limiter:
                identity = await self._x.verify(credentials.token, credentials.secret)
        except XUnavailable:
            return LinkStatus(account.username, None)
        return LinkStatus(identity.username if identity else account.username, identity is not None)

    async def unlink(self, guild_id: int, user_id: int) -> bool:
        """Revoke the tokens at X, then delete them (deleted even when X can't be asked).
        Returns whether X revoked them."""
        podcast_id = await self._podcast_id(guild_id)
        async with self._sessions() as session:
            host = await queries.get_host(session, podcast_id, user_id)
        account = host.x_account if host is not None else None
        if host is None or account is None:
            raise XNotLinked()
        revoked = await revoke_at_x(self._x, self._cipher, self._x_limiter, account)
        async with self._sessions() as session, session.begin():
            if not await queries.delete_x_account(session, host.id):
                raise XNotLinked()
        return revoked

    async def _podcast_id(self, guild_id: int) -> int:
        async with self._sessions() as session:
            podcast = await queries.get_podcast_by_guild(session, guild_id)
        if podcast is None:
            raise PodcastNotSetUp()
        return podcast.id


async def revoke_at_x(
    x: XService, cipher: TokenCipher, limiter: AsyncLimiter, account: XAccount
) -> bool:
    """Invalidate a stored account's tokens at X; False when that could not be done (X not
    configured or unreachable, tokens unreadable). Never raises: deleting them goes on."""
    if not x.configured:
        return False
    try:
        credentials = credentials_of(account, cipher)
    except TokenUnreadable:
        return False
    try:
        async with limiter:
            await x.revoke(credentials.token, credentials.secret)
    except XUnavailable:
        return False
    return True

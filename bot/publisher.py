"""The seam between OnAir's posting core and a social network.

`TweetPoster` only knows `Publisher`: whether the network is set up, how to post a text with a
host's credentials, and how long a text is as that network counts it. `XService` is the one
implementation today; a second network is one new class (and a column saying which network a
linked account belongs to).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from bot.crypto import TokenCipher
from bot.errors import Reason
from db.models import XAccount


@dataclass(frozen=True)
class Credentials:
    """A host's decrypted token pair and the handle it posts as; never logged or shown."""

    token: str = field(repr=False)
    secret: str = field(repr=False)
    username: str


def credentials_of(account: XAccount, cipher: TokenCipher) -> Credentials:
    """Decrypt a linked account's token pair (the one place that does).

    Raises TokenUnreadable when no configured key opens it."""
    return Credentials(
        token=cipher.decrypt(account.access_token_encrypted),
        secret=cipher.decrypt(account.access_token_secret_encrypted),
        username=account.username,
    )


@dataclass(frozen=True)
class Quota:
    """One of the network's limits as its answer stated it: `remaining` of `limit` until
    `reset_at`."""

    limit: int
    remaining: int
    reset_at: dt.datetime


@dataclass(frozen=True)
class PostLimits:
    """The posting limits an answer reported (X: README "Posting at X's pace"). Any may be
    missing: a network (or an answer) that doesn't say leaves it None."""

    window: Quota | None = None  # this account's short window (X: 15 minutes)
    user_day: Quota | None = None  # this account's 24-hour cap
    app_day: Quota | None = None  # the app's 24-hour cap, all accounts together


@dataclass(frozen=True)
class PostResult:
    """What the network answered to one post.

    Accepted: `tweet_id` (and `tweet_url`) are set. Otherwise `reason` says why (bot.errors
    CATALOGUE says whether a retry can help) and `retry_at` is when the network said to come back.
    After a timeout or an unreadable answer the post may in fact have been accepted; a retry then
    answers `duplicate`.
    """

    tweet_id: str | None = None
    tweet_url: str | None = None
    reason: Reason | None = None
    http_status: int | None = None
    retry_at: dt.datetime | None = None
    duration_ms: int = 0
    limits: PostLimits | None = None

    @property
    def accepted(self) -> bool:
        return self.tweet_id is not None


class Publisher(Protocol):
    """A network OnAir posts to."""

    @property
    def configured(self) -> bool:
        """Whether the app's credentials are set; without them nothing can be posted."""
        ...

    async def post(self, credentials: Credentials, text: str) -> PostResult:
        """Post `text` as the owner of `credentials`; answers are results, never exceptions."""
        ...

    def weighted_length(self, text: str) -> int:
        """The length of `text` as the network counts it against its limit."""
        ...

"""What may post: a tweet its host approved (or opted into), that nobody holds.

The same rule runs in SQL when the live check claims tweets (db.queries._may_post); this is its
twin for what Discord shows (reports, /tweets status, previews, the readiness board).
"""

from __future__ import annotations

from bot.errors import Reason
from db.models import EpisodeTweet

# Reasons a pending tweet is not posted for (their sentences are in bot.errors' catalogue).
UNAPPROVED = Reason.UNAPPROVED
HELD = Reason.HELD  # an admin held it
AWAY = Reason.AWAY  # its host lost the host role or left the server


def needs_approval(tweet: EpisodeTweet, require_approval: bool) -> bool:
    """True when this tweet waits for its host's approval before it can post."""
    return require_approval and not tweet.approved and not tweet.host.autopost


def hold_reason(tweet: EpisodeTweet) -> Reason | None:
    """AWAY or HELD when the tweet is held, else None (a host who left outranks an admin hold)."""
    if tweet.host.away_since is not None:
        return AWAY
    if tweet.held:
        return HELD
    return None

"""Every sentence OnAir shows a user about a failure lives here, and nowhere else.

Services raise `OnAirError` subclasses for expected failures (bad input, missing setup, not
linked); the Discord layer shows `user_message` as is. Anything else is unexpected: the user sees
`unexpected_message(ref)` and the log gets the traceback under the same reference.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

_REF_ALPHABET = string.ascii_uppercase + string.digits


def new_reference() -> str:
    """A short code a user can quote and an operator can grep for in the log."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def unexpected_message(ref: str) -> str:
    # No "nothing was changed": the failure may come after a command changed things (a reply
    # Discord refused after create-all made the tweets), and a false reassurance is worse.
    return f"Something went wrong (ref {ref}). An admin can look it up in the log."


# ---- the reason catalogue ---------------------------------------------------------------------
# Every reason a tweet was not posted (episode_tweets.failure_reason, post_attempts.reason,
# PostResult.reason) is defined once here: whether retrying can help, whose problem it is, the
# plain sentence a user sees and the fix. Renderers, reports, /tweets status, /x status and the
# linking messages all read it; nothing else words a reason.


class Party(StrEnum):
    """Who can fix a reason."""

    HOST = "host"  # the host: link, relink, check their account
    APP = "app"  # the X app's owner or the bot's operator; it hits every host alike
    X = "x"  # X itself, passing: OnAir retries on its own
    ADMIN = "admin"  # a podcast admin (Manage Server or the admin role)


class Reason(StrEnum):
    NOT_LINKED = "not_linked"
    UNAUTHORIZED = "unauthorized"
    TOKEN_UNREADABLE = "token_unreadable"  # noqa: S105 - a reason code, not a secret
    DUPLICATE = "duplicate"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    DAILY_CAP = "daily_cap"
    BAD_PIN = "bad_pin"
    NOT_CONFIGURED = "not_configured"
    APP_REJECTED = "app_rejected"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    BAD_RESPONSE = "bad_response"
    INTERRUPTED = "interrupted"
    UNEXPECTED = "unexpected"
    DUPLICATE_AFTER_RETRY = "duplicate_after_retry"
    # Not posted yet: the tweet stays pending and posts once the reason is gone (bot.approval).
    UNAPPROVED = "unapproved"
    HELD = "held"
    AWAY = "away"
    # X since pay-per-use (February 2026): the app's own limits, the same for every host.
    CREDITS_DEPLETED = "credits_depleted"
    USAGE_CAPPED = "usage_capped"
    SPENDING_LIMIT = "spending_limit"
    CLIENT_NOT_ENROLLED = "client_not_enrolled"
    APP_DAILY_CAP = "app_daily_cap"
    REPLY_RESTRICTED = "reply_restricted"


@dataclass(frozen=True)
class ReasonInfo:
    retryable: bool  # the same text with the same tokens may go through later
    party: Party
    sentence: str  # what happened, one plain sentence
    fix: str  # what to do about it, one plain sentence


_RETRIES_RAN_OUT = "OnAir's retries ran out: post it on X by hand if it should still go out."
_CHECK_X = "Check the account on X: OnAir will not post it again by itself."

CATALOGUE: dict[Reason, ReasonInfo] = {
    Reason.NOT_LINKED: ReasonInfo(
        False, Party.HOST, "No X account is linked.", "Link one with /x link."
    ),
    Reason.UNAUTHORIZED: ReasonInfo(
        False, Party.HOST, "X no longer accepts this account's sign-in.", "Relink it with /x link."
    ),
    Reason.TOKEN_UNREADABLE: ReasonInfo(
        False,
        Party.HOST,
        "OnAir can no longer read this account's saved X sign-in.",
        "Relink it with /x link.",
    ),
    Reason.DUPLICATE: ReasonInfo(
        False,
        Party.HOST,
        "X refused it as a duplicate of a recent post from this account.",
        "Post a different text on X by hand if it should still go out.",
    ),
    Reason.FORBIDDEN: ReasonInfo(
        False,
        Party.HOST,
        "X refused the post: the account may be restricted.",
        "Check the account on X.",
    ),
    Reason.BAD_REQUEST: ReasonInfo(
        False,
        Party.HOST,
        "X refused the post as invalid.",
        "Post it on X by hand, and tell the bot's operator.",
    ),
    Reason.DAILY_CAP: ReasonInfo(
        True,
        Party.HOST,
        "This X account reached X's 24-hour posting limit.",
        "OnAir tries again when the limit resets.",
    ),
    Reason.BAD_PIN: ReasonInfo(
        False,
        Party.HOST,
        "X didn't accept that PIN: it is wrong or expired.",
        "Check it, or run /x link again for a new one.",
    ),
    Reason.NOT_CONFIGURED: ReasonInfo(
        False,
        Party.APP,
        "X posting isn't configured on this bot.",
        "The operator sets X_CONSUMER_KEY and X_CONSUMER_SECRET (the X app's OAuth 1.0a keys) "
        "and restarts it.",
    ),
    Reason.APP_REJECTED: ReasonInfo(
        False,
        Party.APP,
        "X rejected this bot's app credentials.",
        "The operator checks X_CONSUMER_KEY and X_CONSUMER_SECRET, and that the X app has read "
        "and write access.",
    ),
    Reason.RATE_LIMITED: ReasonInfo(
        True, Party.X, "X is limiting how fast posts go out.", "OnAir tries again when X allows."
    ),
    Reason.SERVER_ERROR: ReasonInfo(
        True, Party.X, "X had a problem on its side.", "OnAir tries again shortly."
    ),
    Reason.TIMEOUT: ReasonInfo(
        True, Party.X, "X did not answer in time.", "OnAir tries again shortly."
    ),
    Reason.NETWORK_ERROR: ReasonInfo(
        True, Party.X, "OnAir could not reach X.", "OnAir tries again shortly."
    ),
    Reason.BAD_RESPONSE: ReasonInfo(
        True, Party.X, "X sent an answer OnAir could not read.", "OnAir tries again shortly."
    ),
    Reason.INTERRUPTED: ReasonInfo(
        False, Party.HOST, "The bot stopped while posting, so X may or may not have it.", _CHECK_X
    ),
    Reason.UNEXPECTED: ReasonInfo(
        False,
        Party.HOST,
        "Something went wrong while posting, so X may or may not have it.",
        _CHECK_X,
    ),
    Reason.DUPLICATE_AFTER_RETRY: ReasonInfo(
        False,
        Party.HOST,
        "X got no clear answer to an earlier try and now calls this one a duplicate, so the "
        "earlier try most likely went out.",
        _CHECK_X,
    ),
    Reason.UNAPPROVED: ReasonInfo(
        False,
        Party.HOST,
        "Its host hasn't approved it.",
        "Approve it with /tweet approve or the Approve button under /tweet show.",
    ),
    Reason.HELD: ReasonInfo(
        False,
        Party.ADMIN,
        "An admin is holding it.",
        "An admin can release it with /tweets release.",
    ),
    Reason.AWAY: ReasonInfo(
        False,
        Party.ADMIN,
        "Its host no longer has the host role, so it is held.",
        "Giving them the host role back releases it.",
    ),
    Reason.CREDITS_DEPLETED: ReasonInfo(
        True,
        Party.APP,
        "The X app's pay-per-use credits are used up.",
        "Its owner tops them up in the X developer portal.",
    ),
    Reason.USAGE_CAPPED: ReasonInfo(
        True,
        Party.APP,
        "The X app reached its monthly usage cap.",
        "Its owner raises the cap or changes plan in the X developer portal.",
    ),
    Reason.SPENDING_LIMIT: ReasonInfo(
        True,
        Party.APP,
        "The X app reached the spending limit its owner set for this billing cycle.",
        "Its owner raises the limit in the X developer portal.",
    ),
    Reason.CLIENT_NOT_ENROLLED: ReasonInfo(
        True,
        Party.APP,
        "X refuses the app because it is not attached to a Project.",
        "Its owner attaches the app to a Project in the X developer portal.",
    ),
    Reason.APP_DAILY_CAP: ReasonInfo(
        True,
        Party.APP,
        "The X app reached X's 24-hour posting limit for all its users together.",
        "Nothing needs doing: the limit resets within 24 hours.",
    ),
    Reason.REPLY_RESTRICTED: ReasonInfo(
        False,
        Party.HOST,
        "X refused it as a reply to a conversation whose author limits who can reply.",
        "Post it on X by hand as a new post.",
    ),
}

_UNLISTED = ReasonInfo(False, Party.HOST, "It could not be posted.", "Check the account on X.")


def reason_info(code: str | None) -> ReasonInfo:
    """The catalogue entry for a stored code (an unlisted or missing one gets a safe generic)."""
    try:
        return CATALOGUE[Reason(code or "")]
    except ValueError:
        return _UNLISTED


def explain(code: str | None, *, closed: bool = True) -> str:
    """What a user reads about `code`: the sentence and the fix. `closed`: the tweet will not be
    tried again, so a retryable reason says the retries ran out instead of promising one."""
    info = reason_info(code)
    app = info.party is Party.APP
    if info.retryable and closed:
        fix = f"{info.fix} {_RETRIES_RAN_OUT}" if app else _RETRIES_RAN_OUT
    elif info.retryable and app:
        fix = f"{info.fix} OnAir keeps every host's tweet and tries again."
    else:
        fix = info.fix
    return f"{info.sentence} {fix}"


def is_app_problem(code: str | None) -> bool:
    """Whether `code` is the X app's (or the operator's) to fix: it is reported once per
    stream, not once per host."""
    return reason_info(code).party is Party.APP


DRY_RUN_NOTE = "Dry run: nothing was sent to X (DRY_RUN is on)."


class OnAirError(Exception):
    """An expected failure; `user_message` is safe and useful to show."""

    template = "That didn't work."

    def __init__(self, **details: object) -> None:
        self.details = details
        self.user_message = self.template.format(**details)
        super().__init__(self.user_message)


class InvalidInput(OnAirError):
    template = "{problem}"


class PodcastNotSetUp(OnAirError):
    template = "This server has no podcast yet. An admin can create it with /podcast setup."


class EpisodeNotFound(OnAirError):
    template = "No such episode. Pick one from the list as you type."


class EpisodeHasPostedTweets(OnAirError):
    template = "“{title}” already has posted tweets, so it stays on record."


class TweetNotFound(OnAirError):
    template = (
        "You have no tweet for “{title}” yet. Run /tweet generate to draft one, "
        "or ask an admin to run /tweets create-all."
    )


# How TweetLocked names a tweet's state, by PostStatus value.
LOCKED_STATE_WORDS = {
    "posting": "being posted",
    "posted": "posted",
    "failed": "closed",
    "unknown": "awaiting a check",
    "dry_run": "used by a dry run",
}


class TweetLocked(OnAirError):
    template = "Your tweet for “{title}” is already {state}, so it can't be changed any more."


class TweetTooLong(OnAirError):
    template = (
        "That tweet is {count}/280 characters as X counts them{url_note}. Shorten it and try again."
    )


class TweetEmpty(OnAirError):
    template = "A tweet can't be empty."


class ReasonError(OnAirError):
    """An expected failure that is one of the catalogue's reasons; its text is the catalogue's."""

    reason: Reason

    def __init__(self, **details: object) -> None:
        self.details = details
        self.user_message = explain(self.reason, closed=False)
        Exception.__init__(self, self.user_message)


class XNotConfigured(ReasonError):
    reason = Reason.NOT_CONFIGURED


class XNotLinked(ReasonError):
    reason = Reason.NOT_LINKED


class XAppRejected(ReasonError):
    reason = Reason.APP_REJECTED


class XLinkExpired(OnAirError):
    template = (
        "That sign-in has expired or was never started. Run /x link again to get a fresh link."
    )


class XLinkRejected(ReasonError):
    reason = Reason.BAD_PIN


class ServiceUnavailable(OnAirError):
    template = "{service} isn't answering right now. Please try again in a few minutes."


class AIBudgetUsed(OnAirError):
    template = (
        "This server has used today's {limit} AI drafts. Write your tweet with /tweet edit, "
        "or ask for a draft again tomorrow (UTC)."
    )


class DatabaseUnavailable(OnAirError):
    template = "OnAir can't reach its database right now. Please try again in a few minutes."


class RateLimited(OnAirError):
    template = "Slow down a little: try again in {seconds} s."


class NotAllowed(OnAirError):
    template = "{reason}"


class GuildOnly(OnAirError):
    template = "OnAir commands work inside a server, not in direct messages."


class NotAdmin(OnAirError):
    template = (
        "Only podcast admins can do that: you need Manage Server or the podcast's admin role."
    )


class NotHost(OnAirError):
    template = "Only hosts can do that: you need the podcast's host role (<@&{role_id}>)."


class NotYours(OnAirError):
    template = "These buttons belong to {owner}'s tweet; run /tweet show to see your own."


class TweetHeld(OnAirError):
    template = (
        "Your tweet for “{title}” is held by an admin, so it can't be posted until they release it."
    )


class NoHostRecord(OnAirError):
    template = "{name} has no tweet for that episode."


class Expired(OnAirError):
    template = "These buttons have expired. Run the command again."


# ---- what a command says about an outcome (the cogs show these as they are) --------------------


def post_now_text(status: str, reason: str | None, tweet_url: str | None, text: str) -> str:
    """/tweet post-now's answer for the tweet's new status (a PostStatus value)."""
    if status == "posted":
        return f"Posted: {tweet_url}"
    if status == "dry_run":
        return f"{DRY_RUN_NOTE} This is what would have been posted:\n>>> {text}"
    if status == "pending":
        return (
            f"Nothing was posted yet. {explain(reason, closed=False)} "
            "You can also try /tweet post-now again in a minute."
        )
    return f"Not posted. {explain(reason)}"


def link_status_text(username: str, tokens_work: bool | None) -> str:
    """/x status's answer: the linked account and whether X still accepts its sign-in."""
    if tokens_work is True:
        return f"Linked to @{username}, and X accepts the sign-in. ✅"
    if tokens_work is False:
        return f"Linked to @{username}. {explain(Reason.UNAUTHORIZED, closed=False)}"
    return f"Linked to @{username}. X couldn't be asked right now, so the sign-in wasn't checked."

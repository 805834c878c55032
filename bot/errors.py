"""Every sentence OnAir shows a user about a failure lives here, and nowhere else.

Services raise `OnAirError` subclasses for expected failures (bad input, missing setup, not
linked); the Discord layer shows `user_message` as is. Anything else is unexpected: the user sees
`unexpected_message(ref)` and the log gets the traceback under the same reference.
"""

from __future__ import annotations

import secrets
import string

_REF_ALPHABET = string.ascii_uppercase + string.digits


def new_reference() -> str:
    """A short code a user can quote and an operator can grep for in the log."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def unexpected_message(ref: str) -> str:
    return f"Something went wrong (ref {ref}). Nothing was changed; an admin can look it up in the log."


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


class TweetLocked(OnAirError):
    template = "Your tweet for “{title}” is already {state}, so it can't be changed any more."


class TweetTooLong(OnAirError):
    template = (
        "That tweet is {count}/280 characters as X counts them{url_note}. Shorten it and try again."
    )


class TweetEmpty(OnAirError):
    template = "A tweet can't be empty."


class XNotConfigured(OnAirError):
    template = (
        "X posting isn't configured on this bot: the operator must set {missing} "
        "(the X app's OAuth 1.0a keys) and restart it."
    )


class XNotLinked(OnAirError):
    template = "You haven't linked an X account yet. Run /x link to connect one."


class XAppRejected(OnAirError):
    template = (
        "X rejected this bot's app credentials. The operator should check X_CONSUMER_KEY and "
        "X_CONSUMER_SECRET (and that the X app has read and write access)."
    )


class XLinkExpired(OnAirError):
    template = (
        "That sign-in has expired or was never started. Run /x link again to get a fresh link."
    )


class XLinkRejected(OnAirError):
    template = "X didn't accept that PIN. Check it, or run /x link again for a new one."


class ServiceUnavailable(OnAirError):
    template = "{service} isn't answering right now. Please try again in a few minutes."


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
    template = "{name} has no tweet or X link on this podcast."


class Expired(OnAirError):
    template = "These buttons have expired. Run the command again."


# Plain sentences for tweet failure reason codes (stored in episode_tweets.failure_reason).
FAILURE_REASONS: dict[str, str] = {
    "not_linked": "no X account linked: link it with /x link",
    "unauthorized": "X refused the saved sign-in: relink your X account with /x link",
    "duplicate": "X rejected it as a duplicate of an earlier tweet",
    "forbidden": "X refused this tweet",
    "bad_request": "X refused this tweet",
    "rate_limited": "X's rate limit was reached; retries ran out",
    "daily_cap": "X's daily posting limit was reached",
    "server_error": "X kept failing; retries ran out",
    "timeout": "X didn't answer in time; retries ran out",
    "bad_response": "X answered with an error; retries ran out",
    "not_configured": "X posting isn't configured on this bot",
    "token_unreadable": "the saved X sign-in can't be read: relink with /x link",
    "too_late": "the stream started too long ago to retry",
    "dry_run": "dry run: nothing was sent to X",
    "interrupted": "the bot stopped while posting: check X before posting again",
    # Not posted (yet): the tweet stays pending and posts once the reason is gone.
    "unapproved": "not approved by its host: approve it with /tweet approve or /tweet show",
    "held": "held by an admin: an admin can release it with /tweets release",
    "away": "held: its host no longer has the host role",
}


def failure_text(code: str | None) -> str:
    return FAILURE_REASONS.get(code or "", "it could not be posted")

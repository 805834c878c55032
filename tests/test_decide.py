"""decide(): every X answer × first try / last try / outside the retry window / a duplicate after
a timed-out try, as a table. Pure: no database, no network."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.errors import CATALOGUE, Party, Reason
from bot.posting import RetryPolicy, Transition, TweetState, decide, held
from bot.publisher import PostResult
from db.models import AttemptOutcome, PostStatus

NOW = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(
    max_attempts=5,
    window=dt.timedelta(hours=2),
    base_delay=dt.timedelta(seconds=1),
    min_delay=dt.timedelta(seconds=10),
    app_delay=dt.timedelta(minutes=5),
)
FIRST = TweetState(attempts=1, window_start=NOW - dt.timedelta(minutes=1))
LAST = TweetState(attempts=5, window_start=NOW - dt.timedelta(minutes=1), previous_reason="timeout")
LATE = TweetState(attempts=2, window_start=NOW - dt.timedelta(hours=2), previous_reason="timeout")
TRIES = {"first": FIRST, "last": LAST, "late": LATE}

PENDING, FAILED, UNKNOWN = PostStatus.PENDING, PostStatus.FAILED, PostStatus.UNKNOWN
RETRY = AttemptOutcome.RETRY


def expected(reason: Reason, when: str) -> Transition:
    """The table's answer for `reason` at `when`, from the catalogue's two facts."""
    info = CATALOGUE[reason]
    if reason is Reason.UNEXPECTED:
        return Transition(UNKNOWN, AttemptOutcome.UNKNOWN, reason)
    if reason is Reason.DUPLICATE and when != "first":  # the try before timed out
        return Transition(UNKNOWN, AttemptOutcome.UNKNOWN, Reason.DUPLICATE_AFTER_RETRY)
    if not info.retryable or when == "late":
        return Transition(FAILED, AttemptOutcome.FAILED, reason)
    if info.party is Party.APP:  # not the host's problem: never uses up their attempts
        return Transition(PENDING, RETRY, reason, NOW + POLICY.app_delay, refund_attempt=True)
    if when == "last":
        return Transition(FAILED, AttemptOutcome.FAILED, reason)
    return Transition(PENDING, RETRY, reason, NOW + POLICY.min_delay)


# Reasons only the poster itself produces never come back from X as a result.
X_REASONS = [r for r in Reason if r not in (Reason.INTERRUPTED, Reason.DUPLICATE_AFTER_RETRY)]


@pytest.mark.parametrize("when", list(TRIES))
@pytest.mark.parametrize("reason", X_REASONS)
def test_every_refusal_at_every_point_of_the_retry_budget(reason: Reason, when: str) -> None:
    """Each reason goes where the catalogue says, on the first try, the last, and late."""
    result = PostResult(reason=reason, http_status=400)
    assert decide(TRIES[when], result, NOW, POLICY) == expected(reason, when)


@pytest.mark.parametrize("when", list(TRIES))
def test_an_accepted_post_is_posted_whenever_it_comes(when: str) -> None:
    """X's id means posted: on any try, even one outside the retry window."""
    result = PostResult(tweet_id="1", tweet_url="https://x.com/a/status/1", http_status=201)
    assert decide(TRIES[when], result, NOW, POLICY) == Transition(
        PostStatus.POSTED, AttemptOutcome.POSTED
    )


def test_a_duplicate_after_a_definite_refusal_is_the_hosts_duplicate() -> None:
    """Only an unanswered try before makes a duplicate "X may already have it"; after a 429
    (X said no) it is an ordinary duplicate."""
    state = TweetState(attempts=2, window_start=NOW, previous_reason="rate_limited")
    result = PostResult(reason=Reason.DUPLICATE, http_status=403)
    assert decide(state, result, NOW, POLICY) == Transition(
        FAILED, AttemptOutcome.FAILED, Reason.DUPLICATE
    )


def test_the_retry_delay_counts_from_the_answer_and_never_undercuts_the_timeout() -> None:
    """A short base delay still waits the request timeout after X's answer; a long one doubles."""
    answered = NOW + dt.timedelta(seconds=9)  # the failed try took 9 s to answer
    result = PostResult(reason=Reason.TIMEOUT)
    short = decide(FIRST, result, answered, POLICY)
    assert short.next_attempt_at == answered + POLICY.min_delay
    slow_policy = RetryPolicy(base_delay=dt.timedelta(seconds=30), min_delay=POLICY.min_delay)
    third = TweetState(attempts=3, window_start=NOW)
    assert decide(third, result, answered, slow_policy).next_attempt_at == answered + (
        dt.timedelta(seconds=120)
    )


def test_xs_own_reset_time_is_kept() -> None:
    """A 429 with a reset header retries exactly then."""
    reset = NOW + dt.timedelta(minutes=7)
    result = PostResult(reason=Reason.RATE_LIMITED, http_status=429, retry_at=reset)
    assert decide(FIRST, result, NOW, POLICY).next_attempt_at == reset


def test_a_retry_that_would_land_after_the_window_closes_the_tweet() -> None:
    """A reset beyond the 2-hour window is not waited for."""
    result = PostResult(
        reason=Reason.RATE_LIMITED, retry_at=FIRST.window_start + dt.timedelta(hours=3)
    )
    assert decide(FIRST, result, NOW, POLICY).status is FAILED


def test_a_held_tweet_waits_without_using_an_attempt() -> None:
    """A tweet not sent because the app is blocked goes back to pending, attempt refunded."""
    until = NOW + dt.timedelta(minutes=5)
    assert held(Reason.RATE_LIMITED, until) == Transition(
        PENDING, RETRY, Reason.RATE_LIMITED, until, refund_attempt=True
    )

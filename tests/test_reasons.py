"""The reason catalogue: one entry per reason, read by every renderer."""

from __future__ import annotations

from bot.errors import CATALOGUE, Party, Reason, explain, reason_info


def test_every_reason_has_one_catalogue_entry_with_a_sentence_and_a_fix() -> None:
    """No reason code is left without its user-facing words."""
    assert set(CATALOGUE) == set(Reason)
    for reason, info in CATALOGUE.items():
        assert info.sentence.endswith(".") and info.fix.endswith("."), reason
        assert "{" not in info.sentence + info.fix, reason


def test_a_closed_retryable_reason_says_the_retries_ran_out() -> None:
    """Once a tweet is closed, a passing X problem no longer promises a retry."""
    assert "tries again" in explain(Reason.SERVER_ERROR, closed=False)
    assert "retries ran out" in explain(Reason.SERVER_ERROR)
    assert explain(Reason.UNAUTHORIZED) == explain(Reason.UNAUTHORIZED, closed=False)


def test_an_unlisted_stored_code_gets_a_safe_generic_sentence() -> None:
    """Old rows with a code the catalogue no longer lists still render, without the raw code."""
    assert "no_such_code" not in explain("no_such_code")
    assert reason_info(None).party is Party.HOST

"""X's weighted length rules and trimming (bot/tweet_text.py)."""

from __future__ import annotations

import time
import unicodedata

import pytest
from twitter_text import extract_urls, parse_tweet

from bot.tweet_text import (
    MAX_WEIGHTED,
    URL_WEIGHT,
    compose_tweet,
    fits,
    remove_links,
    room_for_body,
    trim_to_fit,
    validate_custom_text,
    weighted_length,
    weighted_length_with_url,
)

STREAM_URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one emoji, 7 code points joined by ZWJ
FLAG = "🇯🇵"
THUMB_DARK = "👍🏽"


def test_latin_text_counts_one_per_character() -> None:
    """Plain ASCII weighs 1 per character, spaces included."""
    assert weighted_length("hello world") == 11


def test_140_cjk_characters_fill_a_tweet() -> None:
    """CJK weighs 2, so 140 characters are exactly 280 and 141 are too many."""
    assert weighted_length("日" * 140) == MAX_WEIGHTED
    assert fits("日" * 140, None)
    assert not fits("日" * 141, None)


@pytest.mark.parametrize("emoji", ["👍", FAMILY, FLAG, THUMB_DARK, "1\ufe0f\u20e3"])
def test_every_emoji_sequence_weighs_two(emoji: str) -> None:
    """Any emoji, including ZWJ families, flags, skin tones and keycaps, weighs 2."""
    assert weighted_length(emoji) == 2
    assert weighted_length(f"a{emoji}b") == 4


@pytest.mark.parametrize(
    "url", ["https://x.co", "https://example.com/" + "a" * 200, "example.com", "http://t.co/abc"]
)
def test_a_url_weighs_23_whatever_its_length(url: str) -> None:
    """X rewrites links to t.co, so every URL (with or without scheme) weighs 23."""
    assert weighted_length(url) == URL_WEIGHT
    assert weighted_length(f"see {url} now") == 4 + URL_WEIGHT + 4


def test_compose_puts_the_url_after_a_blank_line() -> None:
    """The posted text is the stripped body, a blank line, then the stream URL."""
    assert compose_tweet("  Live now!  ", STREAM_URL) == f"Live now!\n\n{STREAM_URL}"
    assert compose_tweet(" Live now! ", None) == "Live now!"
    assert weighted_length_with_url("Live now!", STREAM_URL) == 9 + 2 + URL_WEIGHT


def test_the_url_takes_its_share_of_the_limit() -> None:
    """With a URL, the body has 255 weighted left; without, the full 280."""
    assert room_for_body(STREAM_URL) == 255
    assert room_for_body(None) == MAX_WEIGHTED
    assert fits("a" * 255, STREAM_URL)
    assert not fits("a" * 256, STREAM_URL)
    assert fits("a" * 280, None)


@pytest.mark.parametrize(
    "text",
    [
        ("Tune in at example.com/live 👨\u200d👩\u200d👧\u200d👦 日本語のテキスト, ok. " * 12),
        ("word " * 90 + "https://example.com/path?q=1 " * 5 + "😀" * 30),
        ("Line one\r\nLine two\rLine three\n" * 20),
        ("e\u0301" * 150 + " café www.test.org " + "テキスト" * 60 + ".jp"),
        ("(https://x.org) @user #tag $AAPL foo@bar.com " * 10),
    ],
)
def test_weighted_length_equals_twitter_text_on_long_text(text: str) -> None:
    """Counting in chunks (for speed) gives exactly twitter-text's own count."""
    assert len(text) > 200
    assert weighted_length(text) == parse_tweet(text).weightedLength


def test_long_cjk_text_with_a_link_is_counted_quickly() -> None:
    """4000 CJK characters and a link are measured fast (twitter-text alone takes seconds)."""
    text = "日本語のテキストです" * 400 + " example.com"
    started = time.perf_counter()
    assert weighted_length(text) == 4000 * 2 + 1 + URL_WEIGHT
    assert time.perf_counter() - started < 1.0


TRICKY_BODIES = {
    "sentence": "The quick brown fox jumps over the lazy dog while we record. " * 8,
    "one_long_word": "a" * 400,
    "zwj_family_emoji": FAMILY * 200,
    "flags": FLAG * 200,
    "skin_tones": (THUMB_DARK + " ") * 150,
    "cjk_no_spaces": "日本語のテキストです" * 40,
    "english_then_cjk": "Hello " + "日本語のテキストです" * 40,
    "many_urls": "see https://example.com/a/very/long/path?x=1 and " * 20,
    "combining_accents": "e\u0301" * 400,
    "newlines": "Line of text\n" * 40,
}


@pytest.mark.parametrize("url", [None, STREAM_URL], ids=["no_url", "with_url"])
@pytest.mark.parametrize("body", TRICKY_BODIES.values(), ids=TRICKY_BODIES.keys())
def test_trim_to_fit_always_fits(body: str, url: str | None) -> None:
    """Whatever the text, the trimmed body plus the URL fits 280 and ends with an ellipsis."""
    assert not fits(body, url)
    trimmed = trim_to_fit(body, url)
    assert fits(trimmed, url)
    assert parse_tweet(compose_tweet(trimmed, url)).weightedLength <= MAX_WEIGHTED
    assert trimmed.endswith("…")
    kept = trimmed.removesuffix("…").rstrip()
    assert kept
    assert unicodedata.normalize("NFC", body).startswith(kept)  # X normalizes to NFC too


@pytest.mark.parametrize("emoji", [FAMILY, FLAG])
def test_trim_never_splits_an_emoji_sequence(emoji: str) -> None:
    """All-emoji text is cut between whole sequences, using the room available."""
    trimmed = trim_to_fit(emoji * 200, STREAM_URL)
    kept = trimmed.removesuffix("…")
    count = len(kept) // len(emoji)
    assert kept == emoji * count
    assert count == (room_for_body(STREAM_URL) - 2) // 2  # 2 left for the ellipsis


def test_trim_cuts_at_a_word_boundary() -> None:
    """Ordinary sentences lose whole words, never half of one."""
    body = " ".join(f"word{i}" for i in range(100))
    trimmed = trim_to_fit(body, STREAM_URL)
    kept = trimmed.removesuffix("…")
    assert body[len(kept)] == " "
    assert weighted_length_with_url(trimmed, STREAM_URL) > room_for_body(STREAM_URL) - 8


def test_trim_drops_dangling_punctuation_before_the_ellipsis() -> None:
    """A cut after "word," reads "word…", not "word,…"."""
    trimmed = trim_to_fit("word, " * 100, None)
    assert trimmed.endswith("d…")


def test_trim_cuts_cjk_between_characters() -> None:
    """CJK without spaces is cut between characters instead of dropping it all at "Hello"."""
    trimmed = trim_to_fit("Hello " + "日本語のテキストです" * 40, None)
    assert trimmed.startswith("Hello 日本語")
    assert weighted_length(trimmed) >= MAX_WEIGHTED - 2


def test_trim_drops_a_url_whole_rather_than_cutting_it() -> None:
    """A link that no longer fits is dropped entirely; a partial link is never left."""
    body = "word " * 52 + "https://example.com/" + "p" * 60 + " and more words to follow"
    trimmed = trim_to_fit(body, None)
    assert "https" not in trimmed
    assert extract_urls(trimmed) == []
    assert fits(trimmed, None)


def test_trim_keeps_a_url_that_fits_and_separates_the_ellipsis() -> None:
    """A whole link at the cut stays intact, with the ellipsis after a space."""
    body = "word " * 50 + "https://example.com/path" + " " + "z" * 30
    trimmed = trim_to_fit(body, None)
    assert trimmed.endswith("https://example.com/path …")


def test_trim_leaves_a_fitting_body_alone() -> None:
    """A body that already fits is returned (only stripped)."""
    assert trim_to_fit("  We're live! 🎙️ ", STREAM_URL) == "We're live! 🎙️"


def test_validate_rejects_empty_text() -> None:
    """Whitespace-only text is "empty"."""
    ok, _count, problem = validate_custom_text(" \n\t ", STREAM_URL)
    assert (ok, problem) == (False, "empty")


def test_validate_reports_the_count_of_too_long_text() -> None:
    """Too long text is "too_long" with the weighted count of what would be posted."""
    assert validate_custom_text("a" * 256, STREAM_URL) == (False, 256 + 2 + 23, "too_long")
    assert validate_custom_text("日" * 141, None) == (False, 282, "too_long")


def test_validate_accepts_text_that_fits() -> None:
    """Fitting text is ok, counted with the URL."""
    assert validate_custom_text("Live now!", STREAM_URL) == (True, 9 + 2 + 23, None)
    assert validate_custom_text("a" * 255, STREAM_URL) == (True, 280, None)


def test_validate_rejects_characters_x_refuses() -> None:
    """A byte-order mark (U+FEFF) pasted in the text is reported."""
    assert validate_custom_text("Live\ufeff now", None)[2] == "invalid_characters"


def test_remove_links_keeps_bare_domains() -> None:
    """Links with a scheme, www. or a path go; a brand like Syntax.fm stays."""
    text = "Live on Syntax.fm! https://youtu.be/abc or www.example.com or youtube.com/live/x ok"
    assert remove_links(text) == "Live on Syntax.fm! or or ok"

"""X's length rules for the text OnAir posts: pure functions, no I/O.

X does not count characters: it counts a *weighted length* (twitter-text v3). Latin text weighs 1
per character, CJK and most other scripts 2, every emoji sequence 2 however many code points it
has (ZWJ families, flags, skin tones), and every URL 23 whatever its real length, because X
rewrites it to a t.co link. The limit is 280. ``twitter-text-parser`` ports X's own counter, so
these functions defer to it instead of guessing.

A host's tweet is stored as a *body*; the stream URL is appended only when it is posted
(``compose_tweet``), so every check here takes the body and the URL together.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# twitter_text (about 11 MB of regexes and tables) is imported where a tweet is measured, so
# a bot that hasn't measured one yet doesn't carry it (README "Performance").

MAX_WEIGHTED = 280
URL_WEIGHT = 23
URL_SEPARATOR = "\n\n"
ELLIPSIS = "…"

# A mid-word cut is used instead of the last word boundary when the boundary would throw away
# more than this much weighted length (a 200-character word, CJK text without spaces).
_MAX_WORD_BOUNDARY_LOSS = 40
_TRAILING_PUNCTUATION = " \t\n,;:-–—([{\"'“‘"
_LINE_ENDINGS = re.compile(r"\r\n|\r")
_BEFORE_WHITESPACE = re.compile(r"(?=[ \t\n])")
# twitter-text's URL pattern is quadratic on long runs without spaces (3000 CJK characters with
# one "." take seconds), so text is measured in whitespace-delimited chunks of about this size.
_CHUNK_CHARS = 200

CustomTextProblem = Literal["empty", "too_long", "invalid_characters"]


def _normalize(text: str) -> str:
    """What X measures: NFC with every line ending turned into "\\n"."""
    return _LINE_ENDINGS.sub("\n", unicodedata.normalize("NFC", text))


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, chunk) pieces of ``text``, each starting at a space, tab or newline.

    URLs and emoji never contain whitespace and twitter-text looks only at the character right
    before a URL, which each chunk keeps, so counting chunk by chunk equals counting the whole.
    """
    chunks: list[tuple[int, str]] = []
    current, offset = "", 0
    for piece in _BEFORE_WHITESPACE.split(text):
        if current and len(current) + len(piece) > _CHUNK_CHARS:
            chunks.append((offset, current))
            offset += len(current)
            current = ""
        current += piece
    if current:
        chunks.append((offset, current))
    return chunks


@functools.lru_cache(maxsize=1024)
def weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (what X compares with 280).

    Cached: a pure function of the text, and twitter-text's emoji scan costs about half a
    millisecond of CPU per call, twice per `/tweet show` (bench/load.py); 1,024 tweets'
    texts at most."""
    from twitter_text import parse_tweet

    return sum(parse_tweet(chunk).weightedLength for _, chunk in _chunks(_normalize(text)))


def compose_tweet(body: str, url: str | None) -> str:
    """The exact text that gets posted: the body, a blank line, then the stream URL if any."""
    body = body.strip()
    if not url:
        return body
    if not body:
        return url
    return f"{body}{URL_SEPARATOR}{url}"


def weighted_length_with_url(body: str, url: str | None) -> int:
    """Weighted length of what would be posted for ``body`` and ``url``."""
    return weighted_length(compose_tweet(body, url))


def room_for_body(url: str | None) -> int:
    """Weighted length a body may use once the URL (23) and its separator are appended."""
    if not url:
        return MAX_WEIGHTED
    return MAX_WEIGHTED - URL_WEIGHT - weighted_length(URL_SEPARATOR)


def fits(body: str, url: str | None) -> bool:
    """True when the posted text (body plus URL) is within X's 280 weighted limit."""
    return weighted_length_with_url(body, url) <= MAX_WEIGHTED


def _is_link(url: str) -> bool:
    """A link rather than a brand name: it has a scheme, starts with www. or has a path."""
    return "://" in url or url.lower().startswith("www.") or "/" in url


def remove_links(text: str) -> str:
    """``text`` without its links (with their leading spaces), keeping bare domains.

    "Syntax.fm" may be the podcast's name, so bare domains stay; "https://…", "www.…" and
    "youtube.com/live/…" go. OnAir appends the one link that belongs in the tweet itself.
    """
    from twitter_text import extract_urls_with_indices

    kept: list[str] = []
    last = 0
    for offset, chunk in _chunks(text):
        for entity in extract_urls_with_indices(chunk):
            if not _is_link(entity["url"]):
                continue
            start, end = (offset + index for index in entity["indices"])
            kept.append(text[last:start].rstrip(" \t"))
            last = end
    kept.append(text[last:])
    return "".join(kept)


@dataclass(frozen=True)
class _Unit:
    """An uncuttable piece of text: a URL, an emoji sequence, or one character with its marks."""

    start: int
    end: int
    kind: Literal["url", "emoji", "space", "char"]


def _is_extender(char: str) -> bool:
    """Code points that belong to the previous character (accents, ZWJ, variation selectors)."""
    if char in ("\u200d", "\u20e3") or 0xFE00 <= ord(char) <= 0xFE0F:
        return True
    if 0x1F3FB <= ord(char) <= 0x1F3FF or 0xE0020 <= ord(char) <= 0xE007F:
        return True  # skin tones, emoji tag sequences
    return unicodedata.category(char) in ("Mn", "Mc", "Me")


def _split_units(text: str) -> list[_Unit]:
    """Split ``text`` into pieces that must never be cut apart (no grapheme is split)."""
    from twitter_text import extract_emojis_with_indices, extract_urls_with_indices

    spans: dict[int, tuple[int, Literal["url", "emoji"]]] = {}
    for offset, chunk in _chunks(text):
        for entity in extract_emojis_with_indices(chunk):
            start, end = entity["indices"]
            spans[offset + start] = (offset + end, "emoji")
        for entity in extract_urls_with_indices(chunk):
            start, end = (offset + index for index in entity["indices"])
            for inside in [s for s in spans if start <= s < end]:
                del spans[inside]  # an emoji-like character inside a URL is part of the URL
            spans[start] = (end, "url")
    units: list[_Unit] = []
    index = 0
    while index < len(text):
        kind: Literal["url", "emoji", "space", "char"]
        if index in spans:
            end, kind = spans[index]
        else:
            end = index + 1
            kind = "space" if text[index].isspace() else "char"
        while end < len(text) and end not in spans and _is_extender(text[end]):
            end += 1
        units.append(_Unit(index, end, kind))
        index = end
    return units


def _with_ellipsis(text: str, units: list[_Unit], cut: int) -> str:
    """The first ``cut`` units, trailing spaces and dangling punctuation removed, plus "…"."""
    if cut <= 0:
        return ""
    url_ends = {unit.end for unit in units if unit.kind == "url"}
    end = units[cut - 1].end
    while end > 0 and end not in url_ends and text[end - 1] in _TRAILING_PUNCTUATION:
        end -= 1
    if end == 0:
        return ""
    if end in url_ends:
        return f"{text[:end]} {ELLIPSIS}"  # a space keeps the ellipsis out of the link
    return text[:end] + ELLIPSIS


def _longest_fitting(
    text: str, units: list[_Unit], cuts: list[int], url: str | None
) -> tuple[int, str] | None:
    """Binary search the largest cut (in units) whose ellipsised prefix fits; None if none do.

    Weighted length grows with the prefix almost always; where it does not (a prefix can turn
    into a URL), the result is merely shorter than possible, never too long: every returned
    candidate was checked.
    """
    best: tuple[int, str] | None = None
    low, high = 0, len(cuts) - 1
    while low <= high:
        middle = (low + high) // 2
        candidate = _with_ellipsis(text, units, cuts[middle])
        if candidate and fits(candidate, url):
            best = (weighted_length(candidate), candidate)
            low = middle + 1
        else:
            high = middle - 1
    return best


def trim_to_fit(body: str, url: str | None) -> str:
    """Shorten ``body`` so ``compose_tweet(body, url)`` fits 280, ending it with "…".

    Cuts at the last word boundary that fits; cuts between characters only when the boundary
    would waste a lot of room (one huge word, CJK text without spaces). Emoji sequences, URLs
    and accented characters are never split. Returns the body unchanged (stripped) if it fits.
    """
    text = _normalize(body).strip()
    if fits(text, url):
        return text
    units = _split_units(text)
    # Every unit weighs at least 1, so no prefix longer than MAX_WEIGHTED units can fit.
    limit = min(len(units), MAX_WEIGHTED)
    word_cuts = [i for i in range(1, limit + 1) if i < len(units) and units[i].kind == "space"]
    char_cuts = list(range(1, limit + 1))
    by_word = _longest_fitting(text, units, word_cuts, url) if word_cuts else None
    by_char = _longest_fitting(text, units, char_cuts, url)
    if by_word is not None and (
        by_char is None or by_char[0] - by_word[0] <= _MAX_WORD_BOUNDARY_LOSS
    ):
        return by_word[1]
    return by_char[1] if by_char is not None else ""


def validate_custom_text(text: str, url: str | None) -> tuple[bool, int, CustomTextProblem | None]:
    """Check a host's own text for the edit modal: (ok, weighted count with URL, problem).

    Problems: "empty" (nothing but whitespace), "too_long" (count > 280, URL included),
    "invalid_characters" (characters X refuses, such as U+FEFF or U+FFFF).
    """
    count = weighted_length_with_url(text, url)
    if not text.strip():
        return False, count, "empty"
    if count > MAX_WEIGHTED:
        return False, count, "too_long"
    from twitter_text.has_invalid_characters import has_invalid_characters

    if has_invalid_characters(text):
        return False, count, "invalid_characters"
    return True, count, None

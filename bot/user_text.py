"""Text that members type, and text OnAir shows back: made safe in one place.

Control characters (NUL, which PostgreSQL refuses, and the other C0/C1 codes, surrogates,
noncharacters) are refused: nobody types them on purpose. Invisible formatting characters
(bidi overrides like U+202E, U+FEFF, zero-width spaces, soft hyphens) are stripped: they come
with pasted text, X refuses some of them, and they make a title read differently than it is.
Joiners that emoji and scripts need (U+200C, U+200D, emoji tags) are kept.

Knows nothing of Discord's library, only its markdown: `escape_markdown` is what OnAir applies
to anything a member or YouTube wrote before it is shown in a notice.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import InvalidInput

# Bidi embeddings/overrides/isolates and marks, BOM, zero-width space, word joiner and the
# invisible operators, soft hyphen, Mongolian vowel separator, interlinear annotation marks.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb]"
)
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<@:-])")
_ALLOWED_CONTROLS = {"\n", "\t"}


def _is_refused(char: str, *, multiline: bool) -> bool:
    if multiline and (char in _ALLOWED_CONTROLS or char == "\r"):
        return False
    category = unicodedata.category(char)
    if category in ("Cc", "Cs"):
        return True
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE  # noncharacters


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """True when `text` holds a character OnAir refuses (NUL and other control codes)."""
    return any(_is_refused(char, multiline=multiline) for char in text)


def strip_invisible(text: str) -> str:
    """`text` without invisible formatting characters (bidi overrides, BOM, zero-width space)."""
    return _INVISIBLE.sub("", text)


def sanitize(text: str) -> str:
    """For text OnAir writes itself from stored or AI text: never raises, drops what it refuses."""
    return strip_invisible("".join(c for c in text if not _is_refused(c, multiline=True)))


def clean_input(text: str, what: str, *, multiline: bool = False) -> str:
    """A member's text, stripped of invisible characters; refused with a plain sentence when it
    holds control characters. `what` names the field ("The title")."""
    if has_control_characters(text, multiline=multiline):
        raise InvalidInput(
            problem=f"{what} has invisible control characters in it. Type it again without them."
        )
    cleaned = strip_invisible(text).strip()
    if text.strip() and not cleaned:
        raise InvalidInput(problem=f"{what} has nothing but invisible characters in it.")
    return cleaned


def escape_markdown(text: str) -> str:
    """`text` shown literally by Discord: no bold, no masked link, no heading, no mention."""
    return _MARKDOWN.sub(r"\\\1", text)


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with "…" at a line or word end, never mid-line silently."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for separator in ("\n", " "):
        index = cut.rfind(separator)
        if index > limit // 2:
            cut = cut[:index]
            break
    return cut.rstrip() + "…"

"""Text that members type, and text OnAir shows back: made safe in one place.

Knows nothing of Discord's library, only its markdown: `escape_markdown` is what OnAir applies
to anything a member or YouTube wrote before it is shown in a message or an embed.
"""

from __future__ import annotations

import re

# Markdown, masked links ([text](url)), headings, lists, quotes, spoilers, code, mentions' "@".
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<@:-])")


def escape_markdown(text: str) -> str:
    """`text` shown literally by Discord: no bold, no masked link, no heading, no mention."""
    return _MARKDOWN.sub(r"\\\1", text)

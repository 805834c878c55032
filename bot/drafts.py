"""AI drafts of a host's go-live tweet, with a template whenever the AI cannot give one.

One ``Drafter`` lives for the whole process and holds the one OpenAI client. It speaks Chat
Completions, which every OpenAI-compatible server (OPENAI_BASE_URL) understands. A draft never
fails: with no key, a timeout, an API error, a reply that is not a chat completion or an empty
answer, the caller gets the template with ``fallback=True`` and a ``reason``.

The draft is a tweet *body*: the stream URL is appended when posting
(``tweet_text.compose_tweet``), so the model is told not to write links and any it writes are
removed. A reply too long for X (URL included) is sent back once to be shortened, then trimmed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # The SDK costs some 25 MB of memory to import: only a Drafter with a key loads it.
    import openai
    from openai.types.chat import ChatCompletionMessageParam

from bot import tweet_text
from bot.user_text import sanitize

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 20.0

FallbackReason = Literal[
    "no_api_key",
    "auth_error",
    "timeout",
    "rate_limited",
    "api_error",
    "bad_response",
    "empty",
    "over_budget",
]
# A tweet is at most 280 characters: about 100 tokens; the margin covers non-Latin scripts.
DRAFT_MAX_TOKENS = 300

# Prompt inputs are capped so one long episode note cannot make every draft slow and costly.
_MAX_TITLE_CHARS = 300
_MAX_NOTES_CHARS = 2000
_MAX_NAME_CHARS = 100
# Asked-for length stays below the real room: models count characters loosely.
_LENGTH_MARGIN = 30

_LABEL_PREFIX = re.compile(r"^\s*(?:here(?:'|’)?s (?:a|the|my) )?(?:tweet|draft|post)\s*:\s*", re.I)
_LINK_PLACEHOLDER = re.compile(
    r"\s*[\[<({]\s*(?:stream |live |youtube )?(?:link|url)(?: here)?\s*[\]>)}]", re.I
)
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_SPACE_RUNS = re.compile(r"[ \t]{2,}")
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "「": "」", "`": "`"}

_SYSTEM_PROMPT = (
    "You write the tweet a podcast host posts on X the moment their episode's live stream "
    "starts. Write it in the host's own voice, first person, warm and natural, in the language "
    "of the episode title. Invite people to join the stream now. "
    "Reply with the tweet text only: no quotes around it, no preamble. "
    "Do not include any link or URL and no link placeholder: the stream link is added "
    "automatically after your text. "
    "Use at most two relevant hashtags, or none; never a wall of hashtags."
)


@dataclass(frozen=True)
class Draft:
    """A tweet body (without the stream URL) and whether it is the template fallback.

    ``reason`` says why the template was used: "no_api_key", "auth_error" (key refused, 401 or
    403), "timeout", "rate_limited" (429, including an exhausted quota), "api_error" (other
    errors and unreachable server), "bad_response" (the answer was not a chat completion) or
    "empty" (no text left once links and quotes were removed, or a refusal).
    """

    text: str
    fallback: bool
    reason: FallbackReason | None = None


class _Failure(Exception):
    """One chat request that gave no usable text; ``retryable`` for transient server trouble."""

    def __init__(self, reason: FallbackReason, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason: FallbackReason = reason
        self.retryable = retryable


# Template drafts differ per host (X forbids identical posts across accounts): each host gets
# an opener and a closer picked by a stable hash of their name.
_TEMPLATE_OPENERS = (
    ("🔴 We're live now on {show}!", "🔴 We're live now!"),
    ("🎙️ Live right now on {show}:", "🎙️ Live right now:"),
    ("Going live on {show} this minute!", "Going live this minute!"),
    ("📺 {show} is live!", "📺 We're on air!"),
    ("It's showtime on {show}!", "It's showtime!"),
    ("Tune in: {show} is streaming now.", "Tune in: we're streaming now."),
)
_TEMPLATE_CLOSERS = (
    "Come hang out with us in the chat 🎙️",
    "Join us and say hi in the chat 👋",
    "Pull up a chair and watch with us 🍿",
    "See you in the live chat 💬",
)


def template_draft(episode_title: str, host_name: str, podcast_name: str | None = None) -> str:
    """The tweet used when the AI gives none, in the first person.

    ``host_name`` picks the wording (so two hosts' templates differ) but is not written: the
    tweet goes out from the host's own account, where their name would read as third person.
    """
    pick = zlib.crc32(" ".join(host_name.split()).lower().encode())
    with_show, without_show = _TEMPLATE_OPENERS[pick % len(_TEMPLATE_OPENERS)]
    closer = _TEMPLATE_CLOSERS[(pick // len(_TEMPLATE_OPENERS)) % len(_TEMPLATE_CLOSERS)]
    title = " ".join(sanitize(episode_title).split())
    if title and title[-1] not in ".!?…":
        title += "."
    show = " ".join(sanitize(podcast_name or "").split())
    parts = [with_show.format(show=show) if show else without_show]
    if title:
        parts.append(title)
    parts.append(closer)
    return " ".join(parts)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unquote(text: str) -> str:
    """Remove quotes the model wrapped the whole tweet in, layer by layer."""
    while len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1].strip()
        if text[0] in inner:  # '"Quoted" title and more "words"' is not one wrapped quote
            break
        text = inner
    return text


def clean_reply(reply: str) -> str:
    """The tweet body in a model's reply: no wrapping quotes, label, links or stray spacing."""
    text = _unquote(_LABEL_PREFIX.sub("", reply.strip()).strip())
    text = tweet_text.remove_links(text)
    text = _LINK_PLACEHOLDER.sub("", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = sanitize(text)
    text = _SPACE_RUNS.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES_AROUND_NEWLINE.sub("\n", text)
    text = _BLANK_LINE_RUNS.sub("\n\n", text)
    return _unquote(text.strip())


class Drafter:
    """Writes drafts with one OpenAI client (or only templates when no key is configured)."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = 2,
    ) -> None:
        """``timeout`` bounds each chat request; ``max_attempts`` bounds the requests of one
        draft (a retry after a 5xx or a dropped connection, or the "make it shorter" request).
        ``base_url`` None means the SDK's default (OPENAI_BASE_URL or api.openai.com)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.model = model
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._client: openai.AsyncOpenAI | None = None
        if api_key:
            import openai

            # Our own timeout and attempt budget: the SDK's defaults (600 s, 2 retries with
            # backoff) would keep a host waiting for minutes.
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
            )

    @property
    def ai_enabled(self) -> bool:
        """False when no API key is set: every draft is the template."""
        return self._client is not None

    async def aclose(self) -> None:
        """Close the HTTP connections (call once at shutdown)."""
        if self._client is not None:
            await self._client.close()

    async def draft(
        self,
        episode_title: str,
        notes: str | None,
        host_name: str,
        stream_url: str | None,
        podcast_name: str | None = None,
    ) -> Draft:
        """A tweet body for ``host_name`` that fits X with ``stream_url`` appended; never raises
        for AI trouble (the template comes back with ``fallback=True`` and the reason)."""
        if self._client is None:
            return self._fallback("no_api_key", episode_title, host_name, stream_url, podcast_name)
        room = tweet_text.room_for_body(stream_url)
        messages = _first_messages(episode_title, notes, host_name, podcast_name, room)
        too_long: str | None = None  # the shortest over-long draft so far, to trim at the end
        for attempt in range(1, self._max_attempts + 1):
            try:
                reply = await self._complete(messages)
            except _Failure as failure:
                if too_long is not None:
                    break
                if failure.retryable and attempt < self._max_attempts:
                    log.info("AI draft attempt %d failed (%s); retrying", attempt, failure.reason)
                    continue
                return self._fallback(
                    failure.reason, episode_title, host_name, stream_url, podcast_name
                )
            body = clean_reply(reply)
            if not body:
                if too_long is not None:
                    break
                return self._fallback("empty", episode_title, host_name, stream_url, podcast_name)
            if tweet_text.fits(body, stream_url):
                return Draft(text=body, fallback=False)
            length = tweet_text.weighted_length(body)
            log.info("AI draft attempt %d too long (%d weighted, room %d)", attempt, length, room)
            if too_long is None or length < tweet_text.weighted_length(too_long):
                too_long = body
            messages = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": _shorter_request(length, room)},
            ]
        if too_long is None:  # unreachable: every other path returned above
            return self._fallback("empty", episode_title, host_name, stream_url, podcast_name)
        return Draft(text=tweet_text.trim_to_fit(too_long, stream_url), fallback=False)

    async def _complete(self, messages: list[ChatCompletionMessageParam]) -> str:
        """One chat request; its assistant text, or ``_Failure`` with the fallback reason."""
        if self._client is None:
            raise _Failure("no_api_key")
        import httpx  # loaded with the client (the SDK's transport): already in sys.modules
        import openai
        from openai.types.chat import ChatCompletion

        try:
            async with asyncio.timeout(self._timeout):
                completion = await self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=DRAFT_MAX_TOKENS
                )
        except (TimeoutError, openai.APITimeoutError) as error:
            raise self._failure("timeout", error) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise self._failure("auth_error", error) from None
        except openai.RateLimitError as error:
            raise self._failure("rate_limited", error) from None
        except openai.InternalServerError as error:
            raise self._failure("api_error", error, retryable=True) from None
        except openai.APIConnectionError as error:
            raise self._failure("api_error", error, retryable=True) from None
        except openai.APIResponseValidationError as error:
            raise self._failure("bad_response", error) from None
        except (openai.OpenAIError, httpx.HTTPError) as error:
            raise self._failure("api_error", error) from None
        except ValueError as error:  # a JSON content type over a body that is not JSON
            raise self._failure("bad_response", error) from None
        # Without strict validation the SDK returns the raw text for a non-JSON answer and
        # an unvalidated model for JSON of the wrong shape, so the shape is checked here.
        if not isinstance(completion, ChatCompletion):
            raise self._failure("bad_response", None)
        try:
            content = completion.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise self._failure("bad_response", None) from None
        if not isinstance(content, str):
            return ""
        return content

    @staticmethod
    def _failure(
        reason: FallbackReason, error: BaseException | None, *, retryable: bool = False
    ) -> _Failure:
        # Only the type and status go to the log: error messages can quote the key (masked).
        status = getattr(error, "status_code", None)
        log.warning(
            "AI draft request failed: %s (%s%s)",
            reason,
            type(error).__name__ if error is not None else "unexpected answer",
            f", HTTP {status}" if status is not None else "",
        )
        return _Failure(reason, retryable=retryable)

    def over_budget(
        self,
        episode_title: str,
        host_name: str,
        stream_url: str | None,
        podcast_name: str | None = None,
    ) -> Draft:
        """The template, for a server that has used its share of the AI budget."""
        return self._fallback("over_budget", episode_title, host_name, stream_url, podcast_name)

    @staticmethod
    def _fallback(
        reason: FallbackReason,
        episode_title: str,
        host_name: str,
        stream_url: str | None,
        podcast_name: str | None,
    ) -> Draft:
        text = template_draft(episode_title, host_name, podcast_name)
        return Draft(text=tweet_text.trim_to_fit(text, stream_url), fallback=True, reason=reason)


def _first_messages(
    episode_title: str,
    notes: str | None,
    host_name: str,
    podcast_name: str | None,
    room: int,
) -> list[ChatCompletionMessageParam]:
    lines = []
    if podcast_name and podcast_name.strip():
        lines.append(f"Podcast: {_clip(podcast_name, _MAX_NAME_CHARS)}")
    lines.append(f"Host: {_clip(host_name, _MAX_NAME_CHARS)}")
    lines.append(f"Episode title: {_clip(' '.join(episode_title.split()), _MAX_TITLE_CHARS)}")
    if notes and notes.strip():
        lines.append(f"Episode notes:\n{_clip(notes, _MAX_NOTES_CHARS)}")
    target = max(room - _LENGTH_MARGIN, 60)
    lines.append(
        f"\nWrite the tweet {_clip(host_name, _MAX_NAME_CHARS)} posts as the live stream starts. "
        f"Keep it under {target} characters (CJK characters and emoji count double)."
    )
    return [
        {"role": "system", "content": _SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def _shorter_request(length: int, room: int) -> str:
    target = max(room - 2 * _LENGTH_MARGIN, 60)
    return (
        f"That is too long for X: it counts {length} characters and only {room} are available. "
        f"Rewrite it clearly shorter, under {target} characters, same voice. "
        "Reply with the tweet text only."
    )

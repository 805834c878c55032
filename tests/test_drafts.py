"""AI drafting through the real openai client against the loopback OpenAI emulator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.drafts import Drafter, clean_reply, template_draft
from bot.tweet_text import compose_tweet, fits, room_for_body, weighted_length
from tests.emulators.base import Fault
from tests.emulators.openai_api import (
    DEFAULT_API_KEY,
    OpenAIEmulator,
    masked_key,
    openai_error_fault,
)

STREAM_URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
TITLE = "Episode 42: Async all the way down"
NOTES = "We compare asyncio and trio, and Bea explains structured concurrency."
HOST = "Alice Example"
PODCAST = "PyCast"
COMPLETIONS = "/v1/chat/completions"


@pytest.fixture
async def emu() -> AsyncIterator[OpenAIEmulator]:
    emulator = OpenAIEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


def make_drafter(emu: OpenAIEmulator, **overrides: object) -> Drafter:
    options: dict[str, object] = {
        "api_key": DEFAULT_API_KEY,
        "base_url": emu.base_url + "/v1",
        "timeout": 2.0,
    }
    options.update(overrides)
    return Drafter(**options)  # type: ignore[arg-type]


@pytest.fixture
async def drafter(emu: OpenAIEmulator) -> AsyncIterator[Drafter]:
    drafter = make_drafter(emu)
    yield drafter
    await drafter.aclose()


async def test_prompt_carries_title_notes_and_host(emu: OpenAIEmulator, drafter: Drafter) -> None:
    """One chat request with the key, model, title, notes, host and the no-link rule."""
    draft = await drafter.draft(TITLE, NOTES, HOST, STREAM_URL, podcast_name=PODCAST)

    assert not draft.fallback and draft.reason is None
    assert TITLE in draft.text  # the emulator's default reply quotes the title it was given
    assert emu.count(COMPLETIONS, "POST") == 1
    assert emu.requests[-1].headers["Authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert emu.completion_requests[0]["model"] == "gpt-4o-mini"
    system, user = emu.prompts[0]
    assert system["role"] == "system" and "link" in system["content"].lower()
    assert user["role"] == "user"
    for fact in (TITLE, NOTES, HOST, PODCAST):
        assert fact in user["content"]


async def test_configured_model_is_requested(emu: OpenAIEmulator) -> None:
    """OPENAI_MODEL reaches the request body."""
    drafter = make_drafter(emu, model="gpt-4.1-mini")
    try:
        await drafter.draft(TITLE, None, HOST, None)
    finally:
        await drafter.aclose()
    assert emu.completion_requests[0]["model"] == "gpt-4.1-mini"


async def test_links_and_quotes_are_removed_from_the_reply(
    emu: OpenAIEmulator, drafter: Drafter
) -> None:
    """The model's own links, link placeholders and wrapping quotes never reach the tweet."""
    emu.replies.append('"We\'re live! Watch here: https://youtu.be/fake [link] #PyCast"')

    draft = await drafter.draft(TITLE, None, HOST, STREAM_URL)

    assert draft.text == "We're live! Watch here: #PyCast"
    assert compose_tweet(draft.text, STREAM_URL).count("https://") == 1


async def test_too_long_reply_is_regenerated_once_then_trimmed(
    emu: OpenAIEmulator, drafter: Drafter
) -> None:
    """Two over-long replies: the model is asked to shorten once, then the text is trimmed."""
    emu.replies.extend(["So much to say today " * 20, "Still far too much to say " * 15])

    draft = await drafter.draft(TITLE, NOTES, HOST, STREAM_URL)

    assert not draft.fallback
    assert emu.count(COMPLETIONS) == 2
    assert fits(draft.text, STREAM_URL)
    assert draft.text.endswith("…")
    assert draft.text.startswith("Still far too much")  # the shorter of the two is kept
    second = emu.prompts[1]
    assert second[-2]["role"] == "assistant" and second[-2]["content"].startswith("So much")
    assert second[-1]["role"] == "user"
    assert "shorter" in second[-1]["content"]
    assert str(room_for_body(STREAM_URL)) in second[-1]["content"]


async def test_shortened_reply_is_used_as_is(emu: OpenAIEmulator, drafter: Drafter) -> None:
    """When the second answer fits, it is the draft, untrimmed."""
    emu.replies.extend(["日本語" * 100, "ライブ配信中！ぜひ見に来てね"])

    draft = await drafter.draft(TITLE, None, HOST, STREAM_URL)

    assert draft.text == "ライブ配信中！ぜひ見に来てね"
    assert emu.count(COMPLETIONS) == 2


async def test_no_key_falls_back_to_template_without_a_request(emu: OpenAIEmulator) -> None:
    """With no API key, the template comes back and nothing is sent anywhere."""
    drafter = make_drafter(emu, api_key=None)

    draft = await drafter.draft(TITLE, NOTES, HOST, STREAM_URL, podcast_name=PODCAST)
    await drafter.aclose()

    assert draft.fallback and draft.reason == "no_api_key"
    assert draft.text == template_draft(TITLE, HOST, PODCAST)
    assert not drafter.ai_enabled
    assert emu.requests == []


@pytest.mark.parametrize(
    ("fault", "reason", "requests"),
    [
        (openai_error_fault(500, times=None), "api_error", 2),
        (openai_error_fault(503, times=None), "api_error", 2),
        (openai_error_fault(429), "rate_limited", 1),
        (Fault(kind="garbage", path_prefix=COMPLETIONS), "bad_response", 1),
        (
            Fault(
                kind="status",
                status=200,
                body='{"unexpected": true}',
                content_type="application/json",
            ),
            "bad_response",
            1,
        ),
        (
            Fault(kind="status", status=200, body="{not json", content_type="application/json"),
            "bad_response",
            1,
        ),
    ],
    ids=["500", "503", "429", "garbage", "wrong_shape", "broken_json"],
)
async def test_api_trouble_falls_back_to_template(
    emu: OpenAIEmulator, drafter: Drafter, fault: Fault, reason: str, requests: int
) -> None:
    """Errors and unusable answers give the template with the reason; 5xx is retried once."""
    emu.inject(fault)

    draft = await drafter.draft(TITLE, NOTES, HOST, STREAM_URL)

    assert draft.fallback and draft.reason == reason
    assert TITLE in draft.text
    assert emu.count(COMPLETIONS) == requests


async def test_hanging_server_times_out_to_template(emu: OpenAIEmulator) -> None:
    """A server that never answers costs one timeout, then the template."""
    emu.inject(Fault(kind="hang", path_prefix=COMPLETIONS, times=None))
    drafter = make_drafter(emu, timeout=1.0)  # ample for the request to reach the server

    draft = await drafter.draft(TITLE, None, HOST, STREAM_URL)
    await drafter.aclose()

    assert draft.fallback and draft.reason == "timeout"
    assert emu.count(COMPLETIONS) == 1


async def test_unreachable_server_falls_back(emu: OpenAIEmulator) -> None:
    """Connection refused (server gone) is an api_error, not a crash."""
    drafter = make_drafter(emu, timeout=2.0)
    await emu.stop()

    draft = await drafter.draft(TITLE, None, HOST, None)
    await drafter.aclose()

    assert draft.fallback and draft.reason == "api_error"


async def test_one_server_error_is_retried(emu: OpenAIEmulator, drafter: Drafter) -> None:
    """A single 500 is retried and the second answer is the draft."""
    emu.inject(openai_error_fault(500, times=1))

    draft = await drafter.draft(TITLE, None, HOST, STREAM_URL)

    assert not draft.fallback
    assert emu.count(COMPLETIONS) == 2


async def test_wrong_key_is_an_auth_error(emu: OpenAIEmulator) -> None:
    """A refused key (401) gives the template with reason auth_error, without retrying."""
    drafter = make_drafter(emu, api_key="sk-wrong-key-000000000000")

    draft = await drafter.draft(TITLE, None, HOST, None)
    await drafter.aclose()

    assert draft.fallback and draft.reason == "auth_error"
    assert emu.count(COMPLETIONS) == 1


@pytest.mark.parametrize("reply", ["   ", None, "https://youtu.be/only-a-link"], ids=repr)
async def test_empty_answer_falls_back(
    emu: OpenAIEmulator, drafter: Drafter, reply: str | None
) -> None:
    """Blank text, a refusal (no content) or nothing but a link gives the template."""
    emu.replies.append(reply)

    draft = await drafter.draft(TITLE, None, HOST, STREAM_URL)

    assert draft.fallback and draft.reason == "empty"


async def test_keys_never_reach_the_logs(
    emu: OpenAIEmulator, drafter: Drafter, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the key nor the masked key OpenAI echoes on a 401 is logged, at any level."""
    caplog.set_level(logging.DEBUG)
    wrong_key = "sk-wrong-key-abcdefghijklmnop"
    wrong = make_drafter(emu, api_key=wrong_key)
    emu.inject(openai_error_fault(500, times=None))

    await drafter.draft(TITLE, NOTES, HOST, STREAM_URL)
    emu.clear_faults()
    await drafter.draft(TITLE, NOTES, HOST, STREAM_URL)
    refused = await wrong.draft(TITLE, NOTES, HOST, STREAM_URL)
    await wrong.aclose()

    assert refused.reason == "auth_error"
    assert any(r.name == "bot.drafts" and r.levelno >= logging.WARNING for r in caplog.records)
    for secret in (DEFAULT_API_KEY, wrong_key, masked_key(wrong_key)):
        assert secret not in caplog.text


def test_template_names_episode_and_podcast_and_fits() -> None:
    """The template is first person, names the title and podcast, and fits with a URL."""
    text = template_draft(TITLE, HOST, PODCAST)
    assert TITLE in text and PODCAST in text
    assert HOST not in text
    assert fits(text, STREAM_URL)


async def test_long_title_template_is_trimmed_to_fit(emu: OpenAIEmulator) -> None:
    """Even a huge episode title gives a fallback that fits X with the URL."""
    drafter = make_drafter(emu, api_key=None)
    draft = await drafter.draft("Very long title " * 40, None, HOST, STREAM_URL)
    assert draft.fallback
    assert fits(draft.text, STREAM_URL)
    assert weighted_length(draft.text) > 200


def test_clean_reply_strips_labels_quotes_and_spacing() -> None:
    """A "Tweet:" label, wrapping quotes and doubled spaces go; inner quotes stay."""
    assert clean_reply('Tweet: “Live now with  "Async" talk!”') == 'Live now with "Async" talk!'
    assert clean_reply('"Part one" and "part two"') == '"Part one" and "part two"'

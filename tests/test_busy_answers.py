"""Commands under load (README "Commands under load"): an idle bot answers at once; a busy one,
or a command the database keeps waiting, is acknowledged first and its answer replaces the
"thinking" message; a command whose answer is a modal is never deferred (Discord would refuse
the modal). The database is slowed at the network edge, by the relay in front of PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cogs.answers import ANSWER_WITHIN, BUSY_AT
from tests.command_helpers import EPISODE, QUIET, assert_one_private_line, prepared, setup_podcast
from tests.db_proxy import DatabaseRelay
from tests.emulators.discord_interactions import CallbackType, InteractionRun
from tests.rig import world

BURST = BUSY_AT + 6


@pytest.fixture
async def relay(database_url: str, engine: AsyncEngine) -> AsyncIterator[DatabaseRelay]:
    relay = DatabaseRelay(database_url)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


def settings_embed_shown(run: InteractionRun) -> bool:
    return run.ephemeral and any(e.get("title") == "🎙️ The Pod" for e in run.embeds)


async def test_an_idle_bot_answers_directly(tmp_path: Path, relay: DatabaseRelay) -> None:
    async with world(tmp_path, relay.url) as w, w.bot_in_process(**QUIET):
        await setup_podcast(w)
        run = await w.answer(w.ana, "podcast show")
        assert run.response_type == CallbackType.CHANNEL_MESSAGE, run.describe()
        assert settings_embed_shown(run), run.embeds


async def test_a_burst_is_acknowledged_first_and_every_command_gets_its_answer(
    tmp_path: Path, relay: DatabaseRelay
) -> None:
    """BURST commands at once while the database takes 0.1 s an answer: the first BUSY_AT start
    on an idle bot and answer directly, every later one is deferred before its checks run; all
    end with their own answer (a refusal for mallory), private."""
    async with world(tmp_path, relay.url) as w, w.bot_in_process(**QUIET) as bot:
        await setup_podcast(w)
        relay.answer_delay = 0.1
        runs = [await w.command(w.ana, "podcast show") for _ in range(BURST - 1)]
        runs.append(await w.command(w.mallory, "podcast show"))
        await asyncio.gather(*(run.wait_done(timeout=15) for run in runs))
        kinds = [run.response_type for run in runs]
        assert kinds == [CallbackType.CHANNEL_MESSAGE] * BUSY_AT + [
            CallbackType.DEFERRED_CHANNEL_MESSAGE
        ] * (BURST - BUSY_AT), kinds
        for run in runs[:-1]:
            assert settings_embed_shown(run), run.describe()
            assert not run.followups, "the answer replaces the thinking message"
        assert_one_private_line(runs[-1], "Only podcast admins")
        acknowledger = bot.tree.acknowledger  # type: ignore[attr-defined]
        assert (acknowledger.in_flight, acknowledger.waiting) == (0, 0), "nothing left counted"


async def test_a_command_the_database_keeps_waiting_is_acknowledged_in_time(
    tmp_path: Path, relay: DatabaseRelay
) -> None:
    """One command, nothing else in flight, a database answering after 2 s: acknowledged
    ANSWER_WITHIN seconds in, well inside Discord's 3 s, then answered."""
    async with world(tmp_path, relay.url) as w, w.bot_in_process(**QUIET):
        await setup_podcast(w)
        relay.answer_delay = 2.0
        run = await w.command(w.ana, "podcast show")
        await run.wait_done(timeout=15)
        assert run.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE, run.describe()
        waited = run.acked_at - run.dispatched_at
        assert ANSWER_WITHIN <= waited < ANSWER_WITHIN + 1.0, waited
        assert not run.late
        assert settings_embed_shown(run), run.embeds


async def test_a_command_that_opens_a_form_is_never_deferred(
    tmp_path: Path, relay: DatabaseRelay
) -> None:
    """/tweet edit answers with a modal even in the middle of a burst; Discord refuses a modal
    after a defer."""
    async with world(tmp_path, relay.url) as w, w.bot_in_process(**QUIET):
        await prepared(w, generate=False)
        relay.answer_delay = 0.1
        busy = [await w.command(w.ana, "podcast show") for _ in range(BURST)]
        edits = [await w.command(host, "tweet edit", episode=EPISODE) for host in (w.alice, w.bob)]
        await asyncio.gather(*(run.wait_done(timeout=15) for run in busy + edits))
        assert any(run.deferred for run in busy)
        for run in edits:
            assert run.modal is not None, run.describe()
            assert run.modal["title"] == "Edit your tweet"


def test_busy_threshold_is_what_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"more than {BUSY_AT - 1} commands" in readme or f"{BUSY_AT} commands" in readme
    assert f"{ANSWER_WITHIN:g} s" in readme


async def test_a_slow_button_press_is_acknowledged_and_its_message_updated(
    tmp_path: Path, relay: DatabaseRelay
) -> None:
    """A preview's Disable pressed while the database answers after 0.6 s: a deferred update
    ANSWER_WITHIN seconds in (the preview stays as it was), then the preview edited in place;
    Edit, which opens a form, still answers with the form."""
    async with world(tmp_path, relay.url) as w, w.bot_in_process(**QUIET):
        await prepared(w, generate=False)
        shown = await w.answer(w.alice, "tweet show", episode=EPISODE)
        relay.answer_delay = 0.6  # the host check and the switch: several round trips
        pressed = await w.discord.click_button(shown, "Disable")
        await pressed.wait_done(timeout=30)
        assert pressed.response_type == CallbackType.DEFERRED_UPDATE_MESSAGE, pressed.describe()
        assert ANSWER_WITHIN <= pressed.acked_at - pressed.dispatched_at < ANSWER_WITHIN + 1.0
        labels = [c.get("label") for row in pressed.components for c in row.get("components", [])]
        assert "Enable" in labels and "Disable" not in labels, labels
        relay.answer_delay = 0.15  # about 2 s: past ANSWER_WITHIN, inside Discord's 3 s
        edit = await w.discord.click_button(pressed, "Edit")
        await edit.wait_done(timeout=30)
        assert edit.modal is not None, edit.describe()
        assert ANSWER_WITHIN < edit.acked_at - edit.dispatched_at < 3.0

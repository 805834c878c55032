"""Host slash commands (/tweet, /x), their buttons and modal, and episode autocomplete."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import (
    EPISODE,
    add_episode,
    assert_one_private_line,
    authorize_url,
    link_x,
    prepared,
    request_token_of,
    rows,
    running,
    scalar,
    setup_podcast,
    tweet_row,
)
from tests.emulators.discord_api import InteractionRun
from tests.emulators.openai_api import openai_error_fault
from tests.emulators.x_api import TWEET_PATH

URL_AND_SPACE = 25  # the stream link counts 23, plus the blank line before it


def field(run: InteractionRun, name: str) -> str:
    [embed] = run.embeds
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


async def test_autocomplete_upcoming_soonest_then_recent_and_filters(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Episode choices: upcoming soonest first, then recent; typing filters; no match: no choices,
    and running a command with unmatched free text answers "No such episode", not an error."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await add_episode(w, "Later Show", days_ahead=9)
        await add_episode(w, "Yesterday Show", days_ahead=-1)
        await add_episode(w, "Soon Show", days_ahead=2)
        choices = await w.discord.autocomplete(w.guild, w.alice, "tweet show", "episode", "")
        assert [c["name"].split(" · ")[1] for c in choices] == [
            "Soon Show",
            "Later Show",
            "Yesterday Show",
        ]
        ids = {
            r["title"]: str(r["id"]) for r in await rows(engine, "SELECT id, title FROM episodes")
        }
        assert [c["value"] for c in choices] == [
            ids["Soon Show"],
            ids["Later Show"],
            ids["Yesterday Show"],
        ]
        typed = await w.discord.autocomplete(w.guild, w.ana, "tweets status", "episode", "LATER")
        assert [c["name"].split(" · ")[1] for c in typed] == ["Later Show"]
        assert (
            await w.discord.autocomplete(w.guild, w.ana, "episode remove", "episode", "zzz") == []
        )

        run = await w.answer(w.ana, "tweets status", episode="zzz")
        assert_one_private_line(run, "No such episode")
        assert "ref" not in run.text()
        picked = await w.answer(w.ana, "tweets status", episode=typed[0]["value"])
        assert "Later Show" in picked.text()


async def test_edit_modal_round_trip(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweet edit opens a modal holding the current draft; a valid text is saved and previewed
    with its weighted count."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        draft = (await tweet_row(engine, "Alice"))["generated_text"]
        run = await w.command(w.alice, "tweet edit", episode=EPISODE)
        await run.response()
        modal = run.modal
        assert modal is not None
        [row] = modal["components"]
        text_input = row.get("component") or row["components"][0]
        assert text_input["value"] == draft

        saved = await (
            await w.discord.submit_modal(run, {text_input["custom_id"]: "Tiny gardens, big joy"})
        ).wait_done()
        assert saved.ephemeral
        assert "Saved." in saved.text()
        assert "Tiny gardens, big joy" in saved.embeds[0]["description"]
        assert field(saved, "Length") == f"{len('Tiny gardens, big joy') + URL_AND_SPACE}/280"
        row_after = await tweet_row(engine, "Alice")
        assert row_after["custom_text"] == "Tiny gardens, big joy"
        assert row_after["generated_text"] == draft

        reopened = await w.command(w.alice, "tweet edit", episode=EPISODE)
        await reopened.response()
        assert "Tiny gardens, big joy" in str(reopened.modal)


async def test_edit_refuses_too_long_and_empty_text(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Too long as X weighs it (ASCII or CJK, with the link) says the count; empty is refused;
    nothing is saved either way."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        cases = [
            ("a" * 300, [f"{300 + URL_AND_SPACE}/280", "Shorten"]),
            ("漢" * 140, [f"{280 + URL_AND_SPACE}/280", "stream link"]),
            ("   ", ["can't be empty"]),
        ]
        for text, words in cases:
            run = await w.command(w.alice, "tweet edit", episode=EPISODE)
            submitted = await (
                await w.discord.submit_modal(
                    run, {"Tweet (the stream link is added after it)": text}
                )
            ).wait_done()
            assert_one_private_line(submitted, *words)
        assert (await tweet_row(engine, "Alice"))["custom_text"] is None


async def test_host_commands_only_touch_the_callers_tweet(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Bob's /tweet show and /tweet disable are about bob's tweet only, never alice's."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w, generate=False)
        for member, text in ((w.alice, "ALICE-ONLY words"), (w.bob, "BOB-ONLY words")):
            run = await w.command(member, "tweet edit", episode=EPISODE)
            await (
                await w.discord.submit_modal(
                    run, {"Tweet (the stream link is added after it)": text}
                )
            ).wait_done()
        shown = await w.answer(w.bob, "tweet show", episode=EPISODE)
        assert "BOB-ONLY" in shown.text()
        assert "ALICE-ONLY" not in shown.text()
        await w.answer(w.bob, "tweet disable", episode=EPISODE)
        assert (await tweet_row(engine, "Bob"))["enabled"] is False
        assert (await tweet_row(engine, "Alice"))["enabled"] is True


async def test_show_buttons_toggle_edit_and_regenerate(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Under /tweet show: Disable/Enable switch the tweet in the database, Edit opens the modal
    with the current text, Regenerate asks the AI again and shows the new draft."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        shown = await w.answer(w.alice, "tweet show", episode=EPISODE)
        assert shown.ephemeral
        assert "Length" in shown.text() and "/280" in field(shown, "Length")
        assert shown.message is not None
        assert shown.message.button_labels() == [
            "Approve",
            "Disable",
            "Edit",
            "Regenerate",
            "Remove link",
        ]

        await (await w.discord.click_button(shown, "Remove link")).wait_done()
        assert (await tweet_row(engine, "Alice"))["include_url"] is False
        assert "youtube.com" not in shown.message.text()
        await (await w.discord.click_button(shown, "Add link")).wait_done()
        assert (await tweet_row(engine, "Alice"))["include_url"] is True
        assert "youtube.com/channel/" in shown.message.text()

        clicked = await (await w.discord.click_button(shown, "Disable")).wait_done()
        assert (await tweet_row(engine, "Alice"))["enabled"] is False
        assert "won't be posted" in clicked.text()
        assert "Enable" in shown.message.button_labels()
        await (await w.discord.click_button(shown, "Enable")).wait_done()
        assert (await tweet_row(engine, "Alice"))["enabled"] is True
        assert "Disable" in shown.message.button_labels()

        edit = await w.discord.click_button(shown, "Edit")
        await edit.response()
        current = (await tweet_row(engine, "Alice"))["generated_text"]
        assert edit.modal is not None and current in str(edit.modal)
        saved = await (
            await w.discord.submit_modal(
                edit, {"Tweet (the stream link is added after it)": "Fresh words from alice"}
            )
        ).wait_done()
        assert "Fresh words from alice" in shown.message.text()  # the same preview, updated
        assert saved.response_type == 7
        assert (await tweet_row(engine, "Alice"))["custom_text"] == "Fresh words from alice"
        assert (await tweet_row(engine, "Alice"))["approved"] is True  # writing it approves it
        assert "Approve" not in shown.message.button_labels()

        prompts = len(w.openai.prompts)
        w.openai.replies.append("A brand new draft about tiny gardens")
        regen = await w.discord.click_button(shown, "Regenerate")
        await w.discord.wait_until(
            lambda: "A brand new draft" in (shown.message.text() if shown.message else ""),
            timeout=5,
            what="the preview to show the new draft",
        )
        assert regen.deferred
        assert len(w.openai.prompts) == prompts + 1
        assert (await tweet_row(engine, "Alice"))["generated_text"] == (
            "A brand new draft about tiny gardens"
        )
        assert (await tweet_row(engine, "Alice"))["approved"] is False  # a new draft: not yet
        assert "Approve" in shown.message.button_labels()


async def test_link_button_refuses_when_own_text_would_no_longer_fit(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Own text that fits only without the stream link: "Add link" answers with the count and
    leaves the link off."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        shown = await w.answer(w.alice, "tweet show", episode=EPISODE)
        await (await w.discord.click_button(shown, "Remove link")).wait_done()
        edit = await w.discord.click_button(shown, "Edit")
        await edit.response()
        label = "Tweet (the stream link is added after it)"
        await (await w.discord.submit_modal(edit, {label: "word " * 54})).wait_done()
        assert (await tweet_row(engine, "Alice"))["custom_text"] == ("word " * 54).strip()

        refused = await (await w.discord.click_button(shown, "Add link")).wait_done()

        assert_one_private_line(refused, "294/280")
        assert (await tweet_row(engine, "Alice"))["include_url"] is False


async def test_buttons_refuse_another_member(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Alice's preview is ephemeral (Discord never shows it to bob), and even if bob's click
    reached the bot, the buttons answer that they belong to alice and change nothing."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        shown = await w.answer(w.alice, "tweet show", episode=EPISODE)
        assert shown.message is not None and shown.message.ephemeral
        try:
            await w.discord.click_button(shown, "Disable", member=w.bob)
        except AssertionError as refused:
            assert "ephemeral" in str(refused)
        else:
            raise AssertionError("the emulator let bob click alice's ephemeral message")
        # Defence in depth: pretend Discord delivered bob's click anyway.
        shown.message.flags &= ~(1 << 6)
        run = await (await w.discord.click_button(shown, "Disable", member=w.bob)).wait_done()
        assert_one_private_line(run, "belong to", "Alice")
        assert (await tweet_row(engine, "Alice"))["enabled"] is True
        assert (await tweet_row(engine, "Bob"))["enabled"] is True


async def test_enable_and_disable_commands(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweet disable and /tweet enable switch the caller's tweet and say so."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w, generate=False)
        run = await w.answer(w.alice, "tweet disable", episode=EPISODE)
        assert_one_private_line(run, "Disabled", EPISODE)
        assert (await tweet_row(engine, "Alice"))["enabled"] is False
        run = await w.answer(w.alice, "tweet enable", episode=EPISODE)
        assert_one_private_line(run, "Enabled", EPISODE)
        assert (await tweet_row(engine, "Alice"))["enabled"] is True


async def test_generate_says_template_when_ai_fails(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweet generate defers; with OpenAI answering 500 the draft is a template, and it says so."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await add_episode(w)
        w.openai.inject(openai_error_fault(500, times=None))
        run = await w.answer(w.alice, "tweet generate", episode=EPISODE)
        assert run.deferred and run.ephemeral
        assert "template" in run.text()
        assert w.openai.count("/v1/chat/completions") >= 1
        row = await tweet_row(engine, "Alice")
        assert row["draft_is_fallback"] is True
        assert row["generated_text"] and row["generated_text"] in run.embeds[0]["description"]

        w.openai.clear_faults()
        good = await w.answer(w.alice, "tweet generate", episode=EPISODE)
        assert "template" not in good.text()
        assert (await tweet_row(engine, "Alice"))["draft_is_fallback"] is False


async def test_post_now_posts_to_the_linked_account(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweet post-now defers, posts the tweet as the host's linked X account and links to it.
    With no stream yet there is no report to edit, so the bot then stops at once instead of
    waiting out the shutdown grace (30 s) for one."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        await link_x(w, w.alice, "alice_x")
        run = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert run.deferred and run.ephemeral
        assert "Posted: https://x.com/alice_x/status/" in run.text(), run.text()
        [posted] = w.x.tweets_of("alice_x")
        assert posted.startswith((await tweet_row(engine, "Alice"))["generated_text"])
        row = await tweet_row(engine, "Alice")
        assert row["status"] == "posted"
        assert row["tweet_url"] in run.text()
        assert w.x.tweets_of("bob") == []
        stopping = time.perf_counter()
    assert time.perf_counter() - stopping < 10


async def test_post_now_before_linking_keeps_the_tweet_postable(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """post-now before /x link says to link first and leaves the tweet pending, so that after
    linking it can still be posted (the answer itself tells the host to run /x link)."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        unlinked = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert "/x link" in unlinked.text(), unlinked.text()
        assert w.x.count(TWEET_PATH, "POST") == 0
        await link_x(w, w.alice, "alice_x")
        status = (await tweet_row(engine, "Alice"))["status"]
        assert status == "pending", (
            f"post-now before linking closed the tweet for good (status {status!r}); "
            f"yet its answer said: {unlinked.text()!r}"
        )
        run = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert "Posted:" in run.text(), run.text()


async def test_post_now_twice_posts_once(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A second /tweet post-now after a successful one says it's already posted, sends nothing."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        await link_x(w, w.alice, "alice_x")
        first = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert "Posted:" in first.text(), first.text()
        second = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert_one_private_line(second, "already posted")
        assert w.x.count(TWEET_PATH, "POST") == 1
        assert len(w.x.all_tweets) == 1


async def test_x_link_answers_privately_with_the_authorize_link(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/x link defers privately and gives the X authorize URL (text and link button)."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        run = await w.answer(w.alice, "x link")
        assert run.deferred and run.ephemeral
        url = authorize_url(run)
        assert url.startswith(w.x.base_url + "/oauth/authorize?oauth_token=")
        assert url in run.text()
        assert await scalar(engine, "SELECT count(*) FROM x_link_requests") == 1


async def test_x_verify_refusals_are_plain_sentences(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A wrong PIN, a PIN with no sign-in started, and an expired sign-in each get a sentence."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        never = await w.answer(w.bob, "x verify", pin="1234567")
        assert never.deferred
        assert_one_private_line(never, "expired or was never started", "/x link")

        await w.answer(w.alice, "x link")
        wrong = await w.answer(w.alice, "x verify", pin="7654321")
        assert_one_private_line(wrong, "didn't accept that PIN")

        link = await w.answer(w.alice, "x link")
        pin = w.x.authorize(request_token_of(authorize_url(link)), "alice_x")
        async with engine.begin() as conn:  # ten minutes pass
            await conn.execute(
                sa.text("UPDATE x_link_requests SET expires_at = now() - interval '1 minute'")
            )
        expired = await w.answer(w.alice, "x verify", pin=pin)
        assert_one_private_line(expired, "expired or was never started")

        not_a_pin = await w.answer(w.alice, "x verify", pin="abc")
        assert_one_private_line(not_a_pin, "PIN")
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 0


async def test_x_status_and_unlink(tmp_path: Path, database_url: str, engine: AsyncEngine) -> None:
    """/x status says which account and whether X accepts it; /x unlink deletes the tokens."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        none = await w.answer(w.alice, "x status")
        assert_one_private_line(none, "No X account is linked", "/x link")
        await link_x(w, w.alice, "alice_x")
        ok = await w.answer(w.alice, "x status")
        assert ok.deferred
        assert_one_private_line(ok, "@alice_x", "accepts")
        w.x.revoke("alice_x")
        revoked = await w.answer(w.alice, "x status")
        assert_one_private_line(revoked, "@alice_x", "no longer accepts", "/x link")

        gone = await w.answer(w.alice, "x unlink")
        assert_one_private_line(gone, "Unlinked")
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 0
        again = await w.answer(w.alice, "x unlink")
        assert_one_private_line(again, "No X account is linked")


async def test_x_link_explains_missing_configuration(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Without X_CONSUMER_KEY/SECRET, /x link names what the operator must set; X is not called."""
    async with running(tmp_path, database_url, X_CONSUMER_KEY="", X_CONSUMER_SECRET="") as (w, _):
        await setup_podcast(w)
        run = await w.answer(w.alice, "x link")
        assert_one_private_line(run, "isn't configured", "X_CONSUMER_KEY", "X_CONSUMER_SECRET")
        assert w.x.requests == []

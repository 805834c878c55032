"""Who may run what, rate limits, error references, secrets, command sync and the command tree."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import configure_logging
from tests.command_helpers import (
    EPISODE,
    QUIET,
    add_episode,
    assert_one_private_line,
    create_tweets,
    link_x,
    prepared,
    rows,
    running,
    scalar,
    setup_podcast,
    tweet_row,
)
from tests.emulators.discord_api import Member
from tests.emulators.x_api import TWEET_PATH
from tests.rig import World, world

ADMIN_REFUSAL = "Only podcast admins can do that"
HOST_REFUSAL = "Only hosts can do that"
SLOW_DOWN = re.compile(r"^Slow down a little: try again in \d+ s\.$")
REF = re.compile(r"^Something went wrong \(ref ([A-Z0-9]{6})\)\.")

# CONTRACT.md's commands: option name -> required.
CONTRACT: dict[str, dict[str, bool]] = {
    "podcast setup": {
        "name": True,
        "youtube_channel": True,
        "announce_channel": True,
        "host_role": True,
        "admin_role": False,
        "timezone": False,
    },
    "podcast show": {},
    "podcast filter": {"text": False},
    "podcast youtube-test": {},
    "episode add": {"title": True, "date": True, "time": False, "notes": False},
    "episode list": {},
    "episode remove": {"episode": True},
    "tweets create-all": {"episode": True, "generate": False},
    "tweets status": {"episode": True},
    **{
        f"tweet {name}": {"episode": True}
        for name in ("generate", "edit", "show", "enable", "disable", "post-now")
    },
    "x link": {},
    "x verify": {"pin": True},
    "x status": {},
    "x unlink": {},
}
ADMIN_GROUPS = ("podcast", "episode", "tweets")


def admin_calls(w: World) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "podcast setup",
            {
                "name": "Mallory's Pod",
                "youtube_channel": "@thepod",
                "announce_channel": w.announce,
                "host_role": w.host_role,
            },
        ),
        ("podcast show", {}),
        ("podcast filter", {"text": "hacked"}),
        ("podcast youtube-test", {}),
        ("episode add", {"title": "Mallory's episode", "date": "2099-01-01"}),
        ("episode list", {}),
        ("episode remove", {"episode": EPISODE}),
        ("tweets create-all", {"episode": EPISODE}),
        ("tweets status", {"episode": EPISODE}),
    ]


HOST_CALLS: list[tuple[str, dict[str, Any]]] = [
    *(
        (f"tweet {name}", {"episode": EPISODE})
        for name in ("generate", "edit", "show", "enable", "disable", "post-now")
    ),
    ("x link", {}),
    ("x verify", {"pin": "1234567"}),
    ("x status", {}),
    ("x unlink", {}),
]


# ---- who may run what ---------------------------------------------------------------------


async def test_member_without_roles_is_refused_everywhere(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """mallory gets one private sentence saying why on every admin and host command, and none
    of them changes anything or reaches X, OpenAI or YouTube."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        before = await rows(engine, "SELECT * FROM podcasts")
        tweets_before = await rows(engine, "SELECT * FROM episode_tweets ORDER BY id")
        prompts, youtube_calls = len(w.openai.prompts), len(w.youtube.requests)
        for name, options in admin_calls(w):
            run = await w.answer(w.mallory, name, **options)
            assert_one_private_line(run, ADMIN_REFUSAL, "Manage Server")
            assert not run.deferred, f"/{name} did work before refusing"
        for name, options in HOST_CALLS:
            run = await w.answer(w.mallory, name, **options)
            assert_one_private_line(run, HOST_REFUSAL, f"<@&{w.host_role.id}>")
        assert await rows(engine, "SELECT * FROM podcasts") == before
        assert await rows(engine, "SELECT * FROM episode_tweets ORDER BY id") == tweets_before
        assert await scalar(engine, "SELECT count(*) FROM episodes") == 1
        assert await scalar(engine, "SELECT count(*) FROM x_link_requests") == 0
        assert len(w.openai.prompts) == prompts
        assert len(w.youtube.requests) == youtube_calls
        assert w.x.requests == []


async def test_refusal_is_checked_before_the_rate_limit(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A stranger repeating a rate-limited admin command keeps hearing why he is refused, not
    "slow down", and never reaches YouTube."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        calls = len(w.youtube.requests)
        for _ in range(11):
            run = await w.answer(w.mallory, "podcast youtube-test")
        assert_one_private_line(run, ADMIN_REFUSAL)
        assert len(w.youtube.requests) == calls


async def test_host_commands_before_setup_say_there_is_no_podcast(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Before /podcast setup, a host command says the server has no podcast yet."""
    async with running(tmp_path, database_url) as (w, _):
        run = await w.answer(w.alice, "x link")
        assert_one_private_line(run, "no podcast yet", "/podcast setup")


async def test_podcast_admin_role_is_enough_for_admin_commands(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A member with only the podcast's admin role (no Manage Server) runs admin commands once
    /podcast setup names that role, and is refused before; host commands stay hosts-only."""
    async with world(tmp_path, database_url) as w:
        pat = w.guild.add_member("pat", roles=[w.admin_role])
        async with w.bot_in_process(**QUIET):
            refused = await w.answer(pat, "podcast show")
            assert_one_private_line(refused, ADMIN_REFUSAL)
            await setup_podcast(w, admin_role=w.admin_role)
            shown = await w.answer(pat, "podcast show")
            assert "The Pod" in shown.text()
            added = await w.answer(pat, "episode add", title="Pat's episode", date="2099-01-01")
            assert "Added" in added.text(), added.text()
            filtered = await w.answer(pat, "podcast filter", text="Live")
            assert "Live" in filtered.text()
            assert await scalar(engine, "SELECT title_filter FROM podcasts") == "Live"
            host_only = await w.answer(pat, "tweet show", episode="Pat's episode")
            assert_one_private_line(host_only, HOST_REFUSAL)


async def test_synced_commands_have_no_default_member_permissions(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """No command is hidden by default_member_permissions: the admin role must be able to see
    the admin commands, so permission checks happen at run time."""
    async with running(tmp_path, database_url) as (w, _):
        synced = {c["name"]: c for c in w.discord.synced_commands(w.guild)}
        for group in (*ADMIN_GROUPS, "tweet", "x"):
            assert synced[group].get("default_member_permissions") is None, group


# ---- rate limits --------------------------------------------------------------------------


async def assert_slowed_down(w: World, member: Member, name: str, **options: Any) -> None:
    run = await w.answer(member, name, **options)
    assert run.ephemeral and not run.deferred
    assert SLOW_DOWN.match(run.text()), run.text()


async def test_tweet_generate_limit_is_five_a_minute(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The sixth /tweet generate in a minute answers "try again in N s" and asks no AI; another
    host is not affected."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await add_episode(w)
        for _ in range(5):
            run = await w.answer(w.alice, "tweet generate", episode=EPISODE)
            assert "Your tweet" in run.text(), run.text()
        assert len(w.openai.prompts) == 5
        await assert_slowed_down(w, w.alice, "tweet generate", episode=EPISODE)
        assert len(w.openai.prompts) == 5
        other = await w.answer(w.bob, "tweet generate", episode=EPISODE)
        assert "Your tweet" in other.text()


async def test_create_all_limit_is_two_a_minute(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The third /tweets create-all in a minute is refused and creates nothing, even for a new
    host who would otherwise get a tweet."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)  # the first create-all
        await create_tweets(w)  # the second
        w.guild.grant_role(w.mallory, w.host_role)
        await assert_slowed_down(w, w.ana, "tweets create-all", episode=EPISODE)
        assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 2
        assert len(w.openai.prompts) == 2


async def test_youtube_test_limit_is_ten_a_minute(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The eleventh /podcast youtube-test in a minute is refused without asking YouTube."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        for _ in range(10):
            run = await w.answer(w.ana, "podcast youtube-test")
            assert "Not live" in run.text(), run.text()
        calls = len(w.youtube.requests)
        await assert_slowed_down(w, w.ana, "podcast youtube-test")
        assert len(w.youtube.requests) == calls


async def test_post_now_limit_is_two_a_minute(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The third /tweet post-now in a minute is refused, sends nothing to X and leaves the tweet
    waiting."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        for n, days in ((1, 3), (2, 4), (3, 5)):
            await add_episode(w, f"Episode {n}", days_ahead=days)
            await w.answer(w.alice, "tweet generate", episode=f"Episode {n}")
        await link_x(w, w.alice, "alice_x")
        for n in (1, 2):
            run = await w.answer(w.alice, "tweet post-now", episode=f"Episode {n}")
            assert "Posted:" in run.text(), run.text()
        await assert_slowed_down(w, w.alice, "tweet post-now", episode="Episode 3")
        assert w.x.count(TWEET_PATH, "POST") == 2
        statuses = await rows(
            engine,
            "SELECT e.title, t.status FROM episode_tweets t JOIN episodes e ON e.id = t.episode_id "
            "ORDER BY e.title",
        )
        assert [s["status"] for s in statuses] == ["posted", "posted", "pending"]


# ---- unexpected errors ----------------------------------------------------------------------


async def test_internal_failure_shows_only_a_reference(
    tmp_path: Path, database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A database failure in a command or a modal shows "Something went wrong (ref X)" and no
    exception text; the log has the same reference with the traceback."""
    caplog.set_level(logging.INFO)
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        modal_run = await w.command(w.alice, "tweet edit", episode=EPISODE)
        await modal_run.response()
        async with engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE episode_tweets RENAME TO t_gone"))
        try:
            answers = [
                await w.answer(w.ana, "tweets status", episode=EPISODE),
                await (
                    await w.discord.submit_modal(
                        modal_run, {"Tweet (the stream link is added after it)": "New words"}
                    )
                ).wait_done(),
            ]
        finally:
            async with engine.begin() as conn:
                await conn.execute(sa.text("ALTER TABLE t_gone RENAME TO episode_tweets"))
        for run in answers:
            assert run.ephemeral
            text = run.text()
            match = REF.match(text)
            assert match, text
            for leak in ("episode_tweets", "t_gone", "relation", "Error", "Traceback", "sql"):
                assert leak not in text, f"{leak!r} leaked into {text!r}"
            logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
            assert logged, f"ref {match.group(1)} is not in the log"
            assert logged[0].exc_info is not None, "the log line has no traceback"
            assert "episode_tweets" in caplog.text
        assert (await tweet_row(engine, "Alice"))["custom_text"] is None


# ---- secrets ---------------------------------------------------------------------------------


@contextlib.contextmanager
def production_logging(caplog: pytest.LogCaptureFixture, secrets: list[str]) -> Iterator[None]:
    """bot.logs.configure_logging at DEBUG, exactly as `python -m bot` sets it up, with caplog
    seeing every record first (before the redacting handler could clean it up)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    configure_logging("DEBUG", secrets)
    root.handlers.insert(0, caplog.handler)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_no_secret_in_logs_or_messages(
    tmp_path: Path, database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """With the bot's DEBUG logging, across set-up, AI drafting, linking X, posting and checking
    the link, no token, key or secret is in any log record or anything sent to Discord."""
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path, database_url) as (w, bot):
        with production_logging(caplog, bot.services.settings.secret_values()):
            await prepared(w)
            await link_x(w, w.alice, "alice_x")
            await w.answer(w.alice, "tweet post-now", episode=EPISODE)
            await w.answer(w.alice, "x status")
            await w.answer(w.ana, "tweets status", episode=EPISODE)
            logged = caplog.text
        secrets = [s for s in w.secrets() if s]
        assert len(secrets) >= 6, "the flow should have issued an X access token"
        assert "X post done" in logged, "DEBUG logging did not capture the flow"
        sent = [json.dumps(m.to_payload()) for m in w.discord.messages.values()]
        sent += [json.dumps(run.callbacks) for run in w.discord.interactions]
        for secret in secrets:
            assert secret not in logged, f"a secret ({secret[:4]}…) is in the log"
            assert not any(secret in s for s in sent), f"a secret ({secret[:4]}…) reached Discord"


# ---- command sync and the command tree ------------------------------------------------------


async def test_restart_does_not_sync_unchanged_commands(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A second start with the same DATA_DIR skips the command PUT; a changed command set (a
    stale marker) syncs again."""
    async with world(tmp_path, database_url) as w:
        async with w.bot_in_process(**QUIET):
            assert w.discord.command_sync_count(w.guild) == 1
            run = await w.answer(w.ana, "podcast show")
            assert "no podcast yet" in run.text()
        async with w.bot_in_process(**QUIET):
            await w.discord.wait_until(lambda: w.discord.identify_count == 2, what="a restart")
            assert w.discord.command_sync_count(w.guild) == 1
        [marker] = list(Path(w.data_dir).glob("commands-*.sha256"))
        marker.write_text("the digest of a different command set")
        async with w.bot_in_process(**QUIET):
            await w.discord.wait_until(lambda: w.discord.identify_count == 3, what="a restart")
            assert w.discord.command_sync_count(w.guild) == 2


def _leaves(options: list[dict[str, Any]], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Synced commands flattened: "group sub" -> its options."""
    found: dict[str, list[dict[str, Any]]] = {}
    subs = [o for o in options if o.get("type") in (1, 2)]
    for sub in subs:
        found.update(_leaves(sub.get("options") or [], f"{prefix} {sub['name']}"))
    if not subs:
        found[prefix] = options
    return found


async def test_command_tree_matches_the_contract(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Unique qualified names, a description on every command and option, and every CONTRACT.md
    command with exactly its options (required where the contract says so)."""
    async with running(tmp_path, database_url) as (w, bot):
        names = [c.qualified_name for c in bot.tree.walk_commands()]
        assert len(names) == len(set(names)), sorted(names)
        for command in bot.tree.walk_commands():
            assert command.description and command.description != "…", command.qualified_name
            if isinstance(command, app_commands.Command):
                for parameter in command.parameters:
                    assert parameter.description and parameter.description != "…", (
                        f"/{command.qualified_name} {parameter.name}"
                    )

        synced: dict[str, list[dict[str, Any]]] = {}
        for top in w.discord.synced_commands(w.guild):
            assert top["description"], top["name"]
            synced.update(_leaves(top.get("options") or [], top["name"]))
        missing = sorted(set(CONTRACT) - set(synced))
        assert not missing, f"CONTRACT.md commands not synced: {missing}"
        for path, expected in CONTRACT.items():
            options = {o["name"]: bool(o.get("required")) for o in synced[path]}
            for name, required in expected.items():
                assert name in options, f"/{path} lacks option {name!r}"
                assert options[name] == required, f"/{path} {name}: required={options[name]}"
            for option in synced[path]:
                assert option["description"] and option["description"] != "…", (path, option)
        for path, expected in CONTRACT.items():
            if "episode" in expected:
                [episode] = [o for o in synced[path] if o["name"] == "episode"]
                assert episode.get("autocomplete"), f"/{path} episode has no autocomplete"

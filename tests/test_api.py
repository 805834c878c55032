"""The read-only JSON API (README "JSON API"): tokens from /podcast api-token, scoped to their
own server, through the real bot, its HTTP server and the emulators."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import (
    QUIET,
    add_episode,
    create_tweets,
    link_x,
    rows,
    scalar,
    setup_podcast,
)
from tests.db_proxy import free_port
from tests.ops_helpers import other_server, setup_other_podcast
from tests.rig import CHANNEL_ID, world

TOKEN = re.compile(r"`(onair_[A-Za-z0-9_-]{43})`")


async def new_token(w, guild, member) -> str:  # type: ignore[no-untyped-def]
    run = await w.discord.run_command(guild, member, "podcast api-token")
    done = await run.wait_done(timeout=15)
    assert done.ephemeral
    found = TOKEN.search(done.text())
    assert found, done.text()
    return found.group(1)


async def test_api_with_good_wrong_and_other_servers_tokens(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A good token reads its server's podcast, episodes and tweets (no secrets); no token or a
    wrong one is 401 with no body; another server's episode is 404 to it; revoked is 401."""
    port = free_port()
    async with (
        world(tmp_path, database_url) as w,
        w.bot_in_process(HTTP_PORT=str(port), DISCORD_GUILD_ID="", **QUIET),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=10) as http,
    ):
        await setup_podcast(w)
        episode = await add_episode(w)
        await create_tweets(w, episode)
        await link_x(w, w.alice, "alice")
        other = other_server(w)
        await setup_other_podcast(w, other)
        run = await w.discord.run_command(
            other.guild, other.admin, "episode add", title="Their episode", date="2030-01-01"
        )
        await run.wait_done(timeout=15)
        their_episode = await scalar(
            engine, "SELECT id FROM episodes WHERE title = 'Their episode'"
        )

        mine = await new_token(w, w.guild, w.ana)
        theirs = await new_token(w, other.guild, other.admin)
        assert mine != theirs
        stored = await rows(engine, "SELECT * FROM api_tokens")
        assert len(stored) == 2 and mine not in str(stored)  # only the hash is kept

        auth = {"Authorization": f"Bearer {mine}"}
        podcast = (await http.get("/podcast", headers=auth)).json()
        assert podcast["name"] == "The Pod"
        assert podcast["guild_id"] == str(w.guild.id)
        assert podcast["youtube_channel_id"] == CHANNEL_ID
        episodes = (await http.get("/episodes", headers=auth)).json()["episodes"]
        assert [e["title"] for e in episodes] == [episode]
        detail = await http.get(f"/episodes/{episodes[0]['id']}", headers=auth)
        assert detail.status_code == 200
        tweets = {t["host"]["name"]: t for t in detail.json()["tweets"]}
        assert set(tweets) == {"Alice", "Bob"}
        assert tweets["Alice"]["host"]["x_username"] == "alice"
        assert tweets["Bob"]["host"]["x_username"] is None
        assert tweets["Alice"]["status"] == "pending" and tweets["Alice"]["enabled"] is True
        assert tweets["Alice"]["text"]
        assert tweets["Alice"]["approved"] is False and tweets["Alice"]["held"] is False
        for secret in w.secrets():
            assert secret not in detail.text

        # Another server's ids are not found; its own token reads its own podcast.
        assert (await http.get(f"/episodes/{their_episode}", headers=auth)).status_code == 404
        assert (await http.get("/episodes/not-a-number", headers=auth)).status_code == 404
        other_auth = {"Authorization": f"Bearer {theirs}"}
        assert (await http.get("/podcast", headers=other_auth)).json()["name"] == "Other Pod"
        other_detail = await http.get(f"/episodes/{their_episode}", headers=other_auth)
        assert other_detail.json()["title"] == "Their episode"

        # No token, a wrong one, another scheme: 401 and nothing else.
        for headers in (
            {},
            {"Authorization": "Bearer onair_" + "x" * 43},
            {"Authorization": f"Basic {mine}"},
            {"Authorization": mine},
        ):
            refused = await http.get("/podcast", headers=headers)
            assert refused.status_code == 401
            assert refused.content == b""

        # Revoked: 401 from now on; the other server's token keeps working.
        run = await w.discord.run_command(w.guild, w.ana, "podcast api-token", revoke=True)
        assert "revoked" in (await run.wait_done(timeout=15)).text()
        assert (await http.get("/podcast", headers=auth)).status_code == 401
        assert (await http.get("/podcast", headers=other_auth)).status_code == 200


async def test_api_is_rate_limited_per_token_and_describes_itself(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The 61st request in a minute is 429 with Retry-After for that token only; the OpenAPI
    document needs no token and lists every route."""
    port = free_port()
    async with (
        world(tmp_path, database_url) as w,
        w.bot_in_process(HTTP_PORT=str(port), DISCORD_GUILD_ID="", **QUIET),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=10) as http,
    ):
        await setup_podcast(w)
        other = other_server(w)
        await setup_other_podcast(w, other)
        mine = {"Authorization": f"Bearer {await new_token(w, w.guild, w.ana)}"}
        theirs = {"Authorization": f"Bearer {await new_token(w, other.guild, other.admin)}"}
        statuses = [(await http.get("/podcast", headers=mine)).status_code for _ in range(61)]
        assert statuses[:60] == [200] * 60
        assert statuses[60] == 429
        limited = await http.get("/podcast", headers=mine)
        assert int(limited.headers["Retry-After"]) >= 1
        assert (await http.get("/podcast", headers=theirs)).status_code == 200

        document = (await http.get("/openapi.json")).json()
        assert document["openapi"].startswith("3.")
        assert set(document["paths"]) == {"/podcast", "/episodes", "/episodes/{episode_id}"}


async def test_api_token_needs_an_admin_and_a_podcast(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A host can't create a token; without a podcast there is nothing to read yet."""
    async with world(tmp_path, database_url) as w, w.bot_in_process(**QUIET):
        run = await w.answer(w.ana, "podcast api-token")
        assert "no podcast yet" in run.text(), run.text()
        await setup_podcast(w)
        run = await w.answer(w.alice, "podcast api-token")
        assert "Only podcast admins" in run.text(), run.text()
        assert await scalar(engine, "SELECT count(*) FROM api_tokens") == 0

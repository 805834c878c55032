"""While the database is down, every command answers within Discord's deadline with one plain
sentence saying so, and OnAir works again as soon as the database is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import EPISODE, link_x, prepared, running
from tests.emulators.tcp_cut import CuttableRelay

OUTAGE = "OnAir can't reach its database right now. Please try again in a few minutes."
DISCORD_DEADLINE_SECONDS = 3.0


def every_command(w: Any) -> list[tuple[Any, str, dict[str, Any]]]:
    setup = {
        "name": "The Pod",
        "youtube_channel": "@thepod",
        "announce_channel": w.announce,
        "host_role": w.host_role,
    }
    episode = {"episode": EPISODE}
    host_commands = ("generate", "edit", "show", "enable", "disable", "approve", "post-now")
    return [
        (w.ana, "podcast setup", setup),
        (w.ana, "podcast show", {}),
        (w.ana, "podcast filter", {"text": "Live"}),
        (w.ana, "podcast youtube-test", {}),
        (w.ana, "episode add", {"title": "Later", "date": "2099-01-01"}),
        (w.ana, "episode list", {}),
        (w.ana, "episode remove", episode),
        (w.ana, "tweets create-all", episode),
        (w.ana, "tweets status", episode),
        *((w.alice, f"tweet {name}", episode) for name in host_commands),
        (w.alice, "tweet autopost", {"enabled": True}),
        (w.alice, "x link", {}),
        (w.alice, "x verify", {"pin": "1234567"}),
        (w.alice, "x status", {}),
        (w.alice, "x unlink", {}),
    ]


async def test_every_command_answers_while_the_database_is_down(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """With the connection to PostgreSQL cut (connections reset, new ones refused), each
    command's first answer comes within Discord's 3 s and says the database can't be reached,
    no reference code, no exception text; after the database is back, commands work again."""
    target = make_url(database_url)
    socket_dir = target.query.get("host")
    host = socket_dir if isinstance(socket_dir, str) else target.host or "127.0.0.1"
    async with CuttableRelay(host, target.port or 5432) as relay:
        proxied = (
            target.difference_update_query(["host"])
            .set(host="127.0.0.1", port=relay.port)
            .render_as_string(hide_password=False)
        )
        async with running(tmp_path, proxied) as (w, _):
            await prepared(w)
            await link_x(w, w.alice, "alice")
            await relay.cut()
            for member, name, options in every_command(w):
                started = time.monotonic()
                run = await w.command(member, name, **options)
                await run.response(timeout=10)
                first_answer = time.monotonic() - started
                done = await run.wait_done(timeout=15)
                assert first_answer < DISCORD_DEADLINE_SECONDS, f"/{name}: {first_answer:.1f} s"
                assert done.ephemeral and done.text() == OUTAGE, f"/{name}: {done.text()!r}"
            await relay.restore()
            shown = await w.answer(w.alice, "tweet show", episode=EPISODE)
            assert "Your tweet" in str(shown.embeds), shown.text()

"""Smoke: the real bot wiring starts against the emulators and answers a command."""

from __future__ import annotations

from tests.rig import world


async def test_bot_starts_syncs_and_answers(tmp_path, database_url, engine) -> None:  # type: ignore[no-untyped-def]
    """The bot syncs CONTRACT.md's commands to the server and answers /podcast show."""
    async with world(tmp_path, database_url) as w, w.bot_in_process():
        names = {c["name"] for c in w.discord.synced_commands(w.guild)}
        assert {"podcast", "episode", "tweets", "tweet", "x"} <= names
        run = await w.answer(w.ana, "podcast show")
        assert run.ephemeral
        assert "no podcast yet" in run.text()
        run = await w.answer(
            w.ana,
            "podcast setup",
            name="The Pod",
            youtube_channel="@thepod",
            announce_channel=w.announce,
            host_role=w.host_role,
        )
        assert "Saved" in run.text(), run.text()

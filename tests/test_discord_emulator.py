"""The Discord emulator against the real discord.py client: a tiny bot, driven like a user."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord_api import (
    Channel,
    DiscordEmulator,
    Guild,
    Member,
    Permission,
    Role,
    discord_py_pointed_at,
)

# --------------------------------------------------------------------------------------------
# The demo bot
# --------------------------------------------------------------------------------------------


class EchoModal(discord.ui.Modal, title="Echo"):
    """Old-style modal: a TextInput added directly (sent inside an action row)."""

    text = discord.ui.TextInput(label="Text", max_length=50)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"You wrote: {self.text.value}", ephemeral=True)


class NoteModal(discord.ui.Modal, title="Note"):
    """discord.py 2.6+ modal: a Label wrapping a prefilled TextInput (component type 18)."""

    note: discord.ui.Label[NoteModal] = discord.ui.Label(
        text="Your note", component=discord.ui.TextInput(default="draft", custom_id="note")
    )
    mood: discord.ui.Label[NoteModal] = discord.ui.Label(
        text="Mood",
        component=discord.ui.Select(
            custom_id="mood",
            options=[discord.SelectOption(label="Happy"), discord.SelectOption(label="Sad")],
        ),
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.note.component, discord.ui.TextInput)
        assert isinstance(self.mood.component, discord.ui.Select)
        note, mood = self.note.component.value, self.mood.component.values
        await interaction.response.send_message(f"Note {note!r}, mood {mood}")


class WaveView(discord.ui.View):
    """A button whose callback answers whoever clicked it."""

    @discord.ui.button(label="Wave", custom_id="demo:wave")
    async def wave(
        self, interaction: discord.Interaction, button: discord.ui.Button[WaveView]
    ) -> None:
        await interaction.response.send_message(
            f"{interaction.user.name} waved back", ephemeral=True
        )

    @discord.ui.button(label="Close", custom_id="demo:close", style=discord.ButtonStyle.danger)
    async def close(
        self, interaction: discord.Interaction, button: discord.ui.Button[WaveView]
    ) -> None:
        await interaction.response.edit_message(content="Closed", view=None)

    @discord.ui.select(
        custom_id="demo:colour",
        placeholder="Colour",
        options=[discord.SelectOption(label="Red"), discord.SelectOption(label="Blue")],
    )
    async def colour(
        self, interaction: discord.Interaction, select: discord.ui.Select[WaveView]
    ) -> None:
        await interaction.response.defer()
        await interaction.followup.send(f"{interaction.user.name} picked {select.values[0]}")


def build_demo_bot(guild_id: int) -> commands.Bot:
    """A commands.Bot with a /demo group synced to one guild in setup_hook."""
    intents = discord.Intents.default()
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
    demo = app_commands.Group(name="demo", description="Demo commands")

    @demo.command(description="Repeat some text")
    @app_commands.describe(text="What to say", times="How often")
    async def echo(
        interaction: discord.Interaction, text: str, times: app_commands.Range[int, 1, 5] = 1
    ) -> None:
        await interaction.response.send_message(" ".join([text] * times))

    @echo.autocomplete("text")
    async def echo_text(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=f"{current} {n}", value=f"{current}-{n}")
            for n in ("one", "two")
        ]

    @demo.command(description="Think first, then answer")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.01)
        await interaction.followup.send(embed=discord.Embed(title="Done", description="thinking"))
        await interaction.followup.send("and one more thing")

    @demo.command(description="Answer only the caller")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only you can see this", ephemeral=True)

    @demo.command(description="Open a form")
    async def form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(EchoModal())

    @demo.command(description="Open a labelled form")
    async def note(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NoteModal())

    @demo.command(description="Post a wave button")
    async def wave(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Wave at me", view=WaveView())

    @demo.command(description="Announce in a channel")
    async def announce(
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        role: discord.Role,
        ratio: float = 1.0,
        loud: bool = False,
    ) -> None:
        text = f"Hello {role.mention} ({ratio:.1f}{'!' if loud else ''})"
        message = await channel.send(
            text, view=WaveView(), file=discord.File(io.BytesIO(b"hi"), "a.txt")
        )
        await interaction.response.send_message(f"Posted {message.jump_url}", ephemeral=True)

    @demo.command(description="Whisper to a member")
    async def whisper(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"psst {member.display_name}", ephemeral=True)

    @demo.command(description="Answer after the deadline")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.2)
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound:
            bot.late_answers += 1  # type: ignore[attr-defined]

    @demo.command(description="Send more than Discord allows")
    async def huge(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("x" * 2001)

    @app_commands.command(name="admin", description="Admins only")
    @app_commands.default_permissions(manage_guild=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin ok")

    bot.tree.add_command(demo, guild=discord.Object(id=guild_id))
    bot.tree.add_command(admin, guild=discord.Object(id=guild_id))
    bot.late_answers = 0  # type: ignore[attr-defined]

    async def setup_hook() -> None:
        await bot.tree.sync(guild=discord.Object(id=guild_id))

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before re-identifying; tests need not."""

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
    return bot


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    guild: Guild
    host_role: Role
    alice: Member
    bob: Member
    news: Channel


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(heartbeat_interval=0.2) as emulator:
        yield emulator


@pytest.fixture
def world(emu: DiscordEmulator) -> World:
    guild = emu.create_guild("Pod", owner_name="owner")
    host_role = guild.add_role("Host")
    return World(
        guild=guild,
        host_role=host_role,
        alice=guild.add_member("alice", roles=[host_role]),
        bob=guild.add_member("bob"),
        news=guild.add_text_channel("news"),
    )


@pytest.fixture
async def bot(emu: DiscordEmulator, world: World) -> AsyncIterator[commands.Bot]:
    with discord_py_pointed_at(emu):
        client = build_demo_bot(world.guild.id)
        await client.login(emu.token)
        connect = asyncio.create_task(client.connect())
        await emu.wait_for_ready()
        yield client
        await client.close()
        await asyncio.wait_for(connect, 5)


# --------------------------------------------------------------------------------------------
# Connection, READY, cache
# --------------------------------------------------------------------------------------------


async def test_bot_logs_in_and_receives_its_guild(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Login, READY and GUILD_CREATE give discord.py the bot user, application and full guild."""
    await asyncio.wait_for(bot.wait_until_ready(), 2)
    assert bot.user is not None and bot.user.id == emu.bot_user_id
    assert bot.application_id == emu.application_id
    cached = bot.get_guild(world.guild.id)
    assert cached is not None and cached.owner_id == world.guild.owner.id
    assert {m.name for m in cached.members} == {"owner", "OnAir", "alice", "bob"}
    assert cached.get_channel(world.news.id) is not None
    assert cached.get_role(world.host_role.id) in cached.get_member(world.alice.id).roles  # type: ignore[union-attr]
    assert emu.gateway_log[0] in [("/gateway", "zlib-stream"), ("/gateway", "zstd-stream")]


async def test_heartbeats_are_acknowledged(emu: DiscordEmulator, bot: commands.Bot) -> None:
    """The client heartbeats on the HELLO interval and measures latency from the ACKs."""
    await emu.wait_until(lambda: emu.heartbeat_count >= 2, 3, "two heartbeats")
    await emu.wait_until(lambda: bot.latency != float("inf"), 1, "a heartbeat ACK")
    assert bot.latency < 1


async def test_guild_changes_after_connect_reach_the_cache(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """New roles, channels, members and role grants are dispatched so the cache stays true."""
    guild = world.guild
    role = guild.add_role("Admin", Permission.MANAGE_GUILD)
    channel = guild.add_text_channel("studio")
    carol = guild.add_member("carol")
    guild.grant_role(carol, role)
    cached = bot.get_guild(guild.id)
    assert cached is not None

    def cache_is_true() -> bool:
        member = cached.get_member(carol.id)
        return member is not None and role.id in [r.id for r in member.roles]

    await emu.wait_until(cache_is_true, 2, "carol with the Admin role in the cache")
    assert cached.get_channel(channel.id) is not None
    assert cached.get_member(carol.id).guild_permissions.manage_guild  # type: ignore[union-attr]


async def test_guild_created_after_connect_is_joined(
    emu: DiscordEmulator, bot: commands.Bot
) -> None:
    """A guild created while the bot is online arrives as GUILD_CREATE (on_guild_join)."""
    studio = emu.create_guild("Studio", owner_name="zed")
    await emu.wait_until(lambda: bot.get_guild(studio.id) is not None, 2, "the new guild")
    assert bot.get_guild(studio.id).owner_id == studio.owner.id  # type: ignore[union-attr]


async def test_member_chunk_request_is_answered(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """REQUEST_GUILD_MEMBERS (op 8) is answered with GUILD_MEMBERS_CHUNK."""
    cached = bot.get_guild(world.guild.id)
    assert cached is not None
    found = await cached.query_members("ali")
    assert [m.id for m in found] == [world.alice.id]
    by_id = await cached.query_members(user_ids=[world.bob.id])
    assert [m.name for m in by_id] == ["bob"]
    everyone = await cached.chunk()
    assert len(everyone) == 4 and cached.chunked


@pytest.mark.parametrize("how", ["op7", "dropped socket"])
async def test_reconnect_resumes_and_replays(
    emu: DiscordEmulator, world: World, bot: commands.Bot, how: str
) -> None:
    """After op 7 RECONNECT or a dropped socket the client RESUMEs and misses nothing."""
    if how == "op7":
        await emu.send_reconnect()
    else:
        await emu.drop_connections(4000)
    late_member = world.guild.add_member("dave")  # dispatched while the client is away
    await emu.wait_until(lambda: emu.resume_count == 1, 3, "a RESUME")
    assert emu.identify_count == 1
    assert emu.gateway_log[-1][0] == "/gateway/resume"
    cached = bot.get_guild(world.guild.id)
    await emu.wait_until(lambda: cached.get_member(late_member.id) is not None, 2, "dave cached")  # type: ignore[union-attr]
    run = await emu.run_command(world.guild, world.alice, "demo secret")
    assert (await run.wait_done()).text() == "only you can see this"


async def test_invalid_session_makes_the_client_identify_again(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """op 9 (not resumable) makes discord.py IDENTIFY anew; interactions go to the new session."""
    await emu.invalidate_sessions()
    await emu.wait_until(lambda: emu.identify_count == 2, 8, "a second IDENTIFY")
    await emu.wait_for_ready()
    run = await emu.run_command(world.guild, world.alice, "demo secret")
    assert (await run.wait_done()).text() == "only you can see this"


async def test_wrong_token_is_refused(emu: DiscordEmulator) -> None:
    """A token other than emu.token gets 401, which discord.py reports as LoginFailure."""
    with discord_py_pointed_at(emu):
        client = discord.Client(intents=discord.Intents.none())
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
        await client.close()


async def test_bot_close_ends_the_session_cleanly(emu: DiscordEmulator, world: World) -> None:
    """bot.close() closes the gateway websocket and connect() returns without error."""
    with discord_py_pointed_at(emu):
        client = build_demo_bot(world.guild.id)
        await client.login(emu.token)
        connect = asyncio.create_task(client.connect())
        await emu.wait_for_ready()
        await client.close()
        await asyncio.wait_for(connect, 5)
    await emu.wait_until(lambda: emu.open_connections == 0, 2, "the socket to close")
    assert connect.exception() is None and client.is_closed()


# --------------------------------------------------------------------------------------------
# Slash commands
# --------------------------------------------------------------------------------------------


async def test_sync_stores_the_command_tree(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """tree.sync(guild=...) PUTs the group; ids stay stable across a re-sync."""
    synced = emu.synced_commands(world.guild)
    assert [c["name"] for c in synced] == ["demo", "admin"]
    subcommands = {o["name"] for o in synced[0]["options"]}
    assert {"echo", "later", "secret", "form", "wave"} <= subcommands
    assert emu.command_sync_count(world.guild) == 1 and emu.command_sync_count() == 0
    await bot.tree.sync(guild=discord.Object(id=world.guild.id))
    assert emu.command_sync_count(world.guild) == 2
    assert emu.synced_commands(world.guild)[0]["id"] == synced[0]["id"]


async def test_command_with_options_answers(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """String and integer options reach the command; its reply is recorded on the run."""
    run = await emu.run_command(world.guild, world.alice, "demo echo", text="hi", times=3)
    response = await run.response()
    assert response["type"] == 4 and not run.deferred and not run.ephemeral
    assert run.content == "hi hi hi"
    assert emu.channel_messages(world.guild.general)[-1].content == "hi hi hi"


async def test_autocomplete_returns_the_bots_choices(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """A focused option produces a type-4 interaction; the answered choices come back."""
    choices = await emu.autocomplete(world.guild, world.alice, "demo echo", "text", "Ep")
    assert choices == [{"name": "Ep one", "value": "Ep-one"}, {"name": "Ep two", "value": "Ep-two"}]


async def test_deferred_command_resolves_with_followups(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """A thinking defer is resolved by the first follow-up; later follow-ups are new messages."""
    run = await emu.run_command(world.guild, world.bob, "demo later")
    await run.response()
    assert run.deferred
    first = await run.next_message()
    assert first is run.original and not first.loading and first.embeds[0]["title"] == "Done"
    second = await run.next_message()
    assert second.content == "and one more thing" and run.followups == [second]
    assert run.text() == "Done\nthinking\nand one more thing"


async def test_ephemeral_answer_is_recorded(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """flags 64 marks the answer ephemeral; it is not part of the channel's visible messages."""
    run = await (await emu.run_command(world.guild, world.alice, "demo secret")).wait_done()
    assert run.ephemeral and run.text() == "only you can see this"
    assert emu.channel_messages(world.guild.general) == []


async def test_user_option_resolves_to_member(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """A user option carries resolved user and member data, so the command gets a Member."""
    run = await emu.run_command(world.guild, world.alice, "demo whisper", member=world.bob)
    assert (await run.wait_done()).text() == "psst Bob"


async def test_channel_message_with_files_and_buttons(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Channel, role, number, bool options resolve; channel.send with a file and a view works."""
    run = await emu.run_command(
        world.guild,
        world.alice,
        "demo announce",
        channel=world.news,
        role=world.host_role,
        ratio=2.5,
        loud=True,
    )
    await run.wait_done()
    posted = await emu.wait_for_channel_message(world.news, lambda m: "Hello" in m.content)
    assert posted.content == f"Hello <@&{world.host_role.id}> (2.5!)"
    assert posted.files == {"a.txt": b"hi"} and posted.button_labels() == ["Wave", "Close"]
    assert run.ephemeral and str(posted.id) in run.text()
    click = await emu.click_button(posted, "Wave", world.bob)
    assert (await click.wait_done()).text() == "bob waved back"


async def test_button_on_interaction_response(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Buttons on an interaction response dispatch to the view; edit_message updates it (type 7)."""
    run = await emu.run_command(world.guild, world.alice, "demo wave")
    wave = await emu.click_button(run, "Wave", world.bob)
    assert (await wave.wait_done()).text() == "bob waved back" and wave.ephemeral
    close = await emu.click_button(run, "demo:close")
    await close.wait_done()
    assert close.response_type == 7 and run.original is close.original
    assert (
        run.original is not None
        and run.original.content == "Closed"
        and run.original.components == []
    )


async def test_select_menu_defers_then_follows_up(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """A string select sends its values; a deferred update (type 6) is done at its follow-up."""
    run = await emu.run_command(world.guild, world.alice, "demo wave")
    picked = await emu.select(run, "Colour", "Blue", world.bob)
    await picked.wait_done()
    assert picked.response_type == 6 and picked.text() == "bob picked Blue"


async def test_modal_round_trip(emu: DiscordEmulator, world: World, bot: commands.Bot) -> None:
    """send_modal is recorded; submitting it by label reaches on_submit with the value."""
    run = await emu.run_command(world.guild, world.alice, "demo form")
    await run.response()
    assert run.modal is not None and run.modal["title"] == "Echo"
    submitted = await emu.submit_modal(run, {"Text": "hello there"})
    assert (await submitted.wait_done()).text() == "You wrote: hello there"


async def test_label_modal_keeps_prefill_and_reads_selects(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Label (type 18) modals: unset fields keep their default; selects submit values."""
    run = await emu.run_command(world.guild, world.alice, "demo note")
    submitted = await emu.submit_modal(run, {"Mood": "Happy"})
    assert (await submitted.wait_done()).text() == "Note 'draft', mood ['Happy']"


# --------------------------------------------------------------------------------------------
# What Discord would refuse
# --------------------------------------------------------------------------------------------


async def test_unknown_command_or_option_fails_clearly(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Asking for something the bot did not sync names what exists instead of hanging."""
    with pytest.raises(AssertionError, match=r"synced commands: \['/demo echo'"):
        await emu.run_command(world.guild, world.alice, "demo nope")
    with pytest.raises(AssertionError, match="no option"):
        await emu.run_command(world.guild, world.alice, "demo echo", text="hi", loud=True)
    with pytest.raises(AssertionError, match="required option"):
        await emu.run_command(world.guild, world.alice, "demo echo")
    with pytest.raises(AssertionError, match="<= 5"):
        await emu.run_command(world.guild, world.alice, "demo echo", text="hi", times=9)
    stranger = emu.create_guild("Other").owner
    with pytest.raises(AssertionError, match="not a member"):
        await emu.run_command(world.guild, stranger, "demo echo", text="hi")


async def test_default_member_permissions_hide_admin_commands(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Members without the default permissions cannot invoke the command; the owner can."""
    with pytest.raises(AssertionError, match="cannot see /admin"):
        await emu.run_command(world.guild, world.bob, "admin")
    run = await emu.run_command(world.guild, world.guild.owner, "admin")
    assert (await run.wait_done()).text() == "admin ok"


async def test_answer_after_deadline_is_refused(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Past the acknowledgement deadline Discord answers 404 Unknown interaction."""
    emu.ack_deadline = 0.05
    run = await emu.run_command(world.guild, world.alice, "demo slow")
    await emu.wait_until(lambda: run.late, 2, "the late answer")
    await emu.wait_until(lambda: bot.late_answers == 1, 2, "discord.NotFound in the bot")  # type: ignore[attr-defined]
    assert not run.acknowledged


async def test_oversized_message_is_rejected(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """Content over 2000 characters gets 400 Invalid Form Body, as on Discord."""
    run = await emu.run_command(world.guild, world.alice, "demo huge")
    await emu.wait_until(lambda: bool(emu.api_errors), 2, "the rejection")
    assert "Invalid Form Body" in emu.api_errors[0] and not run.acknowledged


async def test_channel_overwrite_denies_the_bot(
    emu: DiscordEmulator, world: World, bot: commands.Bot
) -> None:
    """A deny overwrite for the bot's role makes channel.send fail with 403 Missing Permissions."""
    world.news.set_permissions(world.guild.bot_role, deny=Permission.SEND_MESSAGES)
    await emu.run_command(
        world.guild, world.alice, "demo announce", channel=world.news, role=world.host_role
    )
    await emu.wait_until(lambda: bool(emu.api_errors), 2, "the refusal")
    assert emu.api_errors[0].endswith("403 Missing Permissions")
    assert emu.channel_messages(world.news) == []


async def test_unknown_route_answers_discord_style_404(
    emu: DiscordEmulator, bot: commands.Bot
) -> None:
    """Routes the emulator does not know are logged and answered with Discord's 404 body."""
    with pytest.raises(discord.NotFound) as caught:
        await bot.http.request(discord.http.Route("GET", "/stickers/{sticker_id}", sticker_id=1))
    assert caught.value.text == "404: Not Found"
    assert emu.unknown_routes == ["GET /api/v10/stickers/1"]

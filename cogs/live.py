"""The live check loop and its reports: the only Discord part of the live pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

import discord
from discord.ext import commands, tasks

from bot.errors import new_reference
from bot.live_check import Announcement, Notice, StreamReport
from bot.memory import release_free_heap
from cogs.checks import services_of_bot
from cogs.events_port import DiscordEventsPort
from cogs.render import CALM_BLUE, announcement_mentions, announcement_text, report_embed

log = logging.getLogger("onair.live")

SHUTDOWN_GRACE_SECONDS = 30
# The channel kinds whose messages can be edited by id (discord.PartialMessage's channels).
EditableChannel = (
    discord.TextChannel
    | discord.Thread
    | discord.VoiceChannel
    | discord.StageChannel
    | discord.DMChannel
    | discord.PartialMessageable
)


class LiveCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.services = services_of_bot(bot)
        settings = self.services.settings
        tick = min(settings.live_check_interval_seconds, settings.fast_check_interval_seconds)
        self.check_loop.change_interval(seconds=tick)
        self._current: asyncio.Task[None] | None = None
        self.events = DiscordEventsPort(bot)
        # Reports edited while tweets post in the background go out the same way.
        self.services.checker.reports.deliver = self._deliver_reports

    async def cog_load(self) -> None:
        self.check_loop.start()

    async def cog_unload(self) -> None:
        """Stop checking; posts under way may finish (bounded, while Discord still takes the
        reports' last edits), so a shutdown doesn't leave tweets half-posted and in need of a
        person's check. What is not sent by then goes back to pending (the poster's close)."""
        self.check_loop.cancel()
        deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_SECONDS

        def left() -> float:
            return max(deadline - asyncio.get_running_loop().time(), 0.1)

        if self._current is not None and not self._current.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._current), left())
            except (TimeoutError, asyncio.CancelledError):
                self._current.cancel()
        for last_work in (self.services.poster.drain, self.services.checker.reports.finish):
            try:
                async with asyncio.timeout(left()):
                    await last_work()
            except TimeoutError:
                log.warning("shutting down before posting finished; the rest waits for a restart")

    @tasks.loop(seconds=180)
    async def check_loop(self) -> None:
        # The check runs as its own task so that cancelling the loop doesn't cut it short.
        self._current = asyncio.create_task(self._check_once())
        await asyncio.shield(self._current)

    async def _check_once(self) -> None:
        metrics = self.services.metrics
        started = time.perf_counter()
        try:
            result = await self.services.checker.run_check()
        except Exception:
            metrics.check_finished(time.perf_counter() - started, ok=False)
            log.exception("live check failed (ref %s); trying again next tick", new_reference())
            return
        metrics.check_finished(time.perf_counter() - started, ok=True)
        metrics.channel_states(result.states)
        release_free_heap()  # a check of thousands of channels leaves tens of MiB free
        # Bulkheads: one server's report that can't be built or sent doesn't stop the others.
        for announcement in result.announcements:
            await self._bulkhead(
                self._deliver_announcement(announcement),
                f"the go-live line in guild {announcement.guild_id}",
            )
        await self._deliver_reports(result.reports)
        for notice in result.notices:
            await self._bulkhead(
                self._deliver_notice(notice), f"a {notice.kind} notice in guild {notice.guild_id}"
            )
        await self._sync_events()

    async def _deliver_reports(self, reports: list[StreamReport]) -> None:
        """Send (first) or edit each stream report. Both the check and the report editor
        deliver through here."""
        for report in reports:
            await self._bulkhead(
                self._deliver_report(report),
                f"the report of episode {report.episode_id} in guild {report.guild_id}",
            )

    async def _bulkhead(self, delivery: Awaitable[None], what: str) -> None:
        """One delivery that fails is logged (with a reference code) and stops nothing else."""
        try:
            await delivery
        except Exception:
            log.exception("could not deliver %s (ref %s)", what, new_reference())

    async def _sync_events(self) -> None:
        """Every episode's Discord Scheduled Event follows what this check learned."""
        try:
            await self.services.show.sync(self.events)
        except Exception:
            log.exception("syncing scheduled events failed (ref %s)", new_reference())

    async def _deliver_announcement(self, announcement: Announcement) -> None:
        """The go-live line; it pings the podcast's ping role and nobody else."""
        channel = await self._channel(announcement.announce_channel_id)
        if channel is None:
            return
        try:
            await channel.send(
                announcement_text(announcement),
                allowed_mentions=announcement_mentions(announcement.ping_role_id),
            )
        except discord.HTTPException:
            log.warning(
                "could not post the go-live announcement in %s", announcement.announce_channel_id
            )

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server: stop checking its channel (setup switches it back on)."""
        if await self.services.podcasts.deactivate(guild.id):
            log.info("left guild %s; its podcast is no longer checked", guild.id)

    @check_loop.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException:
                log.warning("announce channel %s is gone or hidden from the bot", channel_id)
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _deliver_report(self, report: StreamReport) -> None:
        channel = await self._channel(report.announce_channel_id)
        if channel is None:
            return
        embed = report_embed(report)
        try:
            if report.report_message_id and isinstance(channel, EditableChannel):
                await channel.get_partial_message(report.report_message_id).edit(embed=embed)
                return
            message = await channel.send(embed=embed)
            await self.services.checker.save_report_message(
                report.episode_id, message.channel.id, message.id
            )
        except discord.HTTPException:
            log.warning(
                "could not post the stream report for episode %s",
                report.episode_id,
                extra={"guild_id": report.guild_id, "episode_id": report.episode_id},
            )

    async def _deliver_notice(self, notice: Notice) -> None:
        channel = await self._channel(notice.announce_channel_id)
        if channel is None:
            return
        try:
            await channel.send(embed=discord.Embed(description=notice.text, colour=CALM_BLUE))
        except discord.HTTPException:
            log.warning(
                "could not post a %s notice in channel %s", notice.kind, notice.announce_channel_id
            )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(LiveCog(bot))

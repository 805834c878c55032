"""How OnAir looks in Discord: every embed is built here from plain service results."""

from __future__ import annotations

import discord

from bot.errors import explain
from bot.live_check import HostLine, StreamReport
from bot.podcasts import EpisodeLine
from bot.tweet_text import MAX_WEIGHTED
from bot.tweets import EpisodeStatus, TweetPreview
from bot.youtube import LiveCheck
from db.models import Podcast, PostStatus

LIVE_RED = discord.Colour(0xE53935)
CALM_BLUE = discord.Colour(0x1E88E5)
OK_GREEN = discord.Colour(0x43A047)

STATE_LABELS = {
    "posted": "✅ posted",
    "failed": "❌ not posted",
    "disabled": "⏸️ disabled",
    "waiting": "⏳ waiting for the stream",
    "retrying": "🔁 retrying soon",
    "posting": "📤 posting now",
    "unknown": "⚠️ check X",
    "dry_run": "🧪 dry run",
    "held": "⛔ held, not posted",
    "unapproved": "✋ not approved, not posted",
}

TWEET_STATUS_LABELS = {
    PostStatus.PENDING: "waiting for the stream",
    PostStatus.POSTING: "being posted",
    PostStatus.POSTED: "posted",
    PostStatus.FAILED: "not posted",
    PostStatus.UNKNOWN: "unknown: check X",
    PostStatus.DRY_RUN: "dry run: nothing was sent to X",
}


def host_line_text(line: HostLine) -> str:
    text = f"**{discord.utils.escape_markdown(line.host_name)}**: {STATE_LABELS.get(line.state, line.state)}"
    if line.link:
        text += f" · [view on X]({line.link})"
    if line.reason and line.state != "dry_run":
        text += f": {line.reason}"
    if line.state == "dry_run" and line.text:
        text += "\n> " + discord.utils.escape_markdown(line.text).replace("\n", "\n> ")
    return text


def report_embed(report: StreamReport) -> discord.Embed:
    title = report.stream_title or report.episode_title
    embed = discord.Embed(
        title=f"🔴 Live now: {title}"[:256], url=report.stream_url, colour=LIVE_RED
    )
    embed.description = (
        "\n".join(host_line_text(line) for line in report.lines)[:4000]
        or "No host tweets for this episode."
    )
    if report.app_problem:
        embed.add_field(
            name="⚠️ The X app can't post", value=report.app_problem[:1024], inline=False
        )
    embed.set_footer(text=f"Episode: {report.episode_title}"[:2048])
    if report.video_id:
        embed.set_thumbnail(url=f"https://i.ytimg.com/vi/{report.video_id}/hqdefault.jpg")
    return embed


def status_embed(status: EpisodeStatus) -> discord.Embed:
    embed = discord.Embed(title=f"Tweets for “{status.episode_title}”"[:256], colour=CALM_BLUE)
    if status.stream_url:
        embed.url = status.stream_url
    embed.description = (
        "\n".join(host_line_text(line) for line in status.lines)[:4000]
        or "No tweets yet. Run /tweets create-all to make one for every host."
    )
    return embed


def preview_embed(preview: TweetPreview, note: str | None = None) -> discord.Embed:
    colour = OK_GREEN if preview.status == PostStatus.POSTED else CALM_BLUE
    embed = discord.Embed(
        title=f"Your tweet for “{preview.episode_title}”"[:256],
        description=discord.utils.escape_markdown(preview.text)[:4000],
        colour=colour,
    )
    over = preview.weighted_length > MAX_WEIGHTED
    embed.add_field(
        name="Length", value=f"{preview.weighted_length}/{MAX_WEIGHTED}{' ⚠️' if over else ''}"
    )
    status = TWEET_STATUS_LABELS.get(preview.status, preview.status)
    if preview.status == PostStatus.PENDING and not preview.enabled:
        status = "disabled: it won't be posted"
    elif preview.status == PostStatus.PENDING and preview.hold is not None:
        status = f"not posted. {explain(preview.hold, closed=False)}"
    elif preview.status == PostStatus.PENDING and preview.needs_approval:
        status = "waiting for your approval: it won't be posted until you approve it"
    if preview.status in (PostStatus.FAILED, PostStatus.UNKNOWN):
        status += f". {explain(preview.failure)}"
    embed.add_field(name="Status", value=status)
    embed.add_field(
        name="X account",
        value=f"@{preview.linked_username}"
        if preview.linked_username
        else "not linked: run /x link",
    )
    if preview.tweet_url:
        embed.add_field(name="Posted", value=preview.tweet_url, inline=False)
    footer = []
    if preview.is_custom:
        footer.append("Your own text.")
    elif preview.is_fallback:
        footer.append("AI drafting was unavailable, so this is a template draft.")
    if preview.include_url:
        footer.append("The stream link counts as 23 characters.")
    if note:
        footer.append(note)
    if footer:
        embed.set_footer(text=" ".join(footer))
    return embed


def podcast_embed(podcast: Podcast) -> discord.Embed:
    embed = discord.Embed(title=f"🎙️ {podcast.name}"[:256], colour=CALM_BLUE)
    embed.add_field(
        name="YouTube channel",
        value=f"[{podcast.youtube_channel_id}](https://www.youtube.com/channel/{podcast.youtube_channel_id})",
        inline=False,
    )
    embed.add_field(name="Announcements", value=f"<#{podcast.announce_channel_id}>")
    embed.add_field(name="Host role", value=f"<@&{podcast.host_role_id}>")
    embed.add_field(
        name="Admin role",
        value=f"<@&{podcast.admin_role_id}>" if podcast.admin_role_id else "Manage Server only",
    )
    embed.add_field(name="Timezone", value=podcast.timezone)
    embed.add_field(
        name="Approval",
        value="required: only tweets their host approved are posted"
        if podcast.require_approval
        else "not required: drafts post unless their host disables them",
    )
    embed.add_field(
        name="Title filter", value=f"“{podcast.title_filter}”" if podcast.title_filter else "none"
    )
    if podcast.last_checked_at is not None:
        checked = discord.utils.format_dt(podcast.last_checked_at, "R")
        embed.add_field(
            name="Last live check",
            value=f"{checked}: {podcast.last_check_result or '—'}",
            inline=False,
        )
    else:
        embed.add_field(name="Last live check", value="not checked yet", inline=False)
    return embed


def episode_line_text(line: EpisodeLine) -> str:
    when = (
        discord.utils.format_dt(line.scheduled_at, "f")
        if line.scheduled_at
        else line.scheduled_date.isoformat()
    )
    text = f"**{discord.utils.escape_markdown(line.title)}**: {when} · {line.tweets} tweets ({line.enabled} on"
    text += f", {line.posted} posted)" if line.posted else ")"
    if line.live_url:
        text += f" · [stream]({line.live_url})"
    return text


def episodes_embed(
    podcast: Podcast, upcoming: list[EpisodeLine], recent: list[EpisodeLine]
) -> discord.Embed:
    embed = discord.Embed(title=f"Episodes of {podcast.name}"[:256], colour=CALM_BLUE)
    embed.add_field(
        name="Upcoming",
        value="\n".join(episode_line_text(e) for e in upcoming)[:1024]
        or "None yet: add one with /episode add.",
        inline=False,
    )
    if recent:
        embed.add_field(
            name="Recent",
            value="\n".join(episode_line_text(e) for e in recent)[:1024],
            inline=False,
        )
    return embed


def live_check_text(check: LiveCheck) -> str:
    """What /podcast youtube-test says about the channel right now."""
    if check.state == "live":
        kind = "premiere" if check.is_premiere else "stream"
        return f"🔴 Live now ({kind}): **{check.title or check.video_id}**\n{check.url}"
    if check.state == "upcoming":
        when = (
            discord.utils.format_dt(check.scheduled_start, "R") if check.scheduled_start else "soon"
        )
        return f"🕒 Scheduled, not started yet: **{check.title or check.video_id}**, starts {when}\n{check.url}"
    if check.state == "offline":
        return "⚫ Not live right now. OnAir will keep checking."
    return (
        "❔ YouTube didn't give a clear answer this time"
        f" ({check.reason or 'no answer'}). OnAir treats that as “unknown”, never as offline, "
        "and tries again on the next check."
    )

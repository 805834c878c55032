"""How OnAir looks in Discord: every embed is built here from plain service results."""

from __future__ import annotations

import datetime as dt

import discord

from bot.errors import explain
from bot.live_check import Announcement, HostLine, StreamReport
from bot.podcasts import EpisodeLine
from bot.readiness import Board, HostReadiness, LinkState, TweetState
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
    if report.ended_at is not None:
        embed = discord.Embed(
            title=f"Ended: {title}"[:256], url=report.stream_url, colour=CALM_BLUE
        )
    else:
        embed = discord.Embed(
            title=f"🔴 Live now: {title}"[:256], url=report.stream_url, colour=LIVE_RED
        )
    embed.description = (
        "\n".join(host_line_text(line) for line in report.lines)[:3800]
        or "No host tweets for this episode."
    )
    if report.ended_at is not None:
        embed.description = f"{ended_text(report, report.ended_at)}\n\n{embed.description}"
    if report.app_problem:
        embed.add_field(
            name="⚠️ The X app can't post", value=report.app_problem[:1024], inline=False
        )
    embed.set_footer(text=f"Episode: {report.episode_title}"[:2048])
    if report.video_id:
        embed.set_thumbnail(url=f"https://i.ytimg.com/vi/{report.video_id}/hqdefault.jpg")
    return embed


def duration_text(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def ended_text(report: StreamReport, ended_at: dt.datetime) -> str:
    """The report's last words: when the stream ended, how long it ran, and whether any tweet
    made it out in time."""
    text = f"⏹️ The stream ended {discord.utils.format_dt(ended_at, 'f')}"
    if report.went_live_at is not None:
        text += f" after {duration_text(ended_at - report.went_live_at)}"
    text += "."
    if report.lines and not any(line.state in ("posted", "dry_run") for line in report.lines):
        text += " It ended before any host's tweet could go out, so none was posted."
    return text


def announcement_text(announcement: Announcement, *, test: bool = False) -> str:
    """'<show> is live: <stream title> <link>', after the ping role's mention."""
    text = (
        f"**{discord.utils.escape_markdown(announcement.show_name)}** is live: "
        f"{discord.utils.escape_markdown(announcement.stream_title)} {announcement.stream_url}"
    )
    if announcement.ping_role_id:
        text = f"<@&{announcement.ping_role_id}> {text}"
    if test:
        text = "Test of the go-live announcement (nobody was pinged):\n" + text
    return text[:2000]


def announcement_mentions(ping_role_id: int | None) -> discord.AllowedMentions:
    """Only the ping role may ping: never @everyone, @here, a user or a role in a title."""
    roles: list[discord.abc.Snowflake] | bool = (
        [discord.Object(ping_role_id)] if ping_role_id else False
    )
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def events_line(podcast: Podcast, can_manage_events: bool) -> str:
    """/podcast show's one line about Discord Scheduled Events."""
    if not podcast.events_enabled:
        return "off (turn on with /podcast setup events:True)"
    if not can_manage_events:
        return (
            "⚠️ I don't have the Manage Events permission, so there are no Discord events for "
            "episodes. Everything else works; give me Manage Events to have them."
        )
    return "on: a Discord event for each episode with a time"


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


def podcast_embed(podcast: Podcast, can_manage_events: bool | None = None) -> discord.Embed:
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
        name="Title filter",
        value=f"“{_plain(podcast.title_filter)}”" if podcast.title_filter else "none",
    )
    embed.add_field(
        name="Ping role", value=f"<@&{podcast.ping_role_id}>" if podcast.ping_role_id else "none"
    )
    if can_manage_events is not None:
        embed.add_field(
            name="Discord events", value=events_line(podcast, can_manage_events), inline=False
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
        return (
            f"🔴 Live now ({kind}): **{_plain(check.title or check.video_id or '')}**\n{check.url}"
        )
    if check.state == "upcoming":
        when = (
            discord.utils.format_dt(check.scheduled_start, "R") if check.scheduled_start else "soon"
        )
        return f"🕒 Scheduled, not started yet: **{_plain(check.title or check.video_id or '')}**, starts {when}\n{check.url}"
    if check.state == "offline":
        return "⚫ Not live right now. OnAir will keep checking."
    if check.reason in ("blocked", "captcha"):
        return (
            "❔ YouTube is showing OnAir its “confirm you're not a bot” or consent page instead "
            "of the channel, so OnAir can't tell right now and tries again later, more slowly. "
            "Setting YOUTUBE_API_KEY makes live detection independent of those pages."
        )
    if check.reason == "gated":
        return (
            "❔ The stream's page is hidden from visitors who aren't signed in (private, "
            "age-restricted or members-only), so OnAir can't tell whether it is live. It never "
            "treats that as offline."
        )
    return (
        "❔ YouTube didn't give a clear answer this time"
        f" ({check.reason or 'no answer'}). OnAir treats that as “unknown”, never as offline, "
        "and tries again on the next check."
    )


LINK_WORDS = {
    LinkState.OK: "X @{username} ✓",
    LinkState.NOT_LINKED: "X not linked",
    LinkState.BROKEN: "X @{username}: link broken",
    LinkState.UNCHECKED: "X @{username} (not checked just now)",
}
BOARD_TWEET_WORDS = {
    TweetState.READY: "tweet approved, on, fits",
    TweetState.MISSING: "no tweet yet",
    TweetState.UNAPPROVED: "tweet not approved",
    TweetState.TOO_LONG: "tweet too long",
    TweetState.DISABLED: "tweet off: won't be posted",
    TweetState.HELD: "tweet held by an admin",
    TweetState.AWAY: "tweet held: no longer has the host role",
    TweetState.DONE: "tweet already handled",
}


def board_line_text(line: HostReadiness) -> str:
    if line.must_act:
        icon = "❌"
    elif line.tweet in (TweetState.HELD, TweetState.AWAY):
        icon = "⛔"
    elif line.tweet is TweetState.DISABLED:
        icon = "⏸️"
    else:
        icon = "✅"
    link = (
        "X not linked"
        if line.link is LinkState.NOT_LINKED or line.x_username is None
        else LINK_WORDS[line.link].format(username=discord.utils.escape_markdown(line.x_username))
    )
    text = f"{icon} **{discord.utils.escape_markdown(line.name)}**: {link} · {BOARD_TWEET_WORDS[line.tweet]}"
    if line.todo:
        text += f"\n  → {line.todo}"
    return text


def board_embed(board: Board) -> discord.Embed:
    embed = discord.Embed(
        title=f"Ready for “{board.episode_title}”?"[:256],
        colour=CALM_BLUE,
        timestamp=board.starts_at,
    )
    starts = f"Starts {discord.utils.format_dt(board.starts_at, 'F')} ({discord.utils.format_dt(board.starts_at, 'R')})."
    lines = [board_line_text(h) for h in board.hosts] or ["No hosts yet: run /tweets create-all."]
    embed.description = (starts + "\n\n" + "\n".join(lines))[:4000]
    if board.duplicates:
        pairs = "\n".join(
            f"{discord.utils.escape_markdown(d.first)} and {discord.utils.escape_markdown(d.second)}: {d.percent}% alike"
            for d in board.duplicates
        )
        embed.add_field(
            name="⚠️ Nearly identical tweets",
            value=(
                pairs + "\nX's rules forbid posting the same or very similar text from several "
                "accounts: make yours your own with /tweet edit."
            )[:1024],
            inline=False,
        )
    embed.set_footer(text="Updated as hosts fix things. Each host sees their own with /tweet show.")
    return embed


def board_mention_text(board: Board) -> str | None:
    """The board's one line of mentions: each host who must act, once."""
    if not board.mentions:
        return None
    people = " ".join(f"<@{uid}>" for uid in board.mentions)
    return f"{people}: something is still missing for your tweet, see below."


def _plain(text: str) -> str:
    """Text from YouTube or a member, shown literally (no masked link, no bold)."""
    return discord.utils.escape_markdown(text)

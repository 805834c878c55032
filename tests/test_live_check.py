"""The live pipeline at the service level: LiveChecker + TweetPoster + real PostgreSQL, with the
real YouTube and X clients talking to the loopback emulators. No Discord."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import explain
from bot.linking import XLinkService
from bot.live_check import CheckResult, HostLine
from bot.tweet_text import URL_SEPARATOR
from bot.youtube import watch_url
from db import queries
from db.models import EpisodeTweet
from tests.emulators.x_api import TWEET_PATH
from tests.pipeline_helpers import (
    Pipeline,
    PodcastSetup,
    ReportDesk,
    attempts_of,
    channel_id,
    go_live,
    load_episode,
    load_podcast,
    open_pipeline,
    setup_podcast,
    tweet_rows,
    utcnow,
    video_id,
)

GUILD = 1
ALICE, BOB, CAROL, DAVE = 101, 102, 103, 104
VIDEO = video_id(1)
STREAM_URL = watch_url(VIDEO)


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


def lines_by_name(result: CheckResult) -> dict[str, HostLine]:
    [report] = result.reports
    return {line.host_name: line for line in report.lines}


async def alice_podcast(pipe: Pipeline) -> PodcastSetup:
    """One podcast with one host, Alice, whose X account is linked."""
    return await setup_podcast(
        pipe,
        guild_id=GUILD,
        channel=channel_id(1),
        members=[(ALICE, "Alice")],
        linked={ALICE: "alice"},
    )


async def alice_live(pipe: Pipeline) -> PodcastSetup:
    """One podcast, one linked host (Alice), and its channel live right now."""
    setup = await alice_podcast(pipe)
    go_live(pipe, setup.channel_id, VIDEO)
    return setup


# ---- the happy path ------------------------------------------------------------------------


async def test_live_stream_posts_once_per_enabled_linked_host(pipe: Pipeline) -> None:
    """Going live posts each enabled linked host's tweet once, reports every host, and the
    next check posts and reports nothing more."""
    setup = await setup_podcast(
        pipe,
        guild_id=GUILD,
        channel=channel_id(1),
        members=[(ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol"), (DAVE, "Dave")],
        linked={ALICE: "alice", CAROL: "carol"},
    )
    # Bob links through the real PIN flow.
    linking = XLinkService(pipe.sessions, pipe.x, pipe.cipher, x_limiter=AsyncLimiter(100, 1))
    authorize_url = await linking.start(GUILD, BOB)
    request_token = parse_qs(urlsplit(authorize_url).query)["oauth_token"][0]
    pin = pipe.x_emu.authorize(request_token, username="bob")
    assert await linking.verify(GUILD, BOB, "Bob", pin) == "bob"
    episode = str(setup.episode_id)
    await pipe.tweets.edit(GUILD, ALICE, episode, "Come watch us build it!")
    await pipe.tweets.set_enabled(GUILD, CAROL, episode, False)

    offline = await pipe.check()
    assert offline.checked == 1 and offline.reports == [] and pipe.post_requests() == 0

    go_live(pipe, setup.channel_id, VIDEO)
    result = await pipe.check()

    assert pipe.x_emu.tweets_of("alice") == ["Come watch us build it!" + URL_SEPARATOR + STREAM_URL]
    [bob_text] = pipe.x_emu.tweets_of("bob")
    assert "Episode 12: The Pipeline" in bob_text and bob_text.endswith(URL_SEPARATOR + STREAM_URL)
    assert pipe.x_emu.tweets_of("carol") == []
    assert pipe.tweets_posted() == 2
    assert result.notices == []
    [report] = result.reports
    assert (report.guild_id, report.episode_id, report.stream_url) == (
        GUILD,
        setup.episode_id,
        STREAM_URL,
    )
    assert report.report_message_id is None  # a new message, not an edit
    lines = lines_by_name(result)
    assert list(lines) == ["Alice", "Bob", "Carol", "Dave"]
    assert {name: line.state for name, line in lines.items()} == {
        "Alice": "posted",
        "Bob": "posted",
        "Carol": "disabled",
        "Dave": "failed",
    }
    alice_tweet = pipe.x_emu.all_tweets[[t.username for t in pipe.x_emu.all_tweets].index("alice")]
    assert lines["Alice"].link == f"https://x.com/alice/status/{alice_tweet.tweet_id}"
    assert lines["Dave"].reason == explain("not_linked")

    rows = await tweet_rows(pipe.sessions)
    assert {uid: (t.status, t.failure_reason) for uid, t in rows.items()} == {
        ALICE: ("posted", None),
        BOB: ("posted", None),
        CAROL: ("pending", None),
        DAVE: ("failed", "not_linked"),
    }
    assert rows[ALICE].tweet_id == alice_tweet.tweet_id
    episode_row = await load_episode(pipe.sessions, setup.episode_id)
    assert episode_row.live_video_id == VIDEO and episode_row.live_url == STREAM_URL

    again = await pipe.check()
    assert again.reports == [] and again.notices == []
    assert pipe.tweets_posted() == 2 and pipe.post_requests() == 2


async def test_waiting_room_posts_nothing_until_the_stream_starts(pipe: Pipeline) -> None:
    """A scheduled stream only records its start time; tweets go out once it is really live."""
    setup = await alice_podcast(pipe)
    starts_at = (utcnow() + dt.timedelta(minutes=5)).replace(microsecond=0)
    pipe.youtube_emu.schedule_stream(setup.channel_id, VIDEO, "Episode 12 soon", starts_at)

    waiting = await pipe.check()

    assert waiting.reports == [] and waiting.notices == []
    assert pipe.post_requests() == 0
    podcast = await load_podcast(pipe.sessions, setup.podcast_id)
    assert podcast.upcoming_start_at == starts_at
    assert (podcast.last_check_result or "").startswith("upcoming")
    assert (await load_episode(pipe.sessions, setup.episode_id)).live_video_id is None

    pipe.youtube_emu.start_stream(VIDEO)
    live = await pipe.check()

    assert len(pipe.x_emu.tweets_of("alice")) == 1
    assert lines_by_name(live)["Alice"].state == "posted"
    podcast = await load_podcast(pipe.sessions, setup.podcast_id)
    assert podcast.upcoming_start_at is None
    assert (podcast.last_check_result or "").startswith("live")


# ---- streams we see but do not tweet about -------------------------------------------------


async def test_title_filter_mismatch_is_reported_once_and_posts_nothing(pipe: Pipeline) -> None:
    """A live title without the filter text gives one "filtered" notice, not one per check;
    a later stream whose title matches is posted."""
    setup = await alice_podcast(pipe)
    await pipe.podcasts.set_filter(GUILD, "Episode")
    go_live(pipe, setup.channel_id, VIDEO, title="Gaming night with friends")

    first = await pipe.check()
    second = await pipe.check()

    assert [n.kind for n in first.notices] == ["filtered"]
    assert first.notices[0].guild_id == GUILD and "Gaming night" in first.notices[0].text
    assert second.notices == []
    assert first.reports == second.reports == []
    assert pipe.post_requests() == 0
    assert (await load_episode(pipe.sessions, setup.episode_id)).live_video_id is None

    pipe.youtube_emu.end_stream(VIDEO)
    go_live(pipe, setup.channel_id, video_id(2), title="Episode 12, for real")
    matching = await pipe.check()
    assert matching.notices == []
    assert len(pipe.x_emu.tweets_of("alice")) == 1


async def test_live_without_episode_is_reported_once(pipe: Pipeline) -> None:
    """Live with no episode for today or yesterday: one "no_episode" notice, nothing posted."""
    setup = await setup_podcast(
        pipe,
        guild_id=GUILD,
        channel=channel_id(1),
        members=[(ALICE, "Alice")],
        linked={ALICE: "alice"},
        with_episode=False,
    )
    go_live(pipe, setup.channel_id, VIDEO)

    first = await pipe.check()
    second = await pipe.check()

    assert [n.kind for n in first.notices] == ["no_episode"]
    assert second.notices == [] and first.reports == second.reports == []
    assert pipe.post_requests() == 0
    assert (await load_podcast(pipe.sessions, setup.podcast_id)).last_reported_video_id == VIDEO


async def test_stream_seen_more_than_two_hours_late_posts_nothing(pipe: Pipeline) -> None:
    """A stream that started over 2 hours before the check gives a "too_late" notice only."""
    setup = await alice_podcast(pipe)
    go_live(pipe, setup.channel_id, VIDEO, started_at=utcnow() - dt.timedelta(hours=3))

    first = await pipe.check()
    second = await pipe.check()

    assert [n.kind for n in first.notices] == ["too_late"]
    assert second.notices == [] and first.reports == []
    assert pipe.post_requests() == 0
    rows = await tweet_rows(pipe.sessions)
    assert rows[ALICE].status == "pending" and rows[ALICE].attempts == 0
    assert (await load_episode(pipe.sessions, setup.episode_id)).live_video_id is None


# ---- what X answers, through the whole pipeline ----------------------------------------------


async def test_x_503_is_retried_after_next_attempt_at_and_posted_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A 503 puts the tweet back to pending until next_attempt_at; the first check after that
    posts it, exactly once, and edits the stream's report."""
    async with open_pipeline(sessions, retry_base=dt.timedelta(minutes=1)) as pipe:
        desk = ReportDesk(pipe)
        await alice_live(pipe)
        pipe.x_emu.server_error_json(status=503)

        first = await desk.deliver(await pipe.check())

        [tweet] = (await tweet_rows(sessions)).values()
        assert (tweet.status, tweet.failure_reason, tweet.attempts) == (
            "pending",
            "server_error",
            1,
        )
        assert tweet.next_attempt_at is not None
        wait = tweet.next_attempt_at - pipe.clock()
        assert dt.timedelta(seconds=50) < wait <= dt.timedelta(minutes=1)
        [attempt] = await attempts_of(sessions, tweet.id)
        assert (attempt.outcome, attempt.reason, attempt.http_status) == (
            "retry",
            "server_error",
            503,
        )
        assert lines_by_name(first)["Alice"].state == "retrying"
        assert len(desk.sent) == 1

        too_soon = await desk.deliver(await pipe.check())
        assert pipe.post_requests() == 1 and too_soon.reports == []

        pipe.clock.advance(dt.timedelta(minutes=2))
        retried = await desk.deliver(await pipe.check())

        assert len(pipe.x_emu.tweets_of("alice")) == 1
        assert lines_by_name(retried)["Alice"].state == "posted"
        assert len(desk.sent) == 1 and len(desk.edited) == 1  # the same message, edited
        [tweet] = (await tweet_rows(sessions)).values()
        assert (tweet.status, tweet.attempts, tweet.next_attempt_at) == ("posted", 2, None)
        outcomes = [a.outcome for a in await attempts_of(sessions, tweet.id)]
        assert outcomes == ["retry", "posted"]

        pipe.clock.advance(dt.timedelta(minutes=2))
        await pipe.check()
        assert pipe.post_requests() == 2 and pipe.tweets_posted() == 1


async def test_report_is_given_again_when_its_first_message_was_never_saved(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """If the first report of a stream never reached Discord (send failed, process died), a
    later check with news (a retried tweet now posted) gives the report again."""
    async with open_pipeline(sessions, retry_base=dt.timedelta(minutes=1)) as pipe:
        await alice_live(pipe)
        pipe.x_emu.server_error_json(status=503)
        first = await pipe.check()  # its report is lost: save_report_message not called
        assert len(first.reports) == 1

        pipe.clock.advance(dt.timedelta(minutes=10))
        retried = await pipe.check()

        assert len(pipe.x_emu.tweets_of("alice")) == 1
        assert [r.episode_id for r in retried.reports] == [first.reports[0].episode_id]


@pytest.mark.parametrize(
    ("fault", "reason", "http_status"),
    [("revoked", "unauthorized", 401), ("duplicate", "duplicate", 403)],
)
async def test_x_final_refusal_fails_the_tweet_without_retry(
    pipe: Pipeline, fault: str, reason: str, http_status: int
) -> None:
    """401 (revoked sign-in) and 403 duplicate close the tweet as failed; no later retry."""
    await alice_live(pipe)
    if fault == "revoked":
        pipe.x_emu.revoke("alice")
    else:
        pipe.x_emu.duplicate()

    result = await pipe.check()

    [tweet] = (await tweet_rows(pipe.sessions)).values()
    assert (tweet.status, tweet.failure_reason) == ("failed", reason)
    [attempt] = await attempts_of(pipe.sessions, tweet.id)
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("failed", reason, http_status)
    line = lines_by_name(result)["Alice"]
    assert (line.state, line.reason) == ("failed", explain(reason))

    pipe.clock.advance(dt.timedelta(minutes=5))
    await pipe.check()
    assert pipe.post_requests() == 1 and pipe.tweets_posted() == 0


async def test_x_429_retries_at_the_reset_time(pipe: Pipeline) -> None:
    """429 with x-rate-limit-reset: pending until exactly that reset, then posted."""
    await alice_live(pipe)
    fault = pipe.x_emu.rate_limit(reset_in=600)
    reset_at = dt.datetime.fromtimestamp(int(fault.headers["x-rate-limit-reset"]), dt.UTC)

    await pipe.check()

    [tweet] = (await tweet_rows(pipe.sessions)).values()
    assert (tweet.status, tweet.failure_reason) == ("pending", "rate_limited")
    assert tweet.next_attempt_at == reset_at
    [attempt] = await attempts_of(pipe.sessions, tweet.id)
    assert (attempt.outcome, attempt.http_status) == ("retry", 429)

    pipe.clock.advance(dt.timedelta(minutes=5))
    await pipe.check()
    assert pipe.post_requests() == 1

    pipe.clock.advance(dt.timedelta(minutes=6))
    await pipe.check()
    assert len(pipe.x_emu.tweets_of("alice")) == 1
    assert (await tweet_rows(pipe.sessions))[ALICE].status == "posted"


async def test_x_failing_five_times_fails_the_tweet(pipe: Pipeline) -> None:
    """After 5 attempts (all 503) the tweet is failed and never tried again."""
    await alice_live(pipe)
    pipe.x_emu.server_error_json(status=503, times=50)

    for _ in range(6):
        await pipe.check()
        pipe.clock.advance(dt.timedelta(minutes=1))

    [tweet] = (await tweet_rows(pipe.sessions)).values()
    assert (tweet.status, tweet.failure_reason, tweet.attempts) == ("failed", "server_error", 5)
    attempts = await attempts_of(pipe.sessions, tweet.id)
    assert [(a.attempt_no, a.reason, a.http_status) for a in attempts] == [
        (n, "server_error", 503) for n in range(1, 6)
    ]
    # The attempt that closed the tweet says so; the four before it were retries.
    assert [a.outcome for a in attempts] == ["retry"] * 4 + ["failed"]
    assert pipe.post_requests() == 5 and pipe.tweets_posted() == 0


async def test_dry_run_sends_nothing_to_x_and_reports_dry_run(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """DRY_RUN: no request reaches X's posting endpoint; tweets close as dry_run with the text
    that would have been posted."""
    async with open_pipeline(sessions, dry_run=True) as pipe:
        setup = await setup_podcast(
            pipe,
            guild_id=GUILD,
            channel=channel_id(1),
            members=[(ALICE, "Alice"), (BOB, "Bob")],
            linked={ALICE: "alice", BOB: "bob"},
        )
        await pipe.tweets.edit(GUILD, ALICE, str(setup.episode_id), "Dry words")
        go_live(pipe, setup.channel_id, VIDEO)

        result = await pipe.check()

        assert pipe.x_emu.count(TWEET_PATH) == 0
        rows = await tweet_rows(sessions)
        assert {uid: (t.status, t.failure_reason) for uid, t in rows.items()} == {
            ALICE: ("dry_run", None),
            BOB: ("dry_run", None),
        }
        lines = lines_by_name(result)
        assert {line.state for line in lines.values()} == {"dry_run"}
        assert lines["Alice"].text == "Dry words" + URL_SEPARATOR + STREAM_URL
        assert [a.outcome for a in await attempts_of(sessions, rows[ALICE].id)] == ["dry_run"]


# ---- a crash between claiming and posting --------------------------------------------------


async def claimed_by_a_dead_process(pipe: Pipeline) -> dict[int, int]:
    """The dead process's check transaction: tie alice's stream, claim her tweet, commit, then
    die. Returns the claim."""
    setup = await alice_live(pipe)
    now = utcnow()
    async with pipe.sessions() as session, session.begin():
        attached = await queries.attach_streams(
            session,
            [
                {
                    "id": setup.episode_id,
                    "live_video_id": VIDEO,
                    "live_url": STREAM_URL,
                    "live_title": "Episode 12",
                    "went_live_at": now,
                }
            ],
        )
        claimed = await queries.claim_pending_tweets(session, now - dt.timedelta(hours=2), now)
    assert attached == {setup.episode_id} and len(claimed) == 1
    return claimed


async def test_tweet_claimed_by_a_dead_process_becomes_unknown_and_is_never_posted(
    pipe: Pipeline,
) -> None:
    """A tweet left in `posting` by a crash turns `unknown` once stale, is announced once as
    interrupted, and no later check posts it."""
    claimed = await claimed_by_a_dead_process(pipe)
    async with pipe.sessions() as session, session.begin():  # its request went to X
        assert await queries.mark_sending(session, list(claimed)) == set(claimed)

    assert await pipe.checker.recover_interrupted() == []  # not stale yet: maybe still posting
    assert (await tweet_rows(pipe.sessions))[ALICE].status == "posting"

    pipe.clock.advance(dt.timedelta(minutes=11))
    notices = await pipe.checker.recover_interrupted()

    assert [(n.kind, n.guild_id) for n in notices] == [("interrupted", GUILD)]
    assert "Alice" in notices[0].text
    tweet = (await tweet_rows(pipe.sessions))[ALICE]
    assert (tweet.status, tweet.failure_reason) == ("unknown", "interrupted")

    for _ in range(2):
        pipe.clock.advance(dt.timedelta(minutes=1))
        later = await pipe.check()
        assert later.notices == [] and later.reports == []
    assert pipe.x_emu.count(TWEET_PATH) == 0
    assert (await tweet_rows(pipe.sessions))[ALICE].status == "unknown"


async def test_tweet_claimed_but_never_sent_by_a_dead_process_is_posted_once_later(
    pipe: Pipeline,
) -> None:
    """A tweet a dead process claimed but never sent to X (not marked sent) is not `unknown`:
    once stale it goes back to pending, its attempt not counted, and the next check posts it,
    once, without an "interrupted" notice."""
    await claimed_by_a_dead_process(pipe)

    pipe.clock.advance(dt.timedelta(minutes=11))
    assert await pipe.checker.recover_interrupted() == []
    tweet = (await tweet_rows(pipe.sessions))[ALICE]
    assert (tweet.status, tweet.attempts) == ("pending", 0)

    later = await pipe.check()
    assert later.notices == []
    assert pipe.x_emu.tweets_of("alice") and len(pipe.x_emu.tweets_of("alice")) == 1
    assert (await tweet_rows(pipe.sessions))[ALICE].status == "posted"


# ---- what YouTube really does mid-show -------------------------------------------------------


async def two_timed_episodes(
    pipe: Pipeline, setup: PodcastSetup, later: dt.timedelta = dt.timedelta(hours=3)
) -> tuple[int, int]:
    """Today's episode at the time the test starts and a second one `later` (the setup's
    untimed episode is removed), each with Alice's approved tweet."""
    now = pipe.clock()
    async with pipe.sessions() as session, session.begin():
        await queries.delete_episode_without_posts(session, setup.episode_id)
    ids = []
    for title, at in (("Morning show", now), ("Evening show", now + later)):
        episode = await pipe.podcasts.add_episode(
            GUILD, title=title, date=at.date().isoformat(), time=at.strftime("%H:%M"), notes=None
        )
        await pipe.tweets.create_all(GUILD, str(episode.id), [(ALICE, "Alice")], generate=False)
        ids.append(episode.id)
    async with pipe.sessions() as session, session.begin():
        await session.execute(sa.update(EpisodeTweet).values(approved=True))
    return ids[0], ids[1]


async def test_restart_mid_show_moves_the_link_and_posts_nothing_new(pipe: Pipeline) -> None:
    """The stream drops and restarts under a new video: the same episode gets the new link and
    its report is edited; no second tweet, and the day's next episode stays untouched."""
    desk = ReportDesk(pipe)
    setup = await alice_podcast(pipe)
    morning, evening = await two_timed_episodes(pipe, setup)
    go_live(pipe, setup.channel_id, VIDEO)
    await desk.deliver(await pipe.check())
    assert pipe.tweets_posted() == 1

    pipe.youtube_emu.end_stream(VIDEO)
    pipe.clock.advance(dt.timedelta(minutes=4))
    restart = video_id(2)
    go_live(pipe, setup.channel_id, restart, started_at=pipe.clock())
    result = await desk.deliver(await pipe.check())

    assert pipe.tweets_posted() == 1 and result.notices == []
    moved = await load_episode(pipe.sessions, morning)
    assert (moved.live_video_id, moved.live_url) == (restart, watch_url(restart))
    assert (await load_episode(pipe.sessions, evening)).live_video_id is None
    [report] = result.reports
    assert (report.episode_id, report.stream_url) == (morning, watch_url(restart))
    assert len(desk.sent) == 1 and len(desk.edited) == 1  # the same message, edited


async def test_new_stream_when_the_next_episode_is_due_is_that_episode(
    pipe: Pipeline,
) -> None:
    """Back-to-back shows: a new video soon after the first stream, once the next episode's
    time has come, is the next episode's stream (its tweet is posted), not a restart."""
    setup = await alice_podcast(pipe)
    first, following = await two_timed_episodes(pipe, setup, dt.timedelta(minutes=20))
    go_live(pipe, setup.channel_id, VIDEO)
    await pipe.check()
    pipe.youtube_emu.end_stream(VIDEO)

    pipe.clock.advance(dt.timedelta(minutes=10))
    second = video_id(2)
    go_live(pipe, setup.channel_id, second, started_at=pipe.clock())
    await pipe.check()

    assert (await load_episode(pipe.sessions, first)).live_video_id == VIDEO
    assert (await load_episode(pipe.sessions, following)).live_video_id == second
    assert pipe.tweets_posted() == 2


async def test_two_episodes_on_one_day_each_get_their_own_stream(pipe: Pipeline) -> None:
    """A morning and an evening episode: each stream is tied to the episode nearest its start,
    and the evening stream, hours after the morning one, is not taken for a restart."""
    setup = await alice_podcast(pipe)
    morning, evening = await two_timed_episodes(pipe, setup)
    go_live(pipe, setup.channel_id, VIDEO)
    await pipe.check()
    pipe.youtube_emu.end_stream(VIDEO)

    pipe.clock.advance(dt.timedelta(hours=3))
    second = video_id(2)
    go_live(pipe, setup.channel_id, second, started_at=pipe.clock())
    await pipe.check()

    assert (await load_episode(pipe.sessions, morning)).live_video_id == VIDEO
    assert (await load_episode(pipe.sessions, evening)).live_video_id == second
    assert pipe.tweets_posted() == 2


async def test_next_episode_scheduled_while_this_one_goes_live(pipe: Pipeline) -> None:
    """Next week's waiting room already exists when this episode goes live (/live serves the
    Live tab): the tweet is posted once, and next week's stream is remembered in the database
    so a restarted bot still tracks it."""
    setup = await alice_podcast(pipe)
    next_week = pipe.clock() + dt.timedelta(days=7)
    pipe.youtube_emu.schedule_stream(setup.channel_id, video_id(9), "Episode 13", next_week)
    go_live(pipe, setup.channel_id, VIDEO)

    await pipe.check()
    await pipe.check()

    assert pipe.x_emu.tweets_of("alice") != [] and pipe.tweets_posted() == 1
    podcast = await load_podcast(pipe.sessions, setup.podcast_id)
    assert [s["video_id"] for s in podcast.scheduled_streams] == [video_id(9)]
    assert podcast.upcoming_start_at == next_week.replace(microsecond=0)
    assert (podcast.last_live_video_id, podcast.last_check_result) == (
        VIDEO,
        "live: Episode 12: The Pipeline (live)",
    )


async def test_bot_wall_is_reported_once_with_what_to_do(pipe: Pipeline) -> None:
    """YouTube's "confirm you're not a bot" page: the channel is unknown (never offline), the
    announcement channel is told once to set YOUTUBE_API_KEY, and nothing is posted."""
    setup = await alice_live(pipe)
    pipe.youtube_emu.bot_wall(True)

    first = await pipe.check()
    pipe.clock.advance(dt.timedelta(minutes=5))
    second = await pipe.check()

    assert [n.kind for n in first.notices] == ["blocked"]
    assert "YOUTUBE_API_KEY" in first.notices[0].text
    assert second.notices == []
    assert pipe.tweets_posted() == 0
    podcast = await load_podcast(pipe.sessions, setup.podcast_id)
    assert podcast.last_check_result == "unknown this time (backoff)"  # waiting, not offline

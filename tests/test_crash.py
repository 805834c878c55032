"""kill -9 of the bot process in the middle of a 200-tweet batch, then a restart.

The bot runs as operators run it (`python -m bot`) against the emulators and the test
PostgreSQL. X answers slowly, so the batch is well under way when the process dies. Afterwards:
every tweet X accepted before the kill is `posted` with its id and link, only the posts that
were in flight are `unknown`, the rest post after the restart, and X never receives a second
copy of anything.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import EpisodeTweet, Host, PostStatus
from tests.emulators.base import Fault
from tests.emulators.x_api import TWEET_PATH
from tests.pipeline_helpers import go_live, podcast_on_server, video_id
from tests.rig import world

HOSTS = 200
X_LATENCY = 0.4  # seconds X takes to answer each post
STUCK_AFTER = 5  # POSTING_STUCK_AFTER_SECONDS for the restarted bot


async def tweet_states(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[int, tuple[PostStatus, str | None, str | None, str]]:
    """discord user id -> (status, X's tweet id, link, X handle)."""
    async with sessions() as session:
        rows = await session.execute(
            sa.select(
                Host.discord_user_id,
                EpisodeTweet.status,
                EpisodeTweet.tweet_id,
                EpisodeTweet.tweet_url,
                Host.display_name,
            ).join(Host, Host.id == EpisodeTweet.host_id)
        )
        return {uid: (status, tid, url, name) for uid, status, tid, url, name in rows.all()}


async def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.mark.timeout(420)
async def test_kill_9_mid_batch_loses_only_the_posts_in_flight(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """200 hosts go live; the bot is killed with SIGKILL while posting; after a restart every
    tweet X accepted before the kill is posted with its id and link, only in-flight posts are
    unknown, every other tweet is posted, and X got at most one request per tweet."""
    async with world(tmp_path, database_url) as w:
        pipe, setup = await podcast_on_server(w, sessions, engine, HOSTS, 77)
        w.x.inject(Fault("latency", path_prefix=TWEET_PATH, seconds=X_LATENCY, times=None))
        go_live(pipe, setup.channel_id, video_id(77))

        log = tmp_path / "first.log"
        with log.open("wb") as output:
            first = await w.start_bot_process(output)

            async def some_posted() -> bool:
                states = await tweet_states(sessions)
                return sum(s == PostStatus.POSTED for s, *_ in states.values()) >= 20

            await wait_for(some_posted, 90, "the first bot recorded 20 posts")
            # X stops answering new posts, so nothing is accepted in the instant of the kill;
            # what it already accepted has a second to be recorded (outcomes are written within
            # about a second).
            hang = Fault("hang", path_prefix=TWEET_PATH, times=None)
            w.x.faults.insert(0, hang)  # before the latency fault: it wins
            await asyncio.sleep(1.5)
            accepted_before_kill = {t.tweet_id: t for t in w.x.all_tweets}
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL

        states = await tweet_states(sessions)
        in_flight = {uid for uid, (s, *_) in states.items() if s == PostStatus.POSTING}
        requests_at_kill = w.x.count(TWEET_PATH, "POST")
        assert 20 <= len(accepted_before_kill) < HOSTS
        for tweet_id, tweet in accepted_before_kill.items():
            [(status, stored_id, url)] = [
                (s, tid, link) for s, tid, link, name in states.values() if name == tweet.username
            ]
            assert (status, stored_id) == (PostStatus.POSTED, tweet_id)
            assert url == f"https://x.com/{tweet.username}/status/{tweet_id}"

        w.x.faults.remove(hang)
        with (tmp_path / "second.log").open("wb") as output:
            second = await w.start_bot_process(output, POSTING_STUCK_AFTER_SECONDS=str(STUCK_AFTER))
            try:

                async def all_settled() -> bool:
                    states = await tweet_states(sessions)
                    return all(
                        s in (PostStatus.POSTED, PostStatus.UNKNOWN) for s, *_ in states.values()
                    )

                async def settled_or_exited() -> bool:
                    return second.returncode is not None or await all_settled()

                await wait_for(settled_or_exited, 300, "every tweet is posted or unknown")
                assert second.returncode is None, (tmp_path / "second.log").read_text()
            finally:
                if second.returncode is None:
                    second.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(second.wait(), 30)

        states = await tweet_states(sessions)
        unknown = {uid for uid, (s, *_) in states.items() if s == PostStatus.UNKNOWN}
        # Only posts whose request had reached X when the process died are unknown.
        sent_but_unanswered = requests_at_kill - len(accepted_before_kill)
        assert len(unknown) == sent_but_unanswered <= 16
        assert unknown <= in_flight
        posted = [s for s in states.values() if s[0] == PostStatus.POSTED]
        assert len(posted) == HOSTS - len(unknown)
        # X never received a second copy: one request per account at most, one tweet each.
        per_account = Counter(t.username for t in w.x.all_tweets)
        assert max(per_account.values()) == 1
        assert w.x.count(TWEET_PATH, "POST") == HOSTS

"""Operations (README "Operations"): /healthz, /metrics and LOG_FORMAT=json, through the real
bot wiring, the real HTTP server and the emulators."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import JsonFormatter, SecretRedactor, log_context
from tests.command_helpers import add_episode, create_tweets, link_x, setup_podcast
from tests.db_proxy import DatabaseRelay, free_port
from tests.ops_helpers import wait_for_health
from tests.rig import CHANNEL_ID, world

VIDEO_ID = "opsVideo001"
STREAM_TITLE = "Secret-free title: Episode about gardens"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by prometheus-client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_healthz_flips_to_503_while_the_database_is_down(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """200 when all is well; 503 naming the database when it stops; 200 again once it is back."""
    relay = DatabaseRelay(database_url)
    await relay.start()
    port = free_port()
    try:
        async with world(tmp_path, relay.url) as w, w.bot_in_process(HTTP_PORT=str(port)):
            body = await wait_for_health(port, 200)
            assert body["checks"] == {"gateway": True, "database": True, "live_check": True}
            await relay.stop()
            body = await wait_for_health(port, 503)
            assert body["status"] == "unhealthy"
            assert body["checks"]["database"] is False  # type: ignore[index]
            assert "the database does not answer" in str(body["reason"])
            await relay.start()
            body = await wait_for_health(port, 200)
            assert body["status"] == "ok"
    finally:
        await relay.stop()


async def test_no_http_server_without_http_port(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """HTTP_PORT unset: the bot runs and nothing listens."""
    async with world(tmp_path, database_url) as w, w.bot_in_process() as bot:
        assert bot.http_server is None  # type: ignore[attr-defined]


async def test_metrics_parse_and_move_after_a_go_live(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/metrics parses with prometheus-client's parser; after a go-live the check, channel,
    post, X, YouTube and command series moved, and no label holds a title or a secret."""
    port = free_port()
    async with world(tmp_path, database_url) as w, w.bot_in_process(HTTP_PORT=str(port)):
        before = samples(await scrape(port))
        await setup_podcast(w)
        episode = await add_episode(w, days_ahead=0)
        await create_tweets(w, episode, generate=False)
        await link_x(w, w.alice, "alice")
        approved = await w.answer(w.alice, "tweet approve", episode=episode)
        assert "pprove" in approved.text(), approved.text()
        w.youtube.go_live(CHANNEL_ID, VIDEO_ID, STREAM_TITLE)
        await w.discord.wait_until(
            lambda: len(w.x.tweets_of("alice")) == 1, 30, "alice's tweet was posted"
        )
        await asyncio.sleep(1.5)  # the next scrape sees the finished check
        text = await scrape(port)
        after = samples(text)

    def value(name: str, **labels: str) -> float:
        return after.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("onair_post_attempts_total", outcome="posted", reason="none") == 1
    assert value("onair_live_checks_total", result="ok") > before.get(
        ("onair_live_checks_total", (("result", "ok"),)), 0.0
    )
    assert value("onair_live_check_duration_seconds_count") >= 1
    assert value("onair_channels", state="live") == 1
    assert value("onair_channels", state="offline") == 0
    assert value("onair_youtube_responses_total", status="200") >= 1
    assert value("onair_x_responses_total", status="201") == 1  # POST /2/tweets created
    assert value("onair_x_responses_total", status="200") >= 2  # the PIN flow's two steps
    assert value("onair_command_duration_seconds_count", command="podcast setup") == 1
    assert value("onair_command_duration_seconds_count", command="x verify") == 1
    assert 0 <= value("onair_last_live_check_age_seconds") < 5
    assert ("onair_youtube_api_units_total", ()) in after
    assert value("onair_youtube_api_units_today") == 0  # page mode spends no units
    assert ("onair_youtube_api_units_projected_today", ()) in after
    for leak in (STREAM_TITLE, VIDEO_ID, episode, *w.secrets()):
        assert leak not in text


def test_json_log_lines_carry_context_and_stay_redacted() -> None:
    """LOG_FORMAT=json: one object per line with the ref, guild, episode and tweet ids that
    apply, the traceback as a field, and secrets redacted exactly as in text logs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretRedactor(["sekrit-token-123"]))
    logger = logging.getLogger("onair.test_json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(guild_id=42):
            logger.info("posting tweet %s (ref %s)", 7, "AB12CD", extra={"tweet_id": 7})
            try:
                raise RuntimeError("token sekrit-token-123 refused")
            except RuntimeError:
                logger.exception("it failed with %s", "sekrit-token-123", extra={"episode_id": 3})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "posting tweet 7 (ref AB12CD)"
    assert (first["ref"], first["guild_id"], first["tweet_id"]) == ("AB12CD", 42, 7)
    assert first["level"] == "INFO" and first["logger"] == "onair.test_json"
    assert second["episode_id"] == 3 and second["guild_id"] == 42
    assert "RuntimeError" in second["traceback"]
    assert "sekrit-token-123" not in stream.getvalue()
    assert "[redacted]" in second["message"] and "[redacted]" in second["traceback"]
    assert "guild_id" not in third


async def test_bot_process_writes_json_lines(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """`python -m bot` with LOG_FORMAT=json: every line it writes is one JSON object, and a
    command's line carries its server's id."""
    log_path = tmp_path / "bot.log"
    async with (
        world(tmp_path, database_url) as w,
        w.bot_subprocess(log_path, LOG_FORMAT="json", LOG_LEVEL="DEBUG"),
    ):
        await w.answer(w.ana, "podcast show")
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    tagged = [e for e in lines if e.get("guild_id") == w.guild.id]
    assert tagged, lines[-5:]
    text = log_path.read_text()
    for secret in w.secrets():
        assert secret not in text

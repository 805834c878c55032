"""Secrets at DEBUG: interaction tokens in discord.py's request log lines, the DATABASE_URL
password and credentials in OPENAI_BASE_URL never reach a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.logs import SecretRedactor
from tests.command_helpers import prepared, running
from tests.test_commands_safety import production_logging


async def test_interaction_tokens_are_redacted_at_debug(
    tmp_path: Path, database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py logs each interaction callback and follow-up URL at DEBUG; the interaction
    token in them is blanked out, the rest of the line stays."""
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path, database_url) as (w, bot):
        with production_logging(caplog, bot.services.settings.secret_values()):
            await prepared(w)
            logged = "\n".join(
                r.getMessage() for r in caplog.records if r.name.startswith("discord")
            )
        tokens = [run.token for run in w.discord.interactions]
    assert "/interactions/" in logged and "/callback" in logged, "no callback URL was logged"
    assert "/webhooks/" in logged, "no follow-up URL was logged"
    assert tokens and not [t for t in tokens if t in logged]


def test_database_password_and_openai_base_url_credentials_are_secrets() -> None:
    """The password in DATABASE_URL and the user info or key parameter in OPENAI_BASE_URL are
    blanked out of any log line."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+asyncpg://onair:hunter2-db-password@db.example:5432/onair",
        openai_base_url="https://me:proxy-pass-123@llm.example/v1?api-key=query-key-456",
    )
    redactor = SecretRedactor(settings.secret_values())
    record = logging.LogRecord(
        "onair",
        logging.DEBUG,
        __file__,
        1,
        "connecting to %s and %s",
        (settings.database_url, settings.openai_base_url),
        None,
    )
    redactor.filter(record)
    line = record.getMessage()
    for secret in ("hunter2-db-password", "proxy-pass-123", "query-key-456"):
        assert secret not in line, line
    assert "db.example:5432" in line and "llm.example" in line

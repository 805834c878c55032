"""`python -m bot [run|migrate|check]` as an operator runs it: a fresh process in its own folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet

from db import migrate
from db.embedded import start_embedded

REPO_ROOT = Path(__file__).resolve().parents[1]
# Only what a process needs to run; no setting (DISCORD_TOKEN...) is inherited from this shell.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "SYSTEMROOT")
FAKE_SECRETS = {
    "DISCORD_TOKEN": "MTAfake.discord-token-for-cli-test",
    "OPENAI_API_KEY": "sk-fake-openai-key-for-cli-test",
    "X_CONSUMER_SECRET": "fake-x-consumer-secret-for-cli-test",
    "YOUTUBE_API_KEY": "fake-youtube-key-for-cli-test",
}
MISSING_TOKEN_LINE = (
    "OnAir: setting DISCORD_TOKEN is missing: put DISCORD_TOKEN=<your bot token> in .env "
    "(Discord Developer Portal > Bot > Reset Token)"
)


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head


def run_cli(
    *args: str, cwd: Path, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    base |= {"PYTHONPATH": str(REPO_ROOT), "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def postgres_processes_for(data_dir: Path) -> list[psutil.Process]:
    """Running `postgres` processes whose command line mentions `data_dir`."""
    marker = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (
                proc.info["name"] == "postgres"
                and marker in cmdline
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def assert_no_postgres_left(data_dir: Path) -> None:
    """The server a command started is stopped when the command exits (allow a moment)."""
    deadline = time.monotonic() + 5
    while postgres_processes_for(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes_for(data_dir) == []


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder as the working directory: no `.env` but the one a test writes."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """DATA_DIR in a fresh folder of the system temp dir, not pytest's tmp_path: as root the
    server runs as another user, and pytest re-closes its own base folder (0700) whenever
    another session starts, which would lock that user out mid-test."""
    folder = Path(tempfile.mkdtemp(prefix="onair-cli-test-"))
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


def test_help_lists_the_commands(workdir: Path, data_dir: Path) -> None:
    """`--help` names run, migrate and check."""
    result = run_cli("--help", cwd=workdir, data_dir=data_dir)
    assert result.returncode == 0
    for command in ("run", "migrate", "check"):
        assert command in result.stdout


def test_run_without_token_exits_2_with_one_line(workdir: Path, data_dir: Path) -> None:
    """No DISCORD_TOKEN: one plain line, exit 2, no traceback, and no database was started."""
    result = run_cli("run", cwd=workdir, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == MISSING_TOKEN_LINE
    assert "Traceback" not in result.stderr
    assert not (data_dir / "postgres").exists()
    assert_no_postgres_left(data_dir)


def test_no_command_means_run(workdir: Path, data_dir: Path) -> None:
    """`python -m bot` alone is `run`, so it also asks for the token."""
    result = run_cli(cwd=workdir, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == MISSING_TOKEN_LINE


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "TOKEN_ENCRYPTION_KEY",
            "not-a-fernet-key",
            "OnAir: setting TOKEN_ENCRYPTION_KEY is invalid (is not a valid Fernet key list): use "
            "one or more Fernet keys separated by commas, or unset it to generate one in DATA_DIR",
        ),
        (
            "DATABASE_URL",
            "mysql://x",
            "OnAir: setting DATABASE_URL is invalid (must be a postgresql+asyncpg:// URL with a "
            "host): use postgresql+asyncpg://user:password@host:5432/dbname, or unset it for the "
            "embedded database",
        ),
        (
            "X_API_BASE_URL",
            "api.twitter.com",
            "OnAir: setting X_API_BASE_URL is invalid (must be an http:// or https:// URL): fix "
            "its value in .env or the environment",
        ),
        (
            "LIVE_CHECK_INTERVAL_SECONDS",
            "3m",
            "OnAir: setting LIVE_CHECK_INTERVAL_SECONDS is invalid (input should be a valid "
            "integer, unable to parse string as an integer): fix its value in .env or the "
            "environment",
        ),
    ],
)
def test_bad_setting_exits_2_with_one_line(
    name: str, value: str, expected: str, workdir: Path, data_dir: Path
) -> None:
    """A malformed setting stops `run` before anything starts: one line, exit 2, no traceback."""
    env = {"DISCORD_TOKEN": FAKE_SECRETS["DISCORD_TOKEN"], name: value}
    result = run_cli("run", cwd=workdir, data_dir=data_dir, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (data_dir / "postgres").exists()


def test_dotenv_in_working_directory_is_read(workdir: Path, data_dir: Path) -> None:
    """Settings in `./.env` apply: a bad value there is reported like one in the environment."""
    (workdir / ".env").write_text("DISCORD_TOKEN=from-dotenv\nLIVE_CHECK_INTERVAL_SECONDS=soon\n")
    result = run_cli("run", cwd=workdir, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.startswith("OnAir: setting LIVE_CHECK_INTERVAL_SECONDS is invalid")


def test_unwritable_data_dir_exits_2(workdir: Path, tmp_path: Path) -> None:
    """DATA_DIR under a plain file: one line naming DATA_DIR, exit 2, no traceback."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_cli("check", cwd=workdir, data_dir=blocker / "data")
    assert result.returncode == 2
    assert result.stderr.startswith("OnAir: setting DATA_DIR: cannot create or read ")
    assert "Traceback" not in result.stderr


def test_check_reaches_embedded_database_without_showing_secrets(
    workdir: Path, data_dir: Path
) -> None:
    """`check` starts the embedded database, says it is reachable, prints no secret, and stops it."""
    key = Fernet.generate_key().decode()
    (workdir / ".env").write_text(f"TOKEN_ENCRYPTION_KEY={key}\nLIVE_CHECK_INTERVAL_SECONDS=45\n")
    result = run_cli(
        "check", cwd=workdir, data_dir=data_dir, env=FAKE_SECRETS | {"LOG_LEVEL": "DEBUG"}
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    database_line = next(line for line in result.stdout.splitlines() if "Database" in line)
    assert "embedded PostgreSQL" in database_line
    assert "reachable (PostgreSQL " in database_line
    assert "not created yet" in database_line
    assert "every 45 s" in result.stdout  # the .env file was read
    for secret in [*FAKE_SECRETS.values(), key]:
        assert secret not in output
    assert "Traceback" not in output
    assert_no_postgres_left(data_dir)


def test_check_reports_unreachable_external_database(workdir: Path, data_dir: Path) -> None:
    """A DATABASE_URL nobody answers on: `check` says so and exits 1, without the password."""
    url = "postgresql+asyncpg://onair:hunter2-db-password@127.0.0.1:9/onair"
    result = run_cli("check", cwd=workdir, data_dir=data_dir, env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "NOT reachable" in result.stdout
    assert "hunter2-db-password" not in result.stdout + result.stderr
    assert not (data_dir / "postgres").exists()


def test_migrate_prints_the_schema_revision_and_goes_both_ways(
    workdir: Path, data_dir: Path
) -> None:
    """`migrate` brings the embedded database to head and says so; `migrate base` undoes it.

    Without TOKEN_ENCRYPTION_KEY the first command also writes DATA_DIR/encryption.key (0600).
    """
    head = head_revision()
    up = run_cli("migrate", cwd=workdir, data_dir=data_dir)
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.strip() == f"OnAir: database schema at {head}"
    key_file = data_dir / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in up.stdout + up.stderr

    down = run_cli("migrate", "base", cwd=workdir, data_dir=data_dir)
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.strip() == "OnAir: database schema at base"
    assert_no_postgres_left(data_dir)


def test_migrate_unknown_revision_exits_2(workdir: Path, data_dir: Path) -> None:
    """A revision that doesn't exist is one plain line and exit 2, before any database starts."""
    result = run_cli("migrate", "no-such-revision", cwd=workdir, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "OnAir: unknown schema revision 'no-such-revision': use head, base or a revision id "
        "from migrations/versions"
    )
    assert not (data_dir / "postgres").exists()


async def test_process_probe_sees_a_running_embedded_server(data_dir: Path) -> None:
    """The probe used above does find a live server for its DATA_DIR (so "none left" means it)."""
    embedded = await start_embedded(data_dir, cleanup_mode="delete")
    try:
        assert postgres_processes_for(data_dir) != []
        assert postgres_processes_for(data_dir.parent / "elsewhere") == []
    finally:
        embedded.stop()
    assert_no_postgres_left(data_dir)


def test_check_hides_credentials_in_openai_base_url(workdir: Path, data_dir: Path) -> None:
    """`check` names the AI server of OPENAI_BASE_URL without its user info or key parameter."""
    url = "https://me:proxy-pass-123@llm.example/v1?api-key=query-key-456"
    result = run_cli(
        "check",
        cwd=workdir,
        data_dir=data_dir,
        env={
            "OPENAI_API_KEY": FAKE_SECRETS["OPENAI_API_KEY"],
            "OPENAI_BASE_URL": url,
            "DATABASE_URL": "postgresql+asyncpg://onair:hunter2-db-password@127.0.0.1:9/onair",
            "LOG_LEVEL": "DEBUG",
        },
    )
    output = result.stdout + result.stderr
    assert "llm.example/v1" in result.stdout, output
    for secret in ("proxy-pass-123", "query-key-456", "hunter2-db-password", "me:proxy"):
        assert secret not in output, output

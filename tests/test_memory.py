"""Memory: what the bot doesn't need is never imported (openai without a key, Alembic when the
database is already migrated, twitter_text until a tweet is measured, cryptography until a
token is encrypted or decrypted, rapidfuzz until two tweets are compared, httpx without the AI
client, the HTTP server's aiohttp.web without HTTP_PORT). Each probe runs in a fresh
interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

from db import migrate
from tests.rig import REPO

PROBE = """
import asyncio, importlib, json, sys
import bot.app
from bot.config import Settings
from bot.crypto import TokenCipher
from bot.drafts import Drafter
from db import migrate
from db.engine import create_engine

async def main():
    engine = create_engine(sys.argv[1], pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    Drafter(api_key=None)
    settings = Settings(_env_file=None, data_dir=sys.argv[2])
    TokenCipher(settings.encryption_keys())  # generates the key file, as at a first start
    for extension in bot.app.EXTENSIONS:
        importlib.import_module(extension)
    names = ("openai", "alembic", "twitter_text", "cryptography", "rapidfuzz", "httpx", "aiohttp.web",
             "tweepy", "requests", "oauthlib")
    print(json.dumps({name: name in sys.modules for name in names}))

asyncio.run(main())
"""


def test_head_revision_read_from_files_is_alembics_head() -> None:
    """The chain's head read from the files is the one Alembic computes."""
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    assert migrate.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def run_probe(code: str, *args: str, timeout: float) -> Any:
    """Run `code` in a fresh interpreter of the repository; the JSON of its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_migrated_bot_without_ai_key_loads_neither_openai_nor_alembic(
    database_url: str, tmp_path: Path
) -> None:
    """Start-up on a database at the head, with no OPENAI_API_KEY, imports neither library,
    nor twitter_text before a tweet is measured, nor cryptography while the encryption key is
    generated and checked, nor rapidfuzz, httpx or (HTTP_PORT unset) aiohttp.web, nor tweepy
    with requests and oauthlib before the first X call."""
    assert run_probe(PROBE, database_url, str(tmp_path), timeout=120) == {
        "openai": False,
        "alembic": False,
        "twitter_text": False,
        "cryptography": False,
        "rapidfuzz": False,
        "httpx": False,
        "aiohttp.web": False,
        "tweepy": False,
        "requests": False,
        "oauthlib": False,
    }


TRIM_PROBE = """
import json, sys
from bot.memory import release_free_heap

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

# What parsing leaves on the heap: blocks of a few KiB; one in 50 outlives the check, so the
# free space is spread through the heap and glibc keeps it unless asked to give it back.
parsed = [bytes(4000 + n % 100) for n in range(20_000)]
kept = parsed[::50]
parsed.clear()
before = rss_mib()
release_free_heap()
print(json.dumps({"before": before, "after": rss_mib()}))
"""


def test_freed_memory_goes_back_to_the_os() -> None:
    """What a check's parsing freed on the heap, spread between blocks that outlive it, goes
    back to the OS when `release_free_heap` runs (glibc keeps it otherwise: 92 MiB stay)."""
    rss = run_probe(TRIM_PROBE, timeout=60)
    assert rss["before"] - rss["after"] > 40, rss

"""One aiohttp server, off unless HTTP_PORT is set, bound to HTTP_HOST (README "Operations"):
/healthz, /metrics and the JSON API under /api/v1/ (bot/web/api.py).

It shares the bot's event loop and services; nothing here knows Discord beyond a callable that
says whether the gateway is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.api_access import ApiAccess
from bot.metrics import Metrics
from bot.ratelimit import KeyedRateLimiter
from bot.web import HttpPortUnavailable
from bot.web.api import add_api_routes

log = logging.getLogger("onair.web")

DATABASE_PROBE_SECONDS = 2.0
# /healthz fails once the last live check is older than this many intervals.
STALE_CHECK_INTERVALS = 3


@dataclass
class WebDeps:
    """What the routes read: nothing they could change."""

    engine: AsyncEngine
    metrics: Metrics
    check_interval_seconds: float
    gateway_connected: Callable[[], bool]
    api: ApiAccess
    api_limiter: KeyedRateLimiter


DEPS = web.AppKey("deps", WebDeps)


async def database_answers(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(DATABASE_PROBE_SECONDS), engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except (OSError, TimeoutError, sa.exc.SQLAlchemyError):
        return False
    except Exception:  # asyncpg raises its own errors for a server shutting down
        log.debug("database probe failed", exc_info=True)
        return False
    return True


async def healthz(request: web.Request) -> web.Response:
    """200 when the gateway is connected, the database answers and the live check is recent."""
    deps = request.app[DEPS]
    age = deps.metrics.seconds_since_last_check()
    checks = {
        "gateway": deps.gateway_connected(),
        "database": await database_answers(deps.engine),
        "live_check": age < STALE_CHECK_INTERVALS * deps.check_interval_seconds,
    }
    reasons = {
        "gateway": "the Discord gateway is not connected",
        "database": "the database does not answer",
        "live_check": f"the last live check finished {int(age)} s ago",
    }
    failing = [name for name, ok in checks.items() if not ok]
    body: dict[str, object] = {"status": "unhealthy" if failing else "ok", "checks": checks}
    if failing:
        body["reason"] = "; ".join(reasons[name] for name in failing)
    return web.json_response(body, status=503 if failing else 200)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[DEPS].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(deps: WebDeps) -> web.Application:
    app = web.Application()
    app[DEPS] = deps
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_api_routes(app, deps.api, deps.api_limiter)
    return app


class HttpServer:
    """The running server; `port` is the one actually bound."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise HttpPortUnavailable(host, port, exc.strerror or type(exc).__name__) from None
        self.port = self._runner.addresses[0][1]
        log.info("HTTP server listening on %s:%s", host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

"""What every loopback emulator shares: an aiohttp server on a free port and injectable faults."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp import web


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour for requests whose path starts with ``path_prefix``.

    kind: "latency" (sleep ``seconds`` then answer normally), "status" (answer ``status`` with
    ``body``/``headers``), "hang" (never answer), "garbage" (200 with a non-JSON body).
    ``times`` is how many matching requests it applies to (None: until cleared).
    """

    kind: str
    path_prefix: str = "/"
    method: str | None = None
    status: int = 500
    body: str | bytes = ""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "text/html"
    seconds: float = 0.0
    times: int | None = 1

    def matches(self, request: web.Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        return request.path.startswith(self.path_prefix)


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class LoopbackEmulator:
    """Base class: subclasses add routes in ``setup_routes`` and use ``self.faults``."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._fault_middleware])
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._hung: list[asyncio.Future[None]] = []
        self.port: int = 0
        self.setup_routes(self.app.router)

    def setup_routes(self, router: web.UrlDispatcher) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for fut in self._hung:
            if not fut.done():
                fut.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def inject(self, fault: Fault) -> Fault:
        """Add a fault; returns it so a test can remove it with ``self.faults.remove``."""
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, path_prefix: str, method: str | None = None) -> int:
        """How many recorded requests went to paths starting with ``path_prefix``."""
        return sum(
            1
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        )

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def _fault_middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        fault = self._take_fault(request)
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "hang":
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._hung.append(fut)
                await fut
            elif fault.kind == "garbage":
                return web.Response(status=200, body=b"\x00<<not json>>", content_type="text/plain")
            elif fault.kind == "status":
                return web.Response(
                    status=fault.status,
                    body=fault.body.encode() if isinstance(fault.body, str) else fault.body,
                    headers=fault.headers,
                    content_type=fault.content_type,
                )
        return await handler(request)

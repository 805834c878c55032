"""The Discord gateway (v10, JSON) as the emulator speaks it.

One ``GatewaySession`` per IDENTIFY holds the sequence number and a backlog of dispatches so a
RESUME can replay what a dropped connection missed. One ``GatewayConnection`` per websocket owns
the transport compression (zlib-stream: one compressobj per connection, Z_SYNC_FLUSH, binary
frames; zstd-stream if a zstd module is importable) and an outbox drained by a single writer task,
so frames leave in exactly the order they were queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class Op:
    """Gateway opcodes."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Intent:
    """The intent bits the emulator gates events on."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


# Which intent a dispatch needs; events not listed (READY, INTERACTION_CREATE...) always flow.
EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": Intent.GUILDS,
    "GUILD_UPDATE": Intent.GUILDS,
    "GUILD_DELETE": Intent.GUILDS,
    "GUILD_ROLE_CREATE": Intent.GUILDS,
    "GUILD_ROLE_UPDATE": Intent.GUILDS,
    "GUILD_ROLE_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "CHANNEL_UPDATE": Intent.GUILDS,
    "CHANNEL_DELETE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": Intent.GUILD_MEMBERS,
    "MESSAGE_CREATE": Intent.GUILD_MESSAGES,
    "MESSAGE_UPDATE": Intent.GUILD_MESSAGES,
    "MESSAGE_DELETE": Intent.GUILD_MESSAGES,
}

# Close codes Discord uses that tests may want to provoke or assert on.
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_DISALLOWED_INTENTS = 4014

BACKLOG_LIMIT = 1000


class _Compressor:
    """Transport compression for one connection (None: plain text frames)."""

    def __init__(self, kind: str | None) -> None:
        self.kind = kind
        self._zlib = zlib.compressobj() if kind == "zlib-stream" else None
        self._zstd: Any = _zstd_compressor() if kind == "zstd-stream" else None
        if kind not in (None, "zlib-stream", "zstd-stream"):
            raise ValueError(f"unsupported gateway compression {kind!r}")

    def pack(self, text: str) -> str | bytes:
        data = text.encode()
        if self._zlib is not None:
            return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            return self._zstd(data)
        return text


def _zstd_compressor() -> Any:
    """A callable compressing one frame in a shared zstd stream, as discord.py expects."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        zstandard = None
    if zstandard is not None:
        stream = zstandard.ZstdCompressor().compressobj()
        return lambda data: stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ValueError("zstd-stream requested but no zstd module is installed") from exc
    compressor = zstd.ZstdCompressor()
    return lambda data: compressor.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)


class GatewaySession:
    """What IDENTIFY creates and RESUME continues: id, sequence, intents and a replay backlog."""

    def __init__(
        self, session_id: str, intents: int, large_threshold: int, shard: tuple[int, int] = (0, 1)
    ) -> None:
        self.session_id = session_id
        self.shard = shard  # [shard_id, num_shards] from IDENTIFY
        self.intents = intents
        self.large_threshold = large_threshold
        self.seq = 0
        self.backlog: list[dict[str, Any]] = []
        self.connection: GatewayConnection | None = None
        self.ready = False  # READY and every GUILD_CREATE were written to the socket
        self.closed = False  # the client closed cleanly (1000/1001): Discord forgets the session

    def serves(self, guild_id: int | None) -> bool:
        """Discord's sharding rule (discord-api-docs, docs/topics/Gateway.md "Sharding"): a
        server's events go to the shard `(guild_id >> 22) % num_shards`; DMs (no guild) to
        shard 0 only."""
        shard_id, num_shards = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % num_shards == shard_id

    def wants(self, event: str) -> bool:
        needed = EVENT_INTENTS.get(event)
        return needed is None or bool(self.intents & needed)

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Number the event, keep it for RESUME and send it if a connection is attached."""
        self.seq += 1
        frame = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.backlog.append(frame)
        del self.backlog[:-BACKLOG_LIMIT]
        if self.connection is not None:
            self.connection.send(frame)

    def replay_after(self, seq: int | None) -> list[dict[str, Any]]:
        return [frame for frame in self.backlog if seq is None or frame["s"] > seq]


class GatewayConnection:
    """One websocket: compression, an ordered outbox and a writer task."""

    def __init__(self, ws: web.WebSocketResponse, compression: str | None, path: str) -> None:
        self.ws = ws
        self.path = path
        self.compressor = _Compressor(compression)
        self.session: GatewaySession | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | tuple[int, str]] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self.all_sent = asyncio.Event()
        self.all_sent.set()

    def send(self, frame: dict[str, Any]) -> None:
        self.all_sent.clear()
        self._outbox.put_nowait(frame)

    def close_after_pending(self, code: int, message: str = "") -> None:
        """Close the socket once everything queued before this call is written."""
        self.all_sent.clear()
        self._outbox.put_nowait((code, message))

    async def _write_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                if isinstance(item, tuple):
                    code, message = item
                    await self.ws.close(code=code, message=message.encode())
                    continue
                packed = self.compressor.pack(json.dumps(item, separators=(",", ":")))
                if isinstance(packed, bytes):
                    await self.ws.send_bytes(packed)
                else:
                    await self.ws.send_str(packed)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway write failed: %s", exc)
            finally:
                if self._outbox.empty():
                    self.all_sent.set()

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self.all_sent.set()

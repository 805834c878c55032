"""A loopback Discord (REST v10 + gateway) that the real discord.py client runs against.

Point discord.py at it with::

    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

(or ``with discord_py_pointed_at(emu): ...``). Then build a world and drive the bot like a user::

    guild = emu.create_guild("Pod")
    host = guild.add_member("alice", roles=[guild.add_role("Host")])
    await emu.wait_for_ready()
    run = await emu.run_command(guild, host, "tweet edit", episode="Ep 1")
    modal_run = await emu.submit_modal(run, {"Tweet": "We are live!"})
    assert "saved" in (await modal_run.wait_done()).text()

Module map: ``discord_model`` (guilds, members, messages), ``discord_gateway`` (sessions,
compression), ``discord_interactions`` (InteractionRun, payload builders, validation).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import json
import logging
import mimetypes
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.emulators.base import LoopbackEmulator
from tests.emulators.discord_events import (
    EventRefused,
    EventStatus,
    ScheduledEvent,
    allowed_mentions_errors,
    can_create,
    can_modify,
    create_event,
    modify_event,
    resolve_mentions,
)
from tests.emulators.discord_gateway import (
    CLOSE_ALREADY_AUTHENTICATED,
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_DECODE_ERROR,
    CLOSE_DISALLOWED_INTENTS,
    CLOSE_INVALID_SHARD,
    CLOSE_NOT_AUTHENTICATED,
    CLOSE_UNKNOWN_OPCODE,
    GatewayConnection,
    GatewaySession,
    Intent,
    Op,
)
from tests.emulators.discord_interactions import (
    ALLOWED_CALLBACKS,
    CallbackType,
    FormErrors,
    InteractionRun,
    InteractionType,
    build_modal_submission,
    build_options,
    check_can_use,
    choices_errors,
    command_errors,
    find_command,
    find_component,
    form_error_body,
    is_empty_message,
    message_errors,
    modal_errors,
    nest_options,
)
from tests.emulators.discord_model import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    Channel,
    Guild,
    Member,
    Permission,
    Role,
    SnowflakeFactory,
    StoredMessage,
    User,
    as_permission_value,
    iter_components,
)

__all__ = [
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionRun",
    "Member",
    "Permission",
    "Role",
    "StoredMessage",
    "discord_py_pointed_at",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
# Flags a bot may set when sending: SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, V2.
SENDABLE_FLAGS = (1 << 2) | EPHEMERAL_FLAG | (1 << 12) | (1 << 15)
POLL_SECONDS = 0.02
MESSAGE_TYPE_DEFAULT = 0
MESSAGE_TYPE_REPLY = 19
MESSAGE_TYPE_CHAT_INPUT_COMMAND = 20

HOOK_MESSAGE = "/webhooks/{app_id}/{token}/messages/{message_id}"
SCHEDULED_EVENTS = "/guilds/{guild_id}/scheduled-events"
SCHEDULED_EVENT = SCHEDULED_EVENTS + "/{event_id}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by a handler to answer like Discord: ``{"message": ..., "code": ...}``."""

    def __init__(self, status: int, message: str, code: int = 0, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code, **extra}

    @classmethod
    def form(cls, errors: FormErrors) -> ApiError:
        body = form_error_body(errors)
        return cls(400, body["message"], body["code"], errors=body["errors"])


class DiscordEmulator(LoopbackEmulator):
    """Discord's REST API under ``/api/v10`` and its gateway at ``/gateway``, on loopback.

    ``heartbeat_interval`` (seconds) goes into HELLO; ``ack_deadline`` (seconds, None: off) is
    Discord's 3-second rule: callbacks after it get 404 Unknown interaction. With
    ``privileged_intents=False`` an IDENTIFY asking for members/presences/message content is
    closed with 4014, like a bot whose intents are not enabled in the developer portal.
    """

    def __init__(
        self,
        *,
        token: str = "emulated-bot-token",  # noqa: S107 - a fake token only this emulator accepts
        bot_name: str = "OnAir",
        heartbeat_interval: float = 1.0,
        ack_deadline: float | None = 3.0,
        privileged_intents: bool = True,
    ) -> None:
        self._ids = SnowflakeFactory()
        self._token = token
        self.bot_user = User(self._ids.next(), bot_name, bot=True)
        self.app_owner = User(self._ids.next(), "app-owner")
        self.heartbeat_interval = heartbeat_interval
        self.ack_deadline = ack_deadline
        self.privileged_intents = privileged_intents
        # world
        self.guilds: dict[int, Guild] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.scheduled_events: dict[int, ScheduledEvent] = {}
        self.interactions: list[InteractionRun] = []
        self._runs_by_id: dict[int, InteractionRun] = {}
        self._runs_by_token: dict[str, InteractionRun] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_puts: Counter[int | None] = Counter()
        # gateway
        self._sessions: list[GatewaySession] = []
        self._connections: set[GatewayConnection] = set()
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.gateway_log: list[tuple[str, str | None]] = []  # (path, compression) per connection
        self.presence: dict[str, Any] | None = None
        # diagnostics: what a failing test wants to see
        self.unknown_routes: list[str] = []
        self.api_errors: list[str] = []
        self.error_bodies: list[dict[str, Any]] = []  # the JSON of each error, same order
        self._change = asyncio.Event()
        super().__init__()

    # ------------------------------------------------------------------------------------------
    # Public properties
    # ------------------------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        """What discord.http.Route.BASE should be."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What DiscordWebSocket.DEFAULT_GATEWAY should be (ws://...)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    @property
    def token(self) -> str:
        """The only bot token this emulator accepts (others get 401 / close 4004)."""
        return self._token

    @property
    def application_id(self) -> int:
        """Equal to the bot user's id, as for every modern Discord application."""
        return self.bot_user.id

    @property
    def bot_user_id(self) -> int:
        return self.bot_user.id

    @property
    def open_connections(self) -> int:
        """Gateway websockets currently open."""
        return len(self._connections)

    # ------------------------------------------------------------------------------------------
    # World building
    # ------------------------------------------------------------------------------------------

    def create_guild(
        self,
        name: str,
        *,
        owner_name: str = "owner",
        bot_permissions: object = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: object = DEFAULT_EVERYONE_PERMISSIONS,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A server with @everyone, a #general channel, an owner and the bot (managed role).

        Created after a bot connected, it arrives as GUILD_CREATE (the bot "joined").
        ``shard=(shard_id, num_shards)`` picks an id that lands on that shard.
        """
        if shard is not None:
            self._ids.skip_to_shard(*shard)
        guild = Guild(
            self._ids,
            name,
            owner_name=owner_name,
            bot_user=self.bot_user,
            bot_permissions=as_permission_value(bot_permissions),
            everyone_permissions=as_permission_value(everyone_permissions),
            emit=self._broadcast,
        )
        self.guilds[guild.id] = guild
        for session in self._live_sessions():
            if session.serves(guild.id):
                session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, session))
        self._changed()
        return guild

    def synced_commands(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        """The commands the bot registered (global if ``guild`` is None), as Discord stores them."""
        return copy.deepcopy(self._commands.get(_guild_key(guild), []))

    def command_sync_count(self, guild: Guild | int | None = None) -> int:
        """How many bulk overwrites (PUT) the bot made for these commands."""
        return self._command_puts[_guild_key(guild)]

    def message(self, message_id: int) -> StoredMessage:
        found = self.messages.get(message_id)
        assert found is not None, f"no message {message_id} was sent"
        return found

    def channel_messages(self, channel: Channel | int) -> list[StoredMessage]:
        """Non-ephemeral, non-deleted messages in the channel, oldest first (edits applied).

        Includes public interaction responses, since Discord shows those in the channel too.
        """
        channel_id = channel if isinstance(channel, int) else channel.id
        return [
            message
            for message in sorted(self.messages.values(), key=lambda m: m.id)
            if message.channel.id == channel_id and not message.deleted and not message.ephemeral
        ]

    async def wait_for_channel_message(
        self,
        channel: Channel | int,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """The oldest channel message matching ``predicate`` (any, if None), waiting for one."""

        def match() -> StoredMessage | None:
            return next(
                (m for m in self.channel_messages(channel) if predicate is None or predicate(m)),
                None,
            )

        await self.wait_until(lambda: match() is not None, timeout, f"a message in {channel!r}")
        found = match()
        assert found is not None
        return found

    # ------------------------------------------------------------------------------------------
    # Driving the bot like a user
    # ------------------------------------------------------------------------------------------

    def ready_shards(self) -> list[tuple[int, int]]:
        """[shard_id, num_shards] of every live session that received READY."""
        return [s.shard for s in self._live_sessions() if s.ready]

    async def wait_for_ready(self, timeout: float = 5.0) -> None:
        """Until a bot identified and was sent READY plus a GUILD_CREATE for every guild."""
        await self.wait_until(
            lambda: any(s.ready for s in self._live_sessions()),
            timeout,
            "a bot to IDENTIFY on the gateway and receive READY",
        )

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds; AssertionError naming ``what`` on timeout.

        Wakes on every emulator change and also polls every 20 ms, so predicates about the
        bot's own state (``bot.get_guild(...)``) work too.
        """
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._change.wait(), POLL_SECONDS)
        except TimeoutError:
            details = f" REST errors the bot got: {self.api_errors}" if self.api_errors else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}.{details}"
            ) from None

    async def run_command(
        self,
        guild: Guild,
        member: Member | int,
        command: str,
        /,
        *,
        in_channel: Channel | int | None = None,
        options: Mapping[str, Any] | None = None,
        locale: str = "en-US",
        **option_values: Any,
    ) -> InteractionRun:
        """Invoke ``/command`` ("group sub" for subcommands) as ``member``; returns the run.

        Option values come as keywords (or ``options`` for names that are not identifiers):
        str/int/bool/float, Member for user options, Channel, Role. ``in_channel`` is where the
        command is typed (default #general). Asserts the command, options and the member's
        right to see the command match what the bot synced.
        """
        member = guild.member(member)
        channel = guild.channel(in_channel)
        path = command.strip().lstrip("/")
        top, chain, specs = find_command(self._commands_for(guild), path)
        check_can_use(top, guild, member, channel)
        values = {**(options or {}), **option_values}
        leaf, resolved = build_options(specs, values, guild=guild, invoker=member, path=path)
        data = self._command_data(top, nest_options(chain, leaf), resolved)
        return await self._start_interaction(
            InteractionType.APPLICATION_COMMAND, guild, member, channel, data, f"/{path}", locale
        )

    async def autocomplete(
        self,
        guild: Guild,
        member: Member | int,
        command: str,
        option: str,
        typed: str = "",
        /,
        *,
        in_channel: Channel | int | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        **option_values: Any,
    ) -> list[dict[str, Any]]:
        """Type ``typed`` into ``option`` of ``/command``; returns the choices [{name, value}].

        Other already-filled options go in as keywords, as in ``run_command``.
        """
        member = guild.member(member)
        channel = guild.channel(in_channel)
        path = command.strip().lstrip("/")
        top, chain, specs = find_command(self._commands_for(guild), path)
        check_can_use(top, guild, member, channel)
        spec = next((s for s in specs if s["name"] == option), None)
        assert spec is not None, f"/{path} has no option {option!r}"
        assert spec.get("autocomplete"), f"option {option!r} of /{path} has no autocomplete"
        values = {**(options or {}), **option_values, option: typed}
        leaf, resolved = build_options(
            specs, values, guild=guild, invoker=member, path=path, focused=option
        )
        data = self._command_data(top, nest_options(chain, leaf), resolved)
        run = await self._start_interaction(
            InteractionType.AUTOCOMPLETE, guild, member, channel, data, f"/{path} [{option}]"
        )
        await run.response(timeout)
        choices = run.choices
        assert choices is not None, f"{run.describe()} was not answered with autocomplete choices"
        return choices

    async def submit_modal(
        self,
        run: InteractionRun,
        values: Mapping[str, Any],
        *,
        member: Member | int | None = None,
        timeout: float = 5.0,
    ) -> InteractionRun:
        """Fill and submit the modal the bot opened in ``run``; returns the MODAL_SUBMIT run.

        ``values`` keys: a field's custom_id, label or placeholder. Text inputs take str,
        selects a value or list of values. Unset fields keep their prefilled value.
        """
        if not run.acknowledged:
            await run.response(timeout)
        modal = run.modal
        assert modal is not None, f"{run.describe()} did not answer with a modal"
        components = build_modal_submission(modal, values)
        guild = run.guild
        submitter = guild.member(member if member is not None else run.member)
        data = {"custom_id": modal["custom_id"], "components": components}
        return await self._start_interaction(
            InteractionType.MODAL_SUBMIT,
            guild,
            submitter,
            run.channel,
            data,
            f"modal {modal.get('title')!r}",
            source_message=run.source_message,
        )

    async def click_button(
        self,
        message: StoredMessage | InteractionRun,
        button: str,
        member: Member | int | None = None,
        *,
        timeout: float = 5.0,
    ) -> InteractionRun:
        """Click the button with custom_id or label ``button`` on ``message`` as ``member``.

        ``message`` may be an InteractionRun (its newest message with that button is used,
        after waiting for the run to be answered). ``member`` defaults to whoever triggered
        the interaction that produced the message.
        """
        target = await self._message_with(message, button, 2, timeout)
        component = find_component(target, button, 2)
        data: dict[str, Any] = {"custom_id": component["custom_id"], "component_type": 2}
        if "id" in component:
            data["id"] = component["id"]
        return await self._component_interaction(target, member, data, f"button {button!r}")

    async def select(
        self,
        message: StoredMessage | InteractionRun,
        select: str,
        values: list[str] | str,
        member: Member | int | None = None,
        *,
        timeout: float = 5.0,
    ) -> InteractionRun:
        """Pick ``values`` in the string select with custom_id or placeholder ``select``."""
        target = await self._message_with(message, select, 3, timeout)
        component = find_component(target, select, 3)
        chosen = [values] if isinstance(values, str) else list(values)
        offered = [option.get("value") for option in component.get("options") or []]
        assert all(v in offered for v in chosen), (
            f"select {select!r} offers {offered}, not {chosen}"
        )
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        assert low <= len(chosen) <= high, f"select {select!r} takes {low}..{high} values"
        data = {"custom_id": component["custom_id"], "component_type": 3, "values": chosen}
        return await self._component_interaction(target, member, data, f"select {select!r}")

    # -- gateway control --------------------------------------------------------------------------

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT on every connection; discord.py then RESUMEs."""
        for connection in list(self._connections):
            connection.send({"op": Op.RECONNECT, "d": None, "s": None, "t": None})

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway websocket with ``code`` (4000: resumable, like a network blip)."""
        for connection in list(self._connections):
            await connection.ws.close(code=code)

    async def invalidate_sessions(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with resumable=False discord.py re-IDENTIFYs."""
        for session in self._live_sessions():
            if not resumable:
                session.closed = True
            if session.connection is not None:
                session.connection.send(
                    {"op": Op.INVALID_SESSION, "d": resumable, "s": None, "t": None}
                )

    async def stop(self) -> None:
        for connection in list(self._connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.ws.close(code=1001), 2.0)
            await connection.stop()
        await super().stop()

    # ------------------------------------------------------------------------------------------
    # Routes
    # ------------------------------------------------------------------------------------------

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        api = [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/@me", self._get_application, True),
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway_bot, True),
            ("GET", "/applications/{app_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/commands", self._put_commands, True),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback, False),
            ("POST", "/webhooks/{app_id}/{token}", self._followup, False),
            ("GET", HOOK_MESSAGE, self._get_hook_msg, False),
            ("PATCH", HOOK_MESSAGE, self._edit_hook_msg, False),
            ("DELETE", HOOK_MESSAGE, self._del_hook_msg, False),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("GET", "/channels/{channel_id}/messages", self._list_messages, True),
            ("POST", "/channels/{channel_id}/messages", self._post_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
            ("GET", "/guilds/{guild_id}", self._get_guild, True),
            ("GET", "/guilds/{guild_id}/members", self._list_members, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, True),
            ("GET", "/guilds/{guild_id}/roles", self._get_roles, True),
            ("GET", "/guilds/{guild_id}/channels", self._get_channels, True),
            ("GET", SCHEDULED_EVENTS, self._list_events, True),
            ("POST", SCHEDULED_EVENTS, self._create_event, True),
            ("GET", SCHEDULED_EVENT, self._get_event, True),
            ("PATCH", SCHEDULED_EVENT, self._modify_event, True),
        ]
        for method, path, handler, needs_auth in api:
            router.add_route(method, API_PREFIX + path, self._wrap(handler, needs_auth))
        router.add_get("/gateway", self._gateway)
        router.add_get("/gateway/resume", self._gateway)
        router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        router.add_route("*", "/{tail:.*}", self._unknown_route)

    def _wrap(self, handler: Handler, needs_auth: bool) -> Handler:
        """Token check, ApiError -> Discord JSON error, and a log of errors the bot received.

        Any other exception is an emulator bug or a body it cannot parse: answered 400 (not
        500, which discord.py retries for seconds) and logged in ``api_errors``.
        """

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                if needs_auth and request.headers.get("Authorization") != f"Bot {self._token}":
                    raise ApiError(401, "401: Unauthorized")
                return await handler(request)
            except ApiError as error:
                return self._error_response(request, error)
            except EventRefused as refused:
                error = ApiError(refused.status, refused.body["message"], refused.body["code"])
                error.body = refused.body
                return self._error_response(request, error)
            except Exception as exc:
                log.exception("discord emulator failed on %s %s", request.method, request.path)
                error = ApiError(400, f"emulator could not handle this request: {exc!r}")
                return self._error_response(request, error)

        return wrapped

    def _error_response(self, request: web.Request, error: ApiError) -> web.Response:
        self.api_errors.append(
            f"{request.method} {request.path} -> {error.status} {error.body['message']}"
        )
        self.error_bodies.append(error.body)
        log.info("discord emulator answered %s", self.api_errors[-1])
        self._changed()
        return _json(error.body, status=error.status)

    async def _unknown_route(self, request: web.Request) -> web.Response:
        route = f"{request.method} {request.path}"
        self.unknown_routes.append(route)
        log.warning("discord emulator: unknown route %s", route)
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    # -- users, application, gateway discovery ----------------------------------------------------

    async def _get_me(self, request: web.Request) -> web.Response:
        payload = {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": False}
        return _json({**payload, "locale": "en-US", "email": None})

    async def _get_user(self, request: web.Request) -> web.Response:
        user_id = _int(request.match_info["user_id"])
        for guild in self.guilds.values():
            if user_id in guild.members:
                return _json(guild.members[user_id].user.to_payload())
        raise ApiError(404, "Unknown User", 10013)

    async def _get_application(self, request: web.Request) -> web.Response:
        flags = (1 << 14) | (1 << 18) if self.privileged_intents else (1 << 15) | (1 << 19)
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": flags,
                "owner": self.app_owner.to_payload(),
                "team": None,
                "bot": self.bot_user.to_payload(),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "integration_types_config": {"0": {}},
                "approximate_guild_count": len(self.guilds),
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    # -- application commands ---------------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if _int(request.match_info["app_id"]) != self.application_id:
            raise ApiError(403, "Missing Access", 50001)
        raw_guild = request.match_info.get("guild_id")
        if raw_guild is None:
            return None
        guild_id = _int(raw_guild)
        if guild_id not in self.guilds:
            raise ApiError(403, "Missing Access", 50001)
        return guild_id

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self._commands.get(self._command_scope(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body, _ = await _read_body(request)
        if not isinstance(body, list):
            raise ApiError.form({"_": "Bulk overwrite takes a list of commands"})
        _refuse_invalid(command_errors(body))
        previous = {(c["name"], c.get("type", 1)): c["id"] for c in self._commands.get(scope, [])}
        stored = []
        for command in body:
            key = (command["name"], command.get("type", 1))
            stored.append(
                {
                    "default_member_permissions": None,
                    "nsfw": False,
                    "contexts": None,
                    "integration_types": [0],
                    "name_localizations": None,
                    "description_localizations": None,
                    **command,
                    "id": previous.get(key) or str(self._ids.next()),
                    "application_id": str(self.application_id),
                    "version": str(self._ids.next()),
                    "type": key[1],
                    **({"guild_id": str(scope)} if scope is not None else {}),
                }
            )
        self._commands[scope] = stored
        self._command_puts[scope] += 1
        self._changed()
        return _json(stored)

    def _commands_for(self, guild: Guild) -> list[dict[str, Any]]:
        """Guild commands first (they win on a name clash), then global ones."""
        assert self._command_puts[guild.id] or self._command_puts[None], (
            "the bot has not synced any application commands yet (tree.sync)"
        )
        commands = self._commands.get(guild.id, []) + self._commands.get(None, [])
        assert commands, (
            f"the bot synced an empty command list for guild {guild.name!r} and globally; "
            "commands added without guild= need tree.copy_global_to(guild=...) before a guild sync"
        )
        return commands

    # -- interactions: callback, follow-ups, @original --------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        run = self._runs_by_id.get(_int(request.match_info["interaction_id"]))
        if run is None or not secrets.compare_digest(run.token, request.match_info["token"]):
            raise ApiError(404, "Unknown interaction", 10062)
        body, files = await _read_body(request)
        if run.acknowledged:
            run.rejected_callbacks.append(body)
            raise ApiError(400, "Interaction has already been acknowledged.", 40060)
        loop = asyncio.get_running_loop()
        if self.ack_deadline is not None and loop.time() - run.dispatched_at > self.ack_deadline:
            run.late = True
            run.rejected_callbacks.append(body)
            raise ApiError(404, "Unknown interaction", 10062)
        kind = body.get("type")
        data = body.get("data") or {}
        if kind not in ALLOWED_CALLBACKS[run.type]:
            raise ApiError.form({"type": f"Callback type {kind} is not valid for this interaction"})
        message = self._answer(run, kind, data, files)
        run.acked_at = loop.time()
        run.callbacks.append(body)
        self._changed()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        info: dict[str, Any] = {"id": str(run.id), "type": run.type}
        response: dict[str, Any] = {"interaction": info}
        if message is not None:
            info["response_message_id"] = str(message.id)
            info["response_message_loading"] = message.loading
            info["response_message_ephemeral"] = message.ephemeral
            if kind != CallbackType.DEFERRED_UPDATE_MESSAGE:
                response["resource"] = {"type": kind, "message": message.to_payload()}
        else:
            response["resource"] = {"type": kind}
        return _json(response)

    def _answer(
        self, run: InteractionRun, kind: int, data: dict[str, Any], files: list[_Upload]
    ) -> StoredMessage | None:
        """Apply one accepted callback; returns the message behind @original, if any."""
        if kind == CallbackType.CHANNEL_MESSAGE:
            self._check_message(data, files)
            message_type = (
                MESSAGE_TYPE_CHAT_INPUT_COMMAND
                if run.type == InteractionType.APPLICATION_COMMAND
                else MESSAGE_TYPE_DEFAULT
            )
            run.original = self._create_message(
                run.channel, data, files, interaction=run, message_type=message_type
            )
            run.record(run.original)
        elif kind == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING_FLAG | (int(data.get("flags") or 0) & EPHEMERAL_FLAG)
            run.original = self._create_message(
                run.channel, {"flags": flags}, [], interaction=run, raw_flags=True
            )
        elif kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            if run.source_message is None:
                raise ApiError.form({"type": "There is no message to update"})
            if kind == CallbackType.UPDATE_MESSAGE:
                self._apply_edit(run.source_message, data, files)
                run.record(run.source_message)
            run.original = run.source_message
        elif kind == CallbackType.AUTOCOMPLETE_RESULT:
            _refuse_invalid(choices_errors(data))
        elif kind == CallbackType.MODAL:
            _refuse_invalid(modal_errors(data))
        return run.original

    def _hook_run(self, request: web.Request) -> InteractionRun:
        run = self._runs_by_token.get(request.match_info["token"])
        if run is None or _int(request.match_info["app_id"]) != self.application_id:
            raise ApiError(404, "Unknown Webhook", 10015)
        if not run.acknowledged:
            raise ApiError(404, "Unknown Webhook", 10015)
        return run

    def _hook_message(self, request: web.Request) -> tuple[InteractionRun, StoredMessage]:
        run = self._hook_run(request)
        raw_id = request.match_info["message_id"]
        if raw_id == "@original":
            message = run.original
        else:
            found = self.messages.get(_int(raw_id))
            message = found if found is run.original or found in run.followups else None
        if message is None or message.deleted:
            raise ApiError(404, "Unknown Message", 10008)
        return run, message

    async def _followup(self, request: web.Request) -> web.Response:
        run = self._hook_run(request)
        data, files = await _read_body(request)
        self._check_message(data, files)
        original = run.original
        if (
            run.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.loading
        ):
            # Discord: the first follow-up after a "thinking" defer resolves that message and
            # keeps the defer's ephemeral state, whatever flags the follow-up carries.
            self._apply_edit(original, {k: v for k, v in data.items() if k != "flags"}, files)
            message = original
        else:
            message = self._create_message(run.channel, data, files, interaction=run)
            run.followups.append(message)
        run.record(message)
        self._changed()
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(message.to_payload())
        return web.Response(status=204)

    async def _get_hook_msg(self, request: web.Request) -> web.Response:
        _, message = self._hook_message(request)
        return _json(message.to_payload())

    async def _edit_hook_msg(self, request: web.Request) -> web.Response:
        run, message = self._hook_message(request)
        data, files = await _read_body(request)
        self._apply_edit(message, data, files)
        run.record(message)
        self._changed()
        return _json(message.to_payload())

    async def _del_hook_msg(self, request: web.Request) -> web.Response:
        _, message = self._hook_message(request)
        self._delete(message)
        return web.Response(status=204)

    # -- channels and messages --------------------------------------------------------------------

    def _find_channel(self, request: web.Request) -> Channel:
        channel_id = _int(request.match_info["channel_id"])
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        raise ApiError(404, "Unknown Channel", 10003)

    def _channel_message(self, request: web.Request) -> StoredMessage:
        channel = self._find_channel(request)
        message = self.messages.get(_int(request.match_info["message_id"]))
        if (
            message is None
            or message.deleted
            or message.channel is not channel
            or message.ephemeral
        ):
            raise ApiError(404, "Unknown Message", 10008)
        return message

    def _require_bot_permissions(self, channel: Channel, needed: int) -> None:
        guild = channel.guild
        perms = guild.permissions_for(guild.bot_member, channel)
        if not perms & Permission.VIEW_CHANNEL:
            raise ApiError(403, "Missing Access", 50001)
        if perms & needed != needed:
            raise ApiError(403, "Missing Permissions", 50013)

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._find_channel(request)
        self._require_bot_permissions(channel, Permission.VIEW_CHANNEL)
        return _json(channel.to_payload())

    async def _list_messages(self, request: web.Request) -> web.Response:
        channel = self._find_channel(request)
        self._require_bot_permissions(channel, Permission.READ_MESSAGE_HISTORY)
        newest_first = list(reversed(self.channel_messages(channel)))
        before, after = request.query.get("before"), request.query.get("after")
        if before:
            newest_first = [m for m in newest_first if m.id < _int(before)]
        if after:
            newest_first = [m for m in newest_first if m.id > _int(after)]
        limit = min(int(request.query.get("limit", "50")), 100)
        return _json([m.to_payload() for m in newest_first[:limit]])

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._find_channel(request)
        data, files = await _read_body(request)
        needed = Permission.SEND_MESSAGES | (Permission.ATTACH_FILES if files else 0)
        self._require_bot_permissions(channel, needed)
        self._check_message(data, files)
        reply = data.get("message_reference") is not None
        message = self._create_message(
            channel, data, files, message_type=MESSAGE_TYPE_REPLY if reply else MESSAGE_TYPE_DEFAULT
        )
        self._changed()
        return _json(message.to_payload())

    async def _get_message(self, request: web.Request) -> web.Response:
        return _json(self._channel_message(request).to_payload())

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message.author is not self.bot_user:
            raise ApiError(403, "Cannot edit a message authored by another user", 50005)
        data, files = await _read_body(request)
        self._apply_edit(message, data, files)
        if message.interaction is not None:
            message.interaction.record(message)
        self._changed()
        return _json(message.to_payload())

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message.author is not self.bot_user:
            self._require_bot_permissions(message.channel, Permission.MANAGE_MESSAGES)
        self._delete(message)
        return web.Response(status=204)

    async def _attachment(self, request: web.Request) -> web.Response:
        attachment_id = request.match_info["attachment_id"]
        for message in self.messages.values():
            for attachment in message.attachments:
                if attachment["id"] == attachment_id:
                    body = message.files[attachment["filename"]]
                    return web.Response(body=body, content_type=attachment["content_type"])
        return web.Response(status=404)

    # -- guilds -----------------------------------------------------------------------------------

    def _find_guild(self, request: web.Request) -> Guild:
        guild = self.guilds.get(_int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, "Unknown Guild", 10004)
        return guild

    async def _get_guild(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        payload = guild.to_payload()
        if request.query.get("with_counts") in ("1", "true", "True"):
            payload["approximate_member_count"] = len(guild.members)
            payload["approximate_presence_count"] = 0
        return _json(payload)

    async def _list_members(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        if not self.privileged_intents:
            raise ApiError(403, "Missing Access", 50001)
        after = _int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "1")), 1000)
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return _json([m.to_payload() for m in members[:limit]])

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        member = guild.members.get(_int(request.match_info["user_id"]))
        if member is None:
            raise ApiError(404, "Unknown Member", 10007)
        return _json(member.to_payload())

    async def _get_roles(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        return _json([role.to_payload() for role in guild.roles.values()])

    async def _get_channels(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        return _json([channel.to_payload() for channel in guild.channels.values()])

    # -- guild scheduled events (rules in discord_events) ----------------------------------------

    def events_of(self, guild: Guild | int) -> list[ScheduledEvent]:
        """Every scheduled event of `guild`, oldest first (tests read this)."""
        guild_id = guild if isinstance(guild, int) else guild.id
        return [e for e in self.scheduled_events.values() if e.guild.id == guild_id]

    def _find_event(self, request: web.Request) -> ScheduledEvent:
        guild = self._find_guild(request)
        event = self.scheduled_events.get(_int(request.match_info["event_id"]))
        if event is None or event.guild is not guild:
            raise ApiError(404, "Unknown Guild Scheduled Event", 10070)
        return event

    async def _list_events(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        return _json([event.to_payload() for event in self.events_of(guild)])

    async def _get_event(self, request: web.Request) -> web.Response:
        return _json(self._find_event(request).to_payload())

    async def _create_event(self, request: web.Request) -> web.Response:
        guild = self._find_guild(request)
        if not can_create(guild.permissions_for(guild.bot_member)):
            raise ApiError(403, "Missing Permissions", 50013)
        data, _ = await _read_body(request)
        unfinished = sum(
            1
            for e in self.events_of(guild)
            if e.status in (EventStatus.SCHEDULED, EventStatus.ACTIVE)
        )
        event = ScheduledEvent(self._ids.next(), guild, self.bot_user)
        create_event(event, data, unfinished, datetime.now(UTC))
        self.scheduled_events[event.id] = event
        self._broadcast("GUILD_SCHEDULED_EVENT_CREATE", event.to_payload())
        return _json(event.to_payload())

    async def _modify_event(self, request: web.Request) -> web.Response:
        event = self._find_event(request)
        guild = event.guild
        own = event.creator is self.bot_user
        if not can_modify(guild.permissions_for(guild.bot_member), own_event=own):
            raise ApiError(403, "Missing Permissions", 50013)
        data, _ = await _read_body(request)
        modify_event(event, data, datetime.now(UTC))
        self._broadcast("GUILD_SCHEDULED_EVENT_UPDATE", event.to_payload())
        return _json(event.to_payload())

    # ------------------------------------------------------------------------------------------
    # Message storage
    # ------------------------------------------------------------------------------------------

    def _check_message(self, data: Mapping[str, Any], files: list[_Upload]) -> None:
        _refuse_invalid(message_errors(data))
        mention_errors = allowed_mentions_errors(data.get("allowed_mentions"))
        if mention_errors:
            raise EventRefused.form(mention_errors)
        if is_empty_message(
            data.get("content"),
            data.get("embeds") or [],
            data.get("components") or [],
            files or data.get("attachments") or [],
        ) and not data.get("poll"):
            raise ApiError(400, "Cannot send an empty message", 50006)

    def _create_message(
        self,
        channel: Channel,
        data: Mapping[str, Any],
        files: list[_Upload],
        *,
        interaction: InteractionRun | None = None,
        message_type: int = MESSAGE_TYPE_DEFAULT,
        raw_flags: bool = False,
    ) -> StoredMessage:
        flags = int(data.get("flags") or 0)
        message = StoredMessage(
            self._ids.next(),
            channel,
            self.bot_user,
            message_type=message_type,
            flags=flags if raw_flags else flags & SENDABLE_FLAGS,
            interaction=interaction,
        )
        message.content = data.get("content") or ""
        message.tts = bool(data.get("tts"))
        message.embeds = list(data.get("embeds") or [])
        message.components = list(data.get("components") or [])
        message.attachments = self._attachments(message, data.get("attachments"), files)
        guild = channel.guild
        pings = resolve_mentions(
            message.content,
            data.get("allowed_mentions") if "allowed_mentions" in data else None,
            guild,
            guild.permissions_for(guild.bot_member, channel),
        )
        message.mention_user_ids, message.mention_role_ids = pings.users, pings.roles
        message.mention_everyone = pings.everyone
        self.messages[message.id] = message
        if not message.ephemeral:
            self._broadcast("MESSAGE_CREATE", self._message_event(message))
        return message

    def _apply_edit(
        self, message: StoredMessage, data: Mapping[str, Any], files: list[_Upload]
    ) -> None:
        """PATCH semantics: only fields present change; a resolved defer stops loading."""
        _refuse_invalid(message_errors(data))
        content = (data["content"] or "") if "content" in data else message.content
        embeds = list(data["embeds"] or []) if "embeds" in data else message.embeds
        components = list(data["components"] or []) if "components" in data else message.components
        attachments = (
            self._attachments(message, data.get("attachments"), files)
            if "attachments" in data or files
            else message.attachments
        )
        if is_empty_message(content, embeds, components, attachments):
            raise ApiError(400, "Cannot send an empty message", 50006)
        message.content, message.embeds, message.components = content, embeds, components
        message.attachments = attachments
        if "flags" in data and data["flags"] is not None:
            keep = message.flags & (EPHEMERAL_FLAG | (1 << 15))
            message.flags = keep | (int(data["flags"]) & (1 << 2 | 1 << 15))
        message.flags &= ~LOADING_FLAG
        message.edited_at = datetime.now(UTC)
        message.edit_count += 1
        if not message.ephemeral:
            self._broadcast("MESSAGE_UPDATE", self._message_event(message))

    def _delete(self, message: StoredMessage) -> None:
        message.deleted = True
        if not message.ephemeral:
            self._broadcast(
                "MESSAGE_DELETE",
                {
                    "id": str(message.id),
                    "channel_id": str(message.channel.id),
                    "guild_id": str(message.channel.guild.id),
                },
            )
        self._changed()

    def _attachments(
        self, message: StoredMessage, specs: list[dict[str, Any]] | None, files: list[_Upload]
    ) -> list[dict[str, Any]]:
        """Keep referenced existing attachments and store uploaded ``files[n]`` parts."""
        uploads: dict[int, _Upload] = {}
        for upload in files:
            match = re.fullmatch(r"files\[(\d+)\]", upload.field)
            if match:
                uploads[int(match.group(1))] = upload
        if specs is None:
            specs = [{"id": index, "filename": up.filename} for index, up in uploads.items()]
        existing = {attachment["id"]: attachment for attachment in message.attachments}
        result: list[dict[str, Any]] = []
        for spec in specs:
            if str(spec.get("id")) in existing:
                result.append(existing[str(spec["id"])])
                continue
            upload = uploads.get(_int(str(spec.get("id"))))
            if upload is None:
                raise ApiError.form({"attachments": f"No file uploaded for attachment {spec}"})
            filename = str(spec.get("filename") or upload.filename)
            attachment_id = str(self._ids.next())
            message.files[filename] = upload.data
            url = f"{self.base_url}/attachments/{message.channel.id}/{attachment_id}/{filename}"
            result.append(
                {
                    "id": attachment_id,
                    "filename": filename,
                    "description": spec.get("description"),
                    "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                }
            )
        return result

    def _message_event(self, message: StoredMessage) -> dict[str, Any]:
        guild = message.channel.guild
        return {**message.to_payload(), "member": guild.bot_member.to_payload(with_user=False)}

    # ------------------------------------------------------------------------------------------
    # Interactions: building and dispatching
    # ------------------------------------------------------------------------------------------

    def _command_data(
        self, top: dict[str, Any], options: list[dict[str, Any]], resolved: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": top["id"], "name": top["name"], "type": 1}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if top.get("guild_id"):
            data["guild_id"] = top["guild_id"]
        return data

    async def _message_with(
        self, message: StoredMessage | InteractionRun, key: str, kind: int, timeout: float
    ) -> StoredMessage:
        if isinstance(message, StoredMessage):
            return message
        await message.wait_done(timeout)
        for candidate in reversed(message.messages):
            if any(
                c.get("type") == kind
                and key in (c.get("custom_id"), c.get("label"), c.get("placeholder"))
                for c in iter_components(candidate.components)
            ):
                return candidate
        assert message.messages, f"{message.describe()} produced no message"
        return message.messages[-1]  # find_component then explains what is there

    async def _component_interaction(
        self,
        message: StoredMessage,
        member: Member | int | None,
        data: dict[str, Any],
        name: str,
    ) -> InteractionRun:
        assert not message.deleted, f"message {message.id} was deleted"
        guild = message.channel.guild
        if member is None:
            assert message.interaction is not None, (
                f"message {message.id} is a channel message; say which member clicks"
            )
            member = message.interaction.member
        clicker = guild.member(member)
        if message.ephemeral:
            owner = message.interaction.member if message.interaction is not None else None
            assert owner is not None and owner.id == clicker.id, (
                f"message {message.id} is ephemeral; only {owner.name if owner else '?'} sees it"
            )
        return await self._start_interaction(
            InteractionType.MESSAGE_COMPONENT,
            guild,
            clicker,
            message.channel,
            data,
            name,
            source_message=message,
        )

    async def _start_interaction(
        self,
        interaction_type: int,
        guild: Guild,
        member: Member,
        channel: Channel,
        data: dict[str, Any],
        name: str,
        locale: str = "en-US",
        *,
        source_message: StoredMessage | None = None,
    ) -> InteractionRun:
        session = self._interaction_session(guild)
        interaction_id = self._ids.next()
        token = f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}"
        member_perms = guild.permissions_for(member, channel)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_id": str(guild.id),
            "channel_id": str(channel.id),
            "channel": {**channel.to_payload(), "permissions": str(member_perms)},
            "member": member.to_payload(permissions=member_perms),
            "token": token,
            "version": 1,
            "locale": locale,
            "guild_locale": "en-US",
            "app_permissions": str(guild.permissions_for(guild.bot_member, channel)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if source_message is not None:
            payload["message"] = source_message.to_payload()
        run = InteractionRun(
            self,
            interaction_id=interaction_id,
            token=token,
            interaction_type=interaction_type,
            name=name,
            guild=guild,
            member=member,
            channel=channel,
            payload=payload,
            source_message=source_message,
        )
        self.interactions.append(run)
        self._runs_by_id[interaction_id] = run
        self._runs_by_token[token] = run
        run.dispatched_at = asyncio.get_running_loop().time()
        session.dispatch("INTERACTION_CREATE", payload)
        return run

    # ------------------------------------------------------------------------------------------
    # Gateway
    # ------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compression = request.query.get("compress")
        self.gateway_log.append((request.path, compression))
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=CLOSE_DECODE_ERROR, message=b"only encoding=json is emulated")
            return ws
        try:
            connection = GatewayConnection(ws, compression, request.path)
        except ValueError as exc:
            await ws.close(code=CLOSE_DECODE_ERROR, message=str(exc).encode())
            return ws
        self._connections.add(connection)
        hello = {"heartbeat_interval": int(self.heartbeat_interval * 1000), "_trace": ["emu"]}
        connection.send({"op": Op.HELLO, "d": hello, "s": None, "t": None})
        client_close_code: int | None = None
        try:
            while True:
                frame = await ws.receive()
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_gateway_frame(connection, frame.data)
                    continue
                if frame.type is WSMsgType.CLOSE:
                    client_close_code = frame.data
                break
        finally:
            self._connections.discard(connection)
            await connection.stop()
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
                if client_close_code in (1000, 1001):
                    # The client closing with 1000/1001 ends its session, as on Discord.
                    # (discord.py's close() usually races its own reader and sends 4000, so
                    # its session stays resumable, exactly as it would on Discord.)
                    session.closed = True
            self._changed()
        return ws

    async def _on_gateway_frame(self, connection: GatewayConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            op, data = frame["op"], frame.get("d")
        except (ValueError, KeyError, TypeError):
            connection.close_after_pending(CLOSE_DECODE_ERROR, "Error while decoding payload.")
            return
        if op == Op.HEARTBEAT:
            self.heartbeat_count += 1
            connection.send({"op": Op.HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == Op.IDENTIFY:
            await self._identify(connection, data)
        elif op == Op.RESUME:
            self._resume(connection, data)
        elif connection.session is None:
            connection.close_after_pending(CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
        elif op == Op.REQUEST_GUILD_MEMBERS:
            self._member_chunks(connection.session, data)
        elif op == Op.PRESENCE_UPDATE:
            self.presence = data
        elif op != Op.VOICE_STATE_UPDATE:
            connection.close_after_pending(CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")

    async def _identify(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            connection.close_after_pending(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") not in (self._token, f"Bot {self._token}"):
            connection.close_after_pending(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & Intent.PRIVILEGED and not self.privileged_intents:
            connection.close_after_pending(CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard = _identify_shard(data)
        if shard is None:
            connection.close_after_pending(CLOSE_INVALID_SHARD, "Invalid shard.")
            return
        session = GatewaySession(
            secrets.token_hex(16), intents, data.get("large_threshold", 50), shard
        )
        session.connection = connection
        connection.session = session
        self._sessions.append(session)
        self.identify_count += 1
        flags = (1 << 14) | (1 << 18) if self.privileged_intents else (1 << 15) | (1 << 19)
        session.dispatch(
            "READY",
            {
                "v": 10,
                "user": {**self.bot_user.to_payload(), "verified": True, "mfa_enabled": False},
                "guilds": [
                    {"id": str(gid), "unavailable": True}
                    for gid in self.guilds
                    if session.serves(gid)
                ],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.resume_gateway_url,
                "shard": list(shard),
                "application": {"id": str(self.application_id), "flags": flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["emu"],
            },
        )
        for guild in self.guilds.values():
            if session.serves(guild.id):
                session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, session))
        await connection.all_sent.wait()
        session.ready = True
        self._changed()

    def _resume(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        if data.get("token") not in (self._token, f"Bot {self._token}"):
            connection.close_after_pending(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        session = next(
            (s for s in self._sessions if s.session_id == data.get("session_id") and not s.closed),
            None,
        )
        if session is None:
            connection.send({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        if session.connection is not None and session.connection is not connection:
            session.connection.close_after_pending(4009, "Session resumed elsewhere.")
        session.connection = connection
        connection.session = session
        for frame in session.replay_after(data.get("seq")):
            connection.send(frame)
        session.dispatch("RESUMED", {"_trace": ["emu"]})
        self.resume_count += 1
        self._changed()

    def _member_chunks(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild = self.guilds.get(_int(str(data.get("guild_id"))))
        if guild is None:
            return
        members = list(guild.members.values())
        user_ids = {_int(str(uid)) for uid in data.get("user_ids") or []}
        if user_ids:
            found = [m for m in members if m.id in user_ids]
        else:
            query = str(data.get("query") or "").lower()
            found = [
                m
                for m in members
                if m.name.lower().startswith(query) or (m.nick or "").lower().startswith(query)
            ]
            if data.get("limit"):
                found = found[: int(data["limit"])]
        chunks = [found[i : i + 1000] for i in range(0, len(found), 1000)] or [[]]
        for index, chunk in enumerate(chunks):
            event: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [member.to_payload() for member in chunk],
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if user_ids:
                event["not_found"] = [str(uid) for uid in user_ids - {m.id for m in found}]
            if data.get("presences"):
                event["presences"] = []
            if data.get("nonce") is not None:
                event["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", event)

    def _guild_create_payload(self, guild: Guild, session: GatewaySession) -> dict[str, Any]:
        return guild.to_gateway_payload(
            include_members=bool(session.intents & Intent.GUILD_MEMBERS),
            large_threshold=session.large_threshold,
        )

    def _live_sessions(self) -> list[GatewaySession]:
        return [session for session in self._sessions if not session.closed]

    def _interaction_session(self, guild: Guild) -> GatewaySession:
        """Interactions go to the most recently identified live session of the guild's shard."""
        ready = [s for s in self._live_sessions() if s.ready and s.serves(guild.id)]
        assert ready, "no bot is connected to the gateway; await emu.wait_for_ready() first"
        return ready[-1]

    def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        """Send a guild event to every live session whose intents want it."""
        guild_id = _event_guild_id(event, data)
        for session in self._live_sessions():
            if session.wants(event) and session.serves(guild_id):
                session.dispatch(event, data)
        self._changed()

    def _changed(self) -> None:
        """Wake everything in ``wait_until``: the world or a run changed."""
        self._change.set()
        self._change = asyncio.Event()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _identify_shard(data: dict[str, Any]) -> tuple[int, int] | None:
    """IDENTIFY's optional `shard` [shard_id, num_shards] (default [0, 1]); None when invalid,
    which Discord answers with close code 4010 (discord-api-docs, Gateway, "Sharding")."""
    raw = data.get("shard", [0, 1])
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) for n in raw)
        or not 0 <= raw[0] < raw[1]
    ):
        return None
    return raw[0], raw[1]


def _event_guild_id(event: str, data: dict[str, Any]) -> int | None:
    """The server a dispatch is about (None: a DM or no server), for shard routing."""
    raw = data.get("guild_id")
    if raw is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        raw = data.get("id")
    return int(raw) if raw is not None else None


class _Upload:
    """One file part of a multipart body (``files[n]``)."""

    def __init__(self, field: str, filename: str, data: bytes) -> None:
        self.field = field
        self.filename = filename
        self.data = data


async def _read_body(request: web.Request) -> tuple[Any, list[_Upload]]:
    """JSON body, or multipart ``payload_json`` plus its file parts, as discord.py sends them.

    The base middleware already consumed the stream, so multipart is parsed from the cached
    bytes with the stdlib email parser rather than aiohttp's streaming reader.
    """
    raw = await request.read()
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/"):
        return (json.loads(raw) if raw else {}), []
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    document = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    payload: Any = {}
    uploads: list[_Upload] = []
    for part in document.iter_parts():
        field = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if field == "payload_json":
            payload = json.loads(data)
        else:
            uploads.append(_Upload(str(field), part.get_filename() or str(field), data))
    return payload, uploads


def _refuse_invalid(errors: FormErrors) -> None:
    """400 Invalid Form Body (code 50035) when Discord would refuse the payload."""
    if errors:
        raise ApiError.form(errors)


def _json(data: Any, status: int = 200) -> web.Response:
    """Exactly ``Content-Type: application/json`` (no charset): discord.py compares it verbatim."""
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, "404: Not Found") from None


def _guild_key(guild: Guild | int | None) -> int | None:
    return guild.id if isinstance(guild, Guild) else guild


@contextlib.contextmanager
def discord_py_pointed_at(emulator: DiscordEmulator) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the emulator, then restore them."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emulator.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

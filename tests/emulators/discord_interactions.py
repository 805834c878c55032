"""Interactions: what a test drives (InteractionRun) and how payloads are built and checked.

``InteractionRun`` records everything the bot did for one interaction (callback, the original
response after edits, follow-ups). The builders turn a test's intent ("/demo echo text=hi",
"fill the modal", "click Confirm") into the exact JSON Discord would send, and fail with an
AssertionError naming what exists when the intent does not match what the bot registered or sent.
The validators reject what Discord itself would reject (400 Invalid Form Body), so bot bugs that
only show in production show here too.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tests.emulators.discord_model import (
    EPHEMERAL_FLAG,
    Channel,
    Guild,
    Member,
    Permission,
    Role,
    StoredMessage,
    User,
    iter_components,
)

if TYPE_CHECKING:
    from tests.emulators.discord_api import DiscordEmulator


class InteractionType:
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

OPTION_TYPE_NAMES = {
    1: "subcommand",
    2: "subcommand group",
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}


# --------------------------------------------------------------------------------------------
# InteractionRun
# --------------------------------------------------------------------------------------------


class InteractionRun:
    """One interaction sent to the bot and everything the bot did about it.

    ``callbacks`` are the accepted callback bodies ({"type", "data"}); ``original`` is the
    message behind @original (the response, the deferred placeholder, or for types 6/7 the
    component's message); ``followups`` are the follow-up messages. ``late`` is True when the
    bot answered after the acknowledgement deadline and Discord refused it.
    """

    def __init__(
        self,
        emulator: DiscordEmulator,
        *,
        interaction_id: int,
        token: str,
        interaction_type: int,
        name: str,
        guild: Guild,
        member: Member,
        channel: Channel,
        payload: dict[str, Any],
        source_message: StoredMessage | None,
    ) -> None:
        self._emulator = emulator
        self.id = interaction_id
        self.token = token
        self.type = interaction_type
        self.name = name
        self.guild = guild
        self.member = member
        self.channel = channel
        self.payload = payload
        self.source_message = source_message
        self.application_id = emulator.application_id
        self.callbacks: list[dict[str, Any]] = []
        self.rejected_callbacks: list[dict[str, Any]] = []
        self.original: StoredMessage | None = None
        self.followups: list[StoredMessage] = []
        self.late = False
        self.dispatched_at = 0.0
        self.acked_at = 0.0  # loop time of the accepted initial callback (bench/load.py)
        self.answered_at = 0.0  # loop time of the first visible answer (not a "thinking" one)
        self._events: list[StoredMessage] = []
        self._cursor = 0

    # -- state ----------------------------------------------------------------------------------

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def response_type(self) -> int | None:
        """The initial callback type (4 message, 5 defer, 6 deferred update, 7 update, 8, 9)."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def deferred(self) -> bool:
        return self.response_type in (
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response (or the message it updates) is only visible to the user."""
        if self.original is not None:
            return self.original.ephemeral
        data = (self.callbacks[0].get("data") or {}) if self.callbacks else {}
        return bool((data.get("flags") or 0) & EPHEMERAL_FLAG)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal payload ({custom_id, title, components}) if the bot answered with one."""
        if self.response_type != CallbackType.MODAL:
            return None
        return self.callbacks[0]["data"]

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """The autocomplete choices ({name, value}) if this was an autocomplete."""
        if self.response_type != CallbackType.AUTOCOMPLETE_RESULT:
            return None
        return list((self.callbacks[0].get("data") or {}).get("choices") or [])

    @property
    def done(self) -> bool:
        """Answered for real: a message, update, modal or choices; a defer once resolved."""
        kind = self.response_type
        if kind is None:
            return False
        if kind == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            return self.original is not None and (
                self.original.deleted or not self.original.loading
            )
        if kind == CallbackType.DEFERRED_UPDATE_MESSAGE:
            return bool(self._events)
        return True

    @property
    def messages(self) -> list[StoredMessage]:
        """Visible messages of this interaction: the original response, then follow-ups."""
        found = [self.original] if self.original is not None else []
        found += self.followups
        # Only what this interaction created or changed: a deferred update (type 6) does not
        # make the clicked message part of the answer until the bot edits it.
        return [m for m in found if m in self._events and not m.deleted]

    @property
    def message(self) -> StoredMessage | None:
        """The message most recently created or edited for this interaction."""
        return self._events[-1] if self._events else None

    @property
    def content(self) -> str:
        return self.message.content if self.message is not None else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.embeds if self.message is not None else []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.message.components if self.message is not None else []

    def text(self) -> str:
        """All visible words of the interaction's messages (content, embeds, text displays)."""
        return "\n".join(message.text() for message in self.messages)

    # -- waiting --------------------------------------------------------------------------------

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the initial callback; returns its body ({"type", "data"})."""
        await self._emulator.wait_until(
            lambda: self.acknowledged, timeout, f"the bot to acknowledge {self.describe()}"
        )
        return self.callbacks[0]

    async def wait_done(self, timeout: float = 5.0) -> InteractionRun:
        """Wait until the bot really answered (see ``done``); returns self for chaining."""
        await self._emulator.wait_until(
            lambda: self.done, timeout, f"an answer to {self.describe()}"
        )
        return self

    async def next_message(self, timeout: float = 5.0) -> StoredMessage:
        """The next message created or edited for this interaction (each returned once)."""
        await self._emulator.wait_until(
            lambda: len(self._events) > self._cursor,
            timeout,
            f"another message for {self.describe()}",
        )
        message = self._events[self._cursor]
        self._cursor += 1
        return message

    # -- recording (emulator side) --------------------------------------------------------------

    def record(self, message: StoredMessage) -> None:
        """A message of this interaction was created or changed visibly."""
        if not message.loading:
            self._events.append(message)
            self.answered_at = self.answered_at or asyncio.get_running_loop().time()

    def describe(self) -> str:
        callbacks = [body.get("type") for body in self.callbacks] or "none"
        return (
            f"{self.name} by {self.member.name} (interaction {self.id}; callbacks {callbacks}; "
            f"{len(self.messages)} message(s){'; answered too late' if self.late else ''})"
        )

    def __repr__(self) -> str:
        return f"<InteractionRun {self.describe()}>"


# --------------------------------------------------------------------------------------------
# Slash commands: find what was synced and build options like the Discord client does
# --------------------------------------------------------------------------------------------


def command_paths(commands: list[dict[str, Any]]) -> list[str]:
    """Every invocable slash command path, e.g. ['/demo echo', '/ping']."""

    def leaves(prefix: str, options: list[dict[str, Any]]) -> Iterator[str]:
        subs = [o for o in options if o.get("type") in (1, 2)]
        if not subs:
            yield prefix
        for sub in subs:
            yield from leaves(f"{prefix} {sub['name']}", sub.get("options") or [])

    paths: list[str] = []
    for command in commands:
        if command.get("type", 1) == 1:
            paths.extend(leaves(f"/{command['name']}", command.get("options") or []))
    return paths


def find_command(
    commands: list[dict[str, Any]], path: str
) -> tuple[dict[str, Any], list[tuple[str, int]], list[dict[str, Any]]]:
    """Resolve "group sub" to (top-level command, [(sub name, option type)...], leaf options)."""
    names = path.strip().lstrip("/").split()
    assert names, "empty command path"
    known = command_paths(commands)
    top = next((c for c in commands if c.get("type", 1) == 1 and c["name"] == names[0]), None)
    assert top is not None, f"no slash command /{names[0]} was synced; synced commands: {known}"
    chain: list[tuple[str, int]] = []
    options: list[dict[str, Any]] = top.get("options") or []
    for name in names[1:]:
        sub = next((o for o in options if o.get("type") in (1, 2) and o["name"] == name), None)
        assert sub is not None, f"/{path.lstrip('/')} was not synced; synced commands: {known}"
        chain.append((name, sub["type"]))
        options = sub.get("options") or []
    assert not any(o.get("type") in (1, 2) for o in options), (
        f"/{path.lstrip('/')} is a group, not a command; synced commands: {known}"
    )
    return top, chain, options


def nest_options(chain: list[tuple[str, int]], leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wrap leaf options in their subcommand (group) options, as Discord sends them."""
    options = leaf
    for name, option_type in reversed(chain):
        options = [{"name": name, "type": option_type, "options": options}]
    return options


def build_options(
    specs: list[dict[str, Any]],
    values: Mapping[str, Any],
    *,
    guild: Guild,
    invoker: Member,
    path: str,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Option list and ``resolved`` data for the given values; asserts what Discord enforces."""
    by_name = {spec["name"]: spec for spec in specs}
    unknown = sorted(set(values) - set(by_name))
    assert not unknown, (
        f"/{path} has no option(s) {unknown}; its options: "
        f"{[_describe_option(spec) for spec in specs]}"
    )
    if focused is None:
        missing = [s["name"] for s in specs if s.get("required") and s["name"] not in values]
        assert not missing, f"/{path} needs required option(s) {missing}"
    resolved: dict[str, dict[str, Any]] = {}
    options: list[dict[str, Any]] = []
    for spec in specs:
        name = spec["name"]
        if name not in values:
            continue
        if name == focused:
            options.append(
                {"name": name, "type": spec["type"], "value": str(values[name]), "focused": True}
            )
            continue
        value = _option_value(spec, values[name], guild, invoker, resolved, path)
        options.append({"name": name, "type": spec["type"], "value": value})
    return options, resolved


def _describe_option(spec: dict[str, Any]) -> str:
    return f"{spec['name']} ({OPTION_TYPE_NAMES.get(spec['type'], spec['type'])})"


def _option_value(
    spec: dict[str, Any],
    raw: Any,
    guild: Guild,
    invoker: Member,
    resolved: dict[str, dict[str, Any]],
    path: str,
) -> Any:
    kind = spec["type"]
    where = f"option {spec['name']!r} of /{path}"
    if kind == 3:
        assert isinstance(raw, str), f"{where} is a string, got {raw!r}"
        _check_length(raw, spec, where)
    elif kind in (4, 10):
        numeric = int if kind == 4 else (int, float)
        assert isinstance(raw, numeric) and not isinstance(raw, bool), (
            f"{where} is {OPTION_TYPE_NAMES[kind]}, got {raw!r}"
        )
        _check_range(raw, spec, where)
    elif kind == 5:
        assert isinstance(raw, bool), f"{where} is a boolean, got {raw!r}"
    elif kind in (6, 9) and isinstance(raw, Member | User):
        return _resolve_user(raw, guild, invoker, resolved)
    elif kind == 6 and isinstance(raw, int):
        return _resolve_user(guild.member(raw), guild, invoker, resolved)
    elif kind in (8, 9) and isinstance(raw, Role):
        resolved.setdefault("roles", {})[str(raw.id)] = raw.to_payload()
        return str(raw.id)
    elif kind == 7 and isinstance(raw, Channel | int):
        channel = guild.channel(raw)
        allowed_types = spec.get("channel_types")
        assert not allowed_types or channel.type in allowed_types, (
            f"{where} accepts channel types {allowed_types}, not {channel!r}"
        )
        resolved.setdefault("channels", {})[str(channel.id)] = {
            **channel.to_payload(),
            "permissions": str(guild.permissions_for(invoker, channel)),
        }
        return str(channel.id)
    else:
        raise AssertionError(
            f"{where} is {OPTION_TYPE_NAMES.get(kind, kind)}; the emulator cannot send {raw!r}"
        )
    choices = spec.get("choices")
    if choices:
        allowed = [choice["value"] for choice in choices]
        assert raw in allowed, f"{where} only offers choices {allowed}, got {raw!r}"
    return raw


def _resolve_user(
    user: Member | User, guild: Guild, invoker: Member, resolved: dict[str, dict[str, Any]]
) -> str:
    member = guild.members.get(user.id)
    account = member.user if member is not None else user
    assert isinstance(account, User)
    resolved.setdefault("users", {})[str(account.id)] = account.to_payload()
    if member is not None:
        resolved.setdefault("members", {})[str(member.id)] = member.to_payload(
            with_user=False, permissions=guild.permissions_for(member)
        )
    return str(account.id)


def _check_length(value: str, spec: dict[str, Any], where: str) -> None:
    low, high = spec.get("min_length"), spec.get("max_length")
    assert low is None or len(value) >= low, f"{where} needs at least {low} characters"
    assert high is None or len(value) <= high, f"{where} allows at most {high} characters"


def _check_range(value: float, spec: dict[str, Any], where: str) -> None:
    low, high = spec.get("min_value"), spec.get("max_value")
    assert low is None or value >= low, f"{where} must be >= {low}, got {value}"
    assert high is None or value <= high, f"{where} must be <= {high}, got {value}"


def check_can_use(command: dict[str, Any], guild: Guild, member: Member, channel: Channel) -> None:
    """Discord hides commands a member may not use; a test asking for one is a test bug."""
    perms = guild.permissions_for(member, channel)
    name = f"/{command['name']}"
    assert perms & Permission.USE_APPLICATION_COMMANDS, (
        f"{member.name} lacks Use Application Commands in #{channel.name}"
    )
    contexts = command.get("contexts")
    assert contexts is None or 0 in contexts, f"{name} is not available in servers"
    needed_raw = command.get("default_member_permissions")
    if needed_raw is None:
        return
    needed = int(needed_raw)
    is_admin = bool(perms & Permission.ADMINISTRATOR)
    allowed = is_admin if needed == 0 else (perms & needed) == needed
    assert allowed, (
        f"{member.name} cannot see {name}: default_member_permissions={needed} "
        f"but the member has {perms} in #{channel.name}"
    )


# --------------------------------------------------------------------------------------------
# Modals and message components
# --------------------------------------------------------------------------------------------


def build_modal_submission(
    modal: dict[str, Any], values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The ``components`` of a MODAL_SUBMIT, echoing the modal's layout with the given values.

    Keys of ``values`` may be a field's custom_id, its label (TextInput label in an action row
    or the wrapping Label's text) or its placeholder. Unset fields keep their prefilled value.
    Handles action rows (type 1) and Label (type 18) wrappers, as discord.py 2.7's Modal does.
    """
    used: set[str] = set()
    ids = itertools.count(1)
    fields: list[str] = []

    def submitted(component: dict[str, Any], label: str | None) -> dict[str, Any]:
        keys = [
            component.get("custom_id"),
            label,
            component.get("label"),
            component.get("placeholder"),
        ]
        names = [key for key in keys if key]
        fields.append(str(names[0]) if names else "?")
        key = next((k for k in names if k in values), None)
        if key is not None:
            used.add(key)
        shown = label or component.get("label") or component.get("custom_id")
        return _modal_field(component, values[key] if key is not None else None, str(shown), ids)

    result: list[dict[str, Any]] = []
    for component in modal.get("components") or []:
        kind = component.get("type")
        row_id = component.get("id") or next(ids)
        if kind == 1:
            children = [submitted(c, c.get("label")) for c in component.get("components") or []]
            result.append({"type": 1, "id": row_id, "components": children})
        elif kind == 18:
            child = submitted(component["component"], component.get("label"))
            result.append({"type": 18, "id": row_id, "component": child})
        else:
            result.append({"type": kind, "id": row_id})
    unknown = sorted(set(values) - used)
    assert not unknown, f"modal {modal.get('title')!r} has no field(s) {unknown}; fields: {fields}"
    return result


def _modal_field(
    component: dict[str, Any], value: Any, label: str, ids: Iterator[int]
) -> dict[str, Any]:
    kind = component.get("type")
    out: dict[str, Any] = {
        "type": kind,
        "id": component.get("id") or next(ids),
        "custom_id": component.get("custom_id"),
    }
    where = f"modal field {label!r}"
    if kind == 4:
        text = (component.get("value") or "") if value is None else value
        assert isinstance(text, str), f"{where} takes text, got {text!r}"
        if component.get("required", True):
            assert text, f"{where} is required; Discord will not submit it empty"
        if text:
            _check_length(text, component, where)
        out["value"] = text
    elif kind in (3, 22):
        chosen = _default_options(component) if value is None else value
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        offered = [option.get("value") for option in component.get("options") or []]
        assert all(v in offered for v in chosen), f"{where} offers {offered}, got {chosen}"
        out["values"] = chosen
    elif kind == 21:
        out["value"] = value if value is not None else next(iter(_default_options(component)), None)
    elif kind == 23:
        out["value"] = bool(value if value is not None else component.get("default", False))
    else:
        raise AssertionError(f"{where}: the emulator cannot fill component type {kind}")
    return out


def _default_options(component: dict[str, Any]) -> list[str]:
    return [o["value"] for o in component.get("options") or [] if o.get("default")]


def find_component(message: StoredMessage, key: str, component_type: int) -> dict[str, Any]:
    """The button (2) or select (3) with custom_id, label or placeholder ``key``."""

    def names(component: dict[str, Any]) -> list[Any]:
        return [component.get("custom_id"), component.get("label"), component.get("placeholder")]

    candidates = [c for c in iter_components(message.components) if c.get("type") == component_type]
    found = next((c for c in candidates if key in names(c)), None)
    what = "button" if component_type == 2 else "select menu"
    assert found is not None, (
        f"message {message.id} has no {what} {key!r}; it has: "
        f"{[next((n for n in names(c) if n), '?') for c in candidates]}"
    )
    assert not found.get("disabled"), f"the {what} {key!r} is disabled"
    assert found.get("custom_id"), f"the {what} {key!r} is a link; clicking it opens a URL"
    return found


# --------------------------------------------------------------------------------------------
# Validation: what Discord answers 400 Invalid Form Body to
# --------------------------------------------------------------------------------------------

FormErrors = dict[str, str]

_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def form_error_body(errors: FormErrors) -> dict[str, Any]:
    """Discord's 50035 body; keys like "embeds.0.title" become nested error objects."""
    nested: dict[str, Any] = {}
    for path, message in errors.items():
        node = nested
        for part in path.split("."):
            node = node.setdefault(part, {})
        node["_errors"] = [{"code": "BASE_TYPE_INVALID", "message": message}]
    return {"message": "Invalid Form Body", "code": 50035, "errors": nested}


def message_errors(data: Mapping[str, Any]) -> FormErrors:
    """Limits Discord enforces on message content, embeds and components."""
    errors: FormErrors = {}
    content = data.get("content")
    if isinstance(content, str) and len(content) > 2000:
        errors["content"] = "Must be 2000 or fewer in length."
    embeds = data.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = "Must be 10 or fewer in length."
    total = 0
    for index, embed in enumerate(embeds):
        total += _embed_errors(embed, f"embeds.{index}", errors)
    if total > 6000:
        errors["embeds"] = "Embed size exceeds maximum size of 6000"
    flags = int(data.get("flags") or 0)
    components = data.get("components") or []
    if not flags & (1 << 15) and len(components) > 5:
        errors["components"] = "Must be 5 or fewer in length."
    custom_ids: list[str] = []
    for component in iter_components(components):
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if len(custom_id) > 100:
                errors["components"] = "custom_id must be 100 or fewer in length."
            custom_ids.append(custom_id)
        label = component.get("label")
        if component.get("type") == 2 and isinstance(label, str) and len(label) > 80:
            errors["components"] = "button label must be 80 or fewer in length."
    if len(custom_ids) != len(set(custom_ids)):
        errors["components"] = "Component custom id cannot be duplicated"
    return errors


def _embed_errors(embed: Mapping[str, Any], where: str, errors: FormErrors) -> int:
    limits = {"title": 256, "description": 4096}
    size = 0
    for key, limit in limits.items():
        text = embed.get(key) or ""
        size += len(text)
        if len(text) > limit:
            errors[f"{where}.{key}"] = f"Must be {limit} or fewer in length."
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors[f"{where}.fields"] = "Must be 25 or fewer in length."
    for index, field in enumerate(fields):
        name, value = str(field.get("name") or ""), str(field.get("value") or "")
        size += len(name) + len(value)
        if not name or len(name) > 256:
            errors[f"{where}.fields.{index}.name"] = "Must be between 1 and 256 in length."
        if not value or len(value) > 1024:
            errors[f"{where}.fields.{index}.value"] = "Must be between 1 and 1024 in length."
    footer = str((embed.get("footer") or {}).get("text") or "")
    author = str((embed.get("author") or {}).get("name") or "")
    size += len(footer) + len(author)
    if len(footer) > 2048:
        errors[f"{where}.footer.text"] = "Must be 2048 or fewer in length."
    if len(author) > 256:
        errors[f"{where}.author.name"] = "Must be 256 or fewer in length."
    return size


def is_empty_message(
    content: str | None, embeds: list[Any], components: list[Any], attachments: list[Any]
) -> bool:
    return not (content or embeds or components or attachments)


def modal_errors(modal: Mapping[str, Any]) -> FormErrors:
    errors: FormErrors = {}
    title = modal.get("title") or ""
    if not 1 <= len(title) <= 45:
        errors["data.title"] = "Must be between 1 and 45 in length."
    if not modal.get("custom_id"):
        errors["data.custom_id"] = "This field is required"
    components = modal.get("components") or []
    if not 1 <= len(components) <= 5:
        errors["data.components"] = "Must be between 1 and 5 in length."
    for index, component in enumerate(components):
        where = f"data.components.{index}"
        if component.get("type") == 1:
            for child in component.get("components") or []:
                if child.get("type") == 4 and not 1 <= len(child.get("label") or "") <= 45:
                    errors[f"{where}.label"] = "Must be between 1 and 45 in length."
        elif component.get("type") == 18 and not 1 <= len(component.get("label") or "") <= 45:
            errors[f"{where}.label"] = "Must be between 1 and 45 in length."
        for child in iter_components([component]):
            if child.get("type") == 4 and len(child.get("value") or "") > 4000:
                errors[f"{where}.value"] = "Must be 4000 or fewer in length."
    return errors


def choices_errors(data: Mapping[str, Any]) -> FormErrors:
    errors: FormErrors = {}
    choices = data.get("choices") or []
    if len(choices) > 25:
        errors["data.choices"] = "Must be 25 or fewer in length."
    for index, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            errors[f"data.choices.{index}.name"] = "Must be between 1 and 100 in length."
        value = choice.get("value")
        if isinstance(value, str) and len(value) > 100:
            errors[f"data.choices.{index}.value"] = "Must be 100 or fewer in length."
    return errors


def command_errors(commands: list[Mapping[str, Any]]) -> FormErrors:
    """What Discord checks on a bulk overwrite of application commands."""
    errors: FormErrors = {}
    if len(commands) > 100:
        errors["_"] = "Must be 100 or fewer in length."
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        key = (str(command.get("name")), int(command.get("type") or 1))
        if key in seen:
            errors[f"{index}.name"] = "Application command names must be unique"
        seen.add(key)
        _node_errors(command, str(index), errors, check_text=key[1] == 1)
    return errors


def _node_errors(
    node: Mapping[str, Any], where: str, errors: FormErrors, *, check_text: bool
) -> None:
    """Names, descriptions and option order of a slash command or one of its options."""
    name = str(node.get("name") or "")
    if check_text and (not _NAME_RE.match(name) or name != name.lower()):
        errors[f"{where}.name"] = "Command name is invalid"
    description = str(node.get("description") or "")
    if check_text and not 1 <= len(description) <= 100:
        errors[f"{where}.description"] = "Must be between 1 and 100 in length."
    options = node.get("options") or []
    if len(options) > 25:
        errors[f"{where}.options"] = "Must be 25 or fewer in length."
    seen_optional = False
    for index, option in enumerate(options):
        child = f"{where}.options.{index}"
        if option.get("type") not in (1, 2):
            if option.get("required"):
                if seen_optional:
                    errors[child] = "Required options must be placed before non-required options"
            else:
                seen_optional = True
        if len(option.get("choices") or []) > 25:
            errors[f"{child}.choices"] = "Must be 25 or fewer in length."
        _node_errors(option, child, errors, check_text=True)

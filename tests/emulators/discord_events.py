"""Guild Scheduled Events and `allowed_mentions`, as Discord applies them.

Scheduled events follow discord-api-docs `docs/resources/guild-scheduled-event.mdx`:
- the object (name 1-100, description up to 1000, `scheduled_end_time` and
  `entity_metadata.location` (1-100) required and `channel_id` null for EXTERNAL events);
- "Valid Guild Scheduled Event Status Transitions": SCHEDULED -> ACTIVE -> COMPLETED and
  SCHEDULED -> CANCELED; COMPLETED and CANCELED are final;
- "A guild can have a maximum of 100 events with SCHEDULED or ACTIVE status" (JSON code 30038,
  `docs/topics/opcodes-and-status-codes.md`); unknown event: 404 code 10070;
- "Permissions for events with entity_type: EXTERNAL": creating needs CREATE_EVENTS; modifying
  needs MANAGE_EVENTS, or CREATE_EVENTS for an event the same user created.
A start in the past is refused with 50035 and `GUILD_SCHEDULED_EVENT_SCHEDULE_PAST` ("Cannot
schedule event in the past."), the body bots see in practice (python-discord-events gists and
bots that match on that code); a start sent for an event that is no longer SCHEDULED is refused
too (`GUILD_SCHEDULED_EVENT_INVALID_START_BY_STATUS`), as bots that edit running events report.

Mentions follow `docs/resources/message.mdx`, "Allowed Mentions Object": without the key,
everything in the content is parsed; `parse` lists the kinds parsed from the content; `roles` /
`users` name the only ids that may ping and are mutually exclusive with "roles" / "users" in
`parse` (a 50035 error); ids not in the content ping nobody. Beyond allowed_mentions, a role
pings only if it is mentionable or the author may MENTION_EVERYONE, and @everyone/@here need
MENTION_EVERYONE too ("check against user/bot permissions").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.emulators.discord_model import Guild, Permission, User, iso

MAX_UNFINISHED_EVENTS = 100
CODE_UNKNOWN_EVENT = 10070
CODE_MAX_EVENTS = 30038
CODE_INVALID_FORM = 50035


class EventStatus(enum.IntEnum):
    SCHEDULED = 1
    ACTIVE = 2
    COMPLETED = 3
    CANCELED = 4


class EntityType(enum.IntEnum):
    STAGE_INSTANCE = 1
    VOICE = 2
    EXTERNAL = 3


ALLOWED_TRANSITIONS = {
    EventStatus.SCHEDULED: {EventStatus.ACTIVE, EventStatus.CANCELED},
    EventStatus.ACTIVE: {EventStatus.COMPLETED},
    EventStatus.COMPLETED: set(),
    EventStatus.CANCELED: set(),
}

FieldErrors = dict[str, tuple[str, str]]  # "a.b" -> (code, message)


class EventRefused(Exception):
    """Discord's answer to a bad scheduled-event request: status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body

    @classmethod
    def form(cls, errors: FieldErrors) -> EventRefused:
        nested: dict[str, Any] = {}
        for path, (code, message) in errors.items():
            node = nested
            for part in path.split("."):
                node = node.setdefault(part, {})
            node["_errors"] = [{"code": code, "message": message}]
        body = {"message": "Invalid Form Body", "code": CODE_INVALID_FORM, "errors": nested}
        return cls(400, body)


class ScheduledEvent:
    """One guild scheduled event as Discord stores it."""

    def __init__(self, event_id: int, guild: Guild, creator: User) -> None:
        self.id = event_id
        self.guild = guild
        self.creator = creator
        self.name = ""
        self.description: str | None = None
        self.start: datetime = datetime.now(UTC)
        self.end: datetime | None = None
        self.location: str | None = None
        self.channel_id: int | None = None
        self.entity_type = EntityType.EXTERNAL
        self.privacy_level = 2
        self.status = EventStatus.SCHEDULED
        self.history: list[EventStatus] = [EventStatus.SCHEDULED]
        self.edits = 0

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "guild_id": str(self.guild.id),
            "channel_id": str(self.channel_id) if self.channel_id else None,
            "creator_id": str(self.creator.id),
            "creator": self.creator.to_payload(),
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": iso(self.start),
            "scheduled_end_time": iso(self.end),
            "privacy_level": self.privacy_level,
            "status": int(self.status),
            "entity_type": int(self.entity_type),
            "entity_id": None,
            "entity_metadata": {"location": self.location} if self.location else None,
            "user_count": 0,
            "image": None,
            "recurrence_rule": None,
        }

    def __repr__(self) -> str:
        return f"<ScheduledEvent {self.name!r} {self.status.name} start={iso(self.start)}>"


def parse_time(value: object, field: str, errors: FieldErrors) -> datetime | None:
    if not isinstance(value, str):
        errors[field] = ("BASE_TYPE_REQUIRED", "This field is required")
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors[field] = ("DATE_TIME_TYPE_PARSE", "Could not parse " + value)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_text(data: Mapping[str, Any], errors: FieldErrors) -> None:
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors["name"] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        errors["description"] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 1000 in length.")
    metadata = data.get("entity_metadata")
    if isinstance(metadata, Mapping) and "location" in metadata:
        location = metadata["location"]
        if not isinstance(location, str) or not 1 <= len(location) <= 100:
            errors["entity_metadata.location"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )


def _past(start: datetime, now: datetime) -> bool:
    return start < now


def create_event(
    event: ScheduledEvent, data: Mapping[str, Any], unfinished: int, now: datetime
) -> None:
    """Fill `event` from a Create Guild Scheduled Event body, or raise what Discord answers."""
    errors: FieldErrors = {}
    for required in ("name", "privacy_level", "scheduled_start_time", "entity_type"):
        if data.get(required) is None:
            errors[required] = ("BASE_TYPE_REQUIRED", "This field is required")
    _check_text(data, errors)
    start = parse_time(data.get("scheduled_start_time"), "scheduled_start_time", errors)
    end = None
    if data.get("entity_type") == EntityType.EXTERNAL:
        metadata = data.get("entity_metadata")
        if not isinstance(metadata, Mapping) or not metadata.get("location"):
            errors.setdefault(
                "entity_metadata.location", ("BASE_TYPE_REQUIRED", "This field is required")
            )
        if data.get("scheduled_end_time") is None:
            errors["scheduled_end_time"] = ("BASE_TYPE_REQUIRED", "This field is required")
        else:
            end = parse_time(data["scheduled_end_time"], "scheduled_end_time", errors)
        if data.get("channel_id") is not None:
            errors["channel_id"] = ("BASE_TYPE_INVALID", "Must be null for external events.")
    elif data.get("entity_type") is not None:
        errors["entity_type"] = ("BASE_TYPE_CHOICES", "The emulator only hosts EXTERNAL events.")
    if start is not None and _past(start, now):
        errors["scheduled_start_time"] = (
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
            "Cannot schedule event in the past.",
        )
    if start is not None and end is not None and end <= start:
        errors["scheduled_end_time"] = (
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        )
    if errors:
        raise EventRefused.form(errors)
    if unfinished >= MAX_UNFINISHED_EVENTS:
        raise EventRefused(
            400,
            {
                "message": "Maximum number of uncompleted guild scheduled events reached (100)",
                "code": CODE_MAX_EVENTS,
            },
        )
    assert start is not None
    event.name = str(data["name"])
    event.description = data.get("description")
    event.start, event.end = start, end
    event.location = str(data["entity_metadata"]["location"])
    event.privacy_level = int(data["privacy_level"])


def modify_event(event: ScheduledEvent, data: Mapping[str, Any], now: datetime) -> None:
    """Apply a Modify Guild Scheduled Event body (all fields optional), or raise."""
    errors: FieldErrors = {}
    _check_text(data, errors)
    start = end = None
    if "scheduled_start_time" in data:
        start = parse_time(data["scheduled_start_time"], "scheduled_start_time", errors)
        if start is not None and event.status != EventStatus.SCHEDULED:
            errors["scheduled_start_time"] = (
                "GUILD_SCHEDULED_EVENT_INVALID_START_BY_STATUS",
                "Cannot update the start time of an event that has started.",
            )
        elif start is not None and start != event.start and _past(start, now):
            errors["scheduled_start_time"] = (
                "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                "Cannot schedule event in the past.",
            )
    if "scheduled_end_time" in data:
        if data["scheduled_end_time"] is None:
            errors["scheduled_end_time"] = ("BASE_TYPE_REQUIRED", "This field is required")
        else:
            end = parse_time(data["scheduled_end_time"], "scheduled_end_time", errors)
    new_start, new_end = start or event.start, end or event.end
    if (start or end) and new_end is not None and new_end <= new_start:
        errors["scheduled_end_time"] = (
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        )
    if "entity_metadata" in data and not (data["entity_metadata"] or {}).get("location"):
        errors.setdefault(
            "entity_metadata.location", ("BASE_TYPE_REQUIRED", "This field is required")
        )
    status = None
    if "status" in data:
        try:
            status = EventStatus(int(data["status"]))
        except (TypeError, ValueError):
            errors["status"] = ("BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
        else:
            if status != event.status and status not in ALLOWED_TRANSITIONS[event.status]:
                errors["status"] = (
                    "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                    f"Cannot change status from {event.status.name} to {status.name}.",
                )
    if errors:
        raise EventRefused.form(errors)
    if "name" in data:
        event.name = str(data["name"])
    if "description" in data:
        event.description = data["description"]
    if start is not None:
        event.start = start
    if end is not None:
        event.end = end
    if "entity_metadata" in data:
        event.location = str(data["entity_metadata"]["location"])
    if status is not None and status != event.status:
        event.status = status
        event.history.append(status)
    event.edits += 1


def can_create(permissions: int) -> bool:
    return bool(permissions & (Permission.CREATE_EVENTS | Permission.ADMINISTRATOR))


def can_modify(permissions: int, *, own_event: bool) -> bool:
    if permissions & (Permission.MANAGE_EVENTS | Permission.ADMINISTRATOR):
        return True
    return own_event and bool(permissions & Permission.CREATE_EVENTS)


# ---- allowed_mentions ------------------------------------------------------------------------

USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")
PARSE_KINDS = {"roles", "users", "everyone"}


class Mentions:
    """Who a message pings: what Discord puts in `mentions`, `mention_roles`, `mention_everyone`."""

    def __init__(self) -> None:
        self.users: list[int] = []
        self.roles: list[int] = []
        self.everyone = False

    @property
    def nobody(self) -> bool:
        return not (self.users or self.roles or self.everyone)


def allowed_mentions_errors(allowed: object) -> FieldErrors:
    """Validation of the allowed_mentions object itself (parse vs. explicit id lists)."""
    errors: FieldErrors = {}
    if allowed is None:
        return errors
    if not isinstance(allowed, Mapping):
        return {"allowed_mentions": ("DICT_TYPE_CONVERT", "Only dictionaries may be used.")}
    parse = allowed.get("parse") or []
    for kind in parse:
        if kind not in PARSE_KINDS:
            errors["allowed_mentions.parse"] = (
                "BASE_TYPE_CHOICES",
                "Value must be one of ('roles', 'users', 'everyone').",
            )
    for kind in ("roles", "users"):
        ids = allowed.get(kind) or []
        if len(ids) > 100:
            errors[f"allowed_mentions.{kind}"] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer.")
        if ids and kind in parse:
            errors["allowed_mentions"] = (
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
            )
    return errors


def resolve_mentions(
    content: str, allowed: Mapping[str, Any] | None, guild: Guild, author_permissions: int
) -> Mentions:
    """The pings a message with `content` and `allowed` (None: key absent) really makes."""
    result = Mentions()
    parse = set(PARSE_KINDS) if allowed is None else set(allowed.get("parse") or [])
    role_ids = set() if allowed is None else {int(i) for i in allowed.get("roles") or []}
    user_ids = set() if allowed is None else {int(i) for i in allowed.get("users") or []}
    may_mention_all = bool(author_permissions & Permission.MENTION_EVERYONE)
    for match in USER_MENTION.finditer(content):
        user_id = int(match.group(1))
        allowed_user = "users" in parse or user_id in user_ids
        if allowed_user and user_id in guild.members and user_id not in result.users:
            result.users.append(user_id)
    for match in ROLE_MENTION.finditer(content):
        role_id = int(match.group(1))
        role = guild.roles.get(role_id)
        if role is None or not ("roles" in parse or role_id in role_ids):
            continue
        if (role.mentionable or may_mention_all) and role_id not in result.roles:
            result.roles.append(role_id)
    if EVERYONE_MENTION.search(content) and "everyone" in parse and may_mention_all:
        result.everyone = True
    return result

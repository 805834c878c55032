"""The Discord emulator's world: users, guilds, roles, channels, members and stored messages.

Every object renders itself as the JSON Discord sends (``to_payload``), so the gateway and REST
handlers stay thin. Guild mutations made after a bot connected are announced through ``emit``
(GUILD_MEMBER_ADD, GUILD_ROLE_CREATE, CHANNEL_CREATE, ...) so discord.py's cache stays true.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Every permission bit Discord defines (what discord.py 2.7's Permissions.all() holds).
ALL_PERMISSIONS = 8_866_461_766_385_663


class Permission(enum.IntFlag):
    """The permission bits tests are likely to need (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MANAGE_EVENTS = 1 << 33
    CREATE_EVENTS = 1 << 44


# What @everyone gets in a freshly created Discord server (the common subset).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)

# What an invited bot's managed role holds unless a test says otherwise.
DEFAULT_BOT_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.MANAGE_EVENTS  # README's invite link asks for both event permissions
    | Permission.CREATE_EVENTS
)

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7

EmitFn = Callable[[str, dict[str, Any]], None]


def as_permission_value(value: object) -> int:
    """Accept an int, a Permission flag or a discord.Permissions (anything with ``.value``)."""
    raw = getattr(value, "value", value)
    if not isinstance(raw, int):
        raise TypeError(f"permissions must be an int or have an int .value, got {value!r}")
    return raw


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class SnowflakeFactory:
    """Discord-style ids: milliseconds since 2015 in the high bits, strictly increasing."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = candidate if candidate > self._last else self._last + 1
        return self._last

    def skip_to_shard(self, shard_id: int, num_shards: int) -> None:
        """Make the next id one whose server lands on `shard_id` of `num_shards` (its
        millisecond part, `id >> 22`, decides the shard), by moving a few ms ahead."""
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        millis = max(now, self._last + 1) >> 22
        while millis % num_shards != shard_id:
            millis += 1
        self._last = max(self._last, (millis << 22) - 1)


# --------------------------------------------------------------------------------------------
# Users, roles, channels, members
# --------------------------------------------------------------------------------------------


class User:
    """A Discord account (a human or the bot)."""

    def __init__(self, user_id: int, username: str, *, bot: bool = False) -> None:
        self.id = user_id
        self.username = username
        self.global_name: str | None = None if bot else username.title()
        self.bot = bot

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "bot": self.bot,
            "system": False,
            "collectibles": None,
            "primary_guild": None,
        }

    def __repr__(self) -> str:
        return f"<User {self.username} id={self.id}>"


class Role:
    """A guild role. The @everyone role has the guild's id."""

    def __init__(
        self,
        guild: Guild,
        role_id: int,
        name: str,
        permissions: int,
        position: int,
        *,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
        bot_id: int | None = None,
    ) -> None:
        self.guild = guild
        self.id = role_id
        self.name = name
        self.permissions = permissions
        self.position = position
        self.color = color
        self.hoist = hoist
        self.mentionable = mentionable
        self.bot_id = bot_id  # set for the bot's managed integration role

    @property
    def mention(self) -> str:
        return "@everyone" if self.id == self.guild.id else f"<@&{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.bot_id is not None,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload

    def __repr__(self) -> str:
        return f"<Role {self.name!r} id={self.id}>"


class Channel:
    """A guild text channel, with optional permission overwrites."""

    TEXT = 0

    def __init__(
        self, guild: Guild, channel_id: int, name: str, position: int, *, topic: str | None = None
    ) -> None:
        self.guild = guild
        self.id = channel_id
        self.name = name
        self.position = position
        self.topic = topic
        self.type = Channel.TEXT
        # target id -> (allow, deny, type) where type 0 is a role and 1 a member
        self.overwrites: dict[int, tuple[int, int, int]] = {}

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def set_permissions(
        self, target: Role | Member, *, allow: object = 0, deny: object = 0
    ) -> None:
        """Add or replace an overwrite for a role or member (dispatches CHANNEL_UPDATE)."""
        kind = 0 if isinstance(target, Role) else 1
        self.overwrites[target.id] = (as_permission_value(allow), as_permission_value(deny), kind)
        self.guild.emit("CHANNEL_UPDATE", self.to_payload())

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": str(target), "type": kind, "allow": str(allow), "deny": str(deny)}
                for target, (allow, deny, kind) in self.overwrites.items()
            ],
            "topic": self.topic,
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def __repr__(self) -> str:
        return f"<Channel #{self.name} id={self.id}>"


class Member:
    """A user's membership of one guild: roles (ids, @everyone implied), nick, join time."""

    def __init__(self, guild: Guild, user: User, role_ids: Iterable[int] = ()) -> None:
        self.guild = guild
        self.user = user
        self.role_ids: list[int] = list(role_ids)
        self.nick: str | None = None
        self.joined_at = datetime.now(UTC)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.username

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def roles(self) -> list[Role]:
        return [self.guild.roles[role_id] for role_id in self.role_ids]

    @property
    def permissions(self) -> int:
        """Guild-level permissions (owner and administrators have every permission)."""
        return self.guild.permissions_for(self)

    def to_payload(
        self, *, with_user: bool = True, permissions: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(role_id) for role_id in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def __repr__(self) -> str:
        return f"<Member {self.name} id={self.id} guild={self.guild.name!r}>"


# --------------------------------------------------------------------------------------------
# Guild
# --------------------------------------------------------------------------------------------


class Guild:
    """A Discord server. Create through ``DiscordEmulator.create_guild``.

    ``owner`` is a member with every permission; ``general`` is the default text channel;
    ``bot_member`` is the bot with its managed role ``bot_role``.
    """

    def __init__(
        self,
        ids: SnowflakeFactory,
        name: str,
        *,
        owner_name: str,
        bot_user: User,
        bot_permissions: int,
        everyone_permissions: int,
        emit: EmitFn,
    ) -> None:
        self._ids = ids
        self._emit = emit
        self.id = ids.next()
        self.name = name
        self.roles: dict[int, Role] = {}
        self.channels: dict[int, Channel] = {}
        self.members: dict[int, Member] = {}
        self.everyone = Role(self, self.id, "@everyone", everyone_permissions, 0)
        self.roles[self.id] = self.everyone
        self.bot_role = self._new_role(bot_user.username, bot_permissions, bot_id=bot_user.id)
        self.general = self._new_channel("general", topic=None)
        self.owner = self._new_member(User(ids.next(), owner_name), ())
        self.bot_member = self._new_member(bot_user, (self.bot_role.id,))
        self.created_at = datetime.now(UTC)

    # -- test-facing mutations (each is announced to connected bots) ---------------------------

    def add_role(
        self,
        name: str,
        permissions: object = 0,
        *,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> Role:
        """Create a role; dispatches GUILD_ROLE_CREATE to connected bots."""
        role = self._new_role(
            name,
            as_permission_value(permissions),
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self.emit("GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.to_payload()})
        return role

    def add_text_channel(self, name: str, *, topic: str | None = None) -> Channel:
        """Create a text channel; dispatches CHANNEL_CREATE to connected bots."""
        channel = self._new_channel(name, topic=topic)
        self.emit("CHANNEL_CREATE", channel.to_payload())
        return channel

    def add_member(
        self,
        name: str,
        roles: Iterable[Role] = (),
        *,
        permissions: object | None = None,
        nick: str | None = None,
    ) -> Member:
        """Add a human member with ``roles``; dispatches GUILD_MEMBER_ADD.

        ``permissions`` (optional) gives the member a personal role holding exactly those bits,
        since Discord only grants permissions through roles.
        """
        role_list = list(roles)
        if permissions is not None:
            role_list.append(self.add_role(f"{name}-permissions", permissions))
        for role in role_list:
            self._check_own_role(role)
        member = self._new_member(User(self._ids.next(), name), (r.id for r in role_list))
        member.nick = nick
        self.emit("GUILD_MEMBER_ADD", {"guild_id": str(self.id), **member.to_payload()})
        return member

    def grant_role(self, member: Member, role: Role) -> None:
        """Give ``member`` the role; dispatches GUILD_MEMBER_UPDATE."""
        self._check_own_role(role)
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
        self.emit("GUILD_MEMBER_UPDATE", {"guild_id": str(self.id), **member.to_payload()})

    def revoke_role(self, member: Member, role: Role) -> None:
        """Take the role away from ``member``; dispatches GUILD_MEMBER_UPDATE."""
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
        self.emit("GUILD_MEMBER_UPDATE", {"guild_id": str(self.id), **member.to_payload()})

    def remove_member(self, member: Member) -> None:
        """The member leaves; dispatches GUILD_MEMBER_REMOVE."""
        self.members.pop(member.id, None)
        self.emit(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(self.id), "user": member.user.to_payload()}
        )

    def remove_bot(self) -> None:
        """The bot is kicked from the server; dispatches GUILD_DELETE (not `unavailable`)."""
        self.emit("GUILD_DELETE", {"id": str(self.id)})

    # -- lookups -------------------------------------------------------------------------------

    def member_named(self, name: str) -> Member:
        return _named(self.members.values(), name, "member", self.name)

    def role_named(self, name: str) -> Role:
        return _named(self.roles.values(), name, "role", self.name)

    def channel_named(self, name: str) -> Channel:
        return _named(self.channels.values(), name, "channel", self.name)

    def member(self, member: Member | int) -> Member:
        """The guild's member for a Member or a user id; AssertionError if not in this guild."""
        member_id = member if isinstance(member, int) else member.id
        found = self.members.get(member_id)
        assert found is not None, (
            f"{member!r} is not a member of guild {self.name!r}; "
            f"members: {sorted(m.name for m in self.members.values())}"
        )
        return found

    def channel(self, channel: Channel | int | None) -> Channel:
        if channel is None:
            return self.general
        channel_id = channel if isinstance(channel, int) else channel.id
        found = self.channels.get(channel_id)
        assert found is not None, f"channel {channel!r} is not in guild {self.name!r}"
        return found

    # -- permissions (Discord's algorithm, without threads or timeouts) -------------------------

    def permissions_for(self, member: Member, channel: Channel | None = None) -> int:
        """Member's permissions in the guild, or in ``channel`` with its overwrites applied."""
        if member.id == self.owner.id:
            return ALL_PERMISSIONS
        base = self.everyone.permissions
        for role_id in member.role_ids:
            base |= self.roles[role_id].permissions
        if base & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return base
        overwrites = channel.overwrites
        if self.id in overwrites:
            allow, deny, _ = overwrites[self.id]
            base = (base & ~deny) | allow
        role_allow = role_deny = 0
        for role_id in member.role_ids:
            if role_id in overwrites:
                allow, deny, _ = overwrites[role_id]
                role_allow |= allow
                role_deny |= deny
        base = (base & ~role_deny) | role_allow
        if member.id in overwrites:
            allow, deny, _ = overwrites[member.id]
            base = (base & ~deny) | allow
        return base if base & Permission.VIEW_CHANNEL else 0

    # -- payloads ------------------------------------------------------------------------------

    def to_payload(self) -> dict[str, Any]:
        """The guild object of REST (GET /guilds/{id})."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(self.general.id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500_000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
        }

    def to_gateway_payload(self, *, include_members: bool, large_threshold: int) -> dict[str, Any]:
        """The GUILD_CREATE payload: the guild plus channels, members and member_count."""
        members = list(self.members.values()) if include_members else [self.bot_member]
        return {
            **self.to_payload(),
            "joined_at": iso(self.bot_member.joined_at),
            "large": len(self.members) >= large_threshold,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [member.to_payload() for member in members],
            "channels": [channel.to_payload() for channel in self.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self._emit(event, data)

    # -- internals -----------------------------------------------------------------------------

    def _new_role(self, name: str, permissions: int, **kwargs: Any) -> Role:
        role = Role(self, self._ids.next(), name, permissions, len(self.roles), **kwargs)
        self.roles[role.id] = role
        return role

    def _new_channel(self, name: str, *, topic: str | None) -> Channel:
        channel = Channel(self, self._ids.next(), name, len(self.channels), topic=topic)
        self.channels[channel.id] = channel
        return channel

    def _new_member(self, user: User, role_ids: Iterable[int]) -> Member:
        member = Member(self, user, role_ids)
        self.members[user.id] = member
        return member

    def _check_own_role(self, role: Role) -> None:
        assert role.guild is self, (
            f"{role!r} belongs to guild {role.guild.name!r}, not {self.name!r}"
        )

    def __repr__(self) -> str:
        return f"<Guild {self.name!r} id={self.id}>"


def _named(items: Iterable[Any], name: str, kind: str, guild_name: str) -> Any:
    matches = [item for item in items if item.name == name]
    assert matches, f"no {kind} named {name!r} in guild {guild_name!r}"
    return matches[0]


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


class StoredMessage:
    """A message the bot sent (channel message, interaction response or follow-up).

    ``content``, ``embeds``, ``components`` and ``attachments`` hold what Discord would show
    after every edit; ``files`` maps attachment filenames to their bytes.
    """

    def __init__(
        self,
        message_id: int,
        channel: Channel,
        author: User,
        *,
        message_type: int = 0,
        flags: int = 0,
        interaction: Any = None,
    ) -> None:
        self.id = message_id
        self.channel = channel
        self.author = author
        self.type = message_type
        self.flags = flags
        self.interaction = interaction  # the InteractionRun that produced it, if any
        self.content = ""
        self.embeds: list[dict[str, Any]] = []
        self.components: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.tts = False
        self.created_at = datetime.now(UTC)
        self.edited_at: datetime | None = None
        self.edit_count = 0
        self.deleted = False
        # Who this message pinged, after allowed_mentions and permissions (discord_events).
        self.mention_user_ids: list[int] = []
        self.mention_role_ids: list[int] = []
        self.mention_everyone = False

    @property
    def channel_id(self) -> int:
        return self.channel.id

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL_FLAG)

    @property
    def loading(self) -> bool:
        """True while this is a deferred "Bot is thinking..." placeholder."""
        return bool(self.flags & LOADING_FLAG)

    def text(self) -> str:
        """Every visible word: content, embed titles/descriptions/fields/footers, text displays."""
        parts: list[str] = [self.content] if self.content else []
        for embed in self.embeds:
            parts.extend(_embed_texts(embed))
        for component in iter_components(self.components):
            if component.get("type") == 10 and component.get("content"):
                parts.append(component["content"])
        return "\n".join(parts)

    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in iter_components(self.components) if c.get("type") == 2]

    def button_labels(self) -> list[str]:
        return [str(button.get("label")) for button in self.buttons()]

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "channel_id": str(self.channel.id),
            "guild_id": str(self.channel.guild.id),
            "author": self.author.to_payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at),
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [
                self.channel.guild.members[uid].user.to_payload()
                for uid in self.mention_user_ids
                if uid in self.channel.guild.members
            ],
            "mention_roles": [str(rid) for rid in self.mention_role_ids],
            "mention_channels": [],
            "attachments": list(self.attachments),
            "embeds": list(self.embeds),
            "components": list(self.components),
            "reactions": [],
            "pinned": False,
            "flags": self.flags,
        }
        run = self.interaction
        if run is not None:
            payload["webhook_id"] = str(run.application_id)
            payload["application_id"] = str(run.application_id)
            payload["interaction_metadata"] = {
                "id": str(run.id),
                "type": run.type,
                "user": run.member.user.to_payload(),
                "authorizing_integration_owners": {"0": str(run.guild.id)},
            }
        return payload

    def __repr__(self) -> str:
        preview = self.text().replace("\n", " ")[:60]
        return f"<StoredMessage id={self.id} #{self.channel.name} flags={self.flags} {preview!r}>"


def iter_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Walk message or modal components depth-first (rows, containers, sections, labels)."""
    for component in components:
        yield component
        children = list(component.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                children.append(component[key])
        yield from iter_components(children)


def _embed_texts(embed: dict[str, Any]) -> Iterator[str]:
    author = embed.get("author") or {}
    footer = embed.get("footer") or {}
    fields = embed.get("fields") or []
    candidates = itertools.chain(
        [author.get("name"), embed.get("title"), embed.get("description")],
        itertools.chain.from_iterable((f.get("name"), f.get("value")) for f in fields),
        [footer.get("text")],
    )
    return (str(text) for text in candidates if text)

"""GET /api/v1/: the server's podcast, episodes with their streams, and every host's tweet, as
JSON for agents and dashboards (README "JSON API"). Read-only; a bearer token sees its own
server only: no or a wrong token is 401 with no detail, another server's ids are 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api_access import ApiAccess
from bot.errors import RateLimited, explain
from bot.ratelimit import KeyedRateLimiter
from db.models import Episode, EpisodeTweet, Podcast, PostStatus

PREFIX = "/api/v1"
API = web.AppKey("api", ApiAccess)
LIMITER = web.AppKey("api_limiter", KeyedRateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _snowflake(value: int | None) -> str | None:
    """Discord ids as strings, as Discord's own API sends them (they exceed 2^53)."""
    return str(value) if value is not None else None


def podcast_json(podcast: Podcast) -> dict[str, Any]:
    return {
        "guild_id": _snowflake(podcast.guild_id),
        "name": podcast.name,
        "youtube_channel_id": podcast.youtube_channel_id,
        "title_filter": podcast.title_filter,
        "announce_channel_id": _snowflake(podcast.announce_channel_id),
        "host_role_id": _snowflake(podcast.host_role_id),
        "admin_role_id": _snowflake(podcast.admin_role_id),
        "timezone": podcast.timezone,
        "active": podcast.active,
        "last_checked_at": _when(podcast.last_checked_at),
        "last_check_result": podcast.last_check_result,
        "upcoming_start_at": _when(podcast.upcoming_start_at),
    }


def episode_json(episode: Episode) -> dict[str, Any]:
    stream = None
    if episode.live_video_id:
        stream = {
            "video_id": episode.live_video_id,
            "url": episode.live_url,
            "title": episode.live_title,
            "went_live_at": _when(episode.went_live_at),
        }
    return {
        "id": episode.id,
        "title": episode.title,
        "scheduled_date": _when(episode.scheduled_date),
        "scheduled_at": _when(episode.scheduled_at),
        "notes": episode.notes,
        "stream": stream,
    }


def tweet_json(tweet: EpisodeTweet) -> dict[str, Any]:
    account = tweet.host.x_account
    reason = None
    if tweet.failure_reason:
        closed = tweet.status != PostStatus.PENDING  # a pending one is still to be retried
        reason = {
            "code": tweet.failure_reason,
            "text": explain(tweet.failure_reason, closed=closed),
        }
    return {
        "id": tweet.id,
        "host": {
            "name": tweet.host.display_name,
            "discord_user_id": _snowflake(tweet.host.discord_user_id),
            "x_username": account.username if account is not None else None,
        },
        "text": tweet.text,
        "approved": tweet.approved,
        "held": tweet.held,
        "enabled": tweet.enabled,
        "include_url": tweet.include_url,
        "status": tweet.status,
        "link": tweet.tweet_url,
        "reason": reason,
        "attempts": tweet.attempts,
        "posted_at": _when(tweet.posted_at),
    }


def _not_found() -> web.Response:
    return web.json_response({"error": "not found"}, status=404)


PodcastHandler = Callable[[web.Request, Podcast], Awaitable[web.StreamResponse]]


def authorized(handler: PodcastHandler) -> Handler:
    """The route needs `Authorization: Bearer <token>`; the handler gets the token's podcast."""

    async def route(request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        podcast = await request.app[API].podcast_of(token.strip()) if scheme == "Bearer" else None
        if podcast is None:
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            await request.app[LIMITER].hit(podcast.id)
        except RateLimited as limited:
            seconds = int(str(limited.details["seconds"]))
            return web.json_response(
                {"error": "rate limited", "retry_after": seconds},
                status=429,
                headers={"Retry-After": str(seconds)},
            )
        return await handler(request, podcast)

    return route


async def get_podcast(request: web.Request, podcast: Podcast) -> web.Response:
    return web.json_response(podcast_json(podcast))


async def get_episodes(request: web.Request, podcast: Podcast) -> web.Response:
    episodes = await request.app[API].episodes(podcast.id)
    return web.json_response({"episodes": [episode_json(e) for e in episodes]})


async def get_episode(request: web.Request, podcast: Podcast) -> web.Response:
    raw = request.match_info["episode_id"]
    if not raw.isdigit() or len(raw) > 18:
        return _not_found()
    detail = await request.app[API].episode(podcast.id, int(raw))
    if detail is None:
        return _not_found()
    return web.json_response(
        {**episode_json(detail.episode), "tweets": [tweet_json(t) for t in detail.tweets]}
    )


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def add_api_routes(app: web.Application, api: ApiAccess, limiter: KeyedRateLimiter) -> None:
    app[API] = api
    app[LIMITER] = limiter
    app.router.add_get(PREFIX + "/openapi.json", get_openapi)
    app.router.add_get(PREFIX + "/podcast", authorized(get_podcast))
    app.router.add_get(PREFIX + "/episodes", authorized(get_episodes))
    app.router.add_get(PREFIX + "/episodes/{episode_id}", authorized(get_episode))


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


_STR = {"type": "string"}
_SNOWFLAKE = {"type": "string", "pattern": "^[0-9]+$", "description": "a Discord id"}
_TIME = _nullable("string", format="date-time")
_ERRORS = {
    "401": {"description": "no token, or not a valid one (no body)"},
    "429": {"description": "too many requests for this token; see Retry-After"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "OnAir JSON API",
        "version": "1",
        "description": "Read-only: one server's podcast, episodes, streams and hosts' tweets. "
        "Create a token with /podcast api-token in that server; it sees nothing else.",
    },
    "servers": [{"url": PREFIX}],
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Podcast": {
                "type": "object",
                "properties": {
                    "guild_id": _SNOWFLAKE,
                    "name": _STR,
                    "youtube_channel_id": _STR,
                    "title_filter": _nullable("string"),
                    "announce_channel_id": _SNOWFLAKE,
                    "host_role_id": _SNOWFLAKE,
                    "admin_role_id": _nullable("string"),
                    "timezone": _STR,
                    "active": {"type": "boolean"},
                    "last_checked_at": _TIME,
                    "last_check_result": _nullable("string"),
                    "upcoming_start_at": _TIME,
                },
            },
            "Stream": {
                "type": ["object", "null"],
                "properties": {
                    "video_id": _STR,
                    "url": _nullable("string"),
                    "title": _nullable("string"),
                    "went_live_at": _TIME,
                },
            },
            "Episode": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "title": _STR,
                    "scheduled_date": {"type": "string", "format": "date"},
                    "scheduled_at": _TIME,
                    "notes": _nullable("string"),
                    "stream": {"$ref": "#/components/schemas/Stream"},
                },
            },
            "Tweet": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "host": {
                        "type": "object",
                        "properties": {
                            "name": _STR,
                            "discord_user_id": _SNOWFLAKE,
                            "x_username": _nullable("string"),
                        },
                    },
                    "text": _nullable("string"),
                    "approved": {"type": "boolean", "description": "its host approved the text"},
                    "held": {"type": "boolean", "description": "an admin held it"},
                    "enabled": {"type": "boolean"},
                    "include_url": {"type": "boolean"},
                    "status": {
                        "type": "string",
                        "enum": [status.value for status in PostStatus],
                    },
                    "link": _nullable("string", description="the tweet on X, once posted"),
                    "reason": {
                        "type": ["object", "null"],
                        "properties": {"code": _STR, "text": _STR},
                    },
                    "attempts": {"type": "integer"},
                    "posted_at": _TIME,
                },
            },
        },
    },
    "paths": {
        "/podcast": {
            "get": {
                "summary": "The server's podcast settings (no secrets)",
                "responses": {
                    "200": {
                        "description": "the podcast",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Podcast"}}
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/episodes": {
            "get": {
                "summary": "Every episode with its stream, latest first",
                "responses": {
                    "200": {
                        "description": "the episodes",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "episodes": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Episode"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/episodes/{episode_id}": {
            "get": {
                "summary": "One episode, its stream and every host's tweet",
                "parameters": [
                    {
                        "name": "episode_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the episode with a `tweets` array",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "allOf": [
                                        {"$ref": "#/components/schemas/Episode"},
                                        {
                                            "type": "object",
                                            "properties": {
                                                "tweets": {
                                                    "type": "array",
                                                    "items": {"$ref": "#/components/schemas/Tweet"},
                                                }
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "404": {"description": "no such episode in this token's server"},
                    **_ERRORS,
                },
            }
        },
    },
}

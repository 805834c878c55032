"""Loopback emulator of the OpenAI endpoints OnAir's drafting uses.

- POST /v1/chat/completions: a real ChatCompletion JSON; the assistant text comes from
  ``replies`` (a queue) or, when it is empty, a pleasant draft naming the episode title found in
  the prompt's "Episode title:" line.
- GET /v1/models: the model list (what a health check would call).

Every request must carry ``Authorization: Bearer <api_key>``; otherwise the answer is OpenAI's
401 ``invalid_api_key`` error, which, like OpenAI's, echoes a masked form of the key it got.
Tests point the SDK's ``base_url`` at ``emu.base_url + "/v1"``. Faults come from the base class;
``openai_error_fault`` builds them with OpenAI's error JSON (500, 429, ...).
The SDK's ``chat.completions.create`` posts only to /v1/chat/completions, so /v1/responses is
not emulated.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
import time
from typing import Any

from aiohttp import web

from tests.emulators.base import Fault, LoopbackEmulator

DEFAULT_API_KEY = "sk-test-onair-0123456789abcdef"
KNOWN_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
_TITLE_LINE = re.compile(r"^Episode title:\s*(.+)$", re.MULTILINE)

_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3.",
    ),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def openai_error_body(
    message: str, error_type: str, code: str | None = None, param: str | None = None
) -> str:
    """OpenAI's error envelope: {"error": {"message", "type", "param", "code"}}."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return json.dumps({"error": error})


def openai_error_fault(
    status: int, *, times: int | None = 1, path_prefix: str = "/v1/chat/completions"
) -> Fault:
    """A status fault answering with OpenAI's JSON error for ``status`` (500, 429, 503...)."""
    error_type, code, message = _ERROR_DEFAULTS.get(status, ("server_error", None, "Error."))
    headers = {"x-request-id": "req_fault"}
    if status == 429:
        headers["retry-after"] = "1"
    return Fault(
        kind="status",
        path_prefix=path_prefix,
        status=status,
        body=openai_error_body(message, error_type, code),
        headers=headers,
        content_type="application/json",
        times=times,
    )


def masked_key(key: str) -> str:
    """How OpenAI quotes a wrong key back: the first 3 and last 4 characters."""
    return f"{key[:3]}{'*' * max(len(key) - 7, 0)}{key[-4:]}" if len(key) > 7 else "***"


class OpenAIEmulator(LoopbackEmulator):
    """OpenAI's chat completions over loopback, with canned replies and recorded prompts."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        # Assistant texts to answer with, oldest first; None answers a refusal (no content).
        self.replies: collections.deque[str | None] = collections.deque()
        # The ``messages`` of every accepted chat completion request, and the whole bodies.
        self.prompts: list[list[dict[str, Any]]] = []
        self.completion_requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat_completions)
        router.add_get("/v1/models", self._models)

    @staticmethod
    def default_reply(messages: list[dict[str, Any]]) -> str:
        """A pleasant draft that names the episode title found in the prompt."""
        prompt = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
        match = _TITLE_LINE.search(prompt)
        title = match.group(1).strip() if match else "today's episode"
        return f'Going live right now with "{title}"! Pull up a chair and join me in the chat 🎙️'

    def _error(self, status: int, message: str | None = None) -> web.Response:
        error_type, code, default_message = _ERROR_DEFAULTS.get(
            status, ("server_error", None, "Error.")
        )
        return web.Response(
            status=status,
            text=openai_error_body(message or default_message, error_type, code),
            content_type="application/json",
            headers={"x-request-id": f"req_{next(self._ids)}"},
        )

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme == "Bearer" and presented == self.api_key:
            return None
        if not presented:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = (
                f"Incorrect API key provided: {masked_key(presented)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys."
            )
        return self._error(401, message)

    async def _chat_completions(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body of your request.")
        messages = body.get("messages")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "'messages' must contain at least one message.")
        if body.get("stream"):
            return self._error(400, "This emulator does not stream.")
        self.prompts.append(messages)
        self.completion_requests.append(body)
        reply = self.replies.popleft() if self.replies else self.default_reply(messages)
        message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
        if reply is None:
            message["refusal"] = "I'm sorry, I can't help with that."
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        completion_tokens = len((reply or "").split())
        completion = {
            "id": f"chatcmpl-emu{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"{model}-2024-07-18" if model == "gpt-4o-mini" else model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        }
        return web.json_response(completion, headers={"x-request-id": f"req_{next(self._ids)}"})

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        created = int(time.time())
        models = [
            {"id": name, "object": "model", "created": created, "owned_by": "system"}
            for name in KNOWN_MODELS
        ]
        return web.json_response({"object": "list", "data": models})

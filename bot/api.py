"""The public HTTP API: send a message, read a conversation, check health."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.errors import InvalidRequest, NotFound

MAX_TEXT = 4000
MAX_ID = 128
CHANNELS = ("api", "cli")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("request body must be JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def _string_field(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{name}' is required and must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"'{name}' is longer than {limit} characters")
    return value.strip()


async def post_message(request: Request) -> JSONResponse:
    body = await _json_object(request)
    conversation_id = _string_field(body, "conversation_id", MAX_ID)
    text = _string_field(body, "text", MAX_TEXT)
    channel = body.get("channel", "api")
    if channel not in CHANNELS:
        raise InvalidRequest(f"'channel' must be one of {', '.join(CHANNELS)}")
    reply = await request.app.state.gateway.handle(conversation_id, text, channel)
    return JSONResponse(reply.as_json())


async def get_conversation(request: Request) -> JSONResponse:
    conversation_id = request.path_params["conversation_id"]
    store = request.app.state.store
    conversation = await store.get_conversation(conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation '{conversation_id}'")
    messages = await store.messages(conversation_id)
    feedback = await store.feedback(conversation_id)
    return JSONResponse(
        {
            "id": conversation.id,
            "channel": conversation.channel,
            "language": conversation.language,
            "status": conversation.status,
            "handoff": {"reason": conversation.handoff_reason} if conversation.status == "handoff" else None,
            "created_at": conversation.created_at.isoformat(),
            "messages": [
                {
                    "id": m.id,
                    "role": m.role,
                    "channel": m.channel,
                    "text": m.text,
                    "article_id": m.article_id,
                    "score": m.score,
                    "title": (m.data or {}).get("title"),
                    "choices": (m.data or {}).get("choices") or [],
                    "created_at": m.created_at.isoformat(),
                }
                for m in messages
            ],
            "feedback": [{"article_id": f.article_id, "helpful": f.helpful} for f in feedback],
        }
    )


async def healthz(request: Request) -> JSONResponse:
    checks: dict[str, dict[str, Any]] = {}
    try:
        await request.app.state.store.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:  # any driver error means the database is not usable
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    checks.update(await request.app.state.rasa.health())
    healthy = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks}, status_code=200 if healthy else 503
    )


routes = [
    Route("/api/messages", post_message, methods=["POST"]),
    Route("/api/conversations/{conversation_id:path}", get_conversation, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]

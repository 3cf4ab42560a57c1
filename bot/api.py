"""The public HTTP API: send a message, read a conversation, check health."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.auth import current_staff
from bot.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from bot.gateway import MAX_TEXT, InvalidMessage, WrongChannel, message_json

MAX_ID = 128
CHANNELS = ("api", "cli")
# Conversation ids the other channels make; the API may neither create nor write to them.
RESERVED_PREFIXES = ("telegram:", "web:")


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


def _conversation_id(body: dict[str, Any]) -> str:
    conversation_id = _string_field(body, "conversation_id", MAX_ID)
    if conversation_id.startswith(RESERVED_PREFIXES):
        raise InvalidRequest(f"'conversation_id' may not start with {' or '.join(RESERVED_PREFIXES)}")
    return conversation_id


async def post_message(request: Request) -> JSONResponse:
    body = await _json_object(request)
    conversation_id = _conversation_id(body)
    text = _string_field(body, "text", MAX_TEXT)
    channel = body.get("channel", "api")
    if channel not in CHANNELS:
        raise InvalidRequest(f"'channel' must be one of {', '.join(CHANNELS)}")
    try:
        reply = await request.app.state.gateway.handle(conversation_id, text, channel)
    except WrongChannel as exc:
        raise Conflict(str(exc)) from None
    except InvalidMessage as exc:
        raise InvalidRequest(str(exc)) from None
    return JSONResponse(reply.as_json())


async def require_transcript_reader(request: Request) -> None:
    """Transcripts hold what users said: reading one needs a signed-in agent or reviewer, or
    TOUCHPOINT_API_TOKEN as a bearer token (for scripts)."""
    staff = await current_staff(request)
    if staff is not None and staff.may("agent", "reviewer"):
        return
    expected = request.app.state.settings.api_token
    if not expected:
        raise Forbidden("sign in as an agent or reviewer (or set TOUCHPOINT_API_TOKEN) to read conversations")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("send 'Authorization: Bearer <TOUCHPOINT_API_TOKEN>'")


async def get_conversation(request: Request) -> JSONResponse:
    await require_transcript_reader(request)
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
            "messages": [message_json(m) for m in messages],
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

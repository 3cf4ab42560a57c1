"""The public HTTP API: send a message, read a conversation, check health.

A conversation's first reply carries a conversation token (`conversation_token`), shown once.
The client sends it back as `X-Conversation-Token` to post into the conversation again and to
read it, agents' replies included; nobody without it can do either. Only its SHA-256 is stored.
Staff (signed in) and scripts holding TOUCHPOINT_API_TOKEN may read any conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.auth import current_staff, require_bearer
from bot.errors import Conflict, Forbidden, InvalidRequest, NotFound
from bot.messages import CLIENT_ID, MAX_TEXT, InvalidMessage, WrongChannel
from bot.openapi import openapi_json
from bot.params import json_object
from bot.replies import message_json
from bot.store import iso

MAX_ID = 128
TOKEN_HEADER = "X-Conversation-Token"
CHANNELS = ("api", "cli")
# Conversation ids the other channels make; the API may neither create nor write to them.
RESERVED_PREFIXES = ("telegram:", "web:")


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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _holds_token(request: Request, conversation) -> bool:
    token = request.headers.get(TOKEN_HEADER, "")
    expected = conversation.token_hash or ""
    return bool(token and expected) and hmac.compare_digest(token_hash(token), expected)


async def post_message(request: Request) -> JSONResponse:
    body = await json_object(request)
    conversation_id = _conversation_id(body)
    text = _string_field(body, "text", MAX_TEXT)
    channel = body.get("channel", "api")
    if channel not in CHANNELS:
        raise InvalidRequest(f"'channel' must be one of {', '.join(CHANNELS)}")
    user_name = body.get("user_name")
    if user_name is not None and not isinstance(user_name, str):
        raise InvalidRequest("'user_name' must be a string")
    store = request.app.state.store
    existing = await store.get_conversation(conversation_id)
    if existing is not None and existing.token_hash and not _holds_token(request, existing):
        raise Forbidden(f"send this conversation's token as '{TOKEN_HEADER}' (it came with its first reply)")
    message_id = body.get("message_id")
    if message_id is not None and (not isinstance(message_id, str) or not CLIENT_ID.fullmatch(message_id)):
        raise InvalidRequest("'message_id' must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    await request.app.state.limits.check(f"api:{conversation_id}", request.client.host if request.client else None)
    try:
        reply = await request.app.state.gateway.handle(
            conversation_id, text, channel, user_name=user_name, client_id=message_id
        )
    except WrongChannel as exc:
        raise Conflict(str(exc)) from None
    except InvalidMessage as exc:
        raise InvalidRequest(str(exc)) from None
    answer = reply.as_json()
    if existing is None or not existing.token_hash:
        # A new conversation (or one from before tokens): whoever posts first holds it.
        token = secrets.token_urlsafe(24)
        if not await store.set_token(conversation_id, token_hash(token)):
            raise Forbidden("another client holds this conversation")
        answer["conversation_token"] = token
    return JSONResponse(answer)


async def require_transcript_reader(request: Request, conversation=None) -> None:
    """Transcripts hold what users said: reading one needs its conversation token, a signed-in
    agent or reviewer, or TOUCHPOINT_API_TOKEN as a bearer token (for scripts)."""
    if conversation is not None and _holds_token(request, conversation):
        return
    staff = await current_staff(request)
    if staff is not None and staff.may("agent", "reviewer"):
        return
    expected = request.app.state.settings.api_token
    if not expected:
        raise Forbidden("sign in as an agent or reviewer (or set TOUCHPOINT_API_TOKEN) to read conversations")
    require_bearer(request, expected, "TOUCHPOINT_API_TOKEN")


async def get_conversation(request: Request) -> JSONResponse:
    conversation_id = request.path_params["conversation_id"]
    store = request.app.state.store
    conversation = await store.get_conversation(conversation_id)
    await require_transcript_reader(request, conversation)
    if conversation is None:
        raise NotFound(f"no conversation '{conversation_id}'")
    current = await store.open_handoff(conversation_id)
    messages = await store.messages(conversation_id)
    feedback = await store.feedback(conversation_id)
    return JSONResponse(
        {
            "id": conversation.id,
            "channel": conversation.channel,
            "language": conversation.language,
            "state": conversation.state,
            "handoff": {"reason": current.handoff.reason} if current else None,
            "created_at": iso(conversation.created_at),
            "messages": [message_json(m) for m in messages],
            "feedback": [{"article_id": f.article_id, "helpful": f.helpful} for f in feedback],
        }
    )


async def healthz(request: Request) -> JSONResponse:
    report = await request.app.state.health.report()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


routes = [
    Route("/api/messages", post_message, methods=["POST"]),
    Route("/api/conversations/{conversation_id:path}", get_conversation, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
]

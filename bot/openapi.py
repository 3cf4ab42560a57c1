"""The public HTTP API as an OpenAPI 3.1 document, served at /api/openapi.json.

It describes what a client of the assistant calls: POST /api/messages, GET
/api/conversations/{conversation_id}, GET /healthz, and this document. Left out on purpose: the
staff's JSON APIs (/api/desk, /api/kb, /api/review, /api/analytics, /api/staff: signed-in staff
with a CSRF token, made for the app's own pages) and the Telegram webhook (called by Telegram, in
Telegram's update format). `tests/bot/test_openapi.py` keeps the document true: every public route
is described, real responses fit it, and schemathesis finds no server error over it.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.auth import SESSION_COOKIE
from bot.conversations import State
from bot.messages import CLIENT_ID, MAX_TEXT
from bot.store import CHANNELS

PATH = "/api/openapi.json"
DESCRIPTION = (
    "Touchpoint's public API: send a user's message and get the assistant's reply, read a conversation, "
    'check health. Every error is JSON: `{"error": {"code", "message"}}`. Not described here: the staff\'s '
    "APIs (signed-in staff only) and the Telegram webhook (Telegram's own)."
)
EXAMPLE_ID = "api-example-1"  # the conversation the examples post to and read


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """An object with `properties`, each required but those in `optional`; other keys may come too."""
    required = [name for name in properties if name not in optional]
    return {"type": "object", "required": required, "properties": properties, **extra}


def _json(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(description, _ref("Error"), **extra)


def _schemas(api) -> dict[str, Any]:
    text = {"type": "string"}
    text_or_null = {"type": ["string", "null"]}
    reserved = "|".join(re.escape(prefix) for prefix in api.RESERVED_PREFIXES)
    return {
        "MessageRequest": _object(
            {
                "conversation_id": {
                    **text,
                    "minLength": 1,
                    "maxLength": api.MAX_ID,
                    "pattern": r"\S",
                    "not": {"pattern": rf"^\s*({reserved})"},
                    "description": "Chosen by the client. The first message opens the conversation; "
                    f"ids starting with {' or '.join(api.RESERVED_PREFIXES)} belong to other channels.",
                },
                "text": {
                    **text,
                    "minLength": 1,
                    "maxLength": MAX_TEXT,
                    "pattern": r"[^\s\x00-\x1f\x7f-\x9f]",
                    "description": "What the user typed (control characters are dropped), or a choice's `payload`.",
                },
                "channel": {"enum": list(api.CHANNELS), "default": "api"},
                "user_name": {**text_or_null, "description": "Shown to the agents."},
                "message_id": {
                    **text,
                    "pattern": CLIENT_ID.pattern.join("^$"),
                    "description": "Names the message: sent again with the same id (a retry), it is handled once "
                    "and the reply is the first sending's, with `replayed`.",
                },
            },
            optional=("channel", "user_name", "message_id"),
            examples=[{"conversation_id": EXAMPLE_ID, "text": "How do I turn on roaming?"}],
        ),
        "Reply": _object(
            {
                "messages": {"type": "array", "items": _ref("BotMessage")},
                "handoff": _or_null(_ref("Handoff")),
                "language": {**text, "description": "The conversation's language after this message: en or zh."},
                "state": _ref("State"),
                "conversation_token": {
                    **text,
                    "minLength": 32,
                    "description": f"Only in the reply that opened the conversation: send it as {api.TOKEN_HEADER} "
                    "with every later message and to read the conversation. It is not shown again.",
                },
                "replayed": {
                    "const": True,
                    "description": "Only when this message_id was sent before: the first sending's reply.",
                },
            },
            optional=("conversation_token", "replayed"),
        ),
        "BotMessage": _object(
            {
                "text": text,
                "article_id": {**text_or_null, "description": "The article this message answers from."},
                "title": text_or_null,
                "score": {"type": ["number", "null"], "description": "The answer's retrieval score, 0 to 1."},
                "choices": {"type": "array", "items": _ref("Choice")},
                "rateable": {"type": "boolean", "description": "An answer from an article, which the user may rate."},
            }
        ),
        "Choice": _object(
            {
                "title": text,
                "payload": {**text, "description": "Sent back as the `text` of a message when the user picks it."},
                "article_id": text,
            },
            optional=("article_id",),
        ),
        "Handoff": _object(
            {
                "reason": {
                    **text,
                    "examples": ["user_request", "low_confidence", "repeated_not_helpful", "service_error"],
                }
            }
        ),
        "State": {"enum": [state.value for state in State], "description": "Who answers the user now."},
        "Conversation": _object(
            {
                "id": text,
                "channel": {"enum": list(CHANNELS)},
                "language": text,
                "state": _ref("State"),
                "handoff": {**_or_null(_ref("Handoff")), "description": "The open handoff, if any."},
                "created_at": {**text, "format": "date-time"},
                "messages": {"type": "array", "items": _ref("TranscriptMessage")},
                "feedback": {"type": "array", "items": _ref("Feedback")},
            }
        ),
        "TranscriptMessage": _object(
            {
                "id": {"type": "integer"},
                "role": {"enum": ["user", "bot", "agent", "system"]},
                "channel": {"enum": list(CHANNELS)},
                "text": text,
                "display": {**text_or_null, "description": "What the user saw of a pressed button's payload."},
                "client_id": {**text_or_null, "description": "The widget's id for the message it sent."},
                "article_id": {**text_or_null, "description": "The article a bot's answer is from."},
                "quoted_article_id": {**text_or_null, "description": "The article an agent inserted."},
                "score": {"type": ["number", "null"]},
                "title": text_or_null,
                "choices": {"type": "array", "items": _ref("Choice")},
                "handoff": _or_null(_ref("Handoff")),
                "agent": {**text_or_null, "description": "The name of the agent who wrote it."},
                "created_at": {**text, "format": "date-time", "description": "When it was said, ISO 8601 (UTC)."},
            }
        ),
        "Feedback": _object({"article_id": text, "helpful": {"type": "boolean"}}),
        "Health": _object(
            {
                "status": {"enum": ["ok", "degraded"]},
                "checks": {
                    "type": "object",
                    "additionalProperties": _ref("Check"),
                    "description": "One check each for the database, Rasa and the action server.",
                },
            }
        ),
        "Check": _object(
            {
                "ok": {"type": "boolean"},
                "url": text,
                "status": {"type": "integer", "description": "The HTTP status the service answered with."},
                "error": {**text, "description": "The name of the error that made the check fail."},
            },
            optional=("url", "status", "error"),
        ),
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": {**text, "examples": ["invalid_request", "forbidden", "not_found", "rate_limited"]},
                        "message": {**text, "description": "For people: what was wrong, and what to do."},
                    }
                )
            }
        ),
    }


def _paths(api) -> dict[str, Any]:
    return {
        "/api/messages": {
            "post": {
                "operationId": "postMessage",
                "summary": "Send a user's message and get the assistant's reply",
                "security": [{}, {"conversationToken": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("MessageRequest")}}},
                "responses": {
                    "200": _json("The reply, with the conversation's state after it.", _ref("Reply")),
                    "400": _error("The body is not a JSON object, or a field is missing or wrong."),
                    "403": _error(f"The conversation has a token and {api.TOKEN_HEADER} did not send it."),
                    "409": _error("The conversation belongs to another channel."),
                    "413": _error("The body is larger than TOUCHPOINT_MAX_BODY_BYTES."),
                    "429": _error(
                        "Too many messages in this conversation or from this address.",
                        headers={
                            "Retry-After": {
                                "description": "Seconds to wait before sending again.",
                                "required": True,
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        },
                    ),
                },
            }
        },
        "/api/conversations/{conversation_id}": {
            "get": {
                "operationId": "getConversation",
                "summary": "Read a conversation: its state, every message, agents' replies included, and feedback",
                "parameters": [
                    {
                        "name": "conversation_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": EXAMPLE_ID,
                    },
                ],
                "security": [{"conversationToken": []}, {"apiToken": []}, {"staffSession": []}],
                "responses": {
                    "200": _json("The conversation.", _ref("Conversation")),
                    "401": _error("TOUCHPOINT_API_TOKEN is set and the bearer token is missing or wrong."),
                    "403": _error(
                        "Neither the conversation's token nor a reader's session, and no TOUCHPOINT_API_TOKEN."
                    ),
                    "404": _error("There is no such conversation."),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Check the database, Rasa and the action server",
                "security": [],
                "responses": {
                    "200": _json("Everything is up.", _ref("Health")),
                    "503": _json("Something is down: see which check is not ok.", _ref("Health")),
                },
            }
        },
        PATH: {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json("The OpenAPI document.", {"type": "object"})},
            }
        },
    }


def document() -> dict[str, Any]:
    from bot import api  # imported here, not above: bot.api serves this document

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Touchpoint",
            "version": version("touchpoint"),
            "description": DESCRIPTION,
        },
        "paths": _paths(api),
        "components": {
            "schemas": _schemas(api),
            "securitySchemes": {
                "conversationToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": api.TOKEN_HEADER,
                    "description": "The `conversation_token` of the conversation's first reply.",
                },
                "apiToken": {"type": "http", "scheme": "bearer", "description": "TOUCHPOINT_API_TOKEN, for scripts."},
                "staffSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "A signed-in agent's or reviewer's session.",
                },
            },
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())

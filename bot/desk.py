"""The handoff desk: agents see the queue of handed-off conversations live, claim one (the
database lets exactly one agent have it), read the transcript, reply, search the knowledge
base, leave internal notes, and hand the conversation back to the bot or close it.

What an agent says reaches the user in their own channel: pushed to the widget over its
WebSocket, sent by the Telegram bot, and stored either way (an API user reads it back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.auth import Staff, csrf_token, current_staff, requires, templates
from bot.errors import Conflict, Forbidden, InvalidRequest, NotFound
from bot.gateway import MAX_TEXT, BotMessage, BotReply, checked_text, message_json, rating_choices, waiting_choices
from bot.hub import DESK, conversation_topic
from bot.rasa_client import RasaUnavailable
from bot.replies import reply
from bot.store import Message

logger = logging.getLogger(__name__)

AGENT_ROLES = ("agent",)
CHECK_IN_EVERY = 30  # seconds
RECENT_ATTEMPTS = 3


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return _aware(moment).isoformat()


async def watch_the_queue(desk: Desk, timeout: float) -> None:
    """Run by the app: offers choices to users who have waited too long."""
    while True:
        await asyncio.sleep(min(30.0, timeout / 3))
        try:
            await desk.offer_choices_to_the_waiting(timeout)
        except Exception:  # a database hiccup must not stop the watch
            logger.exception("Checking the queue for long waits failed")


class Desk:
    def __init__(self, app):
        self.app = app

    @property
    def store(self):
        return self.app.state.store

    @property
    def hub(self):
        return self.app.state.gateway.hub

    async def queue(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        items = []
        for conversation, handoff, claim, agent, ticket in await self.store.queue():
            messages = await self.store.messages(conversation.id)
            attempts = [
                {"article_id": m.article_id, "title": (m.data or {}).get("title"), "score": m.score}
                for m in messages
                if m.role == "bot" and m.article_id
            ][-RECENT_ATTEMPTS:]
            last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
            started = _aware(handoff.created_at)
            items.append(
                {
                    "conversation_id": conversation.id,
                    "channel": conversation.channel,
                    "language": conversation.language,
                    "reason": handoff.reason,
                    "waiting_since": _iso(handoff.created_at),
                    "wait_seconds": max(0, int((now - started).total_seconds())),
                    "claimed_by": agent.name if agent and claim and claim.ended_at is None else None,
                    "claimed_by_id": agent.id if agent and claim and claim.ended_at is None else None,
                    "attempts": attempts,
                    "ticket": ticket is not None,
                    "last_message": last_user[:200],
                }
            )
        return items

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation '{conversation_id}'")
        state = await self.store.open_handoff(conversation_id)
        owner = None
        if state and state[1] and state[1].ended_at is None:
            agent = await self.store.user(state[1].agent_id)
            owner = {"id": agent.id, "name": agent.name} if agent else None
        return {
            "id": conversation.id,
            "channel": conversation.channel,
            "language": conversation.language,
            "status": conversation.status,
            "reason": state[0].reason if state else None,
            "owner": owner,
            "messages": [message_json(m) for m in await self.store.messages(conversation_id)],
            "notes": [
                {"id": n.id, "author": u.name, "text": n.text, "created_at": _iso(n.created_at)}
                for n, u in await self.store.notes(conversation_id)
            ],
        }

    async def claim(self, conversation_id: str, staff: Staff) -> None:
        state = await self.store.open_handoff(conversation_id)
        if state is None:
            raise NotFound(f"conversation '{conversation_id}' is not waiting for a person")
        handoff, claim = state
        if claim is not None or not await self.store.claim(handoff.id, staff.id):
            raise Conflict("another agent has already taken this conversation")
        conversation = await self.store.get_conversation(conversation_id)
        text = reply("agent_joined", conversation.language).format(name=staff.name)
        await self._tell_user(conversation_id, [Message(role="system", channel=conversation.channel, text=text)])
        self.hub.publish(DESK, {"type": "queue"})

    async def say(self, conversation_id: str, staff: Staff, text: str) -> dict[str, Any]:
        await self._require_owner(conversation_id, staff)
        conversation = await self.store.get_conversation(conversation_id)
        message = Message(role="agent", channel=conversation.channel, text=text, data={"agent": staff.name})
        await self._tell_user(conversation_id, [message])
        return message_json(message)

    async def note(self, conversation_id: str, staff: Staff, text: str) -> None:
        if await self.store.get_conversation(conversation_id) is None:
            raise NotFound(f"no conversation '{conversation_id}'")
        await self.store.add_note(conversation_id, staff.id, text)

    async def end(self, conversation_id: str, staff: Staff, outcome: str) -> None:
        """Hand back to the bot ("returned") or close ("closed"); the user is asked to rate."""
        async with self.app.state.gateway.lock(conversation_id):
            if not await self.store.end_handoff(conversation_id, staff.id, outcome):
                raise Forbidden("only the agent who took this conversation can hand it back or close it")
        if not await self.app.state.rasa.set_paused(conversation_id, False):
            logger.warning("Could not resume %s in Rasa", conversation_id)
        conversation = await self.store.get_conversation(conversation_id)
        key = "agent_handed_back" if outcome == "returned" else "agent_closed"
        message = Message(
            role="system",
            channel=conversation.channel,
            text=reply(key, conversation.language).format(name=staff.name),
            data={"choices": rating_choices(conversation.language)},
        )
        await self._tell_user(conversation_id, [message])
        self.hub.publish(DESK, {"type": "queue"})

    async def offer_choices_to_the_waiting(self, timeout: float) -> int:
        """Users nobody has taken for `timeout` seconds (since the handoff or the last offer) are
        offered to keep waiting, go back to the bot, or leave a message. Returns how many."""
        now = datetime.now(UTC)
        offered = 0
        for conversation, handoff, claim, _, ticket in await self.store.queue():
            if claim is not None or ticket is not None:
                continue
            since = _aware(handoff.created_at)
            for message in await self.store.messages(conversation.id):
                if (message.data or {}).get("kind") == "queue_timeout":
                    since = max(since, _aware(message.created_at))
            if (now - since).total_seconds() < timeout:
                continue
            language = conversation.language
            notice = Message(
                role="system",
                channel=conversation.channel,
                text=reply("queue_timeout", language),
                data={"kind": "queue_timeout", "choices": waiting_choices(language)},
            )
            await self._tell_user(conversation.id, [notice])
            offered += 1
        return offered

    async def _require_owner(self, conversation_id: str, staff: Staff) -> None:
        state = await self.store.open_handoff(conversation_id)
        if state is None or state[1] is None or state[1].agent_id != staff.id or state[1].ended_at is not None:
            raise Forbidden("take the conversation first: only its agent can write to the user")

    async def _tell_user(self, conversation_id: str, messages: list[Message]) -> None:
        """Store, then deliver in the user's channel; the desk's pages get the event too."""
        async with self.app.state.gateway.lock(conversation_id):
            await self.store.add_messages(conversation_id, messages)
        frames = [message_json(m) for m in messages]
        self.hub.publish(conversation_topic(conversation_id), {"type": "push", "messages": frames})
        self.hub.publish(DESK, {"type": "message", "conversation_id": conversation_id})
        telegram = self.app.state.telegram
        if telegram is not None and (chat_id := telegram.chat_of(conversation_id)) is not None:
            bot_messages = [
                BotMessage(text=m.text, title=(m.data or {}).get("agent"), choices=(m.data or {}).get("choices") or [])
                for m in messages
            ]
            await telegram.deliver(chat_id, BotReply(bot_messages))


# --- HTTP --------------------------------------------------------------------------------------


async def _text(request: Request, field: str = "text") -> str:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("request body must be JSON") from None
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string")
    try:
        return checked_text(value)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _desk(request: Request) -> Desk:
    return request.app.state.desk


@requires(*AGENT_ROLES, page=True)
async def console_page(request: Request) -> Response:
    staff = request.state.staff
    return templates.TemplateResponse(
        request, "console.html", {"staff": staff, "csrf": csrf_token(request), "max_text": MAX_TEXT}
    )


@requires(*AGENT_ROLES)
async def queue(request: Request) -> JSONResponse:
    return JSONResponse({"queue": await _desk(request).queue()})


@requires(*AGENT_ROLES)
async def conversation(request: Request) -> JSONResponse:
    return JSONResponse(await _desk(request).conversation(request.path_params["conversation_id"]))


@requires(*AGENT_ROLES)
async def claim(request: Request) -> JSONResponse:
    await _desk(request).claim(request.path_params["conversation_id"], request.state.staff)
    return JSONResponse({"ok": True})


@requires(*AGENT_ROLES)
async def say(request: Request) -> JSONResponse:
    text = await _text(request)
    message = await _desk(request).say(request.path_params["conversation_id"], request.state.staff, text)
    return JSONResponse({"message": message})


@requires(*AGENT_ROLES)
async def note(request: Request) -> JSONResponse:
    text = await _text(request)
    await _desk(request).note(request.path_params["conversation_id"], request.state.staff, text)
    return JSONResponse({"ok": True})


@requires(*AGENT_ROLES)
async def hand_back(request: Request) -> JSONResponse:
    await _desk(request).end(request.path_params["conversation_id"], request.state.staff, "returned")
    return JSONResponse({"ok": True})


@requires(*AGENT_ROLES)
async def close(request: Request) -> JSONResponse:
    await _desk(request).end(request.path_params["conversation_id"], request.state.staff, "closed")
    return JSONResponse({"ok": True})


@requires(*AGENT_ROLES)
async def search(request: Request) -> JSONResponse:
    query = request.query_params.get("q", "").strip()[:500]
    language = request.query_params.get("language", "en")
    if language not in ("en", "zh"):
        raise InvalidRequest("'language' must be en or zh")
    if not query:
        return JSONResponse({"results": []})
    try:
        results = await request.app.state.rasa.search(query, language, k=5)
    except RasaUnavailable as exc:
        logger.warning("%s", exc)
        return JSONResponse({"error": {"code": "search_unavailable", "message": "search is unavailable"}}, 503)
    return JSONResponse({"results": results})


async def desk_socket(websocket: WebSocket) -> None:
    """Live events for the console: the queue changed; a conversation has something new."""
    staff = await current_staff(websocket)
    origin = websocket.headers.get("origin", "")
    host = websocket.headers.get("host", "")
    if staff is None or not staff.may(*AGENT_ROLES) or origin.split("://", 1)[-1] != host:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    with websocket.app.state.gateway.hub.subscribe(DESK) as events:
        tasks = [
            asyncio.create_task(_forward(websocket, events)),
            asyncio.create_task(_check_in(websocket.app.state.store, staff.id)),
        ]
        try:
            while True:
                await websocket.receive_text()  # the console only listens; this notices the close
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await task


async def _check_in(store, user_id: int) -> None:
    """While the console is open its agent counts as online (see AGENT_ONLINE_WITHIN)."""
    while True:
        await store.touch_user(user_id)
        await asyncio.sleep(CHECK_IN_EVERY)


async def _forward(websocket: WebSocket, events: asyncio.Queue) -> None:
    while True:
        await websocket.send_text(json.dumps(await events.get()))


CONVERSATION = "/api/desk/conversations/{conversation_id:path}"
routes = [
    Route("/console", console_page, methods=["GET"]),
    Route("/api/desk/queue", queue, methods=["GET"]),
    Route("/api/desk/search", search, methods=["GET"]),
    Route(CONVERSATION + "/claim", claim, methods=["POST"]),
    Route(CONVERSATION + "/messages", say, methods=["POST"]),
    Route(CONVERSATION + "/notes", note, methods=["POST"]),
    Route(CONVERSATION + "/handback", hand_back, methods=["POST"]),
    Route(CONVERSATION + "/close", close, methods=["POST"]),
    Route(CONVERSATION, conversation, methods=["GET"]),
    WebSocketRoute("/desk/ws", desk_socket),
]

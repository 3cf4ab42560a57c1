"""The handoff desk: agents see the queue of handed-off conversations live, claim one (the
database lets exactly one agent have it), read the transcript, reply, search the knowledge
base, leave internal notes, and hand the conversation back to the bot or close it.

Every change of a conversation goes through its state machine (`bot.conversations`) by way of
`Gateway.run`, which delivers what the user is told in their own channel; the desk knows no
channel by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot import vocabulary
from bot.auth import Staff, csrf_token, current_staff, requires, templates
from bot.conversations import QUEUE_TIMEOUT_KIND, Event, IllegalTransition, NothingToClaim, NotTheOwner, Told
from bot.errors import Conflict, Forbidden, InvalidRequest, NotFound
from bot.hub import DESK
from bot.messages import MAX_TEXT, checked_text
from bot.params import json_object
from bot.rasa_client import RasaUnavailable
from bot.replies import message_json
from bot.store import HandoffAlreadyClaimed, aware, iso
from bot.strings import text as catalogue_text
from knowledge_base.articles import ID_PATTERN, LANGUAGES

logger = logging.getLogger(__name__)

AGENT_ROLES = ("agent",)
CHECK_IN_EVERY = 30  # seconds


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
    def gateway(self):
        return self.app.state.gateway

    async def queue(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [
            {
                "conversation_id": entry.conversation.id,
                "channel": entry.conversation.channel,
                "language": entry.conversation.language,
                "state": entry.conversation.state,
                "user_name": entry.conversation.user_name,
                "reason": entry.handoff.reason,
                "waiting_since": iso(entry.handoff.created_at),
                "wait_seconds": max(0, int((now - aware(entry.handoff.created_at)).total_seconds())),
                "claimed_by": entry.agent.name if entry.agent else None,
                "claimed_by_id": entry.agent.id if entry.agent else None,
                "attempts": [vars(attempt) for attempt in entry.attempts],
                "ticket": entry.ticket,
                "last_message": entry.last_message[:200],
            }
            for entry in await self.store.queue()
        ]

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation '{conversation_id}'")
        current = await self.store.open_handoff(conversation_id)
        owner = None
        if current and current.agent_id is not None:
            agent = await self.store.user(current.agent_id)
            owner = {"id": agent.id, "name": agent.name} if agent else None
        return {
            "id": conversation.id,
            "channel": conversation.channel,
            "language": conversation.language,
            "state": conversation.state,
            "user_name": conversation.user_name,
            "reason": current.handoff.reason if current else None,
            "owner": owner,
            "handoffs": [
                {
                    "reason": handoff.reason,
                    "started": iso(handoff.created_at),
                    "ended": iso(handoff.ended_at),
                    "outcome": handoff.outcome,
                    "agent": agent.name if agent else None,
                }
                for handoff, agent in await self.store.handoffs(conversation_id)
            ],
            "messages": [
                self._shown(message_json(m), conversation.language) for m in await self.store.messages(conversation_id)
            ],
            "notes": [
                {"id": n.id, "author": u.name, "text": n.text, "created_at": iso(n.created_at)}
                for n, u in await self.store.notes(conversation_id)
            ],
        }

    @staticmethod
    def _shown(message: dict[str, Any], language: str) -> dict[str, Any]:
        """A button press as the user saw it: the label their channel showed, else the button's
        label in the catalogue (an API client's payload)."""
        if (
            message["role"] == "user"
            and not message["display"]
            and (key := vocabulary.BUTTON_LABELS.get(message["text"]))
        ):
            message["display"] = catalogue_text(key, language)
        elif (
            message["role"] == "user"
            and not message["display"]
            and vocabulary.CHOICE_PATTERN.fullmatch(message["text"])
        ):
            message["display"] = catalogue_text("button_chose_article", language)
        return message

    async def find(self, query: str) -> list[dict[str, Any]]:
        """Handed-off conversations, closed ones too, by id, the user's name or what was said."""
        return [
            {
                "conversation_id": conversation.id,
                "channel": conversation.channel,
                "language": conversation.language,
                "state": conversation.state,
                "user_name": conversation.user_name,
                "reason": handoff.reason,
                "outcome": handoff.outcome,
                "updated_at": iso(conversation.updated_at),
            }
            for conversation, handoff in await self.store.find_conversations(query)
        ]

    async def _run(self, conversation_id: str, operation) -> list[Event]:
        """A state-machine operation, its failures as the desk's HTTP errors."""
        try:
            return await self.gateway.run(conversation_id, operation)
        except LookupError:
            raise NotFound(f"no conversation '{conversation_id}'") from None
        except NothingToClaim:
            raise NotFound(f"conversation '{conversation_id}' is not waiting for a person") from None
        except HandoffAlreadyClaimed:
            raise Conflict("another agent has already taken this conversation") from None
        except NotTheOwner:
            raise Forbidden(
                "take the conversation first: only its agent can write to the user or end the chat"
            ) from None
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from None

    async def claim(self, conversation_id: str, staff: Staff) -> None:
        async def claim(tx, conversation):
            return await self.gateway.conversations.claim(tx, conversation, await tx.agent(staff.id))

        await self._run(conversation_id, claim)

    async def say(self, conversation_id: str, staff: Staff, text: str, article_id: str | None = None) -> dict[str, Any]:
        async def say(tx, conversation):
            agent = await tx.agent(staff.id)
            return await self.gateway.conversations.agent_says(tx, conversation, agent, text, article_id)

        events = await self._run(conversation_id, say)
        told = next(event for event in events if isinstance(event, Told))
        return message_json(told.messages[0])

    async def note(self, conversation_id: str, staff: Staff, text: str) -> None:
        async def note(tx, conversation):
            tx.add_note(conversation.id, staff.id, text)
            return []

        await self._run(conversation_id, note)

    async def end(self, conversation_id: str, staff: Staff, outcome: str) -> None:
        """Hand back to the bot ("returned") or close ("closed"); the user is asked to rate."""

        async def end(tx, conversation):
            return await self.gateway.conversations.end(tx, conversation, await tx.agent(staff.id), outcome)

        await self._run(conversation_id, end)

    async def offer_choices_to_the_waiting(self, timeout: float) -> int:
        """Users nobody has taken for `timeout` seconds (since the handoff or the last offer) are
        offered to keep waiting, go back to the bot, or leave a message. Returns how many."""
        async with self.store.transaction() as tx:
            due = await tx.waited_too_long(timedelta(seconds=timeout), QUEUE_TIMEOUT_KIND)
        for conversation, _ in due:
            await self.gateway.run(conversation.id, self.gateway.conversations.offer_choices)
        return len(due)


# --- HTTP --------------------------------------------------------------------------------------


async def _text(request: Request, field: str = "text") -> str:
    value = (await json_object(request)).get(field)
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
async def find(request: Request) -> JSONResponse:
    query = request.query_params.get("q", "").strip()[:200]
    return JSONResponse({"conversations": await _desk(request).find(query)})


@requires(*AGENT_ROLES)
async def conversation(request: Request) -> JSONResponse:
    return JSONResponse(await _desk(request).conversation(request.path_params["conversation_id"]))


@requires(*AGENT_ROLES)
async def claim(request: Request) -> JSONResponse:
    await _desk(request).claim(request.path_params["conversation_id"], request.state.staff)
    return JSONResponse({"ok": True})


@requires(*AGENT_ROLES)
async def say(request: Request) -> JSONResponse:
    """An agent's reply; `article_id` names the knowledge-base article it quotes, if any."""
    text = await _text(request)
    article_id = (await json_object(request)).get("article_id")
    if article_id is not None and not (isinstance(article_id, str) and ID_PATTERN.match(article_id)):
        raise InvalidRequest("'article_id' must be an article's id")
    message = await _desk(request).say(request.path_params["conversation_id"], request.state.staff, text, article_id)
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
    language = request.query_params.get("language", "all")
    if language not in ("all", *LANGUAGES):
        raise InvalidRequest(f"'language' must be all, {' or '.join(LANGUAGES)}")
    if not query:
        return JSONResponse({"results": []})
    languages = LANGUAGES if language == "all" else (language,)
    try:
        found = [
            {**result, "language": each}
            for each in languages
            for result in await request.app.state.rasa.search(query, each, k=5)
        ]
    except RasaUnavailable as exc:
        logger.warning("%s", exc)
        return JSONResponse({"error": {"code": "search_unavailable", "message": "search is unavailable"}}, 503)
    # Both languages' articles, best first: an agent may answer in the user's language from either.
    return JSONResponse({"results": sorted(found, key=lambda r: -r["score"])[:5]})


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
    Route("/api/desk/conversations", find, methods=["GET"]),
    Route(CONVERSATION + "/claim", claim, methods=["POST"]),
    Route(CONVERSATION + "/messages", say, methods=["POST"]),
    Route(CONVERSATION + "/notes", note, methods=["POST"]),
    Route(CONVERSATION + "/handback", hand_back, methods=["POST"]),
    Route(CONVERSATION + "/close", close, methods=["POST"]),
    Route(CONVERSATION, conversation, methods=["GET"]),
    WebSocketRoute("/desk/ws", desk_socket),
]

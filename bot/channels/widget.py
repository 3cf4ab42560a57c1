"""The web widget's server side: the script, a demo page, and the WebSocket it talks over.

The widget keeps a random session token in the browser's localStorage; the conversation is
`web:` plus a hash of it, so the token itself is never stored or shown to staff, and only the
browser holding it can read or continue the conversation.

Protocol (JSON text frames). The browser sends:
    {"type": "hello", "session": token or null, "language": "zh" | "en" | null}
    {"type": "message", "id": client id, "text": what the user typed}
    {"type": "button", "id": client id, "payload": "/affirm" ..., "label": what the button said}
    {"type": "language", "language": "zh" | "en"}
and receives:
    {"type": "session", "session", "language", "status", "messages": [the stored history]}
    {"type": "typing"}
    {"type": "reply", "id", "messages": [...], "handoff", "language"}
    {"type": "error", "id", "message"}  (and "retry_after", in seconds, when over the rate limit)
    {"type": "push", "messages": [...]}  (an agent's message or a notice, as it happens)
Messages are handled one at a time, in the order they arrive; each client id is handled once. A
message resent after a reconnect gets the reply the first sending got (waiting for it if it is
still being worked on), so no answer is lost with the connection it was meant for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot import vocabulary
from bot.hub import conversation_topic
from bot.limits import RateLimited
from bot.messages import CLIENT_ID, MAX_TEXT, InvalidMessage, checked_text, typed_text
from bot.replies import BotReply
from bot.strings import widget_strings
from knowledge_base.articles import LANGUAGES

logger = logging.getLogger(__name__)

CHANNEL = "web"
STATIC = Path(__file__).resolve().parent.parent / "static"
SESSION_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")
MAX_LABEL = 200


class ProtocolError(ValueError):
    pass


def conversation_for(session: str) -> str:
    return f"{CHANNEL}:{hashlib.sha256(session.encode()).hexdigest()[:32]}"


def reply_frame(client_id: str, reply: BotReply) -> dict[str, Any]:
    return {
        "type": "reply",
        "id": client_id,
        "messages": [{"role": "bot", **m.as_json()} for m in reply.messages],
        "handoff": reply.handoff,
        "language": reply.language,
        "state": reply.state,
    }


class WidgetSession:
    """One browser tab's WebSocket."""

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.app = websocket.app
        self.session: str | None = None
        self.language = "en"
        self._send_lock = asyncio.Lock()  # replies and pushes share the socket
        self._pushes: asyncio.Task | None = None

    @property
    def conversation_id(self) -> str:
        if self.session is None:
            raise ProtocolError("say hello first")
        return conversation_for(self.session)

    async def run(self) -> None:
        await self.websocket.accept()
        try:
            await self._receive()
        finally:
            if self._pushes:
                self._pushes.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await self._pushes

    async def _forward_pushes(self, conversation_id: str) -> None:
        """What the desk says to this conversation (an agent's reply, a notice) as it happens."""
        with self.app.state.gateway.hub.subscribe(conversation_topic(conversation_id)) as events:
            while True:
                await self.send(await events.get())  # {"type": "push", "messages": [...]}

    async def _receive(self) -> None:
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            client_id = None
            try:
                if frame.get("text") is None:
                    raise ProtocolError("binary frames are not supported; send JSON text")
                try:
                    data = json.loads(frame["text"])
                except json.JSONDecodeError:
                    raise ProtocolError("frames must be JSON") from None
                if not isinstance(data, dict):
                    raise ProtocolError("frames must be JSON objects")
                client_id = data.get("id") if isinstance(data.get("id"), str) else None
                await self.dispatch(data)
            except (ProtocolError, InvalidMessage) as exc:
                await self.send({"type": "error", "id": client_id, "message": str(exc)})
            except RateLimited as exc:
                frame = {"type": "error", "id": client_id, "message": exc.message, "retry_after": exc.retry_after}
                await self.send(frame)

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))

    async def dispatch(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "hello":
            await self.hello(data)
        elif kind == "language":
            language = data.get("language")
            if language not in LANGUAGES:
                raise ProtocolError(f"language must be one of {', '.join(LANGUAGES)}")
            self.language = language
            await self.app.state.store.set_language(self.conversation_id, language)
            await self.send({"type": "language", "language": language})
        elif kind == "message":
            text = data.get("text")
            if not isinstance(text, str):
                raise ProtocolError("'text' must be a string")
            await self.message(_client_id(data), typed_text(text), display=None)
        elif kind == "button":
            payload, label = data.get("payload"), data.get("label")
            if not isinstance(payload, str) or not vocabulary.is_button(payload):
                raise ProtocolError("unknown button")
            display = label[:MAX_LABEL] if isinstance(label, str) else ""
            await self.message(_client_id(data), payload, display=display)
        else:
            raise ProtocolError(f"unknown frame type {kind!r}")

    async def hello(self, data: dict[str, Any]) -> None:
        session = data.get("session")
        if not isinstance(session, str) or not SESSION_PATTERN.fullmatch(session):
            session = secrets.token_urlsafe(24)
        self.session = session
        if self._pushes is None:
            self._pushes = asyncio.create_task(self._forward_pushes(self.conversation_id))
        store = self.app.state.store
        conversation = await store.get_conversation(self.conversation_id)
        requested = data.get("language")
        if conversation is not None:
            self.language = conversation.language
        elif requested in LANGUAGES:
            self.language = requested
        await self.send(
            {
                "type": "session",
                "session": session,
                "language": self.language,
                "state": conversation.state if conversation else "bot",
                "messages": await self.app.state.gateway.history(self.conversation_id),
            }
        )

    async def message(self, client_id: str, text: str, *, display: str | None) -> None:
        conversation_id = self.conversation_id
        text = checked_text(text)  # refused before anything is recorded
        client = self.websocket.client
        await self.app.state.limits.check(conversation_id, client.host if client else None)
        await self.send({"type": "typing"})
        # A message sent again (a reconnect resends what got no reply) gets its first replies.
        reply = await self.app.state.gateway.handle(
            conversation_id, text, CHANNEL, language=self.language, display=display, client_id=client_id
        )
        self.language = reply.language
        # If the tab has gone meanwhile, the reply is stored and comes back with the history.
        await self.send(reply_frame(client_id, reply))


def _client_id(data: dict[str, Any]) -> str:
    client_id = data.get("id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise ProtocolError("'id' must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    return client_id


async def widget_socket(websocket: WebSocket) -> None:
    origins = websocket.app.state.settings.widget_origins
    origin = websocket.headers.get("origin", "")
    if "*" not in origins and origin not in origins:
        logger.warning("Widget connection from %r refused (TOUCHPOINT_WIDGET_ORIGINS)", origin)
        await websocket.close(code=1008)
        return
    with contextlib.suppress(WebSocketDisconnect):
        await WidgetSession(websocket).run()


CONFIG_PLACEHOLDER = "/*TOUCHPOINT_CONFIG*/null"


@functools.cache
def widget_source() -> str:
    """The one script a site embeds: markdown.js (the answer renderer, shared with the curation
    editor's preview), then widget.js with the texts of every language and the limits written in."""
    config = {"strings": widget_strings(), "limits": {"max_text": MAX_TEXT}}
    markdown = (STATIC / "markdown.js").read_text(encoding="utf-8")
    widget = (STATIC / "widget.js").read_text(encoding="utf-8")
    return markdown + "\n" + widget.replace(CONFIG_PLACEHOLDER, json.dumps(config, ensure_ascii=False))


async def widget_script(request: Request) -> Response:
    return Response(
        widget_source(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


async def demo_page(request: Request) -> Response:
    return FileResponse(STATIC / "demo.html", media_type="text/html; charset=utf-8")


async def home(request: Request) -> Response:
    return RedirectResponse("/demo")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/widget.js", widget_script, methods=["GET"]),
    Route("/demo", demo_page, methods=["GET"]),
    WebSocketRoute("/widget/ws", widget_socket),
]

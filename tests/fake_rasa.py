"""Rasa replaced at the transport (httpx.MockTransport): the app's real RasaClient talks to this."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx


class FakeRasa:
    """Answers the REST webhook and health checks like Rasa would, and records what it was sent."""

    def __init__(self, respond: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None):
        self.replies: list = []  # consumed first, one per message
        self.respond = respond  # then this, given what Rasa was sent
        self.sent: list[dict] = []
        self.events: list[tuple[str, dict]] = []  # tracker events posted: (conversation id, event)
        self.down = False
        # The action server's POST endpoints (/try, /group): path -> function of the JSON body.
        self.action_server: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.intent = {"name": "ask_question", "confidence": 0.9}  # what /model/parse says

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/webhooks/rest/webhook":
            sent = json.loads(request.content)
            self.sent.append(sent)
            reply = self.replies.pop(0) if self.replies or not self.respond else self.respond(sent)
            return reply if isinstance(reply, httpx.Response) else httpx.Response(200, json=reply)
        if request.url.path == "/model/parse":
            return httpx.Response(200, json={"text": json.loads(request.content)["text"], "intent": self.intent})
        if request.url.path in self.action_server:
            return httpx.Response(200, json=self.action_server[request.url.path](json.loads(request.content)))
        if request.url.path.endswith("/tracker/events"):
            conversation_id = request.url.path.split("/")[2]
            self.events.append((conversation_id, json.loads(request.content)))
        return httpx.Response(200, json={"status": "ok"})


def transport_client(fake: FakeRasa) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(fake))


def fake_settings(build_dir, database_url: str = "", **overrides):
    """Settings of an app whose Rasa and action server are a FakeRasa (their URLs are never
    dialled: `app_with` routes them to the fake); SQLite in `build_dir` unless `database_url`."""
    from bot.settings import Settings

    return Settings(
        build_dir=build_dir, database_url=database_url, rasa_url="http://rasa.test",
        actions_url="http://actions.test", **overrides,
    )  # fmt: skip


def app_with(fake: FakeRasa, settings):
    """The real app, its Rasa client talking to `fake`."""
    from bot.app import create_app
    from bot.rasa_client import RasaClient

    return create_app(
        settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(fake))
    )

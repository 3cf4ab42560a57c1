"""A turn is two database transactions, the user's message and the reply, whatever happens in it
(an answer, a handoff, a message to the team), on SQLite and PostgreSQL: measured by counting the
engine's `begin` events around `Gateway.handle`."""

from __future__ import annotations

import functools

import httpx
import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from bot.app import create_app
from bot.rasa_client import RasaClient
from bot.settings import Settings
from tests.channels.test_telegram import bot_reply
from tests.databases import database_url
from tests.fake_rasa import FakeRasa
from tests.staff import someone_online


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def client(request, tmp_path):
    settings = Settings(
        build_dir=tmp_path, database_url=database_url(request), rasa_url="http://r.test", actions_url="http://a.test"
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(FakeRasa(respond=bot_reply)))
    with TestClient(
        create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=http))
    ) as c:
        yield c


def transactions(client: TestClient, text: str, conversation_id: str = "c1") -> int:
    """How many transactions one user message opens."""
    begun = []
    engine = client.app.state.store.engine.sync_engine
    count = lambda connection: begun.append(1)  # noqa: E731
    event.listen(engine, "begin", count)
    try:
        client.portal.call(functools.partial(client.app.state.gateway.handle, conversation_id, text, "api"))
    finally:
        event.remove(engine, "begin", count)
    return len(begun)


def test_every_kind_of_turn_is_two_transactions(client):
    someone_online(client)
    assert transactions(client, "How do I turn on roaming?") == 2  # answered
    assert transactions(client, "I want a person") == 2  # handed off, queued
    assert transactions(client, "what about roaming in Japan?") == 2  # answered while waiting
    assert transactions(client, "/leave_message") == 1  # the state machine alone: no reply to store apart
    assert transactions(client, "call me back") == 1  # a message for the team

"""Fixtures of the review tests: the real app over SQLite and PostgreSQL with Rasa replaced at the
transport, staff of every role, and four conversations made as users and agents make them."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from starlette.testclient import TestClient

from bot.auth import hash_password
from bot.settings import Settings
from bot.store import Store
from bot.vocabulary import LEAVE_MESSAGE, PERSON_HELPED, REQUEST_HUMAN
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import API_TOKEN, PASSWORD, Agent, send, someone_online


def trace(decision: str, ranking: list[tuple[str, float]]) -> dict:
    return {
        "intent": "ask_question",
        "confidence": 0.91,
        "ranking": [{"article_id": a, "score": s} for a, s in ranking],
        "decision": decision,
        "threshold": 0.3,
    }


def assistant(sent: dict) -> list[dict]:
    """Rasa with the knowledge base's verdicts: roaming is answered, broadband is not, a person
    when asked for, thanks for a rating."""
    text = sent["message"]
    if text == REQUEST_HUMAN or "person" in text:
        return [{"text": "Connecting you with a person."}, {"custom": {"handoff": {"reason": "user_request"}}}]
    if text in ("/affirm", "/deny"):
        return [{"custom": {"feedback": {"article_id": "roaming-activate", "helpful": text == "/affirm"}}},
                {"text": "Thanks!"}]  # fmt: skip
    if "roaming" in text or "漫游" in text:
        ranked = [("roaming-activate", 0.81), ("roaming-rates", 0.62), ("roaming-data", 0.4)]
        return [{"custom": {"text": "Open the app and switch roaming on.", "article_id": "roaming-activate",
                            "title": "Turn on roaming", "score": 0.81, "trace": trace("answer", ranked)}}]  # fmt: skip
    ranked = [("broadband-router", 0.21), ("broadband-speed", 0.18)]
    return [
        {"text": "A person will help you with that."},
        {"custom": {"handoff": {"reason": "low_confidence"}, "trace": trace("hand_off", ranked)}},
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    return fake_settings(tmp_path, database_url(request), api_token=API_TOKEN)


@pytest.fixture
def rasa():
    return FakeRasa(respond=assistant)


def prepare_database(settings: Settings) -> None:
    """The schema and staff of every role: Rita (reviewer), Root (admin), Alice (agent), Cora (curator)."""

    async def prepare():
        store = Store.from_url(settings.database_url)
        await store.upgrade()
        for username, role in (("rita", "reviewer"), ("root", "admin"), ("alice", "agent"), ("cora", "curator")):
            await store.add_user(username, username.title(), role, hash_password(PASSWORD))
        await store.close()

    # A thread of its own: a browser test's Playwright runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare()).result()


@pytest.fixture
def client(settings, rasa):
    prepare_database(settings)
    with TestClient(app_with(rasa, settings)) as client:
        yield client


def make_traffic(client) -> None:
    """Four conversations, one of each outcome:
    answered  en, api: roaming answered (with a phone number in the question), rated helpful
    handed    zh, api: low confidence, taken by Alice, a note with an e-mail, closed, agent rated helpful
    nobody    en, api: asked for a person with nobody online (abandoned)
    ticket    en, api: asked for a person, left a message instead of waiting
    """
    assert send(client, "how do I turn on roaming? call me on 13812345678", "answered").status_code == 200
    send(client, "/affirm", "answered")
    send(client, "I want a person", "nobody")
    alice = Agent(client, "alice")
    someone_online(client, "alice")
    send(client, "我的宽带坏了，请打 13912345678 联系我", "handed")
    assert alice.post("/api/desk/conversations/handed/claim").status_code == 200
    alice.post("/api/desk/conversations/handed/messages", json={"text": "Let me check your line."})
    alice.post("/api/desk/conversations/handed/notes", json={"text": "customer email li.wei@example.com"})
    assert alice.post("/api/desk/conversations/handed/close").status_code == 200
    send(client, PERSON_HELPED, "handed")
    send(client, "I want a person", "ticket")
    send(client, LEAVE_MESSAGE, "ticket")


@pytest.fixture
def traffic(client):
    make_traffic(client)


@pytest.fixture
def rita(client):
    return Agent(client, "rita")

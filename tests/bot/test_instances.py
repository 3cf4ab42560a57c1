"""Two app instances over one database and one (private) Redis, as behind the scaled stack's load
balancer, with Rasa replaced at the transport: a widget on one instance gets at once what an agent
says through the other, the consoles on both see the queue change, a message resent to the other
instance while the first still handles it gets the first one's reply, and one conversation's
messages take turns across instances."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.auth import hash_password
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.store import Store
from tests.channels.test_telegram import bot_reply
from tests.databases import database_url
from tests.fake_rasa import FakeRasa
from tests.staff import PASSWORD, Agent, send, someone_online


class SlowRasa(FakeRasa):
    """A FakeRasa that takes `delay` seconds to answer, and counts the answers in progress."""

    def __init__(self, delay: float = 0.0):
        super().__init__(respond=bot_reply)
        self.delay = delay
        self.busy = 0
        self.most_busy = 0
        self._guard = threading.Lock()

    async def answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/rest/webhook":
            with self._guard:
                self.busy += 1
                self.most_busy = max(self.most_busy, self.busy)
            try:
                await asyncio.sleep(self.delay)
                return self(request)
            finally:
                with self._guard:
                    self.busy -= 1
        return self(request)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path, redis_server):
    settings = Settings(
        build_dir=tmp_path, database_url=database_url(request), rasa_url="http://rasa.test",
        actions_url="http://actions.test", redis_url=redis_server.url, rate_address=0,
    )  # fmt: skip

    async def add_staff():
        store = Store.from_url(settings.database_url)
        await store.upgrade()
        await store.add_user("alice", "Alice", "agent", hash_password(PASSWORD))
        await store.close()

    asyncio.run(add_staff())
    return settings


@pytest.fixture
def rasa():
    return SlowRasa()


@contextlib.contextmanager
def instances(settings: Settings, rasa: SlowRasa, count: int = 2):
    """`count` running app instances of `settings`, each with its own Rasa client on `rasa`."""
    with contextlib.ExitStack() as stack:
        clients = []
        for _ in range(count):
            http = httpx.AsyncClient(transport=httpx.MockTransport(rasa.answer))
            app = create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=http))
            clients.append(stack.enter_context(TestClient(app)))
        yield clients


def hello(ws, session=None) -> dict:
    ws.send_json({"type": "hello", "session": session, "language": "en"})
    frame = ws.receive_json()
    assert frame["type"] == "session"
    return frame


def heard_until(console, event: dict, most: int = 10) -> None:
    """Read the console's events until `event` (others come too: each step publishes a few)."""
    for _ in range(most):
        if console.receive_json() == event:
            return
    raise AssertionError(f"the console never heard {event}")


def test_a_widget_on_one_instance_gets_what_an_agent_says_through_the_other(settings, rasa):
    with instances(settings, rasa) as (a, b):
        someone_online(b)
        alice = Agent(b, "alice")
        with (
            a.websocket_connect("/widget/ws") as ws,
            b.websocket_connect("/desk/ws", headers={"Cookie": alice.cookie, "Origin": "http://testserver"}) as console,
        ):
            hello(ws)
            ws.send_json({"type": "message", "id": "m1", "text": "I want a person"})
            assert ws.receive_json()["type"] == "typing"
            assert ws.receive_json()["handoff"] == {"reason": "user_request"}
            # The handoff happened on a; b's console hears of it.
            heard_until(console, {"type": "queue"})
            [item] = alice.get("/api/desk/queue").json()["queue"]
            path = f"/api/desk/conversations/{item['conversation_id']}"
            assert alice.post(path + "/claim").status_code == 200
            joined = ws.receive_json()
            assert joined["type"] == "push" and joined["messages"][0]["text"].startswith("Alice")
            started = time.monotonic()
            alice.post(path + "/messages", json={"text": "Hello from instance b"})
            pushed = ws.receive_json()
            assert time.monotonic() - started < 2
            assert (pushed["messages"][0]["role"], pushed["messages"][0]["text"]) == ("agent", "Hello from instance b")
            # And the other way: the user writes on a, the agent's console on b hears it.
            ws.send_json({"type": "message", "id": "m2", "text": "thanks, one more thing"})
            assert ws.receive_json()["type"] == "typing"
            ws.receive_json()  # the (empty) reply: an agent has the conversation
            heard_until(console, {"type": "message", "conversation_id": item["conversation_id"]})


def test_a_message_resent_to_the_other_instance_while_the_first_handles_it_gets_the_first_reply(settings, rasa):
    rasa.delay = 1.0
    with instances(settings, rasa) as (a, b):
        with a.websocket_connect("/widget/ws") as first:
            session = hello(first)["session"]
            first.send_json({"type": "message", "id": "m1", "text": "How do I turn on roaming?"})
            assert first.receive_json()["type"] == "typing"
            # The connection to a is lost; the widget reconnects, to b, and sends m1 again.
            with b.websocket_connect("/widget/ws") as second:
                hello(second, session)
                second.send_json({"type": "message", "id": "m1", "text": "How do I turn on roaming?"})
                assert second.receive_json()["type"] == "typing"
                again = second.receive_json()
            original = first.receive_json()
        assert again["type"] == "reply" and original["type"] == "reply"
        assert [m["text"] for m in again["messages"]] == [m["text"] for m in original["messages"]]
        assert len(rasa.sent) == 1  # handled once
        history = a.portal.call(a.app.state.store.messages, original_conversation(a, session))
        assert [m.text for m in history if m.role == "user"] == ["How do I turn on roaming?"]


def original_conversation(client, session: str) -> str:
    from bot.channels.widget import conversation_for

    return conversation_for(session)


def test_one_conversations_messages_take_turns_across_instances(settings, rasa):
    rasa.delay = 0.3
    with instances(settings, rasa) as (a, b):
        send(a, "first", "c1")  # makes the conversation and its token
        token = a.__dict__["conversation_tokens"]["c1"]
        b.__dict__["conversation_tokens"] = {"c1": token}
        results = []

        def post(client, text):
            results.append(send(client, text, "c1").status_code)

        threads = [threading.Thread(target=post, args=(client, f"message {n}")) for n, client in enumerate((a, b) * 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 6
        assert rasa.most_busy == 1  # never two of c1's messages with Rasa at once
        messages = a.portal.call(a.app.state.store.messages, "c1")
        # every user message is followed by its own reply: the transcript is in order
        assert [m.role for m in messages] == ["user", "bot"] * 7

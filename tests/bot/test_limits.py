"""Rate limits: the token bucket on a fake clock, and through the real app, the API's 429 with
Retry-After and the widget's error frame; over the limit nothing is stored or sent to Rasa."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from bot.limits import Limits, Rate, RateLimited, RateLimiter
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import send


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate():
    clock = Clock()
    limiter = RateLimiter(Rate(per_minute=60, burst=3), clock)
    assert [limiter.wait("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait("a") == pytest.approx(1.0)  # one a second: the next in a second
    assert limiter.wait("b") == 0  # each key its own bucket
    clock.now += 0.5
    assert limiter.wait("a") == pytest.approx(0.5)  # a refused message takes no token
    clock.now += 0.5
    assert limiter.wait("a") == 0
    clock.now += 60
    assert [limiter.wait("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_no_limit_at_zero_and_old_keys_are_dropped():
    assert all(RateLimiter(Rate(0, 1)).wait("a") == 0 for _ in range(1000))
    limiter = RateLimiter(Rate(60, 1), Clock(), max_keys=2)
    limiter.wait("a"), limiter.wait("b"), limiter.wait("c")
    assert limiter.wait("a") == 0  # forgotten (least recently used): a full bucket again
    assert limiter.wait("c") > 0


def test_the_address_limit_counts_every_conversation_from_it():
    clock = Clock()
    limits = Limits(RateLimiter(Rate(60, 5), clock), RateLimiter(Rate(60, 3), clock))

    async def main():
        for n in range(3):
            await limits.check(f"api:c{n}", "10.0.0.1")
        with pytest.raises(RateLimited) as refused:
            await limits.check("api:c9", "10.0.0.1")
        assert refused.value.retry_after == 1 and refused.value.status == 429
        await limits.check("api:c9", "10.0.0.2")  # another address

    asyncio.run(main())


@pytest.fixture
def rasa():
    return FakeRasa(respond=lambda sent: [{"recipient_id": sent["sender"], "text": "Hello!"}])


def app(tmp_path, rasa, **rates):
    return TestClient(app_with(rasa, fake_settings(tmp_path, **rates)))


def test_an_api_client_over_its_rate_gets_429_and_nothing_is_stored(tmp_path, rasa):
    with app(tmp_path, rasa, rate_conversation=6, rate_address=0) as client:  # bursts of 2
        assert [send(client, f"message {n}").status_code for n in range(2)] == [200, 200]
        refused = send(client, "one too many")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        assert len(rasa.sent) == 2
        stored = client.portal.call(client.app.state.store.messages, "c1")
        assert "one too many" not in [m.text for m in stored]
        assert send(client, "another conversation", conversation_id="c2").status_code == 200
        assert client.get("/healthz").status_code in (200, 503)  # never limited


def test_one_address_is_limited_across_conversations(tmp_path, rasa):
    with app(tmp_path, rasa, rate_conversation=0, rate_address=9) as client:  # bursts of 3
        codes = [send(client, "hi", conversation_id=f"c{n}").status_code for n in range(4)]
        assert codes == [200, 200, 200, 429]


def test_a_widget_connection_over_its_rate_gets_an_error_frame(tmp_path, rasa):
    with app(tmp_path, rasa, rate_conversation=3, rate_address=0) as client:  # a burst of 1
        with client.websocket_connect("/widget/ws") as socket:
            socket.send_json({"type": "hello", "session": None, "language": "en"})
            assert socket.receive_json()["type"] == "session"
            socket.send_json({"type": "message", "id": "m1", "text": "hello"})
            frames = [socket.receive_json(), socket.receive_json()]
            assert [f["type"] for f in frames] == ["typing", "reply"]
            socket.send_json({"type": "message", "id": "m2", "text": "again"})
            error = socket.receive_json()
            assert error["type"] == "error" and error["id"] == "m2" and error["retry_after"] >= 1
            assert "too many messages" in error["message"]
        assert len(rasa.sent) == 1

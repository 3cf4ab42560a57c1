"""The widget's WebSocket protocol and static files, in the real app with Rasa at the transport."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.app import create_app
from bot.channels.widget import conversation_for
from bot.rasa_client import RasaClient
from bot.settings import Settings
from tests.channels.test_telegram import bot_reply
from tests.fake_rasa import FakeRasa, transport_client
from tests.staff import API_TOKEN, AUTHORIZATION


@pytest.fixture
def rasa():
    return FakeRasa(respond=bot_reply)


def app_client(tmp_path, rasa, **extra) -> TestClient:
    settings = Settings(
        build_dir=tmp_path, rasa_url="http://rasa.test", actions_url="http://actions.test", api_token=API_TOKEN, **extra
    )
    app = create_app(
        settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(rasa))
    )
    return TestClient(app, headers=AUTHORIZATION)


@pytest.fixture
def client(tmp_path, rasa):
    with app_client(tmp_path, rasa) as client:
        yield client


def hello(ws, session=None, language="en") -> dict:
    ws.send_json({"type": "hello", "session": session, "language": language})
    frame = ws.receive_json()
    assert frame["type"] == "session"
    return frame


def ask(ws, text, id="m1") -> dict:
    ws.send_json({"type": "message", "id": id, "text": text})
    first = ws.receive_json()
    if first["type"] != "typing":
        return first
    return ws.receive_json()


def test_script_and_demo_page_are_served(client):
    script = client.get("/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) < 30_000
    assert "innerHTML" not in script.text  # everything is set as text
    demo = client.get("/demo")
    assert demo.status_code == 200 and '<script src="/widget.js"' in demo.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/demo"


def test_a_new_session_asks_and_gets_an_answer_stored_under_the_web_channel(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        session = hello(ws, language="zh")
        assert session["messages"] == [] and len(session["session"]) >= 22
        reply = ask(ws, "How do I turn on roaming?")
    assert reply["type"] == "reply" and reply["id"] == "m1"
    [answer] = reply["messages"]
    assert answer["title"] == "Turn on international roaming" and answer["rateable"] is True
    assert rasa.sent[0]["metadata"] == {"language": "en", "channel": "web"}
    stored = client.get(f"/api/conversations/{conversation_for(session['session'])}").json()
    assert stored["channel"] == "web"
    assert [(m["role"], m["channel"], m["client_id"]) for m in stored["messages"]] == [
        ("user", "web", "m1"),
        ("bot", "web", None),
    ]


def test_the_session_token_is_not_the_conversation_id(client):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws)["session"]
    assert token not in conversation_for(token)


def test_reconnecting_with_the_session_returns_the_history(client):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws)["session"]
        ask(ws, "How do I turn on roaming?")
    with client.websocket_connect("/widget/ws") as ws:
        again = hello(ws, session=token, language="zh")
    assert again["session"] == token
    assert again["language"] == "en"  # the conversation's language wins over the page's
    assert [m["role"] for m in again["messages"]] == ["user", "bot"]
    assert again["messages"][1]["title"] == "Turn on international roaming"


def test_a_message_resent_after_a_reconnect_is_handled_once(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws)["session"]
        ask(ws, "How do I turn on roaming?", id="same")
    with client.websocket_connect("/widget/ws") as ws:
        hello(ws, session=token)
        again = ask(ws, "How do I turn on roaming?", id="same")
    # The first sending's reply, not a second question to the bot.
    assert again["type"] == "reply" and again["id"] == "same"
    assert [m["title"] for m in again["messages"]] == ["Turn on international roaming"]
    assert len(rasa.sent) == 1


def test_a_message_resent_while_still_being_answered_gets_that_answer(client, rasa):
    import threading

    release = threading.Event()
    answer = rasa.respond

    def slow(sent):
        release.wait(10)
        return answer(sent)

    rasa.respond = slow
    with client.websocket_connect("/widget/ws") as first, client.websocket_connect("/widget/ws") as second:
        token = hello(first)["session"]
        hello(second, session=token)
        first.send_json({"type": "message", "id": "m1", "text": "How do I turn on roaming?"})
        assert first.receive_json()["type"] == "typing"  # the bot is working on it
        second.send_json({"type": "message", "id": "m1", "text": "How do I turn on roaming?"})
        release.set()
        assert second.receive_json()["type"] == "typing"  # it is being answered
        again = second.receive_json()
    assert again["type"] == "reply" and again["messages"][0]["title"] == "Turn on international roaming"
    assert len(rasa.sent) == 1


def test_buttons_send_known_payloads_with_their_labels(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws)["session"]
        ask(ws, "How do I turn on roaming?")
        ws.send_json({"type": "button", "id": "b1", "payload": "/deny", "label": "👎 Not helpful"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["type"] == "reply"
        ws.send_json({"type": "button", "id": "b2", "payload": "/restart", "label": "x"})
        assert ws.receive_json() == {"type": "error", "id": "b2", "message": "unknown button"}
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?", "/deny"]
    stored = client.get(f"/api/conversations/{conversation_for(token)}").json()
    assert stored["messages"][2]["display"] == "👎 Not helpful"
    assert stored["feedback"] == [{"article_id": "roaming-activate", "helpful": False}]


def test_greeting_follows_the_pages_language(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        hello(ws, language="zh")
        ws.send_json({"type": "button", "id": "g", "payload": "/greet", "label": ""})
        ws.receive_json()
        reply = ws.receive_json()
    assert reply["messages"][0]["text"] == "您好！我是智能助手。"
    assert rasa.sent[0]["metadata"]["language"] == "zh"


def test_switching_language_changes_the_conversation_language(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws, language="en")["session"]
        ask(ws, "How do I turn on roaming?")
        ws.send_json({"type": "language", "language": "zh"})
        assert ws.receive_json() == {"type": "language", "language": "zh"}
        ws.send_json({"type": "button", "id": "g", "payload": "/greet", "label": ""})
        ws.receive_json()
        ws.receive_json()
    assert rasa.sent[-1]["metadata"]["language"] == "zh"
    assert client.get(f"/api/conversations/{conversation_for(token)}").json()["language"] == "zh"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"type": "message", "id": "e1", "text": ""}, "the message is empty"),
        ({"type": "message", "id": "e2", "text": " \n\t "}, "the message is empty"),
        ({"type": "message", "id": "e3", "text": "x" * 10_000}, "longer than 4096 characters"),
        ({"type": "message", "id": "e4", "text": 42}, "'text' must be a string"),
        ({"type": "message", "id": "bad id!", "text": "hi"}, "'id' must be"),
        ({"type": "dance"}, "unknown frame type"),
        ({"type": "language", "language": "fr"}, "language must be one of"),
    ],
)
def test_bad_frames_get_a_clear_error_and_the_socket_stays_open(client, rasa, frame, message):
    with client.websocket_connect("/widget/ws") as ws:
        hello(ws)
        ws.send_json(frame)
        error = ws.receive_json()
        assert error["type"] == "error" and message in error["message"]
        assert ask(ws, "How do I turn on roaming?", id="after")["type"] == "reply"  # still usable
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?"]


def test_binary_and_non_json_frames_get_an_error(client, rasa):
    with client.websocket_connect("/widget/ws") as ws:
        hello(ws)
        ws.send_bytes(b"\x00\xff\xfe binary")
        assert ws.receive_json()["message"] == "binary frames are not supported; send JSON text"
        ws.send_text("{not json")
        assert ws.receive_json()["message"] == "frames must be JSON"
        ws.send_text("[1, 2]")
        assert ws.receive_json()["message"] == "frames must be JSON objects"
    assert rasa.sent == []


def test_a_message_before_hello_is_refused(client):
    with client.websocket_connect("/widget/ws") as ws:
        ws.send_json({"type": "message", "id": "x", "text": "hi"})
        assert ws.receive_json() == {"type": "error", "id": "x", "message": "say hello first"}


@pytest.mark.parametrize("text", ["😀🎉👍", "<script>alert(1)</script>", "/affirm", "/choose_article{}"])
def test_odd_messages_get_a_reply_and_typed_slashes_are_not_intents(client, rasa, text):
    with client.websocket_connect("/widget/ws") as ws:
        hello(ws)
        reply = ask(ws, text)
    assert reply["type"] == "reply" and reply["messages"]
    for sent in rasa.sent:
        assert not sent["message"].startswith("/")  # a typed "/affirm" is text, not a button


def test_other_origins_are_refused_when_origins_are_configured(tmp_path, rasa):
    with app_client(tmp_path, rasa, widget_origins=("https://shop.example.com",)) as client:
        with client.websocket_connect("/widget/ws", headers={"origin": "https://shop.example.com"}) as ws:
            assert hello(ws)["type"] == "session"
        evil = {"origin": "https://evil.example"}
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/widget/ws", headers=evil) as ws:
            ws.receive_json()
        assert refused.value.code == 1008


def test_history_keeps_html_as_text(client):
    with client.websocket_connect("/widget/ws") as ws:
        token = hello(ws)["session"]
        ask(ws, "<img src=x onerror=alert(1)>")
    with client.websocket_connect("/widget/ws") as ws:
        history = hello(ws, session=token)["messages"]
    assert history[0]["text"] == "<img src=x onerror=alert(1)>"  # data; the widget sets it as text

"""The app over a real SQLite file, with Rasa replaced at the transport (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.rasa_client import RasaClient
from bot.settings import Settings
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, fake_settings
from tests.staff import API_TOKEN, AUTHORIZATION, TOKEN_HEADER, send, someone_online

ANSWER = {
    "recipient_id": "c1",
    "custom": {
        "text": "Open the app, go to Services → Roaming.",
        "article_id": "roaming-activate",
        "title": "Turn on international roaming",
        "score": 0.82,
        "choices": [{"title": "Roaming rates", "payload": '/choose_article{"article_id":"roaming-rates"}'}],
    },
}
HANDOFF = [
    {"recipient_id": "c1", "text": "Sure, I'm connecting you with a member of our support team."},
    {"recipient_id": "c1", "custom": {"handoff": {"reason": "user_request"}}},
]


@pytest.fixture
def rasa():
    return FakeRasa()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    """Every API test runs on SQLite and on PostgreSQL."""
    return fake_settings(tmp_path, database_url(request), api_token=API_TOKEN)


@pytest.fixture
def client(settings, rasa):
    transport = httpx.AsyncClient(transport=httpx.MockTransport(rasa))
    app = create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport))
    with TestClient(app, headers=AUTHORIZATION) as client:
        yield client


def test_answer_is_returned_and_both_messages_are_stored(client, rasa):
    rasa.replies.append([ANSWER])
    response = send(client, "how do I turn on roaming")

    assert response.status_code == 200
    reply = response.json()
    assert len(reply.pop("conversation_token")) >= 32  # only with the first reply
    assert reply == {
        "messages": [
            {
                "text": "Open the app, go to Services → Roaming.",
                "article_id": "roaming-activate",
                "title": "Turn on international roaming",
                "score": 0.82,
                "choices": ANSWER["custom"]["choices"],
                "rateable": True,
            }
        ],
        "handoff": None,
        "language": "en",
        "state": "bot",
    }
    assert rasa.sent == [
        {"sender": "c1", "message": "how do I turn on roaming", "metadata": {"language": "en", "channel": "api"}}
    ]
    stored = client.get("/api/conversations/c1").json()
    assert stored["state"] == "bot"
    assert [(m["role"], m["article_id"]) for m in stored["messages"]] == [("user", None), ("bot", "roaming-activate")]


def test_with_nobody_online_a_handoff_offers_to_leave_a_message_and_the_bot_stays(client, rasa):
    rasa.replies.append(HANDOFF)
    first = send(client, "转人工").json()
    assert first["handoff"] == {"reason": "user_request"} and first["state"] == "bot"
    assert rasa.sent[0]["metadata"]["language"] == "zh"
    assert first["messages"][-1]["text"].startswith("客服人员暂时都不在线。您可以留言")  # no console is open
    assert first["messages"][-1]["choices"] == [{"title": "留言", "payload": "/leave_message"}]

    rasa.replies.append([ANSWER])
    second = send(client, "怎么开通漫游").json()
    assert len(rasa.sent) == 2 and second["handoff"] is None  # no ticket for someone who didn't ask

    stored = client.get("/api/conversations/c1").json()
    assert stored["state"] == "bot" and stored["handoff"] is None


def test_with_an_agent_online_a_handoff_joins_the_queue(client, rasa):
    someone_online(client)
    rasa.replies.append(HANDOFF)
    first = send(client, "I want a person").json()
    assert first["state"] == "waiting" and first["messages"][-1]["text"] == "You are number 1 in the queue."
    stored = client.get("/api/conversations/c1").json()
    assert stored["state"] == "waiting" and stored["handoff"] == {"reason": "user_request"}
    assert [m["role"] for m in stored["messages"]] == ["user", "bot", "system"]


def test_rasa_down_gives_a_polite_reply_in_the_users_language_and_hands_off(client, rasa):
    rasa.down = True
    reply = send(client, "我的宽带断了").json()
    assert reply["handoff"] == {"reason": "service_error"}
    assert reply["messages"][0]["text"].startswith("抱歉")
    stored = client.get("/api/conversations/c1").json()
    assert stored["messages"][0]["text"] == "我的宽带断了"
    assert reply["messages"][-1]["choices"][0]["payload"] == "/leave_message"  # nobody online: offered


@pytest.mark.parametrize(
    "failure",
    [
        [],
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        [{"text": "hi", "custom": {"feedback": {"helpful": True}}}],  # feedback without its article
        [{"text": "hi", "custom": {"handoff": "yes"}}],  # handoff that is not an object
        ["not an object"],
    ],
)
def test_empty_or_broken_rasa_reply_is_a_service_error(client, rasa, failure):
    rasa.replies.append(failure)
    reply = send(client, "my internet is down").json()
    assert reply["handoff"] == {"reason": "service_error"}
    assert reply["messages"][0]["text"].startswith("Sorry")


def test_feedback_from_the_actions_is_recorded(client, rasa):
    rasa.replies.append([ANSWER])
    rasa.replies.append(
        [
            {"recipient_id": "c1", "custom": {"feedback": {"article_id": "roaming-activate", "helpful": True}}},
            {"recipient_id": "c1", "text": "Glad that helped!"},
        ]
    )
    send(client, "roaming")
    reply = send(client, "/affirm").json()
    assert [m["text"] for m in reply["messages"]] == ["Glad that helped!"]
    stored = client.get("/api/conversations/c1").json()
    assert stored["feedback"] == [{"article_id": "roaming-activate", "helpful": True}]


def test_payload_keeps_the_conversation_language(client, rasa):
    rasa.replies.extend([[ANSWER], [ANSWER]])
    send(client, "怎么开通漫游")
    send(client, '/choose_article{"article_id":"roaming-rates"}')
    assert [s["metadata"]["language"] for s in rasa.sent] == ["zh", "zh"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "request body must be JSON"),
        ([1, 2], "must be a JSON object"),
        ({"text": "hi"}, "'conversation_id' is required"),
        ({"conversation_id": "c1", "text": "   "}, "'text' is required"),
        ({"conversation_id": "c1", "text": "x" * 4097}, "longer than 4096"),
        ({"conversation_id": "c1", "text": "x" * 10_000}, "longer than 4096"),
        ({"conversation_id": "c1", "text": "\u0000\u0001\u0007 \u007f"}, "the message is empty"),
        ({"conversation_id": "telegram:42", "text": "hi"}, "may not start with telegram:"),
        ({"conversation_id": "web:abc", "text": "hi"}, "may not start with"),
        ({"conversation_id": "c1", "text": "hi", "channel": "fax"}, "'channel' must be one of"),
    ],
)
def test_bad_requests_get_a_json_error(client, rasa, body, message):
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/api/messages", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert message in response.json()["error"]["message"]
    assert rasa.sent == []


def test_unknown_conversation_is_a_json_404(client):
    response = client.get("/api/conversations/nobody")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no conversation 'nobody'"}}


def test_unknown_route_and_method_are_json_errors(client):
    assert client.get("/nope").json()["error"]["code"] == "http_error"
    response = client.get("/api/messages")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "http_error"


def test_health_reports_each_dependency(client, rasa):
    healthy = client.get("/healthz")
    assert healthy.status_code == 200
    assert {name: check["ok"] for name, check in healthy.json()["checks"].items()} == {
        "database": True,
        "rasa": True,
        "actions": True,
    }
    rasa.down = True
    degraded = client.get("/healthz")
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["checks"]["rasa"]["ok"] is False


def test_conversation_survives_an_app_restart(settings, rasa):
    def app():
        http = httpx.AsyncClient(transport=httpx.MockTransport(rasa))
        return create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=http))

    rasa.replies.extend([[ANSWER], [ANSWER]])
    with TestClient(app()) as first:
        send(first, "roaming please")
    with TestClient(app(), headers=AUTHORIZATION) as second:
        second.conversation_tokens = first.conversation_tokens
        send(second, "and the rates?")
        stored = second.get("/api/conversations/c1").json()
    assert [m["text"] for m in stored["messages"] if m["role"] == "user"] == ["roaming please", "and the rates?"]


def test_only_the_holder_of_the_conversation_token_can_post_or_read(settings, rasa):
    http = httpx.AsyncClient(transport=httpx.MockTransport(rasa))
    app = create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=http))
    rasa.replies.extend([[ANSWER], [ANSWER], [ANSWER]])
    with TestClient(app) as client:
        token = send(client, "roaming please").json()["conversation_token"]
        body = {"conversation_id": "c1", "text": "let me in"}
        for headers in ({}, {TOKEN_HEADER: "x" * 32}):
            refused = client.post("/api/messages", json=body, headers=headers)
            assert refused.status_code == 403 and TOKEN_HEADER in refused.json()["error"]["message"]
            assert client.get("/api/conversations/c1", headers=headers).status_code in (401, 403)
        assert client.post("/api/messages", json=body, headers={TOKEN_HEADER: token}).status_code == 200
        mine = client.get("/api/conversations/c1", headers={TOKEN_HEADER: token})
        assert mine.status_code == 200 and [m["text"] for m in mine.json()["messages"] if m["role"] == "user"] == [
            "roaming please",
            "let me in",
        ]
        assert "conversation_token" not in client.post("/api/messages", json=body, headers={TOKEN_HEADER: token}).json()


def test_emoji_or_punctuation_alone_gets_asked_for_words_without_the_bot(client, rasa):
    reply = send(client, "👍🏽😀 ?!").json()
    assert reply["messages"][0]["text"] == "Could you tell me in words what you need help with?"
    assert reply["handoff"] is None
    assert rasa.sent == []


def test_control_characters_and_lone_surrogates_are_cleaned_before_storage(client, rasa):
    rasa.replies.append([ANSWER])
    # A lone surrogate cannot be encoded as UTF-8; NUL is refused by PostgreSQL.
    body = '{"conversation_id": "c1", "text": "roam\\u0000ing \\ud800abroad"}'
    response = client.post("/api/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert rasa.sent[0]["message"] == "roaming \ufffdabroad"
    assert client.get("/api/conversations/c1").json()["messages"][0]["text"] == "roaming \ufffdabroad"


def test_html_is_stored_and_returned_as_text(client, rasa):
    rasa.replies.append([ANSWER])
    script = "<script>alert('x')</script><b>roaming</b> & more"
    send(client, script)
    assert rasa.sent[0]["message"] == script
    assert client.get("/api/conversations/c1").json()["messages"][0]["text"] == script


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong-token-0123456789"}, 401), ({"Authorization": API_TOKEN}, 401)],
)
def test_reading_a_conversation_needs_the_api_token(client, rasa, headers, status):
    rasa.replies.append([ANSWER])
    send(client, "roaming")
    response = client.get("/api/conversations/c1", headers={"Authorization": "", **headers})
    assert response.status_code == status
    assert response.json()["error"]["code"] == "unauthorized"


def test_reading_conversations_is_off_without_a_token(tmp_path, rasa):
    settings = Settings(build_dir=tmp_path, rasa_url="http://rasa.test", actions_url="http://actions.test")
    http = httpx.AsyncClient(transport=httpx.MockTransport(rasa))
    with TestClient(
        create_app(settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=http))
    ) as c:
        response = c.get("/api/conversations/telegram:42")
    assert response.status_code == 403
    assert "TOUCHPOINT_API_TOKEN" in response.json()["error"]["message"]


LOW_CONFIDENCE_WITH_CANDIDATES = [
    {"recipient_id": "c1", "text": "I'm not sure I have the right answer to that. Meanwhile, one of these might help:"},
    {
        "recipient_id": "c1",
        "custom": {
            "handoff": {"reason": "low_confidence"},
            "choices": [{"title": "Roaming rates", "payload": '/choose_article{"article_id":"roaming-rates"}'}],
        },
    },
]


def test_a_low_confidence_handoff_shows_its_candidates_under_the_notice_that_says_when(client, rasa):
    rasa.replies.append(LOW_CONFIDENCE_WITH_CANDIDATES)
    reply = send(client, "roaming charges in Japan??").json()
    said, notice = reply["messages"]
    assert said["choices"] == []  # the buttons go under the last message, where the widget shows them
    assert [c["payload"] for c in notice["choices"]] == [
        '/choose_article{"article_id":"roaming-rates"}',
        "/leave_message",
    ]

    someone_online(client)
    rasa.replies.append(LOW_CONFIDENCE_WITH_CANDIDATES)
    queued = send(client, "roaming charges in Japan??", "c2").json()["messages"][-1]
    assert queued["text"] == "You are number 1 in the queue."
    assert [c["payload"] for c in queued["choices"]] == [
        '/choose_article{"article_id":"roaming-rates"}',
        "/back_to_bot",
    ]


def test_a_message_sent_again_with_its_message_id_is_handled_once(client, rasa):
    rasa.replies = [[ANSWER], [ANSWER]]
    first = send(client, "How do I turn on roaming?", message_id="m-1")
    again = send(client, "How do I turn on roaming?", message_id="m-1")
    assert first.status_code == again.status_code == 200
    assert "replayed" not in first.json() and again.json()["replayed"] is True
    assert again.json()["messages"] == first.json()["messages"]
    assert len(rasa.sent) == 1
    stored = client.get("/api/conversations/c1").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "bot"]
    other = send(client, "How do I turn on roaming?", message_id="m-2")  # another id: another message
    assert "replayed" not in other.json() and len(rasa.sent) == 2
    assert send(client, "x", message_id="not ok!").status_code == 400


def test_a_message_whose_handler_died_before_the_answer_is_answered_when_sent_again(client, rasa):
    from bot.store import Message

    rasa.replies = [[ANSWER], [ANSWER]]
    send(client, "hello", message_id="m-0")  # the conversation, and its token

    async def died_mid_turn():  # the user's message stored, then the instance died
        store = client.app.state.store
        async with store.transaction() as tx:
            conversation = await tx.conversation("c1")
            data = {"client_id": "m-1", "language": "en"}
            tx.add_messages(conversation, [Message(role="user", channel="api", text="roaming?", data=data)])

    client.portal.call(died_mid_turn)
    again = send(client, "roaming?", message_id="m-1")
    assert again.status_code == 200 and "replayed" not in again.json()
    assert again.json()["messages"][0]["article_id"] == "roaming-activate"
    assert [s["message"] for s in rasa.sent] == ["hello", "roaming?"]
    stored = client.get("/api/conversations/c1").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "bot", "user", "bot"]  # the message once, now answered

"""Staff sign-in and the handoff desk, in the real app over SQLite and PostgreSQL (Rasa replaced
at the transport): access checks, the queue, claims, replies, notes, hand-back and rating."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.auth import hash_password
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.store import HandoffAlreadyClaimed, Store
from tests.channels.test_telegram import bot_reply
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, transport_client
from tests.staff import API_TOKEN, PASSWORD, Agent, send, sign_in, someone_online


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    return Settings(
        build_dir=tmp_path, database_url=database_url(request), rasa_url="http://rasa.test", actions_url="http://actions.test",
        api_token=API_TOKEN,
    )  # fmt: skip


@pytest.fixture
def rasa():
    return FakeRasa(respond=bot_reply)


@pytest.fixture
def app(settings, rasa):
    async def add_staff():
        store = Store.from_url(settings.database_url)
        await store.upgrade()
        for username, role in (("alice", "agent"), ("bob", "agent"), ("carol", "curator"), ("root", "admin")):
            await store.add_user(username, username.title(), role, hash_password(PASSWORD))
        await store.close()

    asyncio.run(add_staff())
    return create_app(
        settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(rasa))
    )


@pytest.fixture
def user(app):
    with TestClient(app) as client:
        yield client


def agent_client(user: TestClient, username: str = "alice") -> Agent:
    return Agent(user, username)


@pytest.fixture
def alice(user):
    return Agent(user, "alice")


def handed_off(user: TestClient, conversation_id: str = "c1", *, online: bool = True) -> dict:
    """A conversation whose user asked for a person; with `online`, an agent's console is open."""
    if online:
        someone_online(user)
    send(user, "How do I turn on roaming?", conversation_id)
    reply = send(user, "I want a person", conversation_id).json()
    assert reply["handoff"] == {"reason": "user_request"}
    return reply


# --- access ------------------------------------------------------------------------------------


def test_sign_in_sets_a_signed_httponly_strict_cookie(app, user):
    response = sign_in(user, "alice")
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert (
        cookie.startswith("touchpoint_staff=") and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    )


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password!"), ("nobody", PASSWORD)])
def test_wrong_name_or_password_is_refused(app, user, username, password):
    response = sign_in(user, username, password)
    assert response.status_code == 401 and "Wrong username or password" in response.text
    assert user.get("/api/desk/queue").status_code == 401


def test_sign_in_without_the_csrf_token_is_refused(app, user):
    response = user.post("/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_pages_and_apis_refuse_anyone_not_signed_in(user):
    assert user.get("/console", follow_redirects=False).headers["location"] == "/login?next=/console"
    for method, path in [
        ("GET", "/api/desk/queue"),
        ("GET", "/api/desk/conversations/c1"),
        ("POST", "/api/desk/conversations/c1/claim"),
        ("POST", "/api/desk/conversations/c1/messages"),
        ("POST", "/api/desk/conversations/c1/handback"),
        ("GET", "/api/desk/search?q=roaming"),
        ("GET", "/api/desk/conversations?q=c1"),
    ]:
        response = user.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"


def test_the_wrong_role_is_refused(app, user):
    carol = agent_client(user, "carol")  # a curator
    assert carol.get("/api/desk/queue").status_code == 403
    assert carol.get("/console").status_code == 403
    assert carol.get("/api/conversations/c1").status_code == 401  # transcripts: agents and reviewers
    root = agent_client(user, "root")  # admin may do everything
    assert root.get("/api/desk/queue").status_code == 200


def test_state_changes_need_the_csrf_token(app, user, alice):
    handed_off(user)
    response = alice.post("/api/desk/conversations/c1/claim", headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403
    assert alice.get("/api/desk/queue").json()["queue"][0]["claimed_by"] is None


def test_sign_out_ends_the_session(app, user, alice):
    response = alice.post("/logout", data={"csrf_token": alice.csrf})
    assert response.status_code == 303
    alice.cookie = f"touchpoint_staff={response.cookies.get('touchpoint_staff', '')}"
    assert alice.get("/api/desk/queue").status_code == 401


# --- the desk ----------------------------------------------------------------------------------


def online(client: TestClient, agent: Agent):
    """The agent's console is open (its socket checks the agent in)."""
    return client.websocket_connect("/desk/ws", headers={"Cookie": agent.cookie, "Origin": "http://testserver"})


def test_with_nobody_online_the_user_chooses_to_leave_a_message_and_it_becomes_a_ticket(user, alice, rasa):
    offer = handed_off(user, online=False)
    assert offer["state"] == "bot"  # nobody can answer now: the bot keeps the conversation
    assert offer["messages"][-1]["text"].startswith("Nobody from our support team is online right now.")
    assert [c["payload"] for c in offer["messages"][-1]["choices"]] == ["/leave_message"]
    assert alice.get("/api/desk/queue").json()["queue"] == []  # no ticket for someone who didn't ask

    left = send(user, "/leave_message").json()
    assert left["state"] == "ticket" and left["messages"][0]["text"].startswith("Please write your message here")
    later = send(user, "email me at a@b.example").json()
    assert later["messages"][0]["text"].startswith("Thanks, we've noted that.")
    assert [c["payload"] for c in later["messages"][0]["choices"]] == ["/back_to_bot"]  # never trapped
    [item] = alice.get("/api/desk/queue").json()["queue"]
    assert item["ticket"] is True and item["last_message"] == "email me at a@b.example"

    alice.post("/api/desk/conversations/c1/claim")  # later, an agent answers the ticket
    alice.post("/api/desk/conversations/c1/messages", json={"text": "Sorry for the wait"})
    assert alice.get("/api/conversations/c1").json()["messages"][-1]["text"] == "Sorry for the wait"


def test_a_user_who_left_a_message_can_go_back_to_the_bot_and_the_team_still_answers(user, alice, rasa):
    handed_off(user, online=False)
    send(user, "/leave_message")
    send(user, "my bill is wrong, call me")
    back = send(user, "返回").json()  # the phrase, typed, works like the button
    assert (
        back["state"] == "bot"
        and back["messages"][0]["text"] == "已为您返回智能助手。您的留言仍由客服团队处理，他们会在这里回复您。"
    )
    answered = send(user, "How do I turn on roaming?").json()
    assert answered["messages"][0]["title"] == "Turn on international roaming"
    [item] = alice.get("/api/desk/queue").json()["queue"]
    assert item["ticket"] and item["state"] == "bot"
    assert alice.post("/api/desk/conversations/c1/claim").status_code == 200
    assert send(user, "thanks for calling").json()["messages"] == []  # now the agent answers


def test_a_user_who_has_not_written_yet_goes_back_and_the_ticket_is_withdrawn(user, alice):
    handed_off(user, online=False)
    send(user, "/leave_message")
    back = send(user, "/back_to_bot").json()
    assert back["state"] == "bot" and back["messages"][0]["text"].startswith("You're back with the virtual assistant")
    assert alice.get("/api/desk/queue").json()["queue"] == []


def test_the_console_socket_refuses_strangers(user, alice):
    from starlette.websockets import WebSocketDisconnect

    for headers in ({"Origin": "http://testserver"}, {"Cookie": alice.cookie, "Origin": "https://evil.example"}):
        with pytest.raises(WebSocketDisconnect), user.websocket_connect("/desk/ws", headers=headers) as ws:
            ws.receive_json()


def test_a_handoff_waits_in_the_queue_with_what_the_bot_tried(user, alice, rasa):
    with online(user, alice) as console:
        handed_off(user)
        heard = [console.receive_json(), console.receive_json()]  # the console hears of it at once
        assert heard == [{"type": "message", "conversation_id": "c1"}, {"type": "queue"}]
    [item] = alice.get("/api/desk/queue").json()["queue"]
    assert item["conversation_id"] == "c1" and item["channel"] == "api" and item["reason"] == "user_request"
    assert item["attempts"] == [
        {"article_id": "roaming-activate", "title": "Turn on international roaming", "score": 0.8}
    ]
    assert item["claimed_by"] is None and item["last_message"] == "I want a person"
    assert alice.get("/api/conversations/c1").json()["messages"][-1]["text"] == "You are number 1 in the queue."


def test_while_waiting_the_bot_answers_what_it_can_and_the_place_is_kept(user, alice, rasa):
    handed_off(user, "c0")
    handed_off(user)
    answered = send(user, "what about roaming rates?").json()
    assert answered["state"] == "waiting"
    assert answered["messages"][0]["title"] == "Turn on international roaming"  # the bot answered
    assert "still number 2 in the queue" in answered["messages"][1]["text"]
    assert [c["payload"] for c in answered["messages"][1]["choices"]] == ["/back_to_bot"]
    again = send(user, "/request_human").json()
    assert again["messages"][0]["text"].startswith("You're already in the queue for a person: number 2.")
    queue = alice.get("/api/desk/queue").json()["queue"]
    assert [item["conversation_id"] for item in queue] == ["c0", "c1"]  # one handoff each, order kept
    assert not any(event for event in rasa.events)  # Rasa is paused only once an agent has it


def test_claim_reply_hand_back_and_rating(user, alice, rasa):
    handed_off(user)
    assert alice.post("/api/desk/conversations/c1/claim").json() == {"ok": True}
    assert (
        alice.post(
            "/api/desk/conversations/c1/messages", json={"text": "Hi, I'm Alice. Where are you travelling?"}
        ).status_code
        == 200
    )
    during = send(user, "Japan, next week", "c1").json()
    assert during["messages"] == [] and during["handoff"] == {"reason": "user_request"}  # the agent answers
    assert ("c1", {"event": "pause"}) in rasa.events  # Rasa holds the conversation while a person has it
    alice.post("/api/desk/conversations/c1/notes", json={"text": "Travelling to Japan; roaming not on"})

    detail = alice.get("/api/desk/conversations/c1").json()
    assert detail["owner"]["name"] == "Alice"
    assert [(m["role"], m["text"]) for m in detail["messages"][-3:]] == [
        ("system", "Alice from our support team has joined the chat."),
        ("agent", "Hi, I'm Alice. Where are you travelling?"),
        ("user", "Japan, next week"),
    ]
    assert detail["notes"][0]["text"] == "Travelling to Japan; roaming not on"
    assert len(rasa.sent) == 2

    assert alice.post("/api/desk/conversations/c1/handback").json() == {"ok": True}
    assert ("c1", {"event": "resume"}) in rasa.events
    stored = alice.get("/api/conversations/c1").json()
    assert stored["state"] == "bot"
    assert stored["messages"][-1]["text"].startswith("Alice has left the chat")
    assert [c["payload"] for c in stored["messages"][-1]["choices"]] == ["/person_helped", "/person_did_not_help"]
    assert alice.get("/api/desk/queue").json()["queue"] == []

    thanks = send(user, "/person_helped", "c1").json()
    assert thanks["messages"][0]["text"] == "Thank you for your feedback!"
    assert alice.get("/api/conversations/c1").json()["feedback"][-1]["helpful"] is True
    after = send(user, "How do I turn on roaming?", "c1").json()
    assert after["messages"][0]["title"] == "Turn on international roaming"  # the bot is back


def test_only_the_owner_can_write_hand_back_or_close(app, user, alice):
    handed_off(user)
    bob = agent_client(user, "bob")
    assert bob.post("/api/desk/conversations/c1/messages", json={"text": "hi"}).status_code == 403  # not claimed
    alice.post("/api/desk/conversations/c1/claim")
    assert bob.post("/api/desk/conversations/c1/claim").status_code == 409
    assert bob.post("/api/desk/conversations/c1/messages", json={"text": "hi"}).status_code == 403
    assert bob.post("/api/desk/conversations/c1/close").status_code == 403
    assert alice.post("/api/desk/conversations/c1/close").status_code == 200


def test_two_simultaneous_claims_give_exactly_one_owner(settings, app, user):
    handed_off(user)

    async def race():
        store = Store.from_url(settings.database_url)
        [entry] = await store.queue()
        alice, bob = await store.user_by_name("alice"), await store.user_by_name("bob")

        async def claim(agent) -> bool:
            try:
                async with store.transaction() as tx:
                    await tx.claim(entry.handoff, agent.id)
            except HandoffAlreadyClaimed:
                return False
            return True

        results = await asyncio.gather(*(claim(agent) for agent in (alice, bob, alice, bob)))
        await store.close()
        return results

    results = asyncio.run(race())
    assert sorted(results) == [False, False, False, True]


def test_agent_text_is_checked_like_user_text(user, alice):
    handed_off(user)
    alice.post("/api/desk/conversations/c1/claim")
    for text, message in [("   ", "the message is empty"), ("x" * 5000, "longer than 4096")]:
        response = alice.post("/api/desk/conversations/c1/messages", json={"text": text})
        assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_the_widget_user_gets_the_agents_reply_pushed(app, user, alice):
    someone_online(user)
    with user.websocket_connect("/widget/ws") as ws:
        ws.send_json({"type": "hello", "session": None, "language": "en"})
        session = ws.receive_json()
        ws.send_json({"type": "message", "id": "m1", "text": "I want a person"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["handoff"] == {"reason": "user_request"}
        [item] = alice.get("/api/desk/queue").json()["queue"]
        assert item["channel"] == "web"
        path = f"/api/desk/conversations/{item['conversation_id']}"
        alice.post(path + "/claim")
        joined = ws.receive_json()
        assert (
            joined["type"] == "push"
            and joined["messages"][0]["text"] == "Alice from our support team has joined the chat."
        )
        alice.post(path + "/messages", json={"text": "Hello from Alice <b>!</b>"})
        pushed = ws.receive_json()["messages"][0]
        assert (pushed["role"], pushed["agent"], pushed["text"]) == ("agent", "Alice", "Hello from Alice <b>!</b>")
    assert session["session"]


def test_a_live_handoff_survives_an_app_restart(settings, rasa, app):
    """Queue, claim and messages are in the database: after a restart the user's and the
    agent's next messages still arrive."""

    def restarted():
        client = RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(rasa))
        return create_app(settings, client)

    with TestClient(app) as before:
        handed_off(before)
        alice = Agent(before, "alice")
        alice.post("/api/desk/conversations/c1/claim")
        alice.post("/api/desk/conversations/c1/messages", json={"text": "Before the restart"})
    with TestClient(restarted()) as after:
        after.conversation_tokens = before.conversation_tokens  # the API client keeps its token
        alice = Agent(after, "alice")
        assert send(after, "still there?", "c1").json()["messages"] == []
        assert alice.post("/api/desk/conversations/c1/messages", json={"text": "After the restart"}).status_code == 200
        texts = [m["text"] for m in alice.get("/api/desk/conversations/c1").json()["messages"]]
    assert texts[-3:] == ["Before the restart", "still there?", "After the restart"]
    assert len(rasa.sent) == 2


def test_after_a_long_wait_the_user_may_keep_waiting_go_back_to_the_bot_or_leave_a_message(app, user, alice, rasa):
    with online(user, alice):
        handed_off(user, "c1")
        handed_off(user, "c2")
        handed_off(user, "c3")
    desk = app.state.desk
    assert user.portal.call(desk.offer_choices_to_the_waiting, 3600) == 0  # nobody has waited an hour
    assert user.portal.call(desk.offer_choices_to_the_waiting, 0) == 3
    assert user.portal.call(desk.offer_choices_to_the_waiting, 3600) == 0  # offered once per wait
    offer = alice.get("/api/conversations/c1").json()["messages"][-1]
    assert offer["text"].startswith("Sorry for the wait")
    assert [c["payload"] for c in offer["choices"]] == ["/keep_waiting", "/back_to_bot", "/leave_message"]

    kept = send(user, "/keep_waiting", "c1").json()
    assert kept["messages"][0]["text"] == "OK, you're still in the queue: number 1."
    left = send(user, "/leave_message", "c3").json()
    assert left["messages"][0]["text"].startswith("Please write your message here")
    back = send(user, "/back_to_bot", "c2").json()
    assert back["messages"][0]["text"] == "You're back with the virtual assistant. What can I help you with?"
    assert back["handoff"] is None and back["state"] == "bot"

    queue = {item["conversation_id"]: item for item in alice.get("/api/desk/queue").json()["queue"]}
    assert set(queue) == {"c1", "c3"} and queue["c3"]["ticket"] and not queue["c1"]["ticket"]
    answered = send(user, "How do I turn on roaming?", "c2").json()
    assert answered["messages"][0]["title"] == "Turn on international roaming"


def test_closed_conversations_are_found_by_name_id_or_words_and_presses_show_their_label(user, alice):
    handed_off(user)
    alice.post("/api/desk/conversations/c1/claim")
    alice.post("/api/desk/conversations/c1/close")
    send(user, "/person_helped")
    send(user, "How do I turn on roaming?", "c2")  # never handed off: not the desk's

    for query in ("c1", "want a person"):
        [found] = alice.get(f"/api/desk/conversations?q={query}").json()["conversations"]
        assert (found["conversation_id"], found["outcome"], found["state"]) == ("c1", "closed", "bot")
    assert alice.get("/api/desk/conversations?q=nothing-like-this").json()["conversations"] == []

    pressed = alice.get("/api/desk/conversations/c1").json()["messages"][-2]
    assert (pressed["text"], pressed["display"]) == ("/person_helped", "👍 Yes")
    assert [h["outcome"] for h in alice.get("/api/desk/conversations/c1").json()["handoffs"]] == ["closed"]


def test_an_api_client_reads_the_agents_reply_with_its_conversation_token_alone(app, user, alice):
    handed_off(user)
    alice.post("/api/desk/conversations/c1/claim")
    alice.post("/api/desk/conversations/c1/messages", json={"text": "Alice here: which country?"})
    token = user.conversation_tokens["c1"]
    assert user.get("/api/conversations/c1").status_code == 401  # the API client holds no staff or API token
    mine = user.get("/api/conversations/c1", headers={"X-Conversation-Token": token}).json()
    assert (mine["messages"][-1]["role"], mine["messages"][-1]["text"]) == ("agent", "Alice here: which country?")

"""The handoff desk end to end, through the real stack: a widget user (one browser context) and
an agent in the console (another), and a Telegram user through the fake Bot API server."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from bot.processes import settings_env
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e
PASSWORD = "desk test password"
QUESTION = "who won the football world cup in 2018, and who scored in the final?"  # off-topic: an offer
LEFT_MESSAGE = "Please call me back about my contract"  # what the user leaves for the team
_chats = itertools.count(920_000)


def add_staff(stack, role: str, name: str) -> str:
    """A new account with `role` in the stack's database, made with `touchpoint users add`, as an
    administrator would; returns its username (the password is PASSWORD)."""
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "users", "add", username, "--role", role, "--name", name, "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True, cwd=PROJECT_ROOT,
        env={**os.environ, **settings_env(stack.settings)},
    )  # fmt: skip
    return username


@pytest.fixture(scope="module")
def agent(stack):
    """An agent account in the stack's database."""
    return add_staff(stack, "agent", "Alice Wong")


def screenshot(page, name: str) -> None:
    folder = PROJECT_ROOT / "build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder / name)))


def test_widget_user_gets_a_person_who_answers_live_and_hands_back(stack, browser, agent):
    base = f"http://127.0.0.1:{stack.settings.app_port}"
    user_context = browser.new_context(locale="en-US")
    desk_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    try:
        run_the_desk_flow(base, user_context.new_page(), desk_context.new_page(), agent)
    finally:
        user_context.close()
        desk_context.close()


def run_the_desk_flow(base: str, user, desk, agent: str) -> None:
    user.goto(f"{base}/demo")
    user.get_by_role("button", name="Chat with us").click()
    expect(user.locator(".msg.bot").first).to_be_visible(timeout=60_000)
    box = user.get_by_role("textbox")
    box.fill(QUESTION)
    box.press("Enter")
    # Off-topic: the bot says what it can help with and offers a person; the user takes the offer.
    off_topic = user.locator(".msg.bot").last
    expect(off_topic).to_contain_text("outside what I can help with", timeout=60_000)
    off_topic.get_by_role("button", name="Talk to a person").click()
    # No console is open yet: the user may leave a message, and then it becomes a ticket.
    offer = user.locator(".msg.bot").last
    expect(offer).to_contain_text("Nobody from our support team is online right now.", timeout=60_000)
    offer.get_by_role("button", name="Leave a message").click()
    expect(user.locator(".msg.bot").last).to_contain_text("Please write your message here", timeout=30_000)
    box.fill(LEFT_MESSAGE)
    box.press("Enter")
    expect(user.locator(".msg.bot").last).to_contain_text("Thanks, we've noted that.", timeout=30_000)

    desk.goto(f"{base}/console")
    expect(desk).to_have_url(re.compile(r"/login\?next=/console$"))
    desk.get_by_label("Username").fill(agent)
    desk.get_by_label("Password").fill(PASSWORD)
    desk.get_by_role("button", name="Sign in").click()
    item = desk.locator("#queue li", has_text=LEFT_MESSAGE)
    expect(item).to_be_visible(timeout=30_000)
    expect(item).to_contain_text("user_request")
    expect(item).to_contain_text("ticket")
    expect(item).to_contain_text("web")
    item.click()
    desk.get_by_role("button", name="Take this chat").click()
    expect(user.locator(".msg.bot").last).to_have_text("Alice Wong from our support team has joined the chat.")
    expect(user.get_by_role("button", name="Back to the assistant")).to_be_visible()  # in view while Alice has it

    desk.get_by_placeholder("Search articles…").fill("roaming")
    expect(desk.locator("#results li").first).to_be_visible(timeout=30_000)
    desk.get_by_label("Reply to the user").fill(
        "Hi, I'm Alice. France won the 2018 World Cup. Anything about your plan?"
    )
    desk.get_by_role("button", name="Send").click()
    agent_message = user.locator(".msg.bot.agent").last
    expect(agent_message).to_contain_text("France won the 2018 World Cup", timeout=30_000)
    expect(agent_message.locator(".who")).to_have_text("Alice Wong")

    box.fill("thanks! how do I pay my bill then?")
    box.press("Enter")
    expect(desk.locator("#transcript .msg.user").last).to_contain_text("how do I pay my bill then?", timeout=30_000)
    screenshot(desk, "console.png")

    desk.get_by_role("button", name="Hand back to the bot").click()
    expect(user.locator(".msg.bot").last).to_contain_text("Alice Wong has left the chat", timeout=30_000)
    expect(user.get_by_role("button", name="👍 Yes")).to_be_visible()
    box.fill("How can I pay my bill?")
    box.press("Enter")
    expect(user.locator(".msg.bot .title").last).to_have_text("Ways to pay your bill", timeout=60_000)
    expect(desk.locator("#queue li", has_text=LEFT_MESSAGE)).to_have_count(0)


@contextlib.contextmanager
def signed_in_agent(base: str, username: str):
    with httpx.Client(base_url=base, timeout=60) as client:
        yield sign_in(client, username)


def sign_in(client: httpx.Client, username: str) -> httpx.Client:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    signed = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    assert signed.status_code in (200, 303), signed.text
    client.headers["X-CSRF-Token"] = client.get("/api/staff/me").json()["csrf_token"]
    return client


def test_telegram_user_gets_a_person_and_then_the_bot_again(stack, telegram, agent):
    telegram.wait_for(lambda: "getUpdates" in telegram.methods(), what="the app to start polling")
    chat = next(_chats)
    telegram.push(telegram.text_update(chat, "/human", language_code="en"))
    _, offer = telegram.wait_for_messages(chat, 2, timeout=90)  # the handoff, and nobody is online
    telegram.push(telegram.button_update(chat, offer, "/leave_message"))
    telegram.wait_for_messages(chat, 3)  # "please write your message": a ticket

    with signed_in_agent(f"http://127.0.0.1:{stack.settings.app_port}", agent) as desk:
        talk_to_the_telegram_user(desk, telegram, chat)


def talk_to_the_telegram_user(desk: httpx.Client, telegram, chat: int) -> None:
    path = f"/api/desk/conversations/telegram:{chat}"
    assert desk.post(path + "/claim").json() == {"ok": True}
    joined = telegram.wait_for_messages(chat, 4)[-1]
    assert joined["shown"] == "Alice Wong from our support team has joined the chat."

    assert desk.post(path + "/messages", json={"text": "Hello, Alice here. <How> can I help?"}).status_code == 200
    said = telegram.wait_for_messages(chat, 5)[-1]
    assert said["shown"] == "Alice Wong\n\nHello, Alice here. <How> can I help?"

    telegram.push(telegram.text_update(chat, "my bill is wrong"))
    telegram.wait_for(
        lambda: any(m["text"] == "my bill is wrong" for m in desk.get(path).json()["messages"]), what="the desk"
    )
    assert len(telegram.sent(chat)) == 5  # no bot reply while the agent has the chat

    assert desk.post(path + "/handback").json() == {"ok": True}
    back = telegram.wait_for_messages(chat, 6)[-1]
    assert back["shown"].startswith("Alice Wong has left the chat; you're back with the virtual assistant.")
    assert [b["callback_data"] for b in back["reply_markup"]["inline_keyboard"][0]] == ["/person_helped"]
    telegram.push(telegram.text_update(chat, "How can I pay my bill?"))
    answer = telegram.wait_for_messages(chat, 7, timeout=90)[-1]
    assert answer["shown"].startswith("Ways to pay your bill")

"""Both channels through the real stack (Rasa with the trained model, the action server with the
real index, the app): a Telegram user through the fake Bot API server the app long-polls, and a
widget user in headless Chromium on the demo page."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e
_chats = itertools.count(910_000)


@pytest.fixture
def chat_id(telegram):
    telegram.wait_for(lambda: "getUpdates" in telegram.methods(), what="the app to start polling")
    return next(_chats)


def say(telegram, chat_id, text, count, language_code="en"):
    telegram.push(telegram.text_update(chat_id, text, language_code=language_code))
    return telegram.wait_for_messages(chat_id, count, timeout=90)[-1]


def test_telegram_start_and_questions_in_both_languages(stack, telegram, chat_id, http):
    greeting = say(telegram, chat_id, "/start", 1, language_code="zh-hans")
    assert greeting["shown"].startswith("您好！我是云雀移动的智能助手。")

    zh = say(telegram, chat_id, "怎么开通国际漫游？", 2)
    assert zh["shown"].startswith("开通国际漫游\n\n")
    assert zh["reply_markup"]["inline_keyboard"][-1][0]["text"] == "👍 有帮助"

    en = say(telegram, chat_id, "How can I pay my bill?", 3)
    assert en["shown"].startswith("Ways to pay your bill\n\n")

    stored = http.get(f"/api/conversations/telegram:{chat_id}").json()
    assert stored["channel"] == "telegram"
    assert {m["channel"] for m in stored["messages"]} == {"telegram"}
    assert [m["article_id"] for m in stored["messages"] if m["role"] == "bot"] == [
        None,
        "roaming-activate",
        "billing-payment-methods",
    ]


def test_telegram_not_helpful_button_offers_a_person_and_the_person_button_hands_off(stack, telegram, chat_id, http):
    answer = say(telegram, chat_id, "How can I pay my bill?", 1)
    telegram.push(telegram.button_update(chat_id, answer, "/deny"))
    sorry = telegram.wait_for_messages(chat_id, 2, timeout=90)[-1]
    assert sorry["shown"].startswith("Sorry that didn't help.")
    person = sorry["reply_markup"]["inline_keyboard"][-1][0]
    assert person == {"text": "Talk to a person", "callback_data": "/request_human"}

    telegram.push(telegram.button_update(chat_id, sorry, "/request_human"))
    telegram.wait_for_messages(chat_id, 3, timeout=90)
    stored = http.get(f"/api/conversations/telegram:{chat_id}").json()
    assert stored["messages"][-1]["text"].startswith("Nobody from our support team is online")
    assert stored["feedback"] == [{"article_id": "billing-payment-methods", "helpful": False}]


def test_telegram_human_command_hands_off(stack, telegram, chat_id, http):
    reply = say(telegram, chat_id, "/human", 1, language_code="zh")
    assert reply["shown"]  # the handoff notice, from Rasa
    offer = http.get(f"/api/conversations/telegram:{chat_id}").json()["messages"][-1]
    assert offer["text"].startswith("客服人员暂时都不在线") and offer["choices"][0]["payload"] == "/leave_message"


# --- the widget --------------------------------------------------------------------------------


def ask(page: Page, text: str, answers: int) -> None:
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".msg.bot")).to_have_count(answers, timeout=60_000)


def test_widget_answers_in_both_languages_offers_a_person_and_survives_a_reload(stack, browser, http):
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{stack.settings.app_port}/demo")
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator(".msg.bot").first).to_contain_text("Skylark Mobile's virtual assistant", timeout=60_000)

    ask(page, "怎么开通国际漫游？", 2)
    expect(page.locator(".msg.bot .title").last).to_have_text("开通国际漫游")
    ask(page, "How can I pay my bill?", 3)
    answer = page.locator(".msg.bot").last
    expect(answer.locator(".title")).to_have_text("Ways to pay your bill")
    Path(PROJECT_ROOT / "build" / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(PROJECT_ROOT / "build" / "screenshots" / "widget.png"))

    answer.get_by_role("button", name="👎 Not helpful").click()
    expect(page.locator(".msg.bot")).to_have_count(4, timeout=60_000)
    offer = page.locator(".msg.bot").last
    expect(offer).to_contain_text("talk to a person")
    expect(offer.get_by_role("button", name="Talk to a person")).to_be_visible()

    page.reload()
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator(".msg.bot")).to_have_count(4, timeout=30_000)
    expect(page.locator(".msg.user")).to_have_text(["怎么开通国际漫游？", "How can I pay my bill?", "👎 Not helpful"])
    expect(page.locator(".msg.bot .title")).to_have_text(["开通国际漫游", "Ways to pay your bill"])
    expect(page.get_by_role("button", name="Talk to a person")).to_be_visible()

    page.get_by_role("button", name="Talk to a person").click()
    offer = page.locator(".msg.bot").last  # nobody's console is open: the user may leave a message
    expect(offer).to_contain_text("Nobody from our support team is online right now.", timeout=60_000)
    expect(offer.get_by_role("button", name="Leave a message")).to_be_visible()
    context.close()

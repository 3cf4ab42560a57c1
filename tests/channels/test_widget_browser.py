"""The widget in headless Chromium, embedded in a page of another site (its own server), against
the app over real HTTP and WebSocket. Rasa is replaced at the transport, and the app can be
stopped and restarted under the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot.app import create_app
from bot.rasa_client import RasaClient
from bot.settings import Settings
from tests.browser import ServerThread
from tests.channels.test_telegram import bot_reply
from tests.fake_rasa import FakeRasa, transport_client

pytestmark = pytest.mark.browser


@pytest.fixture
def rasa():
    return FakeRasa(respond=bot_reply)


@pytest.fixture
def server(tmp_path, rasa):
    settings = Settings(build_dir=tmp_path, rasa_url="http://rasa.test", actions_url="http://actions.test")

    def make_app():
        client = RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(rasa))
        return create_app(settings, client)

    server = ServerThread(make_app).start()
    yield server
    server.stop()


@pytest.fixture
def host_page(server):
    """A shop's page on another origin that embeds the widget with the one documented tag."""
    html = (
        "<!doctype html><html><head><meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>button { background: red !important; font-size: 40px }</style></head>"
        f"<body><h1>Shop</h1><script src='{server.url}/widget.js' async></script></body></html>"
    )
    shop = ServerThread(lambda: Starlette(routes=[Route("/", lambda request: HTMLResponse(html))])).start()
    yield shop.url
    shop.stop()


@pytest.fixture
def page(browser, host_page):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(host_page)
    yield page
    context.close()


def open_widget(page: Page) -> None:
    page.get_by_role("button", name="Chat with us").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator(".msg.bot").first).to_contain_text("Hi! I'm the virtual assistant.")


def ask(page: Page, text: str) -> None:
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")


def test_keyboard_opens_greets_focuses_and_closes(page):
    page.keyboard.press("Tab")
    bubble = page.get_by_role("button", name="Chat with us")
    expect(bubble).to_be_focused()
    page.keyboard.press("Enter")
    expect(bubble).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("textbox", name="Type your question…")).to_be_focused()
    expect(page.get_by_role("log").locator(".msg.bot")).to_have_text(["Hi! I'm the virtual assistant."])
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(bubble).to_be_focused()


def test_host_page_styles_do_not_reach_the_widget(page):
    # The host page sets `button { background: red !important; font-size: 40px }`.
    bubble = page.get_by_role("button", name="Chat with us")
    assert bubble.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(31, 111, 235)"
    assert bubble.evaluate("b => getComputedStyle(b).fontSize") == "15px"


def test_answer_shows_title_choices_and_rating_and_not_helpful_is_sent(page, rasa):
    open_widget(page)
    ask(page, "How do I turn on roaming?")
    answer = page.locator(".msg.bot").nth(1)
    expect(answer.locator(".title")).to_have_text("Turn on international roaming")
    expect(answer.locator("strong")).to_have_text("Services → Roaming")
    expect(answer.get_by_role("button", name="Roaming rates")).to_be_visible()
    answer.get_by_role("button", name="👎 Not helpful").click()
    expect(page.locator(".msg.user").last).to_have_text("👎 Not helpful")
    expect(page.locator(".msg.bot").last).to_have_text("Thanks!")
    assert rasa.sent[-1]["message"] == "/deny"
    expect(page.get_by_role("button", name="👎 Not helpful")).to_have_count(0)  # rating goes once used


def screenshot(page, name: str) -> None:
    """Kept in build/screenshots, to look at the widget as its users see it."""
    folder = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def test_with_nobody_online_the_user_may_leave_a_message_and_always_get_back_to_the_bot(page, rasa):
    open_widget(page)
    ask(page, "I want a person")
    offer = page.locator(".msg.bot").last
    expect(offer).to_contain_text("Nobody from our support team is online right now.")
    offer.get_by_role("button", name="Leave a message").click()
    expect(page.locator(".msg.bot").last).to_contain_text("Please write your message here")
    ask(page, "call me on my mobile please")
    noted = page.locator(".msg.bot").last
    expect(noted).to_contain_text("Thanks, we've noted that.")
    sent_to_rasa = len(rasa.sent)
    back = page.get_by_role("button", name="Back to the assistant")  # in view in every state but bot
    expect(back).to_have_count(1)
    screenshot(page, "widget-ticket.png")
    back.click()
    expect(page.locator(".msg.bot").last).to_contain_text("Your message stays with our team")
    expect(back).to_be_hidden()
    ask(page, "How do I turn on roaming?")
    expect(page.locator(".msg.bot .title").last).to_have_text("Turn on international roaming")
    assert len(rasa.sent) == sent_to_rasa + 1  # the bot has the conversation again
    screenshot(page, "widget-back-to-the-bot.png")


def test_messages_sent_offline_are_queued_and_delivered_once_in_order(page, server, rasa):
    open_widget(page)
    server.stop()
    expect(page.get_by_role("status").first).to_contain_text("Offline")
    ask(page, "first question about roaming")
    ask(page, "second question about roaming")
    pending = page.locator(".msg.user.pending")
    expect(pending).to_have_count(2)
    expect(pending.first).to_contain_text("Not sent yet")

    # The queue survives leaving and coming back (the script comes from the browser's cache).
    page.goto(page.url)
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator(".msg.user.pending")).to_have_count(2)

    server.start()
    expect(page.locator(".msg.user.pending")).to_have_count(0, timeout=20_000)
    expect(page.locator(".msg.bot")).to_have_count(3)  # greeting and two answers
    questions = [s["message"] for s in rasa.sent if s["message"] != "/greet"]
    assert questions == ["first question about roaming", "second question about roaming"]


def test_the_conversation_survives_a_reload(page):
    open_widget(page)
    ask(page, "How do I turn on roaming?")
    expect(page.locator(".msg.bot")).to_have_count(2)
    page.reload()
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator(".msg.user")).to_have_text(["How do I turn on roaming?"])
    expect(page.locator(".msg.bot .title")).to_have_text(["Turn on international roaming"])


def test_html_and_script_are_shown_as_text_never_run(page, rasa):
    open_widget(page)
    attack = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    ask(page, attack)
    expect(page.locator(".msg.user").last).to_have_text(attack)
    ask(page, "show me the script answer")
    expect(page.locator(".msg.bot .title").last).to_have_text("A <i>")
    expect(page.locator(".msg.bot .body").last).to_have_text('Type <b>"roaming"</b> & press <Enter>')
    assert page.evaluate("window.__pwned") is None
    assert (
        page.locator("[data-touchpoint]").evaluate("h => h.shadowRoot.querySelectorAll('img, script, i, b').length")
        == 0
    )


def test_a_too_long_message_gets_a_clear_error_and_the_text_is_kept(page, rasa):
    open_widget(page)
    ask(page, "x" * 10_000)
    expect(page.get_by_role("alert")).to_contain_text("longer than 4096 characters")
    expect(page.get_by_role("textbox")).to_have_value("x" * 10_000)
    assert [s["message"] for s in rasa.sent] == ["/greet"]


def test_emoji_only_gets_asked_for_words(page, rasa):
    open_widget(page)
    ask(page, "😀🙏")
    expect(page.locator(".msg.bot").last).to_have_text("Could you tell me in words what you need help with?")


def test_language_comes_from_the_browser_and_can_be_switched(browser, host_page, rasa):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(host_page)
    page.get_by_role("button", name="在线咨询").click()
    expect(page.locator(".msg.bot").first).to_have_text("您好！我是智能助手。")
    page.get_by_role("button", name="Switch to English").click()
    expect(page.get_by_role("textbox", name="Type your question…")).to_be_visible()
    context.close()


def test_phone_sized_screen_gets_a_full_screen_panel(browser, host_page):
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(host_page)
    page.get_by_role("button", name="Chat with us").click()
    box = page.get_by_role("dialog").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 667)
    context.close()

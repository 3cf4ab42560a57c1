"""The widget's Markdown renderer in headless Chromium: widget.js alone on a page, its WebSocket
replaced by a stub that hands it a history of answers, so only the rendering is under test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from bot.channels.widget import widget_source

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WIDGET = widget_source()  # as the server serves it, texts and limits written in
SHOP = "http://shop.test"

# A socket that answers the widget's hello with a session holding `window.__history`.
FAKE_SOCKET = """
window.WebSocket = class {
  constructor() { this.listeners = {}; setTimeout(() => this.fire("open", {}), 0); }
  addEventListener(type, listener) { (this.listeners[type] ||= []).push(listener); }
  fire(type, event) { (this.listeners[type] || []).forEach((listener) => listener(event)); }
  send(data) {
    if (JSON.parse(data).type !== "hello") return;
    const frame = { type: "session", session: "s", language: "en", messages: window.__history };
    setTimeout(() => this.fire("message", { data: JSON.stringify(frame) }), 0);
  }
  close() {}
};
"""


def article_body(language: str, article_id: str) -> str:
    text = (ROOT / "knowledge_base" / "articles" / language / f"{article_id}.md").read_text(encoding="utf-8")
    return text.split("\n---\n", 1)[1]


def answers_shown(page: Page, *texts: str) -> Locator:
    """Open the widget on a page whose conversation holds one answer for each text."""
    history = [{"role": "bot", "text": text, "title": f"Answer {n}"} for n, text in enumerate(texts)]
    page.add_init_script(f"window.__history = {json.dumps(history)};" + FAKE_SOCKET)
    page.route(
        f"{SHOP}/widget.js", lambda route: route.fulfill(body=WIDGET, content_type="text/javascript; charset=utf-8")
    )
    html = f"<!doctype html><html><body><script src='{SHOP}/widget.js' async></script></body></html>"
    page.route(f"{SHOP}/", lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
    page.goto(f"{SHOP}/")
    page.get_by_role("button", name="Chat with us").click()
    bubbles = page.locator(".msg.bot")
    expect(bubbles).to_have_count(len(texts))
    return bubbles


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 800})  # a phone
    yield context.new_page()
    context.close()


def test_a_pipe_table_is_a_table_that_fits_the_chat_panel(page):
    answer = answers_shown(page, article_body("en", "store-hours")).first
    table = answer.locator("table")
    expect(table.locator("th")).to_have_text(["Store", "Normal days", "Public holidays"])
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["All stores", "9:00–21:00", "10:00–18:00"])
    expect(answer.locator(".body")).not_to_contain_text("|")
    expect(answer.locator(".body")).not_to_contain_text("---")
    assert table.evaluate("t => t.closest('.table').scrollWidth <= t.closest('.msg').clientWidth")
    assert table.locator("td").first.evaluate("td => getComputedStyle(td).borderTopStyle") == "solid"


def test_backslash_escapes_show_the_character_and_open_no_span(page):
    answer = answers_shown(page, article_body("zh", "esim-compatible")).first
    expect(answer.locator("strong").filter(has_text="#06#")).to_have_text("*#06#")
    expect(answer.locator(".body")).not_to_contain_text("\\")


def test_cells_and_escapes_are_text_never_html(page):
    text = (
        "| a | b `c` |\n|:-:|--:|\n| **x** | <img src=x onerror=alert(1)> \\| y |\n\n"
        "\\*\\*not bold\\*\\* \\[no link\\](https://x.example) \\`no code\\` C:\\Users \\<b\\>"
    )
    answer = answers_shown(page, text).first
    cells = answer.locator("td")
    expect(cells).to_have_text(["x", "<img src=x onerror=alert(1)> | y"])
    expect(cells.first.locator("strong")).to_have_text("x")
    assert cells.first.evaluate("td => td.style.textAlign") == "center"
    expect(answer.locator("th code")).to_have_text("c")
    expect(answer.locator("img, a, b")).to_have_count(0)
    expect(answer.locator(".body > strong, .body > code")).to_have_count(0)
    expect(answer.locator(".body")).to_contain_text("**not bold** [no link](https://x.example) `no code` C:\\Users <b>")

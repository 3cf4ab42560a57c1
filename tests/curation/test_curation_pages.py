"""The curation editor in headless Chromium, against the app over real HTTP with a real SQLite
file: its preview is the chat widget's own rendering, and two curators saving the same article
each keep their text."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.app import create_app
from bot.auth import hash_password
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.store import Store
from tests.browser import ServerThread, signed_in
from tests.channels.test_widget_rendering import answers_shown
from tests.fake_rasa import FakeRasa, transport_client
from tests.helpers import write_articles
from tests.staff import PASSWORD

pytestmark = pytest.mark.browser

CURATORS = {"cora": "Cora", "dan": "Dan"}

# What an article's answer may use: bold, code, a link, a list, a pipe table with alignment and
# an escaped pipe, and a backslash escape.
MARKDOWN = (
    "Roaming is **off** by default. Dial `*1888#` or see [the rates](https://skylark.example/rates).\n\n"
    "- Open the app\n"
    "- Go to **Services → Roaming**\n\n"
    "| Zone | Price |\n"
    "|:--|--:|\n"
    "| Asia \\| Europe | **¥5** a day |\n"
    "| Elsewhere | ¥30 |\n\n"
    "A plain \\*star\\* and <b>no HTML</b>."
)

# What makes the preview look like the widget's bubble, compared element by element.
STYLES = [
    "fontSize",
    "lineHeight",
    "fontWeight",
    "padding",
    "borderTop",
    "borderRadius",
    "backgroundColor",
    "whiteSpace",
]


@pytest.fixture
def server(tmp_path):
    settings = Settings(build_dir=tmp_path, rasa_url="http://rasa.test", actions_url="http://actions.test")

    async def prepare():
        store = Store.from_url(settings.database_url)
        await store.upgrade()
        for username, name in CURATORS.items():
            await store.add_user(username, name, "curator", hash_password(PASSWORD))
        await store.library.seed(write_articles(tmp_path / "articles"))
        await store.close()

    # Playwright's sync API runs an event loop in this thread: the setup gets a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare()).result()

    def make_app():
        rasa = RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(FakeRasa()))
        return create_app(settings, rasa)

    server = ServerThread(make_app).start()
    yield server
    server.stop()


def open_editor(context: BrowserContext, article_id: str) -> Page:
    page = context.new_page()
    page.goto(f"/curation/articles/{article_id}")
    expect(page.locator("form.version:visible")).to_have_count(2)  # zh and en
    return page


def english(page: Page):
    return page.locator(".side-version", has=page.get_by_role("heading", name="English · en"))


def styles(element) -> dict[str, str]:
    return element.evaluate(
        "(node, names) => Object.fromEntries(names.map((n) => [n, getComputedStyle(node)[n]]))", STYLES
    )


def signed_in_as(browser: Browser, server: ServerThread, username: str) -> BrowserContext:
    return signed_in(browser, server.url, username, PASSWORD, "/curation")


def test_preview_renders_markdown_as_the_widget_shows_the_answer(browser, server):
    context = signed_in_as(browser, server, "cora")
    editor = open_editor(context, "roaming-activate")
    side = english(editor)
    side.locator("input.title").fill("Answer 0")  # as answers_shown titles the widget's first answer
    side.locator("textarea.body").fill(MARKDOWN)
    preview = side.locator(".preview .msg.bot")
    expect(preview.locator("strong")).to_have_text(["off", "Services → Roaming", "¥5"])
    expect(preview.locator("table td")).to_have_text(["Asia | Europe", "¥5 a day", "Elsewhere", "¥30"])
    expect(preview.locator("li")).to_have_count(2)
    expect(preview.locator("a")).to_have_attribute("href", "https://skylark.example/rates")
    expect(preview.locator("b")).to_have_count(0)

    widget_page = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 1000})
    shown = answers_shown(widget_page, MARKDOWN).first

    assert preview.evaluate("node => node.outerHTML") == shown.evaluate("node => node.outerHTML")
    for selector in ("", "table th", "table td"):
        ours = preview.locator(selector).first if selector else preview
        theirs = shown.locator(selector).first if selector else shown
        assert styles(ours) == styles(theirs), selector or "the bubble"
    widget_page.close()
    context.close()


def test_a_save_over_someone_elses_shows_both_texts_and_keep_mine_saves(browser, server):
    cora, dan = signed_in_as(browser, server, "cora"), signed_in_as(browser, server, "dan")
    cora_page, dan_page = open_editor(cora, "roaming-activate"), open_editor(dan, "roaming-activate")

    cora_side = english(cora_page)
    cora_side.locator("input.title").fill("Switch on roaming before you fly")
    cora_side.get_by_role("button", name="Save draft").click()
    expect(cora_side.locator(".saved")).to_have_text("Saved as revision 2 (draft)")

    dan_side = english(dan_page)
    dan_body = "Roaming is off by default on new lines.\n\nTurn it on in the app: **Services → Roaming**."
    dan_side.locator("textarea.body").fill(dan_body)
    dan_side.get_by_role("button", name="Save draft").click()

    conflict = dan_side.locator(".conflict")
    expect(conflict.get_by_role("heading")).to_have_text(re.compile(r"^Someone else saved revision 2 \(Cora, .+\)$"))
    title_row = conflict.locator("tr", has=dan_page.get_by_role("rowheader", name=re.compile("^Title")))
    expect(title_row.locator("td")).to_have_text(["Switch on roaming before you fly", "Turn on international roaming"])
    answer_row = conflict.locator("tr", has=dan_page.get_by_role("rowheader", name=re.compile("^Answer")))
    expect(answer_row.locator("td").nth(0)).to_contain_text("Roaming is off by default. Open the app")
    expect(answer_row.locator("td").nth(1)).to_contain_text("Turn it on in the app: **Services → Roaming**.")
    expect(dan_side.locator("textarea.body")).to_have_value(dan_body)  # nothing lost from the form

    conflict.get_by_role("button", name="Keep mine (save over theirs)").click()
    expect(dan_side.locator(".saved")).to_have_text("Saved as revision 3 (draft)")
    expect(conflict).to_be_hidden()

    history = dan_page.request.get("/api/kb/articles/roaming-activate/en/revisions").json()["revisions"]
    assert [(r["number"], r["author"]) for r in history] == [(3, "Dan"), (2, "Cora"), (1, "command line")]
    assert history[0]["title"] == "Turn on international roaming" and history[0]["body"] == dan_body
    assert history[1]["title"] == "Switch on roaming before you fly"  # theirs stays in the history
    cora.close()
    dan.close()

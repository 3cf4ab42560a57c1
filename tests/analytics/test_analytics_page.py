"""The analytics page in headless Chromium, against the app over real HTTP with the known dataset of
`test_analytics`: the figures appear, every chart is drawn, a filter reloads them, user text is
shown as text. Leaves a screenshot of the page in build/screenshots/analytics.png."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.store import Store
from tests.analytics.test_analytics import NOW, WEEK, one_group, prepare
from tests.browser import ServerThread, signed_in
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import PASSWORD

pytestmark = pytest.mark.browser

CHARTS = (
    "sessions", "messages", "hours", "containment", "handoffs", "desk", "articles", "worst_articles", "exits",
    "unanswered", "breakdown",
)  # fmt: skip
SCREENSHOT = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "analytics.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analytics-page")
    settings = fake_settings(folder)

    async def setup():
        store = Store.from_url(settings.database_url)
        await prepare(store, folder / "kb")
        await store.close()

    # Playwright's sync API runs an event loop in this thread: the setup gets a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, setup()).result()

    rasa = FakeRasa()
    rasa.action_server["/group"] = one_group

    def make_app():
        return app_with(rasa, settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.analytics.utcnow", lambda: NOW)
        server = ServerThread(make_app).start()
        yield server
        server.stop()


def shown(page: Page, query: str) -> None:
    """Wait until the page shows the figures for `query`."""
    expect(page.locator("body")).to_have_attribute("data-loaded", query)
    expect(page.locator("#loading")).to_be_hidden()


def signed_in_as(browser: Browser, server: ServerThread, username: str) -> BrowserContext:
    return signed_in(browser, server.url, username, PASSWORD, "/analytics", width=1440)


def test_a_reviewer_sees_the_figures_and_every_chart_drawn(browser, server):
    context = signed_in_as(browser, server, "rita")
    page = context.new_page()
    page.goto(f"/analytics?{WEEK}")
    shown(page, WEEK)

    kpis = page.locator("#kpis li")
    expect(kpis.nth(0)).to_have_text(re.compile(r"^14\s*sessions \(12 conversations\)$"))
    expect(kpis.nth(1)).to_contain_text("14.3%")  # confirmed S3 and assumed S7, of 14
    expect(kpis.nth(2)).to_contain_text("35.7%")  # five sessions handed off
    expect(kpis.nth(4)).to_contain_text("5 min")  # the median queue wait: 300 s
    for chart in CHARTS:
        section = page.locator(f"#chart-{chart}")
        assert section.locator(".plot svg").count() >= 1, chart
        assert section.locator(".plot svg rect, .plot svg polyline").count() >= 1, chart
    expect(page.locator("#chart-sessions polyline[data-series='telegram']")).to_have_count(1)
    expect(page.locator("#chart-hours svg rect")).to_have_count(7 * 24)
    exits = page.locator("#chart-exits .numbers tbody tr")
    expect(exits.nth(1)).to_have_text(re.compile(r"after the first answer\s*5\s*35\.7%"))
    expect(page.locator("#chart-sessions a.csv")).to_have_attribute("href", f"/api/analytics/sessions.csv?{WEEK}")

    # The phone number was redacted on the server; the text is shown as text.
    questions = page.locator("#chart-unanswered .groups-list q")
    expect(questions).to_have_text(["Tell me a JOKE!!", "我的宽带坏了，电话[phone]", "tell me a joke"])
    assert "13812345678" not in page.content()

    page.locator("#chart-unanswered").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()


def test_changing_a_filter_reloads_the_figures_and_the_address(browser, server):
    context = signed_in_as(browser, server, "rita")
    page = context.new_page()
    page.goto(f"/analytics?{WEEK}")
    shown(page, WEEK)

    page.locator("#filters").get_by_label("Channel").select_option("widget")
    shown(page, f"{WEEK}&channel=widget")
    expect(page.locator("#kpis li").nth(0)).to_have_text(re.compile(r"^6\s*sessions"))
    assert page.url.endswith(f"/analytics?{WEEK}&channel=widget")
    expect(page.locator("#chart-sessions polyline[data-series='telegram']")).to_have_count(0)
    expect(page.locator("#chart-sessions polyline[data-series='widget']")).to_have_count(1)

    page.locator("#filters").get_by_label("By").select_option("week")
    shown(page, f"{WEEK}&channel=widget&by=week")
    expect(page.locator("#range-label")).to_have_text("2024-05-06 to 2024-05-12 · by week · widget")
    context.close()


def test_a_bad_range_is_said_and_nothing_is_lost(browser, server):
    context = signed_in_as(browser, server, "rita")
    page = context.new_page()
    page.goto(f"/analytics?{WEEK}")
    shown(page, WEEK)
    page.locator("#filters").get_by_label("From", exact=True).fill("2024-05-20")  # after "To"
    expect(page.locator("#error")).to_have_text("'since' must be on or before 'until'")
    expect(page.locator("#kpis li").nth(0)).to_contain_text("14")
    context.close()

"""The reviewer's pages in headless Chromium, against the app over real HTTP with a real SQLite
file: filter to low-confidence handoffs in Chinese, open one, see the phone number redacted,
label it, and export what the filter selects."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from tests.browser import ServerThread
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.review.conftest import assistant, make_traffic, prepare_database
from tests.staff import API_TOKEN, PASSWORD, send

pytestmark = pytest.mark.browser

# Screenshots for a person to look at (docs/ keeps the ones chosen for the README).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def server(tmp_path):
    settings = fake_settings(tmp_path, api_token=API_TOKEN)
    prepare_database(settings)

    def make_app():
        return app_with(FakeRasa(assistant), settings)

    with TestClient(make_app()) as client:  # the conversations, made through the API and the desk
        make_traffic(client)
        for number, question in enumerate(("how much is roaming in Japan", "漫游怎么开通", "roaming data price")):
            send(client, question, f"more-{number}")
    server = ServerThread(make_app).start()
    yield server
    server.stop()


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_reviewer_finds_a_chinese_low_confidence_handoff_labels_it_and_exports(browser, server):
    context = browser.new_context(
        base_url=server.url, locale="en-US", viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    sign_in(page, "rita")
    expect(page).to_have_url(re.compile(r"/review$"))  # a reviewer lands on the conversations
    rows = page.locator("#conversations tbody tr")
    expect(rows).to_have_count(7)
    expect(page.locator("#conversations")).not_to_contain_text("13812345678")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-list.png"), full_page=True)

    page.get_by_label("Language").select_option("zh")
    page.get_by_label("Reason").select_option("low_confidence")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"language=zh&reason=low_confidence"))
    expect(page.locator("#count")).to_have_text("1")
    expect(rows.first).to_contain_text("我的宽带坏了，请打 [phone] 联系我")

    rows.first.click()
    expect(page).to_have_url(re.compile(r"/review/conversations/handed$"))
    user = page.locator("#messages .msg.user").first
    expect(user).to_have_text(re.compile(r"我的宽带坏了，请打 \[phone\] 联系我"))
    expect(page.locator("#messages")).not_to_contain_text("13912345678")
    expect(page.locator("#messages .msg.bot .why").first).to_contain_text("decision hand off at 0.3")
    expect(page.locator("#messages .msg.bot .why").first).to_contain_text("broadband-router 0.210")
    expect(page.locator("#handoffs")).to_contain_text("taken by Alice")
    expect(page.locator("#review-notes")).to_contain_text("customer email [email]")
    expect(page.locator("#reveal")).to_have_count(0)  # a reviewer may not reveal

    page.get_by_label("Question").select_option(label="我的宽带坏了，请打 [phone] 联系我")
    page.get_by_label("Bot should have answered with…").check()
    page.locator("input[name=article_id]").fill("broadband-router")
    page.get_by_label("Comment").fill("the router article covers a dead line")
    page.get_by_role("button", name="Save label").click()
    expect(page.locator("#labels")).to_contain_text("should answer: broadband-router")
    expect(page.locator("#review-state")).to_contain_text("reviewed by Rita")
    page.screenshot(path=str(SCREENSHOTS / "review-transcript.png"), full_page=True)

    page.go_back()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("should answer")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(exported)))
    assert {r["conversation_id"] for r in records} == {"handed"}
    assert "13912345678" not in exported and "[phone]" in exported
    context.close()

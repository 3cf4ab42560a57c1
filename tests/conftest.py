from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.text import Analyzer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def analyzer(tmp_path_factory) -> Analyzer:
    return Analyzer(tmp_path_factory.mktemp("jieba-cache"))


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, shared by a module's browser tests."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def redis_server(tmp_path):
    """A private Redis server (tests/redis_server.py), stopped at the end."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()

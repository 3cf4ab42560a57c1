"""One real stack for the end-to-end tests: the Rasa server with the trained model, the action
server with the real index and model, and the app, each its own process on a free port."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from bot.processes import Stack
from bot.settings import load_settings
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.staff import API_TOKEN, AUTHORIZATION, send

QUERIES = yaml.safe_load((Path(__file__).parent / "queries.yml").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def telegram():
    """The fake Bot API the stack's Telegram bot long-polls (Telegram itself is not reachable)."""
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, telegram):
    base = load_settings()
    if not base.model_path.exists():
        pytest.fail(f"no trained Rasa model at {base.model_path}: `make test` trains it first")
    run_dir = tmp_path_factory.mktemp("e2e")
    settings = base.with_overrides(
        database_url=f"sqlite+aiosqlite:///{run_dir / 'touchpoint.db'}",
        app_port=free_port(),
        rasa_url=f"http://127.0.0.1:{free_port()}",
        actions_url=f"http://127.0.0.1:{free_port()}",
        telegram_token=TOKEN,
        telegram_api_url=telegram.base_url,
        api_token=API_TOKEN,
        rate_address=0,  # every test's user comes from this one address (tests/bot/test_limits.py checks it)
    )
    stack = Stack(settings, run_dir)
    stack.settings = settings
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def http(stack):
    base_url = f"http://127.0.0.1:{stack.settings.app_port}"
    with httpx.Client(base_url=base_url, timeout=60, headers=AUTHORIZATION) as client:
        yield client


class Chat:
    """A user talking to the app over HTTP, as a channel would; a new one is a new conversation."""

    def __init__(self, http: httpx.Client):
        self.http = http
        self.conversation_id = f"e2e-{uuid.uuid4().hex[:10]}"

    def say(self, text: str) -> dict:
        response = send(self.http, text, self.conversation_id, channel="api")
        assert response.status_code == 200, response.text
        return response.json()

    def stored(self) -> dict:
        response = self.http.get(f"/api/conversations/{self.conversation_id}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def chat(http):
    return Chat(http)

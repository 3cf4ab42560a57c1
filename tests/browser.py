"""Helpers for the browser tests: Debian's Chromium driven by Playwright, and the app served over
real HTTP by uvicorn in a thread (so a test can stop and restart it)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signed_in(browser, base_url: str, username: str, password: str, landing: str, width: int = 1400):
    """A browser context with a member of staff's session, signed in through the login form's
    POST (its CSRF token first), asking for `landing`."""
    context = browser.new_context(base_url=base_url, locale="en-US", viewport={"width": width, "height": 1000})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', context.request.get("/login").text()).group(1)
    response = context.request.post(
        "/login", form={"username": username, "password": password, "csrf_token": csrf, "next": landing}
    )
    assert response.ok and response.url.endswith(landing)
    return context


def launch_chromium(playwright):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package first")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)


class ServerThread:
    """An ASGI app on 127.0.0.1:port; `make_app` builds a fresh app for every start."""

    def __init__(self, make_app: Callable[[], object], port: int | None = None):
        self.make_app = make_app
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        config = uvicorn.Config(
            self.make_app(), host="127.0.0.1", port=self.port, log_level="warning", ws_max_size=65536
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the app did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._server = None

"""`touchpoint run` as a user starts it: a kill -9 of the action server does not stop the stack (it
is started again while the app keeps answering), and SIGTERM, even twice, ends every child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.processes import port_in_use
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def pids_of(fragment: str) -> list[int]:
    """Processes whose command line contains `fragment`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if fragment in command:
                found.append(int(entry.name))
    return found


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture
def running(tmp_path):
    ports = {"app": free_port(), "rasa": free_port(), "actions": free_port()}
    env = os.environ | {
        "TOUCHPOINT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "TOUCHPOINT_APP_PORT": str(ports["app"]),
        "TOUCHPOINT_RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
        "TOUCHPOINT_ACTIONS_URL": f"http://127.0.0.1:{ports['actions']}",
    }
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - read by the tests as it grows
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: "Touchpoint is running" in (tmp_path / "run.log").read_text(), 240, "the stack started")
        yield process, ports, tmp_path / "run.log"
    finally:
        if process.poll() is None:
            process.kill()
            for fragment in (f"--port {ports['actions']}", f"--port {ports['rasa']}", f"--port {ports['app']}"):
                for pid in pids_of(fragment):
                    os.kill(pid, signal.SIGKILL)
        log.close()


def test_a_killed_action_server_is_started_again_and_sigterm_ends_everything(running):
    process, ports, log = running
    base = f"http://127.0.0.1:{ports['app']}"
    [actions] = pids_of(f"actions.server --port {ports['actions']}")
    os.kill(actions, signal.SIGKILL)

    # Meanwhile the app answers, politely, and hands off; nothing is lost.
    reply = httpx.post(f"{base}/api/messages", json={"conversation_id": "c1", "text": "how do I top up"}, timeout=30)
    assert reply.status_code == 200
    assert reply.json()["messages"] and reply.json()["handoff"] in (None, {"reason": "service_error"})

    wait_until(lambda: answers(f"http://127.0.0.1:{ports['actions']}/health"), 120, "the action server is back")
    assert process.poll() is None, log.read_text()
    assert "actions exited (code -9); starting it again in 1 s" in log.read_text()
    assert "actions started again" in log.read_text()
    reply = httpx.post(
        f"{base}/api/messages",
        json={"conversation_id": "c2", "text": "how do I pay my bill"},
        timeout=30,
    )
    assert reply.status_code == 200 and reply.json()["handoff"] is None, reply.json()

    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)  # a second one while stopping changes nothing
    assert process.wait(60) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    for name, port in ports.items():
        assert not port_in_use(port), f"{name} still holds port {port}"
    assert pids_of(f"--port {ports['actions']}") == [] and pids_of(f"--port {ports['rasa']}") == []

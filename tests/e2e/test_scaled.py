"""The scaled stack for real: nginx before two apps, two Rasa servers (their tracker in
PostgreSQL, their locks in Redis) and two action servers, under `touchpoint run`'s supervisor.
A one-minute soak (tests/bench/soak.py; `make bench` runs ten minutes with every fault) with an
app instance killed midway loses, doubles and delays nothing, and a Rasa server killed and
started again carries on the dialogues it had, from the shared tracker store."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.databases import postgres_database

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import soak  # noqa: E402


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed: runs under `make test`, which installs Debian's nginx first")
    from tests.redis_server import RedisServer

    folder = tmp_path_factory.mktemp("scaled")
    redis = RedisServer(folder)
    redis.start()
    databases = [postgres_database(), postgres_database()]
    database_url, tracker = (next(database) for database in databases)
    tracker_url = tracker.replace("postgresql+asyncpg://", "postgresql://", 1)
    stack = None
    try:
        stack = soak.start_stack(folder, database_url, tracker_url, redis.url)
        yield stack, redis, database_url
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        for database in databases:
            next(database, None)


def test_a_minute_with_an_app_instance_killed_loses_doubles_and_delays_nothing(scaled):
    stack, redis, database_url = scaled
    report = soak.run(stack, redis, soak.Soak(minutes=1, conversations=10, faults=("app-1",)), database_url)
    soak.print_report(report)
    checks = report["checks"]
    assert checks["messages_sent"] > 50
    assert checks["lost"] == 0 and checks["duplicated"] == 0 and checks["replies_delivered_twice"] == 0
    assert checks["late_or_unanswered"] == 0
    assert checks["errors_outside_fault_windows"] == 0, checks["unexplained_errors"]
    assert checks["healthz_checks"] > 30 and checks["healthz_slowest_s"] < 5
    assert checks["handed_back_by_the_agent"] > 0  # handoffs, an agent's replies and hand-backs happened
    assert any(event.endswith("restart 1)") and "app-1" in event for event in report["supervisor"])


def test_a_rasa_server_killed_mid_conversation_carries_on_its_dialogue(scaled):
    stack, _, _ = scaled
    settings = stack.settings
    conversation = f"scaled-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=f"http://{settings.host}:{settings.app_port}", timeout=60) as http:
        first = http.post("/api/messages", json={"conversation_id": conversation, "text": "怎么开通国际漫游？"})
        assert first.status_code == 200 and first.json()["language"] == "zh"
        token = first.json()["conversation_token"]
        rasa = stack.process("rasa-1")
        os.kill(rasa.pid, signal.SIGKILL)
        rasa._process.wait()
        stop, events = threading.Event(), []
        supervisor = threading.Thread(target=soak.supervise, args=(stack, stop, events), daemon=True)
        supervisor.start()
        try:
            while not rasa.running:  # started again by the supervisor after its back-off
                time.sleep(0.2)
            rasa.wait_ready()
        finally:
            stop.set()
            supervisor.join()
        # The restarted server knows the dialogue another server had: the language slot and the
        # answer waiting for its feedback.
        tracker = httpx.get(
            rasa.spec.ready_url.replace("/status", f"/conversations/{conversation}/tracker"), timeout=30
        )
        assert tracker.status_code == 200
        assert tracker.json()["slots"]["language"] == "zh"
        assert any(e.get("text") == "怎么开通国际漫游？" for e in tracker.json()["events"] if e["event"] == "user")
        again = http.post(
            "/api/messages", json={"conversation_id": conversation, "text": "有用"},
            headers={"X-Conversation-Token": token},
        )  # fmt: skip
        assert again.status_code == 200 and again.json()["language"] == "zh"
        assert again.json()["handoff"] is None
    assert any("rasa-1 started again" in event for event in events)

"""GET /healthz under load and failure, on the real app with Rasa replaced at the transport: a
dependency that refuses is down at once; one too busy to answer the probe in time, but that
answered a user just now, is up and busy; one that neither answers nor has answered is down;
many concurrent checks make one probe; and `touchpoint run`'s process table is shown."""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.testclient import TestClient

from bot.app import create_app
from bot.health import PROBE_TIMEOUT
from bot.rasa_client import RasaClient
from tests.fake_rasa import FakeRasa, fake_settings
from tests.staff import send


class SlowProbes(FakeRasa):
    """A Rasa whose health endpoints take `probe_delay` seconds; messages are answered at once."""

    def __init__(self):
        super().__init__(respond=lambda sent: [{"recipient_id": sent["sender"], "text": "Hello!"}])
        self.probe_delay = 0.0
        self.probes = 0

    async def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.probes += 1
            await asyncio.sleep(self.probe_delay)
            if self.probe_delay >= PROBE_TIMEOUT:
                raise httpx.ReadTimeout("timed out", request=request)
        return self(request)


def client_for(tmp_path, rasa: SlowProbes, **settings) -> TestClient:
    config = fake_settings(tmp_path, **settings)
    http = httpx.AsyncClient(transport=httpx.MockTransport(rasa.answer))
    return TestClient(create_app(config, RasaClient(config.rasa_url, config.actions_url, timeout=5, http=http)))


def test_a_busy_rasa_that_just_answered_a_user_is_up_and_busy(tmp_path):
    rasa = SlowProbes()
    with client_for(tmp_path, rasa) as client:
        rasa.probe_delay = PROBE_TIMEOUT  # the probes time out
        down = client.get("/healthz")
        assert down.status_code == 503  # no answer, and none given to anyone lately
        assert down.json()["checks"]["rasa"] == {"ok": False, "url": "http://rasa.test/", "error": "ReadTimeout"}
        assert send(client, "hello").status_code == 200  # a user was answered just now
        busy = client.get("/healthz")
        assert busy.status_code == 200
        assert busy.json()["checks"]["rasa"] == {"ok": True, "url": "http://rasa.test/", "busy": True}


def test_a_refusing_rasa_is_down_at_once_even_if_it_answered_a_moment_ago(tmp_path):
    rasa = SlowProbes()
    with client_for(tmp_path, rasa) as client:
        assert send(client, "hello").status_code == 200
        rasa.down = True
        report = client.get("/healthz")
        assert report.status_code == 503 and report.json()["checks"]["rasa"]["error"] == "ConnectError"


def test_concurrent_checks_share_one_probe(tmp_path):
    rasa = SlowProbes()
    with client_for(tmp_path, rasa) as client:
        rasa.probe_delay = 0.3

        async def many():
            health = client.app.state.health
            return await asyncio.gather(*(health.report() for _ in range(50)))

        reports = client.portal.call(many)
        assert all(report["status"] == "ok" for report in reports)
        assert rasa.probes == 2  # one each for Rasa and the action server, not 100


def test_the_process_table_of_touchpoint_run_is_shown(tmp_path):
    table = {"rasa": {"running": True, "pid": 12, "restarts": 1}, "app": {"running": True, "pid": 13, "restarts": 0}}
    (tmp_path / "processes.json").write_text(json.dumps(table))
    with client_for(tmp_path, SlowProbes(), processes_file=tmp_path / "processes.json") as client:
        assert client.get("/healthz").json()["processes"] == table

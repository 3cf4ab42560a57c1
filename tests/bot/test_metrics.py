"""The app's GET /metrics, scraped after real turns through the API (Rasa faked at the transport)
and parsed as Prometheus parses it."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from bot.settings import Settings
from knowledge_base.articles import read_article_files
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.helpers import write_articles
from tests.staff import API_TOKEN, AUTHORIZATION, send, someone_online

METRICS_TOKEN = "test-metrics-token-0123456789"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}

ANSWER = [{"recipient_id": "c1", "custom": {"text": "Open the app.", "article_id": "roaming-activate"}}]
HANDOFF = [
    {"recipient_id": "c1", "text": "Sure, I'm connecting you with a member of our support team."},
    {"recipient_id": "c1", "custom": {"handoff": {"reason": "user_request"}}},
]


@pytest.fixture
def rasa():
    return FakeRasa()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    return fake_settings(tmp_path, database_url(request), api_token=API_TOKEN, metrics_token=METRICS_TOKEN)


def app_client(settings: Settings, rasa: FakeRasa, **headers) -> TestClient:
    return TestClient(app_with(rasa, settings), headers=headers)


@pytest.fixture
def client(settings, rasa):
    with app_client(settings, rasa, **AUTHORIZATION) as client:
        yield client


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics: (name, sorted labels) -> value."""
    response = client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def messages(samples, channel: str = "api") -> dict[str, float]:
    return {
        dict(labels)["outcome"]: value
        for (name, labels), value in samples.items()
        if name == "touchpoint_messages_total" and dict(labels)["channel"] == channel
    }


def test_turns_are_counted_by_outcome_and_timed_and_the_queue_is_read_at_the_scrape(client, rasa, tmp_path):
    store = client.app.state.store
    client.portal.call(store.library.import_articles, read_article_files(write_articles(tmp_path / "kb")))
    someone_online(client)

    rasa.replies.append(ANSWER)
    assert send(client, "how do I turn on roaming", "c1").json()["messages"][0]["article_id"] == "roaming-activate"
    rasa.replies.append(HANDOFF)
    assert send(client, "I want a person", "c2").json()["state"] == "waiting"
    assert send(client, "👍", "c1").json()["handoff"] is None  # no words: the state machine answers alone
    rasa.down = True
    assert send(client, "hello?", "c3").json()["handoff"] == {"reason": "service_error"}

    samples = scrape(client)
    assert messages(samples) == {"answered": 1, "handoff": 1, "fallback": 1, "other": 1}
    assert samples["touchpoint_turn_seconds_count", (("channel", "api"),)] == 4
    assert samples["touchpoint_turn_seconds_sum", (("channel", "api"),)] > 0
    assert samples["touchpoint_turn_seconds_bucket", (("channel", "api"), ("le", "+Inf"))] == 4
    assert samples["touchpoint_rasa_seconds_count", ()] == 3  # the failed call too; not the emoji
    assert samples["touchpoint_handoffs_total", (("reason", "user_request"),)] == 1
    assert samples["touchpoint_handoffs_total", (("reason", "service_error"),)] == 1
    assert samples["touchpoint_queue_length", ()] == 2
    assert samples["touchpoint_agents_online", ()] == 1
    version = client.portal.call(store.library.version)
    assert version > 0 and samples["touchpoint_knowledge_base_version", ()] == version
    assert samples["process_resident_memory_bytes", ()] > 0


def test_the_queue_gauge_follows_the_database_and_counters_only_move_with_turns(client, rasa):
    someone_online(client)
    rasa.replies.append(HANDOFF)
    send(client, "I want a person", "c1")
    assert scrape(client)["touchpoint_queue_length", ()] == 1

    assert send(client, "/back_to_bot", "c1").json()["state"] == "bot"  # leaves the queue
    samples = scrape(client)
    assert samples["touchpoint_queue_length", ()] == 0
    assert messages(samples) == {"handoff": 1, "other": 1}
    assert messages(scrape(client)) == messages(samples)  # scraping counts nothing


def test_asking_for_a_person_again_while_waiting_starts_no_second_handoff(client, rasa):
    someone_online(client)
    rasa.replies += [HANDOFF, HANDOFF]
    send(client, "I want a person")
    assert send(client, "a person, please").json()["state"] == "waiting"

    samples = scrape(client)
    assert messages(samples) == {"handoff": 2}
    assert samples["touchpoint_handoffs_total", (("reason", "user_request"),)] == 1
    assert samples["touchpoint_queue_length", ()] == 1


def test_each_app_counts_on_its_own_registry(settings, rasa):
    rasa.respond = lambda sent: ANSWER
    with app_client(settings, rasa, **AUTHORIZATION) as first, app_client(settings, rasa, **AUTHORIZATION) as second:
        send(first, "roaming", "c1")
        send(first, "roaming again", "c1")
        send(second, "roaming", "c2")
        assert messages(scrape(first)) == {"answered": 2}
        assert messages(scrape(second)) == {"answered": 1}


def test_an_unreadable_database_leaves_its_gauges_unknown_and_the_rest_served(client, rasa, monkeypatch, caplog):
    rasa.replies.append(ANSWER)
    send(client, "roaming")

    async def broken():
        raise OperationalError("SELECT max(id) FROM publications", {}, OSError("database is unreachable"))

    monkeypatch.setattr(client.app.state.store.library, "version", broken)
    samples = scrape(client)
    assert math.isnan(samples["touchpoint_knowledge_base_version", ()])
    assert math.isnan(samples["touchpoint_queue_length", ()]) and math.isnan(samples["touchpoint_agents_online", ()])
    assert messages(samples) == {"answered": 1}
    assert "could not read the database" in caplog.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ({"Authorization": METRICS_TOKEN}, 401),
        ({"Authorization": f"Bearer {API_TOKEN}"}, 401),  # the API's token reads transcripts, not metrics
    ],
)
def test_scraping_needs_the_metrics_token(client, headers, status):
    response = client.get("/metrics", headers={"Authorization": "", **headers})
    assert response.status_code == status
    assert response.json()["error"]["code"] == "unauthorized"


def test_scraping_is_off_without_a_metrics_token(tmp_path, rasa):
    settings = fake_settings(tmp_path)
    with app_client(settings, rasa) as client:
        response = client.get("/metrics")
    assert response.status_code == 403
    assert "TOUCHPOINT_METRICS_TOKEN" in response.json()["error"]["message"]

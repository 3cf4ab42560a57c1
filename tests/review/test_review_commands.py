"""The reviewers' commands and the deletion of users' data, over SQLite and PostgreSQL: exports
from the command line, labelled questions as a query set `touchpoint eval` reads, `touchpoint
purge`, the retention sweep, and personal data redacted before it is stored."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from bot import cli, retention
from bot.rasa_client import RasaClient
from bot.store import Conversation, Feedback, Handoff, Message, Note, Store, utcnow
from knowledge_base.evaluation import load_queries
from tests.fake_rasa import FakeRasa, app_with, transport_client
from tests.review.conftest import assistant
from tests.staff import Agent, send, someone_online


@pytest.fixture
def environment(settings, monkeypatch):
    """The command line pointed at the test app's database."""
    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(settings.build_dir))
    monkeypatch.setenv("TOUCHPOINT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TOUCHPOINT_RASA_URL", "http://127.0.0.1:9")  # nothing listens: Rasa is down


def count(client, model, *where) -> int:
    async def query():
        async with client.app.state.store.engine.connect() as connection:
            return await connection.scalar(select(func.count()).select_from(model).where(*where))

    return client.portal.call(query)


def test_review_export_writes_the_filtered_conversations_redacted(traffic, environment, tmp_path, capsys):
    out = tmp_path / "handed.csv"
    assert cli.main(["review", "export", "--format", "csv", "--outcome", "handed_off", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert {row["conversation_id"] for row in rows} == {"handed", "nobody", "ticket"}
    assert "13912345678" not in out.read_text(encoding="utf-8")
    assert "personal data redacted" in capsys.readouterr().err

    assert cli.main(["review", "export", "--language", "zh"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["id"] == "handed"
    assert cli.main(["review", "export", "--since", "last week"]) == 2
    assert "'since' must be a date" in capsys.readouterr().err


def test_labelled_questions_become_a_query_set_that_eval_reads(client, traffic, environment, tmp_path):
    rita = Agent(client, "rita")
    handed = rita.get("/api/review/conversations/handed").json()
    question = next(m for m in handed["messages"] if m["role"] == "user")
    rita.post(
        "/api/review/conversations/handed/labels",
        json={"label": "should_answer", "message_id": question["id"], "article_id": "broadband-router"},
    )
    rita.post("/api/review/conversations/answered/labels", json={"label": "bot_right"})
    rita.post("/api/review/conversations/nobody/labels", json={"label": "missing_article", "comment": "no such page"})
    rita.post("/api/review/conversations/ticket/labels", json={"label": "agent_issue"})  # not a query's verdict

    out = tmp_path / "labelled.yml"
    assert cli.main(["review", "export-queries", "-o", str(out)]) == 0
    items = yaml.safe_load(out.read_text(encoding="utf-8"))["queries"]
    assert [(q["conversation"], q["label"], q["article"], q["language"]) for q in items] == [
        ("handed", "should_answer", "broadband-router", "zh"),
        ("answered", "bot_right", "roaming-activate", "en"),
        ("nobody", "missing_article", None, "en"),
    ]
    assert items[0]["query"] == "我的宽带坏了，请打 [phone] 联系我"  # redacted like every export
    queries = load_queries(out)
    assert [sorted(q.expected) for q in queries] == [["broadband-router"], ["roaming-activate"], []]


def test_purge_deletes_a_conversation_everywhere_and_refuses_while_rasa_is_unreachable(
    client, traffic, environment, capsys
):
    assert count(client, Message, Message.conversation_id == "handed") > 0
    assert cli.main(["purge", "--conversation", "handed"]) == 1
    assert "nothing was deleted" in capsys.readouterr().err
    assert count(client, Message, Message.conversation_id == "handed") > 0

    assert cli.main(["purge", "--conversation", "handed", "--skip-rasa"]) == 0
    assert "Deleted 1 conversations" in capsys.readouterr().out
    for model in (Message, Handoff, Note, Feedback):
        assert count(client, model, model.conversation_id == "handed") == 0, model.__name__
    assert count(client, Conversation, Conversation.id == "handed") == 0
    assert count(client, Conversation) == 3  # the others are untouched
    assert Agent(client, "rita").get("/api/review/conversations/handed").status_code == 404
    assert cli.main(["purge", "--conversation", "handed", "--skip-rasa"]) == 1  # already gone


def test_retention_deletes_conversations_with_nothing_new_and_clears_rasa(client, rasa, traffic):
    store = client.app.state.store

    async def age_and_sweep():
        async with store.engine.begin() as connection:
            old = utcnow() - timedelta(days=40)
            await connection.execute(
                update(Conversation).where(Conversation.id.in_(["answered", "ticket"])).values(updated_at=old)
            )
        rasa_client = RasaClient("http://rasa.test", "http://actions.test", timeout=5, http=transport_client(rasa))
        try:
            return await retention.sweep(store, rasa_client, days=30)
        finally:
            await rasa_client.close()

    rasa.events.clear()
    assert client.portal.call(age_and_sweep) == 2
    assert sorted(cid for cid, events in rasa.events if events == []) == ["answered", "ticket"]
    assert count(client, Conversation) == 2
    assert count(client, Message, Message.conversation_id.in_(["answered", "ticket"])) == 0


def test_the_retention_setting_is_checked(environment, monkeypatch, capsys):
    assert cli.main(["purge", "--older-than-retention"]) == 2
    assert "TOUCHPOINT_RETENTION_DAYS is not set" in capsys.readouterr().err
    monkeypatch.setenv("TOUCHPOINT_RETENTION_DAYS", "-3")
    assert cli.main(["purge", "--older-than-retention"]) == 2
    assert "TOUCHPOINT_RETENTION_DAYS" in capsys.readouterr().err


def test_with_redaction_at_rest_personal_data_is_never_stored_nor_sent_to_rasa(settings):
    rasa = FakeRasa(respond=assistant)
    at_rest = settings.with_overrides(redact_at_rest=True)
    with TestClient(app_with(rasa, at_rest)) as client:
        assert send(client, "roaming for card 4111 1111 1111 1111, mail me at a.b@example.com", "c1").status_code == 200
        someone_online(client, "alice")
        send(client, "I want a person, call 13812345678", "c2")

        async def stored():
            store = Store.from_url(at_rest.database_url)
            try:
                async with store.engine.connect() as connection:
                    return list(await connection.scalars(select(Message.text).where(Message.role == "user")))
            finally:
                await store.close()

        texts = asyncio.run(stored())
    assert texts == [
        "roaming for card [bank card], mail me at [email]",
        "I want a person, call [phone]",
    ]
    assert [sent["message"] for sent in rasa.sent] == texts  # Rasa's tracker holds what it was sent

"""Conversation review in the real app over SQLite and PostgreSQL: who may use it, every filter
of the list, the transcript with the bot's reasons, labels and the reviewed mark, redaction, the
logged reveal, and the streamed exports. Conversations are made through the API and the desk as
users and agents make them (Rasa replaced at the transport)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.staff import Agent, send

LIST = "/api/review/conversations"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(row["id"] for row in response.json()["conversations"])


def test_only_reviewers_and_admins_may_review(client, traffic):
    assert client.get(LIST).status_code == 401
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    for username, status in (("alice", 403), ("cora", 403), ("rita", 200), ("root", 200)):
        staff = Agent(client, username)
        assert staff.get(LIST).status_code == status, username
        assert staff.get("/api/review/conversations/answered").status_code == status, username
        assert staff.get("/api/review/export.csv").status_code == status, username
        assert staff.get("/review").status_code == status, username


def test_every_filter_selects_the_conversations_it_names(rita, traffic):
    alice_id = rita.client.portal.call(rita.client.app.state.store.user_by_name, "alice").id
    expected = {
        "": ["answered", "handed", "nobody", "ticket"],
        "outcome=bot": ["answered"],
        "outcome=handed_off": ["handed", "nobody", "ticket"],
        "outcome=ticket": ["ticket"],
        "outcome=abandoned": ["nobody"],
        "reason=low_confidence": ["handed"],
        "reason=user_request&outcome=handed_off": ["nobody", "ticket"],
        "language=zh&reason=low_confidence": ["handed"],
        "language=zh&outcome=bot": [],
        "channel=api": ["answered", "handed", "nobody", "ticket"],
        "channel=telegram": [],
        "rating=helpful": ["answered"],
        "rating=not_helpful": [],
        "rating=agent_helpful": ["handed"],
        "rating=unrated": ["nobody", "ticket"],
        f"agent={alice_id}": ["handed"],
        "article=roaming-activate": ["answered"],
        "q=ROAMING": ["answered"],
        "q=宽带坏了": ["handed"],
        "q=100%25": [],  # a literal %, not a wildcard
        "q=nobody": ["nobody"],  # a conversation's id, exactly
        "q=nobo": [],
        "reviewed=no": ["answered", "handed", "nobody", "ticket"],
        "reviewed=yes": [],
    }
    for query, conversations in expected.items():
        assert ids(rita.get(f"{LIST}?{query}")) == conversations, query
    today = datetime.now(UTC).date()
    assert ids(rita.get(f"{LIST}?since={today}&until={today}")) == expected[""]
    assert ids(rita.get(f"{LIST}?until={today - timedelta(days=1)}")) == []
    assert ids(rita.get(f"{LIST}?since={today + timedelta(days=1)}")) == []


def test_bad_filters_are_refused_with_the_parameter_named(rita):
    for query, named in (("since=yesterday", "since"), ("outcome=lost", "outcome"), ("agent=alice", "agent"),
                         ("page=-1", "page"), ("rating=5", "rating"), ("language=fr", "language")):  # fmt: skip
        response = rita.get(f"{LIST}?{query}")
        assert response.status_code == 400, query
        assert named in response.json()["error"]["message"]
        if named != "page":  # an export has no pages
            assert rita.get(f"/api/review/export.csv?{query}").status_code == 400


def test_the_list_is_paginated_newest_first_and_its_rows_are_redacted(rita, traffic):
    first = rita.get(f"{LIST}?size=3").json()
    second = rita.get(f"{LIST}?size=3&page=2").json()
    assert (first["total"], second["total"], len(first["conversations"]), len(second["conversations"])) == (4, 4, 3, 1)
    rows = first["conversations"] + second["conversations"]
    assert [row["id"] for row in rows] == ["ticket", "handed", "nobody", "answered"]  # by last message
    answered = rows[-1]
    assert answered["first_question"] == "how do I turn on roaming? call me on [phone]"
    assert (answered["outcome"], answered["helpful"], answered["messages"]) == ("bot", 1, 4)
    handed = rows[1]
    assert handed["outcome"] == "agent" and handed["agent_ratings"] == [True]
    assert [(h["reason"], h["agent"], h["outcome"]) for h in handed["handoffs"]] == [
        ("low_confidence", "Alice", "closed")
    ]
    assert rows[0]["outcome"] == "ticket" and rows[2]["outcome"] == "abandoned"


def test_a_transcript_shows_why_the_bot_answered_and_what_the_person_did(rita, traffic):
    answered = rita.get("/api/review/conversations/answered").json()
    bot = next(m for m in answered["messages"] if m["role"] == "bot" and m["article_id"])
    assert (bot["article_id"], bot["score"], bot["intent"], bot["confidence"], bot["decision"]) == (
        "roaming-activate", 0.81, "ask_question", 0.91, "answer"
    )  # fmt: skip
    assert [r["article_id"] for r in bot["ranking"]] == ["roaming-activate", "roaming-rates", "roaming-data"]
    assert answered["messages"][0]["text"] == "how do I turn on roaming? call me on [phone]"
    assert answered["feedback"][0]["article_id"] == "roaming-activate" and answered["feedback"][0]["helpful"]
    assert answered["redacted"] is True

    handed = rita.get("/api/review/conversations/handed").json()
    assert "13912345678" not in json.dumps(handed, ensure_ascii=False)
    (handoff,) = handed["handoffs"]
    assert (handoff["reason"], handoff["agent"], handoff["outcome"], handoff["rating"]) == (
        "low_confidence", "Alice", "closed", True
    )  # fmt: skip
    assert handoff["queue_wait_seconds"] >= 0 and handoff["ticket"] is False
    assert handed["notes"][0]["text"] == "customer email [email]" and handed["notes"][0]["author"] == "Alice"
    handed_off = next(m for m in handed["messages"] if m["role"] == "bot")
    assert handed_off["decision"] == "hand_off" and handed_off["ranking"][0]["article_id"] == "broadband-router"
    assert [m["role"] for m in handed["messages"]].count("agent") == 1
    assert rita.get("/api/review/conversations/nobody-at-all").status_code == 404


def test_labels_mark_a_conversation_reviewed_and_can_be_filtered_and_removed(rita, traffic):
    path = "/api/review/conversations/handed"
    question = next(m for m in rita.get(path).json()["messages"] if m["role"] == "user")
    missing = rita.post(f"{path}/labels", json={"label": "should_answer", "message_id": question["id"]})
    assert missing.status_code == 400 and "article" in missing.json()["error"]["message"]
    assert rita.post(f"{path}/labels", json={"label": "great"}).status_code == 400
    agent_message = next(m for m in rita.get(path).json()["messages"] if m["role"] == "agent")
    wrong = rita.post(f"{path}/labels", json={"label": "other", "message_id": agent_message["id"]})
    assert wrong.status_code == 400
    no_csrf = rita.post(f"{path}/labels", json={"label": "other"}, headers={"X-CSRF-Token": ""})
    assert no_csrf.status_code == 403

    labelled = rita.post(
        f"{path}/labels",
        json={"label": "should_answer", "message_id": question["id"], "article_id": "broadband-router",
              "comment": "the router article covers a dead line"},
    )  # fmt: skip
    assert labelled.status_code == 201, labelled.text
    body = labelled.json()
    assert body["conversation"]["reviewed_by"] == "Rita" and body["conversation"]["reviewed_at"]
    (label,) = body["labels"]
    assert (label["label"], label["article_id"], label["message_id"], label["author"]) == (
        "should_answer", "broadband-router", question["id"], "Rita"
    )  # fmt: skip
    assert ids(rita.get(f"{LIST}?label=should_answer")) == ["handed"]
    assert ids(rita.get(f"{LIST}?reviewed=yes")) == ["handed"]

    removed = rita.request("DELETE", f"{path}/labels/{label['id']}")
    assert removed.status_code == 200 and removed.json()["labels"] == []
    unreviewed = rita.post(f"{path}/reviewed", json={"reviewed": False})
    assert unreviewed.json()["conversation"]["reviewed_at"] is None
    assert ids(rita.get(f"{LIST}?reviewed=yes")) == []


def test_only_an_admin_may_reveal_and_every_reveal_is_logged(client, rita, traffic):
    assert rita.post("/api/review/conversations/answered/reveal").status_code == 403
    root = Agent(client, "root")
    assert root.post("/api/review/conversations/answered/reveal", headers={"X-CSRF-Token": ""}).status_code == 403
    revealed = root.post("/api/review/conversations/answered/reveal")
    assert revealed.status_code == 200
    body = revealed.json()
    assert body["redacted"] is False
    assert body["messages"][0]["text"] == "how do I turn on roaming? call me on 13812345678"
    assert [r["by"] for r in body["reveals"]] == ["Root"]
    # Everyone reviewing it afterwards sees who looked, and still sees it redacted.
    again = rita.get("/api/review/conversations/answered").json()
    assert [r["by"] for r in again["reveals"]] == ["Root"] and "[phone]" in again["messages"][0]["text"]


def test_exports_are_streamed_redacted_and_filtered(rita, traffic):
    response = rita.get("/api/review/export.csv?outcome=handed_off")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["conversation_id"] for row in rows} == {"handed", "nobody", "ticket"}
    assert "13912345678" not in response.text and "[phone]" in response.text
    assert {row["handoff_reasons"] for row in rows if row["conversation_id"] == "handed"} == {"low_confidence"}

    lines = rita.get("/api/review/export.jsonl?language=zh").text.splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert record["id"] == "handed" and record["outcome"] == "agent"
    assert record["messages"][0]["text"] == "我的宽带坏了，请打 [phone] 联系我"
    assert record["user_name"] is None


def test_a_csv_cell_is_never_a_spreadsheet_formula(client, rita):
    send(client, '=HYPERLINK("http://evil.example","click")', "formula")
    rows = list(csv.DictReader(io.StringIO(rita.get("/api/review/export.csv").text)))
    user = next(row for row in rows if row["role"] == "user")
    assert user["text"].startswith("'=HYPERLINK")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/review/conversations/answered/reviewed"),
        ("POST", "/api/review/conversations/answered/labels"),
        ("DELETE", "/api/review/conversations/answered/labels/1"),
        ("POST", "/api/review/conversations/answered/reveal"),
    ],
)
def test_every_change_needs_the_csrf_token_and_a_reviewers_role(client, traffic, method, path):
    body = {"json": {"label": "other", "reviewed": True}} if method == "POST" else {}
    assert client.request(method, path, **body).status_code == 401
    assert Agent(client, "alice").request(method, path, **body).status_code == 403
    root = Agent(client, "root")
    assert root.request(method, path, headers={"X-CSRF-Token": "forged"}, **body).status_code == 403


def test_an_export_reads_in_batches_and_gives_every_conversation_once(client, traffic):
    """The keyset over (creation time, id) with a batch smaller than the conversations, and two
    of them created at the same instant: each exported once, oldest first."""
    from sqlalchemy import update

    from bot.store import Conversation
    from bot.store.review import ConversationFilter

    store = client.app.state.store

    async def export():
        async with store.engine.begin() as connection:
            same = datetime(2026, 1, 1, tzinfo=UTC)
            await connection.execute(
                update(Conversation).where(Conversation.id.in_(["nobody", "ticket"])).values(created_at=same)
            )
        return [t.summary.conversation.id async for t in store.review.export(ConversationFilter(), batch=1)]

    assert client.portal.call(export) == ["nobody", "ticket", "answered", "handed"]

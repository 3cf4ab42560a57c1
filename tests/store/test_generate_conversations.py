"""The review benchmark's conversation generator (tests/bench/generate_conversations.py) still
fills a database as the app would: the numbers asked for, the traffic's mix, and the invariants
the gateway, the state machine and the desk keep; the review list finds every outcome in it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter

import pytest

from bot.auth import verify_password
from bot.redaction import find
from bot.store import Store
from bot.store.review import OUTCOMES, RATINGS, ConversationFilter
from tests.bench import generate_conversations as generator

CONVERSATIONS, MESSAGES = 200, 2000


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    path = tmp_path_factory.mktemp("generated") / "bench.db"
    with pytest.MonkeyPatch.context() as patch:
        printed = []
        patch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
        generator.main(
            ["--database-url", f"sqlite+aiosqlite:///{path}", "--conversations", str(CONVERSATIONS)]
            + ["--messages", str(MESSAGES), "--days", "30", "--end", "2025-06-01", "--seed", "3"]
        )
    return path, "\n".join(printed)


@pytest.fixture
def db(made):
    connection = sqlite3.connect(made[0])
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()


def rows(db, sql: str, *args) -> list[sqlite3.Row]:
    return db.execute(sql, args).fetchall()


def test_it_makes_the_conversations_and_about_the_messages_asked_for(db):
    assert rows(db, "SELECT count(*) FROM conversations")[0][0] == CONVERSATIONS
    assert abs(rows(db, "SELECT count(*) FROM messages")[0][0] - MESSAGES) <= MESSAGES * 0.05


def test_traffic_mixes_channels_and_languages_over_the_days_asked_for(db):
    channels = Counter(r[0] for r in rows(db, "SELECT channel FROM conversations"))
    languages = Counter(r[0] for r in rows(db, "SELECT language FROM conversations"))
    assert set(channels) == {"telegram", "widget", "api"} and channels["api"] < channels["widget"]
    assert set(languages) == {"en", "zh"} and min(languages.values()) > CONVERSATIONS * 0.35
    first, last = rows(db, "SELECT min(created_at), max(updated_at) FROM conversations")[0]
    assert "2025-05-02" <= first < last < "2025-06-01"


def test_every_conversation_opens_with_the_user_and_spans_its_messages(db):
    spans = rows(
        db,
        "SELECT c.created_at, c.updated_at, min(m.created_at), max(m.created_at), count(*) FROM conversations c "
        "JOIN messages m ON m.conversation_id = c.id GROUP BY c.id",
    )
    assert len(spans) == CONVERSATIONS
    for created, updated, first, last, count in spans:
        assert (created, updated) == (first, last) and count >= 2
    openers = rows(db, "SELECT role FROM messages WHERE id IN (SELECT min(id) FROM messages GROUP BY conversation_id)")
    assert {r[0] for r in openers} == {"user"}
    disordered = rows(
        db,
        "SELECT count(*) FROM messages a JOIN messages b ON a.conversation_id = b.conversation_id "
        "AND a.id < b.id AND a.created_at > b.created_at",
    )
    assert disordered[0][0] == 0


def test_messages_carry_what_the_gateway_stores(db):
    roles = Counter(r[0] for r in rows(db, "SELECT role FROM messages"))
    assert set(roles) == {"user", "bot", "system", "agent"}
    for role, language, data in rows(
        db, "SELECT m.role, c.language, m.data FROM messages m JOIN conversations c ON c.id = m.conversation_id"
    ):
        data = json.loads(data)
        if role == "user":
            assert data["language"] == language
        elif role == "system":
            assert isinstance(data["choices"], list)
    answers = rows(db, "SELECT article_id, data FROM messages WHERE role = 'bot' AND score IS NOT NULL")
    assert answers
    for article_id, data in answers:
        data = json.loads(data)
        assert data["title"] and isinstance(data["choices"], list)
        assert set(data["trace"]) == {"intent", "confidence", "ranking", "decision", "threshold"}
        assert data["trace"]["ranking"][0]["article_id"] == article_id
        assert data["trace"]["decision"] in ("answer", "choices")


def test_handoffs_claims_tickets_and_ratings_agree(db):
    handed_off = rows(db, "SELECT count(DISTINCT conversation_id) FROM handoffs")[0][0]
    assert 0.1 * CONVERSATIONS < handed_off < 0.32 * CONVERSATIONS
    agents = {r[0] for r in rows(db, "SELECT id FROM users WHERE role = 'agent'")}
    claims = rows(db, "SELECT c.agent_id, c.outcome, h.outcome FROM claims c JOIN handoffs h ON h.id = c.handoff_id")
    assert claims and {agent for agent, *_ in claims} <= agents
    assert all(claimed == ended for _, claimed, ended in claims)
    claimed = "SELECT count(*) FROM handoffs h JOIN claims c ON c.handoff_id = h.id WHERE "
    assert rows(db, claimed + "h.outcome IN ('no_agent', 'cancelled')")[0][0] == 0
    assert rows(db, "SELECT count(*) FROM tickets")[0][0] > 0
    # A conversation has at most one open handoff, and is out of the bot's hands while it does.
    for state, open_handoffs in rows(
        db,
        "SELECT c.state, count(h.id) FROM conversations c LEFT JOIN handoffs h "
        "ON h.conversation_id = c.id AND h.ended_at IS NULL GROUP BY c.id",
    ):
        assert (state, open_handoffs) in (("bot", 0), ("ticket", 1), ("waiting", 1), ("agent", 1))
    ratings = rows(db, "SELECT conversation_id, article_id FROM feedback WHERE article_id LIKE 'handoff:%'")
    assert ratings
    for conversation_id, rated in ratings:
        handoff = int(rated.removeprefix("handoff:"))
        assert rows(db, claimed + "h.id = ? AND h.conversation_id = ?", handoff, conversation_id)[0][0] == 1


def test_some_users_write_personal_data_for_redaction_to_find(db):
    said = [r[0] for r in rows(db, "SELECT text FROM messages WHERE role = 'user'")]
    kinds = Counter(span.kind for text in said for span in find(text))
    assert {"phone", "email", "bank_card"} <= set(kinds)
    assert sum(kinds.values()) > len(said) * 0.02


def test_the_reviewer_signs_in_with_the_password_printed(db, made):
    (password_hash,) = rows(db, "SELECT password_hash FROM users WHERE username = 'reviewer' AND role = 'reviewer'")[0]
    assert f"password {generator.PASSWORD!r}" in made[1]
    assert verify_password(password_hash, generator.PASSWORD)


def test_the_review_list_finds_every_outcome_and_rating(made):
    async def totals():
        store = Store.from_url(f"sqlite+aiosqlite:///{made[0]}")
        try:
            outcomes = {o: (await store.review.page(ConversationFilter(outcome=o))).total for o in OUTCOMES}
            ratings = {r: (await store.review.page(ConversationFilter(rating=r))).total for r in RATINGS}
            return outcomes, ratings
        finally:
            await store.close()

    outcomes, ratings = asyncio.run(totals())
    assert all(outcomes.values()) and all(ratings.values()), (outcomes, ratings)


def test_the_same_seed_makes_the_same_conversations(made, tmp_path):
    again = tmp_path / "again.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.print", lambda *a, **k: None)
        generator.main(
            ["--database-url", f"sqlite+aiosqlite:///{again}", "--conversations", str(CONVERSATIONS)]
            + ["--messages", str(MESSAGES), "--days", "30", "--end", "2025-06-01", "--seed", "3"]
        )
    query = "SELECT id, conversation_id, role, text, created_at, data FROM messages ORDER BY id"
    first, second = sqlite3.connect(made[0]), sqlite3.connect(again)
    try:
        assert first.execute(query).fetchall() == second.execute(query).fetchall()
    finally:
        first.close()
        second.close()


def test_a_database_with_conversations_is_refused(made):
    with pytest.raises(SystemExit, match="conversations already"):
        generator.main(["--database-url", f"sqlite+aiosqlite:///{made[0]}", "--conversations", "10"])

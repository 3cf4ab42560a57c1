"""Databases made by earlier releases upgrade in place, with their conversations, handoffs and
staff, on SQLite and PostgreSQL; a new database gets the newest schema; the migrations and the
models describe the same tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert

from bot.store import Base, Store
from bot.store.migrate import head, revision
from tests.databases import database_url
from tests.store.releases import release_schema

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TRIGRAM_INDEX = "ix_messages_text_trigram"  # made by migration 0007 on PostgreSQL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    return database_url(request) or f"sqlite+aiosqlite:///{tmp_path / 'touchpoint.db'}"


async def make_release_database(url: str, release: str) -> None:
    """The database a user of `release` has: its tables, a conversation waiting for a person, one
    an agent has, one handed back, and an agent."""
    store = Store.from_url(url)
    metadata = release_schema(release)
    tables = metadata.tables
    async with store.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        conversations = [
            {"id": cid, "channel": "api", "language": "en", "status": status, "handoff_reason": reason,
             "created_at": NOW, "updated_at": NOW}
            for cid, status, reason in [("waiting", "handoff", "user_request"),
                                        ("claimed", "handoff", "low_confidence"), ("returned", "bot", None)]
        ]  # fmt: skip
        await connection.execute(insert(tables["conversations"]), conversations)
        await connection.execute(
            insert(tables["messages"]),
            [{"conversation_id": c["id"], "role": "user", "channel": "api", "text": "hello", "data": {},
              "created_at": NOW} for c in conversations],
        )  # fmt: skip
        await connection.execute(
            insert(tables["handoffs"]),
            [{"id": i, "conversation_id": cid, "reason": "user_request", "created_at": NOW}
             for i, cid in enumerate(["waiting", "claimed", "returned"], start=1)],
        )  # fmt: skip
        await connection.execute(
            insert(tables["users"]),
            [{"id": 1, "username": "alice", "name": "Alice", "role": "agent", "password_hash": "x", "active": True,
              "created_at": NOW}],
        )  # fmt: skip
        await connection.execute(
            insert(tables["claims"]),
            [{"handoff_id": 2, "agent_id": 1, "claimed_at": NOW, "ended_at": None, "outcome": None},
             {"handoff_id": 3, "agent_id": 1, "claimed_at": NOW, "ended_at": NOW, "outcome": "returned"}],
        )  # fmt: skip
    await store.close()


@pytest.mark.parametrize("release", ["46b4ceb", "5d0ee52"])
def test_a_database_from_an_earlier_release_upgrades_in_place(url, release):
    async def check():
        await make_release_database(url, release)
        store = Store.from_url(url)
        before, after = await store.upgrade()
        assert (before, after) == ({"46b4ceb": "0003", "5d0ee52": "0004"}[release], head())

        states = {cid: (await store.get_conversation(cid)).state for cid in ("waiting", "claimed", "returned")}
        assert states == {"waiting": "waiting", "claimed": "agent", "returned": "bot"}
        assert [entry.conversation.id for entry in await store.queue()] == ["waiting", "claimed"]
        [(handback, agent)] = await store.handoffs("returned")
        assert (handback.outcome, agent.name) == ("returned", "Alice") and handback.ended_at is not None
        user = await store.user_by_name("alice")
        await store.touch_user(user.id)  # "no such column: users.last_seen" before the fix
        assert (await store.user(user.id)).last_seen is not None
        assert len(await store.messages("waiting")) == 1
        assert await store.upgrade() == (head(), head())  # a second run changes nothing
        await store.close()

    asyncio.run(check())


def not_the_trigram_index(item, name, kind, reflected, compare_to) -> bool:
    """PostgreSQL's trigram index on message texts is made by the migration alone (SQLite has no
    such index); every other table, column and index must match the models."""
    return name != TRIGRAM_INDEX


def test_a_new_database_gets_the_newest_schema_and_it_matches_the_models(url):
    async def check():
        store = Store.from_url(url)
        assert await revision(store.engine) is None
        assert await store.upgrade() == (None, head())
        async with store.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_object": not_the_trigram_index}), Base.metadata
                )
            )
        await store.close()
        assert differences == []

    asyncio.run(check())


def test_db_upgrade_command_reports_what_it_did(tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path))
    assert cli.main(["db", "upgrade"]) == 0
    assert f"to {head()}" in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_database_of_the_previous_release_gains_the_knowledge_base(url):
    """Release fbab96c (revision 0005, the knowledge base still in files): its conversations stay,
    and the knowledge base can be imported into it."""
    from alembic import command
    from sqlalchemy import text

    from bot.store import migrate
    from tests.helpers import SAMPLE_ARTICLES, article_text

    async def check():
        store = Store.from_url(url)
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0005"))
            await connection.execute(
                text(
                    "INSERT INTO conversations (id, channel, language, state, created_at, updated_at) "
                    "VALUES ('old', 'api', 'zh', 'waiting', :now, :now)"
                ),
                {"now": NOW},
            )
        assert await store.upgrade() == ("0005", head())
        assert (await store.get_conversation("old")).state == "waiting"
        from knowledge_base.articles import parse_article

        files = [(parse_article(article_text(**a)), article_text(**a)) for a in SAMPLE_ARTICLES]
        report = await store.library.import_articles(files)
        assert report.added == len(SAMPLE_ARTICLES) and await store.library.version() == report.version
        await store.close()

    asyncio.run(check())


def test_a_database_of_the_previous_release_can_be_reviewed(url):
    """Release 4a09ff1 (revision 0006): its conversations upgrade in place, are listed for review
    (their outcome read off their handoffs) and can be labelled."""
    from alembic import command
    from sqlalchemy import text

    from bot.store import migrate
    from bot.store.review import ConversationFilter

    async def check():
        store = Store.from_url(url)
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0006"))
            await connection.execute(
                text(
                    "INSERT INTO conversations (id, channel, language, state, created_at, updated_at) "
                    "VALUES ('old', 'telegram', 'zh', 'bot', :now, :now)"
                ),
                {"now": NOW},
            )
            await connection.execute(
                text(
                    "INSERT INTO messages (conversation_id, role, channel, text, data, created_at) "
                    "VALUES ('old', 'user', 'telegram', '宽带坏了', '{}', :now)"
                ),
                {"now": NOW},
            )
            await connection.execute(
                text(
                    "INSERT INTO handoffs (conversation_id, reason, created_at, ended_at, outcome) "
                    "VALUES ('old', 'low_confidence', :now, :now, 'cancelled')"
                ),
                {"now": NOW},
            )
            await connection.execute(
                text(
                    "INSERT INTO users (username, name, role, password_hash, active, created_at) "
                    "VALUES ('rita', 'Rita', 'reviewer', 'x', true, :now)"
                ),
                {"now": NOW},
            )
        assert await store.upgrade() == ("0006", head())
        page = await store.review.page(ConversationFilter(outcome="abandoned", language="zh"))
        assert [(row.conversation.id, row.first_question, row.outcome) for row in page.rows] == [
            ("old", "宽带坏了", "abandoned")
        ]
        rita = await store.user_by_name("rita")
        await store.review.add_label("old", rita.id, "missing_article", comment="no broadband article")
        assert (await store.review.page(ConversationFilter(reviewed=True))).total == 1
        await store.close()

    asyncio.run(check())


def test_staff_of_the_previous_release_sign_in_after_the_upgrade(url):
    """Release 81ec39e (revision 0007) kept sessions in the cookie alone: after the upgrade its
    staff sign in again, get a session the server keeps, and signing out ends it."""
    from datetime import timedelta

    from alembic import command

    from bot.auth import hash_password
    from bot.store import migrate

    async def check():
        store = Store.from_url(url)
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0007"))
        await store.add_user("rita", "Rita", "reviewer", hash_password("a password of rita"))
        assert await store.upgrade() == ("0007", head())
        rita = await store.user_by_name("rita")
        token = await store.start_staff_session(rita.id)
        assert (await store.staff_session_user(token, timedelta(hours=12))).username == "rita"
        await store.end_staff_session(token)
        assert await store.staff_session_user(token, timedelta(hours=12)) is None
        await store.close()

    asyncio.run(check())

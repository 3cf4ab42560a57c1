"""The schemas earlier releases made with `create_all`, frozen here as they were, so that a test
can make the database a user of that release has and upgrade it."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text

TIME = DateTime(timezone=True)


def release_schema(release: str) -> MetaData:
    """ "46b4ceb" (the desk's first part) or "5d0ee52" (the release before migrations)."""
    metadata = MetaData()
    Table(
        "conversations", metadata,
        Column("id", String(160), primary_key=True), Column("channel", String(32), nullable=False),
        Column("language", String(8), nullable=False), Column("status", String(16), nullable=False),
        Column("handoff_reason", String(40)), Column("created_at", TIME, nullable=False),
        Column("updated_at", TIME, nullable=False),
    )  # fmt: skip
    Table(
        "messages", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", ForeignKey("conversations.id"), index=True, nullable=False),
        Column("role", String(16), nullable=False), Column("channel", String(32), nullable=False),
        Column("text", Text, nullable=False), Column("article_id", String(120)), Column("score", Float),
        Column("data", JSON, nullable=False), Column("created_at", TIME, nullable=False),
    )  # fmt: skip
    Table(
        "handoffs", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", ForeignKey("conversations.id"), index=True, nullable=False),
        Column("reason", String(40), nullable=False), Column("created_at", TIME, nullable=False),
    )  # fmt: skip
    users = [
        Column("id", Integer, primary_key=True, autoincrement=True), Column("username", String(64), unique=True),
        Column("name", String(120), nullable=False), Column("role", String(16), nullable=False),
        Column("password_hash", String(255), nullable=False), Column("active", Boolean, nullable=False),
        Column("created_at", TIME, nullable=False),
    ]  # fmt: skip
    if release == "5d0ee52":
        users.append(Column("last_seen", TIME))
    Table("users", metadata, *users)
    if release == "5d0ee52":
        Table(
            "tickets", metadata,
            Column("handoff_id", ForeignKey("handoffs.id"), primary_key=True),
            Column("created_at", TIME, nullable=False),
        )  # fmt: skip
    Table(
        "claims", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("handoff_id", ForeignKey("handoffs.id"), unique=True, nullable=False),
        Column("agent_id", ForeignKey("users.id"), index=True, nullable=False),
        Column("claimed_at", TIME, nullable=False), Column("ended_at", TIME), Column("outcome", String(16)),
    )  # fmt: skip
    Table(
        "notes", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", ForeignKey("conversations.id"), index=True, nullable=False),
        Column("author_id", ForeignKey("users.id"), nullable=False), Column("text", Text, nullable=False),
        Column("created_at", TIME, nullable=False),
    )  # fmt: skip
    Table(
        "feedback", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", ForeignKey("conversations.id"), index=True, nullable=False),
        Column("article_id", String(120), nullable=False), Column("helpful", Boolean, nullable=False),
        Column("created_at", TIME, nullable=False),
    )  # fmt: skip
    Table(
        "channel_events", metadata,
        Column("key", String(255), primary_key=True), Column("created_at", TIME, nullable=False),
    )  # fmt: skip
    return metadata

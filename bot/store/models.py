"""The tables: conversations and their messages, handoffs, staff, claims, notes, feedback, and
the knowledge base's articles with their revisions and publications.

The schema changes only through the migrations beside this file (`touchpoint db upgrade`); these
classes describe the newest revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """A stored time as the APIs write it: ISO 8601 with its zone (None stays None)."""
    return aware(moment).isoformat() if moment else None


CHANNELS = ("telegram", "widget", "api", "cli")  # where a conversation can take place
AGENT_RATING = "handoff:"  # Feedback.article_id of a user's rating of an agent: "handoff:<handoff id>"


def agent_rating(handoff_id: int) -> str:
    return f"{AGENT_RATING}{handoff_id}"


def rated_handoff(article_id: str) -> int | None:
    """The handoff whose agent a Feedback row rates; None for a rating of an answer."""
    number = article_id.removeprefix(AGENT_RATING)
    return int(number) if article_id.startswith(AGENT_RATING) and number.isdigit() else None


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    """One user's chat in one channel. `state` is written by `bot.conversations` only."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="en")
    state: Mapped[str] = mapped_column(String(16), default="bot")
    user_name: Mapped[str | None] = mapped_column(String(120), nullable=True)  # where the channel gives one
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # API clients' conversation token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", name="fk_conversations_reviewed_by"), nullable=True
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_article_conversation", "article_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | bot | agent | system
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    article_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Handoff(Base):
    """A request for a person, from the moment it is made until it is ended: by the agent
    (returned, closed), by the user (cancelled), or at once when nobody was online (no_agent)."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)


class User(Base):
    """A member of staff: agent, curator, reviewer or admin (admin may do everything)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # console open
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffSession(Base):
    """A member of staff's sign-in. The cookie carries a random token, the database its hash: signing
    out (or a new password) ends the session here, so a copy of the cookie stops working."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignInFailure(Base):
    """Wrong passwords in a row for one account or from one address, and until when it is locked out."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:NAME" or "address:IP"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Ticket(Base):
    """A handoff the user chose to leave a message for, because nobody was online or the wait was long."""

    __tablename__ = "tickets"

    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Claim(Base):
    """An agent taking a handoff. One claim per handoff, enforced by the unique key, so two
    agents (even on two app instances) can never own the same conversation."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_agent_handoff", "agent_id", "handoff_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # returned | closed | user_left


class Note(Base):
    """An agent's internal note on a conversation: never shown to the user."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """A user's rating: of an answer (`article_id`), or of an agent (`agent_rating(handoff id)`)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    article_id: Mapped[str] = mapped_column(String(120), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelEvent(Base):
    """An inbound event a channel has taken on (a Telegram update, a widget message), so that a
    redelivery is recognised and handled once. The key is unique across app instances."""

    __tablename__ = "channel_events"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When its handling finished; None while it is handled, or if the process died meanwhile.
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StoredArticle(Base):
    """A knowledge-base article in one language: the zh and en versions of one article share
    its id. Its content is in its revisions: `head` is the newest, `live` the one users are
    answered with (None while it is a draft or archived)."""

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # draft | published | archived
    head: Mapped[int] = mapped_column(Integer)
    live: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class ArticleRevision(Base):
    """One saved version of an article, never changed afterwards. `source` is the file text an
    imported revision came from, so that an export gives back the same bytes."""

    __tablename__ = "article_revisions"
    __table_args__ = (UniqueConstraint("article_id", "language", "number", name="uq_article_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)  # None: the command line
    action: Mapped[str] = mapped_column(String(16))  # import | save | restore | suggestion
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Publication(Base):
    """A change to what the bot answers with: an article published, unpublished, archived, or a
    whole import. The knowledge base's version is the newest publication's id, which every
    action server watches to reload."""

    __tablename__ = "publications"
    __table_args__ = (Index("ix_publications_article", "article_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str | None] = mapped_column(String(120), nullable=True)  # None: an import
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # publish | unpublish | archive | import
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexStatus(Base):
    """What one action-server process serves: the knowledge-base version its index was built
    from, and why its last build failed, if it did. Shown on the curation pages."""

    __tablename__ = "index_status"

    worker: Mapped[str] = mapped_column(String(160), primary_key=True)  # host:pid
    version: Mapped[int] = mapped_column(Integer, default=0)
    articles: Mapped[int] = mapped_column(Integer, default=0)
    failed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    build_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SuggestionDecision(Base):
    """What a curator did with a question from the suggestions inbox (keyed by the user's
    message): added it to an article, started an article from it, or dismissed it."""

    __tablename__ = "suggestion_decisions"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))  # added | new_article | dismissed
    article_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewLabel(Base):
    """A reviewer's verdict on a conversation, or on one question in it (`message_id`, the user's
    message): the bot was right, should have answered with `article_id`, a missing article, an
    agent issue, or other; with a comment."""

    __tablename__ = "review_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    label: Mapped[str] = mapped_column(String(24))  # bot_right | should_answer | missing_article | agent_issue | other
    article_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reveal(Base):
    """A member of staff was shown a conversation's personal data unredacted: who, and when."""

    __tablename__ = "reveals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(160), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Conversation storage: every user, bot and agent message, handoffs and feedback.

SQLAlchemy on SQLite by default or PostgreSQL. The gateway writes a user message before it
asks the bot and each bot message before it returns the reply, so nothing said is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="bot")  # bot | handoff
    handoff_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    __tablename__ = "messages"

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
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    article_id: Mapped[str] = mapped_column(String(120))
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelEvent(Base):
    """An inbound event a channel has taken on (a Telegram update, a widget message), so that a
    redelivery is recognised and handled once. The key is unique across app instances."""

    __tablename__ = "channel_events"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Store:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_async_engine(url))

    async def create_schema(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(1))

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        async with self._sessions() as session:
            return await session.get(Conversation, conversation_id)

    async def open_conversation(self, conversation_id: str, channel: str, language: str) -> Conversation:
        """Return the conversation, creating it on its first message; keep its language current."""
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                conversation = Conversation(id=conversation_id, channel=channel, language=language)
                session.add(conversation)
            else:
                conversation.language = language
                conversation.updated_at = utcnow()
            return conversation

    async def set_language(self, conversation_id: str, language: str) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is not None:
                conversation.language = language

    async def claim_event(self, key: str) -> bool:
        """Record an inbound event; False when it was recorded before (a redelivery)."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(ChannelEvent(key=key))
        except IntegrityError:
            return False
        return True

    async def release_event(self, key: str) -> None:
        """Forget an event whose handling failed, so that its redelivery is handled."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ChannelEvent).where(ChannelEvent.key == key))

    async def add_messages(self, conversation_id: str, messages: list[Message]) -> None:
        async with self._sessions() as session, session.begin():
            for message in messages:
                message.conversation_id = conversation_id
                session.add(message)
            conversation = await session.get(Conversation, conversation_id)
            conversation.updated_at = utcnow()

    async def hand_off(self, conversation_id: str, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation.status == "handoff":
                return
            conversation.status = "handoff"
            conversation.handoff_reason = reason
            session.add(Handoff(conversation_id=conversation_id, reason=reason))

    async def add_feedback(self, conversation_id: str, article_id: str, helpful: bool) -> None:
        async with self._sessions() as session, session.begin():
            session.add(Feedback(conversation_id=conversation_id, article_id=article_id, helpful=helpful))

    async def messages(self, conversation_id: str) -> list[Message]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
            )
            return list(result)

    async def feedback(self, conversation_id: str) -> list[Feedback]:
        async with self._sessions() as session:
            result = await session.scalars(
                select(Feedback).where(Feedback.conversation_id == conversation_id).order_by(Feedback.id)
            )
            return list(result)

"""Conversation storage: every user, bot and agent message, handoffs and feedback.

SQLAlchemy on SQLite by default or PostgreSQL. The gateway writes a user message before it
asks the bot and each bot message before it returns the reply, so nothing said is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, delete, func, select
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


class Ticket(Base):
    """A handoff made while no agent was online: the user was asked to leave a message."""

    __tablename__ = "tickets"

    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Claim(Base):
    """An agent taking a handoff. One claim per handoff, enforced by the unique key, so two
    agents (even on two app instances) can never own the same conversation."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # returned | closed


class Note(Base):
    """An agent's internal note on a conversation: never shown to the user."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
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

    # --- staff -----------------------------------------------------------------------------

    async def add_user(self, username: str, name: str, role: str, password_hash: str) -> User:
        """Raises ValueError if the username is taken."""
        user = User(username=username, name=name, role=role, password_hash=password_hash)
        try:
            async with self._sessions() as session, session.begin():
                session.add(user)
        except IntegrityError:
            raise ValueError(f"there is already a user '{username}'") from None
        return user

    async def set_password(self, username: str, password_hash: str) -> bool:
        async with self._sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                return False
            user.password_hash = password_hash
            return True

    async def user_by_name(self, username: str) -> User | None:
        async with self._sessions() as session:
            return await session.scalar(select(User).where(User.username == username))

    async def user(self, user_id: int) -> User | None:
        async with self._sessions() as session:
            return await session.get(User, user_id)

    async def touch_user(self, user_id: int) -> None:
        async with self._sessions() as session, session.begin():
            user = await session.get(User, user_id)
            if user is not None:
                user.last_seen = utcnow()

    async def agents_online(self, within: timedelta) -> int:
        """Agents (and admins) with the console open: seen within `within`."""
        async with self._sessions() as session:
            return await session.scalar(
                select(func.count(User.id)).where(
                    User.active.is_(True), User.role.in_(("agent", "admin")), User.last_seen >= utcnow() - within
                )
            )

    async def open_ticket(self, conversation_id: str) -> None:
        """Mark the conversation's current handoff as a ticket (nobody was online)."""
        async with self._sessions() as session, session.begin():
            handoff_id = await session.scalar(
                select(func.max(Handoff.id)).where(Handoff.conversation_id == conversation_id)
            )
            if handoff_id is not None and await session.get(Ticket, handoff_id) is None:
                session.add(Ticket(handoff_id=handoff_id))

    async def users(self) -> list[User]:
        async with self._sessions() as session:
            return list(await session.scalars(select(User).order_by(User.username)))

    # --- the handoff desk --------------------------------------------------------------------

    async def open_handoff(self, conversation_id: str) -> tuple[Handoff, Claim | None] | None:
        """The conversation's handoff in progress and its claim, if it is handed off."""
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.status != "handoff":
                return None
            handoff = await session.scalar(
                select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc()).limit(1)
            )
            if handoff is None:
                return None
            claim = await session.scalar(select(Claim).where(Claim.handoff_id == handoff.id))
            return handoff, claim

    async def queue(self) -> list[tuple[Conversation, Handoff, Claim | None, User | None, Ticket | None]]:
        """Handed-off conversations, oldest handoff first, with their claim, agent and ticket."""
        latest = (
            select(Handoff.conversation_id, func.max(Handoff.id).label("handoff_id"))
            .group_by(Handoff.conversation_id)
            .subquery()
        )
        query = (
            select(Conversation, Handoff, Claim, User, Ticket)
            .join(latest, latest.c.conversation_id == Conversation.id)
            .join(Handoff, Handoff.id == latest.c.handoff_id)
            .outerjoin(Claim, Claim.handoff_id == Handoff.id)
            .outerjoin(User, User.id == Claim.agent_id)
            .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
            .where(Conversation.status == "handoff")
            .order_by(Handoff.created_at, Handoff.id)
        )
        async with self._sessions() as session:
            return [tuple(row) for row in await session.execute(query)]

    async def claim(self, handoff_id: int, agent_id: int) -> bool:
        """Take a handoff; False if another agent has it (or had it) already."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(Claim(handoff_id=handoff_id, agent_id=agent_id))
        except IntegrityError:
            return False
        return True

    async def end_handoff(self, conversation_id: str, agent_id: int, outcome: str) -> bool:
        """The owning agent hands the conversation back to the bot or closes it; False if they
        do not own it (any more)."""
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.status != "handoff":
                return False
            claim = await session.scalar(
                select(Claim)
                .join(Handoff, Handoff.id == Claim.handoff_id)
                .where(Handoff.conversation_id == conversation_id, Claim.ended_at.is_(None))
                .order_by(Claim.id.desc())
                .limit(1)
            )
            if claim is None or claim.agent_id != agent_id:
                return False
            claim.ended_at = utcnow()
            claim.outcome = outcome
            conversation.status = "bot"
            conversation.handoff_reason = None
            return True

    async def last_ended_handoff(self, conversation_id: str) -> int | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Handoff.id)
                .join(Claim, Claim.handoff_id == Handoff.id)
                .where(Handoff.conversation_id == conversation_id, Claim.ended_at.is_not(None))
                .order_by(Handoff.id.desc())
                .limit(1)
            )

    async def cancel_handoff(self, conversation_id: str) -> None:
        """The user went back to the bot before anyone took the conversation."""
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is not None and conversation.status == "handoff":
                conversation.status = "bot"
                conversation.handoff_reason = None

    async def add_note(self, conversation_id: str, author_id: int, text: str) -> Note:
        note = Note(conversation_id=conversation_id, author_id=author_id, text=text)
        async with self._sessions() as session, session.begin():
            session.add(note)
        return note

    async def notes(self, conversation_id: str) -> list[tuple[Note, User]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Note, User)
                .join(User, User.id == Note.author_id)
                .where(Note.conversation_id == conversation_id)
                .order_by(Note.id)
            )
            return [tuple(row) for row in rows]

"""Reading and writing the conversation store, on SQLite by default or PostgreSQL.

`Store.transaction()` hands out a `Tx`: one database transaction with the queries a turn or a
desk action needs, so that a user's message is one transaction and the reply another. The
conversation's state is changed by `bot.conversations` only, through a Tx.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, make_url, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot import redaction
from bot.store import migrate
from bot.store.analytics import Analytics
from bot.store.library import Library, Suggestions
from bot.store.models import (
    ChannelEvent,
    Claim,
    Conversation,
    Feedback,
    Handoff,
    Message,
    Note,
    SignInFailure,
    StaffSession,
    Ticket,
    User,
    aware,
    utcnow,
)
from bot.store.review import Review

RECENT_ATTEMPTS = 3  # the bot's last answers shown with a queued conversation


@dataclass(frozen=True)
class OpenHandoff:
    """A conversation's handoff in progress, with its claim (while an agent has it) and ticket."""

    handoff: Handoff
    claim: Claim | None
    ticket: Ticket | None

    @property
    def agent_id(self) -> int | None:
        return self.claim.agent_id if self.claim and self.claim.ended_at is None else None


@dataclass(frozen=True)
class Attempt:
    article_id: str
    title: str | None
    score: float | None


@dataclass(frozen=True)
class QueueEntry:
    """A row of the desk's queue: an open handoff and what an agent needs to pick it up."""

    conversation: Conversation
    handoff: Handoff
    agent: User | None
    ticket: bool
    last_message: str
    attempts: list[Attempt]


class HandoffAlreadyClaimed(Exception):
    """Another agent took the handoff first (the claims table's unique key said so)."""


class Tx:
    """One database transaction. With `redact`, personal data in messages and notes is replaced
    before they are stored (TOUCHPOINT_REDACT_AT_REST)."""

    def __init__(self, session: AsyncSession, redact: bool = False):
        self.session = session
        self._redact = redact

    # --- conversations and messages --------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, its row locked until the transaction ends (PostgreSQL), so that two
        transitions of one conversation (an agent's claim, the user's "back") never interleave."""
        return await self.session.scalar(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        )

    async def add_conversation(self, conversation_id: str, channel: str, language: str) -> Conversation:
        conversation = Conversation(id=conversation_id, channel=channel, language=language, state="bot")
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    def add_messages(self, conversation: Conversation, messages: list[Message]) -> None:
        for message in messages:
            if self._redact:
                message.text = redaction.redact(message.text)
            message.conversation_id = conversation.id
            message.created_at = message.created_at or utcnow()
            self.session.add(message)
        conversation.updated_at = utcnow()

    def add_feedback(self, conversation_id: str, article_id: str, helpful: bool) -> None:
        self.session.add(Feedback(conversation_id=conversation_id, article_id=article_id, helpful=helpful))

    # --- handoffs --------------------------------------------------------------------------

    async def open_handoff(self, conversation_id: str) -> OpenHandoff | None:
        row = (
            await self.session.execute(
                select(Handoff, Claim, Ticket)
                .outerjoin(Claim, Claim.handoff_id == Handoff.id)
                .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
                .where(Handoff.conversation_id == conversation_id, Handoff.ended_at.is_(None))
                .order_by(Handoff.id.desc())
                .limit(1)
            )
        ).first()
        return OpenHandoff(*row) if row else None

    async def start_handoff(self, conversation_id: str, reason: str, *, outcome: str | None = None) -> Handoff:
        """A new handoff; with `outcome` it is recorded as ended at once (nobody was online)."""
        now = utcnow()
        handoff = Handoff(
            conversation_id=conversation_id,
            reason=reason,
            created_at=now,
            ended_at=now if outcome else None,
            outcome=outcome,
        )
        self.session.add(handoff)
        await self.session.flush()
        return handoff

    @staticmethod
    def end_handoff(handoff: Handoff, outcome: str) -> None:
        handoff.ended_at = utcnow()
        handoff.outcome = outcome

    def add_ticket(self, handoff: Handoff) -> None:
        self.session.add(Ticket(handoff_id=handoff.id))

    async def claim(self, handoff: Handoff, agent_id: int) -> Claim:
        """Raises HandoffAlreadyClaimed if another agent has (or had) it."""
        claim = Claim(handoff_id=handoff.id, agent_id=agent_id)
        try:
            async with self.session.begin_nested():
                self.session.add(claim)
        except IntegrityError:
            raise HandoffAlreadyClaimed(handoff.id) from None
        return claim

    async def last_reason(self, conversation_id: str) -> str | None:
        return await self.session.scalar(
            select(Handoff.reason)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
            .limit(1)
        )

    async def last_ended_claim(self, conversation_id: str) -> Handoff | None:
        """The handoff an agent last ended (the one a "did they help?" rates)."""
        return await self.session.scalar(
            select(Handoff)
            .join(Claim, Claim.handoff_id == Handoff.id)
            .where(Handoff.conversation_id == conversation_id, Claim.ended_at.is_not(None))
            .order_by(Handoff.id.desc())
            .limit(1)
        )

    async def user_messages_since(self, conversation_id: str, since: datetime) -> int:
        return await self.session.scalar(
            select(func.count(Message.id)).where(
                Message.conversation_id == conversation_id, Message.role == "user", Message.created_at > since
            )
        )

    async def position(self, handoff: Handoff) -> int:
        """The handoff's place among the unclaimed open ones (1 is next), tickets aside."""
        ahead = await self.session.scalar(
            select(func.count(Handoff.id))
            .outerjoin(Claim, Claim.handoff_id == Handoff.id)
            .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
            .where(
                Handoff.ended_at.is_(None),
                Claim.id.is_(None),
                Ticket.handoff_id.is_(None),
                Handoff.id < handoff.id,
            )
        )
        return int(ahead or 0) + 1

    async def agents_online(self, within: timedelta) -> int:
        """Agents (and admins) with the console open: seen within `within`."""
        return await self.session.scalar(
            select(func.count(User.id)).where(
                User.active.is_(True), User.role.in_(("agent", "admin")), User.last_seen >= utcnow() - within
            )
        )

    async def agent(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def waited_too_long(self, timeout: timedelta, marker: str) -> list[tuple[Conversation, Handoff]]:
        """Unclaimed waiting handoffs with no ticket whose last offer (a message with data kind
        `marker`), or whose start, is older than `timeout`."""
        waiting = select(Conversation.id).where(Conversation.state == "waiting")
        last_offer = (
            select(Message.conversation_id, func.max(Message.created_at).label("at"))
            .where(Message.conversation_id.in_(waiting))  # not every notice ever sent
            .where(Message.role == "system", Message.data["kind"].as_string() == marker)
            .group_by(Message.conversation_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(Conversation, Handoff, last_offer.c.at)
            .join(Handoff, Handoff.conversation_id == Conversation.id)
            .outerjoin(Claim, Claim.handoff_id == Handoff.id)
            .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
            .outerjoin(last_offer, last_offer.c.conversation_id == Conversation.id)
            .where(Handoff.ended_at.is_(None), Claim.id.is_(None), Ticket.handoff_id.is_(None))
            .where(Conversation.state == "waiting")
        )
        now = utcnow()
        due = []
        for conversation, handoff, offered_at in rows:
            since = max(aware(handoff.created_at), aware(offered_at) if offered_at else aware(handoff.created_at))
            if now - since >= timeout:
                due.append((conversation, handoff))
        return due

    def add_note(self, conversation_id: str, author_id: int, text: str) -> Note:
        text = redaction.redact(text) if self._redact else text
        note = Note(conversation_id=conversation_id, author_id=author_id, text=text, created_at=utcnow())
        self.session.add(note)
        return note


class Store:
    def __init__(self, engine: AsyncEngine, *, redact_at_rest: bool = False):
        self.engine = engine
        self.redact_at_rest = redact_at_rest
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.library = Library(self._sessions)
        self.suggestions = Suggestions(self._sessions)
        self.review = Review(self._sessions)
        self.analytics = Analytics(self._sessions)

    @classmethod
    def from_url(cls, url: str, *, redact_at_rest: bool = False) -> Store:
        options = {}
        if make_url(url).get_driver_name() == "asyncpg":
            # PostgreSQL's JIT compiles any query it guesses is expensive, for 100-200 ms: more than
            # the review list's searches take without it (measured at 1M messages).
            options["connect_args"] = {"server_settings": {"jit": "off"}}
        return cls(create_async_engine(url, **options), redact_at_rest=redact_at_rest)

    @property
    def url(self) -> str:
        """The database's URL, password included, for another process to connect with."""
        return self.engine.url.render_as_string(hide_password=False)

    async def upgrade(self) -> tuple[str | None, str]:
        """Migrate the database to the newest schema (a new database gets every table)."""
        return await migrate.upgrade(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(select(1))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._sessions() as session, session.begin():
            yield Tx(session, self.redact_at_rest)

    # --- reads ------------------------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        async with self._sessions() as session:
            return await session.get(Conversation, conversation_id)

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

    async def open_handoff(self, conversation_id: str) -> OpenHandoff | None:
        async with self._sessions() as session:
            return await Tx(session).open_handoff(conversation_id)

    async def handoffs(self, conversation_id: str) -> list[tuple[Handoff, User | None]]:
        """Every handoff of the conversation, oldest first, with the agent who took it."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Handoff, User)
                .outerjoin(Claim, Claim.handoff_id == Handoff.id)
                .outerjoin(User, User.id == Claim.agent_id)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.id)
            )
            return [(handoff, user) for handoff, user in rows]

    async def queue(self) -> list[QueueEntry]:
        """Open handoffs, oldest first, in three queries whatever the queue's length."""
        async with self._sessions() as session:
            rows = list(
                await session.execute(
                    select(Conversation, Handoff, Claim, User, Ticket)
                    .join(Handoff, Handoff.conversation_id == Conversation.id)
                    .outerjoin(Claim, and_(Claim.handoff_id == Handoff.id, Claim.ended_at.is_(None)))
                    .outerjoin(User, User.id == Claim.agent_id)
                    .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
                    .where(Handoff.ended_at.is_(None))
                    .order_by(Handoff.created_at, Handoff.id)
                )
            )
            ids = [conversation.id for conversation, *_ in rows]
            last_messages, attempts = await self._last_user_messages(session, ids), await self._attempts(session, ids)
        return [
            QueueEntry(
                conversation=conversation,
                handoff=handoff,
                agent=agent if claim else None,
                ticket=ticket is not None,
                last_message=last_messages.get(conversation.id, ""),
                attempts=attempts.get(conversation.id, []),
            )
            for conversation, handoff, claim, agent, ticket in rows
        ]

    @staticmethod
    async def _last_user_messages(session: AsyncSession, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        last = (
            select(func.max(Message.id))
            .where(Message.conversation_id.in_(ids), Message.role == "user")
            .group_by(Message.conversation_id)
        )
        rows = await session.execute(select(Message.conversation_id, Message.text).where(Message.id.in_(last)))
        return {conversation_id: text for conversation_id, text in rows}

    @staticmethod
    async def _attempts(session: AsyncSession, ids: list[str]) -> dict[str, list[Attempt]]:
        """The bot's last RECENT_ATTEMPTS answers in each conversation, oldest first."""
        if not ids:
            return {}
        ranked = (
            select(
                Message.conversation_id,
                Message.article_id,
                Message.score,
                Message.data,
                func.row_number()
                .over(partition_by=Message.conversation_id, order_by=Message.id.desc())
                .label("recent"),
            )
            .where(Message.conversation_id.in_(ids), Message.role == "bot", Message.article_id.is_not(None))
            .subquery()
        )
        rows = await session.execute(select(ranked).where(ranked.c.recent <= RECENT_ATTEMPTS))
        attempts: dict[str, list[Attempt]] = {}
        for row in sorted(rows, key=lambda r: -r.recent):
            attempts.setdefault(row.conversation_id, []).append(
                Attempt(row.article_id, (row.data or {}).get("title"), row.score)
            )
        return attempts

    async def find_conversations(self, text: str, limit: int = 20) -> list[tuple[Conversation, Handoff]]:
        """Conversations that were handed off, newest first, with their latest handoff, open or
        ended: all of them, or those whose id, user's name or any message contains `text`."""
        latest = (
            select(Handoff.conversation_id, func.max(Handoff.id).label("handoff_id"))
            .group_by(Handoff.conversation_id)
            .subquery()
        )
        query = (
            select(Conversation, Handoff)
            .join(latest, latest.c.conversation_id == Conversation.id)
            .join(Handoff, Handoff.id == latest.c.handoff_id)
            .order_by(Conversation.updated_at.desc())
            .limit(limit)
        )
        if text:
            pattern = f"%{text}%"
            said = select(Message.id).where(Message.conversation_id == Conversation.id, Message.text.ilike(pattern))
            query = query.where(Conversation.id.ilike(pattern) | Conversation.user_name.ilike(pattern) | said.exists())
        async with self._sessions() as session:
            return [(conversation, handoff) for conversation, handoff in await session.execute(query)]

    async def notes(self, conversation_id: str) -> list[tuple[Note, User]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Note, User)
                .join(User, User.id == Note.author_id)
                .where(Note.conversation_id == conversation_id)
                .order_by(Note.id)
            )
            return [(note, user) for note, user in rows]

    async def set_language(self, conversation_id: str, language: str) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is not None:
                conversation.language = language

    async def set_token(self, conversation_id: str, token_hash: str) -> bool:
        """Give the conversation its token unless it has one; False if another client was first."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.token_hash.is_(None))
                .values(token_hash=token_hash)
            )
            return result.rowcount == 1

    # --- inbound channel events -----------------------------------------------------------

    async def claim_event(
        self, key: str, *, forget_after: timedelta | None = None, abandoned_after: timedelta | None = None
    ) -> bool:
        """Record an inbound event; False when it was recorded before (a redelivery). With
        `forget_after`, an event recorded longer ago than that is another one that reuses its key
        (the sender never redelivers so late), and is claimed anew. With `abandoned_after`, an
        event claimed longer ago than that and never marked done (`event_done`) was abandoned by a
        process that died while handling it, and is claimed again. One claimant wins."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(ChannelEvent(key=key))
        except IntegrityError:
            stale = []
            if forget_after is not None:
                stale.append(ChannelEvent.created_at < utcnow() - forget_after)
            if abandoned_after is not None:
                stale.append(and_(ChannelEvent.done_at.is_(None), ChannelEvent.created_at < utcnow() - abandoned_after))
            if not stale:
                return False
            async with self._sessions() as session, session.begin():
                renewed = await session.execute(
                    update(ChannelEvent)
                    .where(ChannelEvent.key == key, or_(*stale))
                    .values(created_at=utcnow(), done_at=None)
                )
            return renewed.rowcount == 1
        return True

    async def event_done(self, key: str) -> None:
        """The event's handling finished: a redelivery is never handled again."""
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChannelEvent).where(ChannelEvent.key == key).values(done_at=utcnow()))

    async def release_event(self, key: str) -> None:
        """Forget an event whose handling failed, so that its redelivery is handled."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ChannelEvent).where(ChannelEvent.key == key))

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
        """A new password also ends every session the user has open."""
        async with self._sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                return False
            user.password_hash = password_hash
            await session.execute(
                update(StaffSession)
                .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
            return True

    async def start_staff_session(self, user_id: int) -> str:
        """A new session for the user; returns the token for the cookie (the database keeps its hash)."""
        token = secrets.token_urlsafe(32)
        async with self._sessions() as session, session.begin():
            session.add(StaffSession(id=_token_hash(token), user_id=user_id))
        return token

    async def staff_session_user(self, token: str, max_age: timedelta) -> User | None:
        """The active user whose session `token` names, if it has not ended nor outlived `max_age`."""
        async with self._sessions() as session:
            return await session.scalar(
                select(User)
                .join(StaffSession, StaffSession.user_id == User.id)
                .where(
                    StaffSession.id == _token_hash(token),
                    StaffSession.ended_at.is_(None),
                    StaffSession.created_at > utcnow() - max_age,
                    User.active.is_(True),
                )
            )

    async def end_staff_session(self, token: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(StaffSession).where(StaffSession.id == _token_hash(token)).values(ended_at=utcnow())
            )

    async def sign_in_locked_until(self, keys: list[str]) -> datetime | None:
        """The latest time until which any of `keys` is locked out, if it is still to come."""
        async with self._sessions() as session:
            until = await session.scalar(
                select(func.max(SignInFailure.locked_until)).where(SignInFailure.key.in_(keys))
            )
        until = aware(until) if until is not None else None
        return until if until is not None and until > utcnow() else None

    async def record_sign_in_failure(
        self, key: str, lock: Callable[[int], timedelta | None], forget: timedelta
    ) -> None:
        """Count a wrong password for `key` (failures older than `forget` are forgotten first) and lock
        it for `lock(failures)`, when that gives a time."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            row = await session.get(SignInFailure, key, with_for_update=True)
            if row is None:
                row = SignInFailure(key=key, failures=0, last_at=now)
                session.add(row)
            elif aware(row.last_at) < now - forget:
                row.failures = 0
            row.failures += 1
            row.last_at = now
            if (duration := lock(row.failures)) is not None:
                row.locked_until = now + duration

    async def clear_sign_in_failures(self, keys: list[str]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(SignInFailure).where(SignInFailure.key.in_(keys)))

    async def user_by_name(self, username: str) -> User | None:
        async with self._sessions() as session:
            return await session.scalar(select(User).where(User.username == username))

    async def user(self, user_id: int) -> User | None:
        async with self._sessions() as session:
            return await session.get(User, user_id)

    async def users(self) -> list[User]:
        async with self._sessions() as session:
            return list(await session.scalars(select(User).order_by(User.username)))

    async def touch_user(self, user_id: int) -> None:
        async with self._sessions() as session, session.begin():
            user = await session.get(User, user_id)
            if user is not None:
                user.last_seen = utcnow()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

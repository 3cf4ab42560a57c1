"""Conversations as reviewers read them: a filtered, paginated list; a transcript with why the
bot answered as it did; labels and the "reviewed" mark; exports streamed in batches; and the
deletion of conversations (one user's on request, or all older than the retention period).

Outcomes, as the list filters them (a conversation may be in more than one):

    bot          no person was asked for: the assistant answered everything
    handed_off   a person was asked for (by the user, or the assistant for a reason)
    ticket       the user left a message for the team
    abandoned    a person was asked for, nobody took it and no message was left: the user went
                 back to the assistant (cancelled) or nobody was online (no_agent)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.redaction import redact
from bot.store.models import (
    AGENT_RATING,
    ChannelEvent,
    Claim,
    Conversation,
    Feedback,
    Handoff,
    Message,
    Note,
    Reveal,
    ReviewLabel,
    SuggestionDecision,
    Ticket,
    User,
    aware,
    utcnow,
)

OUTCOMES = ("bot", "handed_off", "ticket", "abandoned")
ABANDONED = ("cancelled", "no_agent")
RATINGS = ("helpful", "not_helpful", "agent_helpful", "agent_not_helpful", "unrated")
LABELS = ("bot_right", "should_answer", "missing_article", "agent_issue", "other")
EXPORT_BATCH = 500
MAX_PAGE = 100


class InvalidLabel(ValueError):
    pass


@dataclass(frozen=True)
class ConversationFilter:
    """What the review list and the exports show. `since` / `until`: conversations active in
    that period (their last message after `since`, their first before `until`)."""

    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    language: str | None = None
    outcome: str | None = None
    reason: str | None = None
    rating: str | None = None
    agent_id: int | None = None
    article_id: str | None = None
    text: str | None = None
    reviewed: bool | None = None
    label: str | None = None


@dataclass
class HandoffView:
    id: int
    reason: str
    created_at: datetime
    ended_at: datetime | None
    outcome: str | None
    agent: str | None
    claimed_at: datetime | None
    ticket: bool

    @property
    def queue_wait(self) -> float | None:
        """Seconds from the request to an agent taking it (None: nobody did)."""
        return (aware(self.claimed_at) - aware(self.created_at)).total_seconds() if self.claimed_at else None


@dataclass
class Summary:
    """A row of the review list."""

    conversation: Conversation
    messages: int = 0
    first_question: str = ""
    handoffs: list[HandoffView] = field(default_factory=list)
    helpful: int = 0
    not_helpful: int = 0
    agent_ratings: list[bool] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    reviewed_by: str | None = None

    @property
    def outcome(self) -> str:
        """The one word the list shows: ticket, abandoned, an agent's name... or bot."""
        if any(h.ticket for h in self.handoffs):
            return "ticket"
        if any(h.agent for h in self.handoffs):
            return "agent"
        if any(h.outcome is None for h in self.handoffs):
            return "waiting"
        if self.handoffs:
            return "abandoned"
        return "bot"


@dataclass
class LabelView:
    id: int
    label: str
    message_id: int | None
    article_id: str | None
    comment: str
    author: str
    created_at: datetime


@dataclass
class Transcript:
    summary: Summary
    messages: list[Message]
    notes: list[tuple[datetime, str, str]]  # when, author, text
    feedback: list[Feedback]
    labels: list[LabelView]


@dataclass(frozen=True)
class Page:
    rows: list[Summary]
    total: int
    page: int
    size: int


@dataclass(frozen=True)
class LabelledQuery:
    """A user's question that a reviewer labelled with the article that answers it (or with
    none: a missing article)."""

    text: str
    language: str
    article_id: str | None
    label: str
    conversation_id: str


def _conditions(where: ConversationFilter) -> list[ColumnElement[bool]]:
    conversation = Conversation.id
    handoff_of = Handoff.conversation_id == conversation
    conditions: list[ColumnElement[bool]] = []
    if where.since is not None:
        conditions.append(Conversation.updated_at >= where.since)
    if where.until is not None:
        conditions.append(Conversation.created_at < where.until)
    if where.channel:
        conditions.append(Conversation.channel == where.channel)
    if where.language:
        conditions.append(Conversation.language == where.language)
    if where.outcome == "bot":
        conditions.append(~exists().where(handoff_of))
    elif where.outcome == "handed_off":
        conditions.append(exists().where(handoff_of))
    elif where.outcome == "ticket":
        conditions.append(exists().where(handoff_of, Ticket.handoff_id == Handoff.id))
    elif where.outcome == "abandoned":
        taken = exists().where(Claim.handoff_id == Handoff.id)
        ticket = exists().where(Ticket.handoff_id == Handoff.id)
        conditions.append(exists().where(handoff_of, Handoff.outcome.in_(ABANDONED), ~taken, ~ticket))
    if where.reason:
        conditions.append(exists().where(handoff_of, Handoff.reason == where.reason))
    if where.rating:
        conditions.append(_rating(where.rating))
    if where.agent_id is not None:
        conditions.append(exists().where(handoff_of, Claim.handoff_id == Handoff.id, Claim.agent_id == where.agent_id))
    if where.article_id:
        conditions.append(
            exists().where(Message.conversation_id == conversation, Message.article_id == where.article_id)
        )
    if where.text:
        # What people wrote (users and agents; the bot's answers are found by their article), or
        # the conversation's id. The roles are literals, so that PostgreSQL's partial trigram
        # index (WHERE role IN ('user', 'agent')) applies to every plan, generic ones included.
        pattern = f"%{_escape_like(where.text)}%"
        said = select(Message.conversation_id).where(
            Message.role.in_([literal_column("'user'"), literal_column("'agent'")]),
            Message.text.ilike(pattern, escape="\\"),
        )
        conditions.append(Conversation.id.in_(union_all(said, select(literal(where.text)))))
    if where.reviewed is not None:
        conditions.append(
            Conversation.reviewed_at.is_not(None) if where.reviewed else Conversation.reviewed_at.is_(None)
        )
    if where.label:
        conditions.append(exists().where(ReviewLabel.conversation_id == conversation, ReviewLabel.label == where.label))
    return conditions


def _rating(rating: str) -> ColumnElement[bool]:
    rated = Feedback.conversation_id == Conversation.id
    of_agent = Feedback.article_id.startswith(AGENT_RATING)
    if rating == "unrated":
        return ~exists().where(rated)
    if rating in ("helpful", "not_helpful"):
        return exists().where(rated, ~of_agent, Feedback.helpful.is_(rating == "helpful"))
    return exists().where(rated, of_agent, Feedback.helpful.is_(rating == "agent_helpful"))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Review:
    def __init__(self, sessions):
        self._sessions = sessions

    # --- the list ---------------------------------------------------------------------------

    async def page(self, where: ConversationFilter, page: int = 1, size: int = 50) -> Page:
        """One page of the conversations `where` selects, the most recently active first."""
        size = max(1, min(size, MAX_PAGE))
        page = max(1, page)
        conditions = _conditions(where)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Conversation).where(*conditions))
            conversations = list(
                await session.scalars(
                    select(Conversation)
                    .where(*conditions)
                    .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
                    .offset((page - 1) * size)
                    .limit(size)
                )
            )
            rows = await self._summaries(session, conversations)
        return Page(rows, int(total or 0), page, size)

    async def _summaries(self, session: AsyncSession, conversations: Sequence[Conversation]) -> list[Summary]:
        """The list's columns for `conversations`, in a fixed number of queries."""
        summaries = {c.id: Summary(c) for c in conversations}
        ids = list(summaries)
        if not ids:
            return []
        counts = await session.execute(
            select(Message.conversation_id, func.count(Message.id), func.min(Message.id).filter(Message.role == "user"))
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        )
        first_ids = {}
        for conversation_id, count, first_id in counts:
            summaries[conversation_id].messages = count
            if first_id is not None:
                first_ids[first_id] = conversation_id
        if first_ids:
            for message_id, text in await session.execute(
                select(Message.id, Message.text).where(Message.id.in_(first_ids))
            ):
                summaries[first_ids[message_id]].first_question = text
        for handoff in await self._handoffs(session, ids):
            summaries[handoff[0]].handoffs.append(handoff[1])
        for conversation_id, article_id, helpful in await session.execute(
            select(Feedback.conversation_id, Feedback.article_id, Feedback.helpful)
            .where(Feedback.conversation_id.in_(ids))
            .order_by(Feedback.id)
        ):
            summary = summaries[conversation_id]
            if article_id.startswith(AGENT_RATING):
                summary.agent_ratings.append(helpful)
            elif helpful:
                summary.helpful += 1
            else:
                summary.not_helpful += 1
        for conversation_id, label in await session.execute(
            select(ReviewLabel.conversation_id, ReviewLabel.label)
            .where(ReviewLabel.conversation_id.in_(ids))
            .order_by(ReviewLabel.id)
        ):
            summaries[conversation_id].labels.append(label)
        reviewers = {c.reviewed_by for c in conversations if c.reviewed_by is not None}
        if reviewers:
            names = {i: n for i, n in await session.execute(select(User.id, User.name).where(User.id.in_(reviewers)))}
            for summary in summaries.values():
                summary.reviewed_by = names.get(summary.conversation.reviewed_by)
        return list(summaries.values())

    @staticmethod
    async def _handoffs(session: AsyncSession, ids: list[str]) -> list[tuple[str, HandoffView]]:
        rows = await session.execute(
            select(Handoff, Claim.claimed_at, User.name, Ticket.handoff_id)
            .outerjoin(Claim, Claim.handoff_id == Handoff.id)
            .outerjoin(User, User.id == Claim.agent_id)
            .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
            .where(Handoff.conversation_id.in_(ids))
            .order_by(Handoff.id)
        )
        return [
            (
                handoff.conversation_id,
                HandoffView(
                    handoff.id,
                    handoff.reason,
                    handoff.created_at,
                    handoff.ended_at,
                    handoff.outcome,
                    agent,
                    claimed_at,
                    ticket is not None,
                ),
            )
            for handoff, claimed_at, agent, ticket in rows
        ]

    # --- one conversation -------------------------------------------------------------------

    async def transcript(self, conversation_id: str) -> Transcript | None:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                return None
            (summary,) = await self._summaries(session, [conversation])
            messages = list(
                await session.scalars(
                    select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
                )
            )
            notes = [
                (note.created_at, name, note.text)
                for note, name in await session.execute(
                    select(Note, User.name)
                    .join(User, User.id == Note.author_id)
                    .where(Note.conversation_id == conversation_id)
                    .order_by(Note.id)
                )
            ]
            feedback = list(
                await session.scalars(
                    select(Feedback).where(Feedback.conversation_id == conversation_id).order_by(Feedback.id)
                )
            )
            labels = await self._labels(session, conversation_id)
        return Transcript(summary, messages, notes, feedback, labels)

    @staticmethod
    async def _labels(session: AsyncSession, conversation_id: str) -> list[LabelView]:
        rows = await session.execute(
            select(ReviewLabel, User.name)
            .join(User, User.id == ReviewLabel.author_id)
            .where(ReviewLabel.conversation_id == conversation_id)
            .order_by(ReviewLabel.id)
        )
        return [
            LabelView(label.id, label.label, label.message_id, label.article_id, label.comment, name, label.created_at)
            for label, name in rows
        ]

    async def mark_reviewed(self, conversation_id: str, user_id: int, reviewed: bool = True) -> bool:
        """False: no such conversation."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(reviewed_at=utcnow() if reviewed else None, reviewed_by=user_id if reviewed else None)
            )
            return result.rowcount == 1

    async def add_label(
        self,
        conversation_id: str,
        author_id: int,
        label: str,
        *,
        message_id: int | None = None,
        article_id: str | None = None,
        comment: str = "",
    ) -> int:
        """Label the conversation (or one user's question in it); labelling also marks it
        reviewed. Raises InvalidLabel, or LookupError for an unknown conversation."""
        if label not in LABELS:
            raise InvalidLabel(f"label must be one of {', '.join(LABELS)}")
        if label == "should_answer" and not article_id:
            raise InvalidLabel("say which article the bot should have answered with")
        async with self._sessions() as session, session.begin():
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise LookupError(conversation_id)
            if message_id is not None:
                message = await session.get(Message, message_id)
                if message is None or message.conversation_id != conversation_id or message.role != "user":
                    raise InvalidLabel("a label's message must be a user's message in this conversation")
            row = ReviewLabel(
                conversation_id=conversation_id,
                message_id=message_id,
                label=label,
                article_id=article_id if label in ("should_answer", "bot_right") else None,
                comment=comment,
                author_id=author_id,
                created_at=utcnow(),
            )
            session.add(row)
            conversation.reviewed_at, conversation.reviewed_by = utcnow(), author_id
            await session.flush()
            return row.id

    async def remove_label(self, conversation_id: str, label_id: int) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(ReviewLabel).where(ReviewLabel.id == label_id, ReviewLabel.conversation_id == conversation_id)
            )
            return result.rowcount == 1

    async def log_reveal(self, conversation_id: str, user_id: int) -> None:
        async with self._sessions() as session, session.begin():
            session.add(Reveal(conversation_id=conversation_id, user_id=user_id, created_at=utcnow()))

    async def reveals(self, conversation_id: str) -> list[tuple[str, datetime]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(User.name, Reveal.created_at)
                .join(User, User.id == Reveal.user_id)
                .where(Reveal.conversation_id == conversation_id)
                .order_by(Reveal.id)
            )
            return [(name, at) for name, at in rows]

    # --- exports ----------------------------------------------------------------------------

    async def export(self, where: ConversationFilter, batch: int = EXPORT_BATCH) -> AsyncIterator[Transcript]:
        """Every conversation `where` selects, oldest first, as transcripts, read `batch` at a
        time (a keyset over the creation time, so memory stays flat however many there are)."""
        conditions = _conditions(where)
        after: tuple[datetime, str] | None = None
        while True:
            async with self._sessions() as session:
                query = select(Conversation).where(*conditions)
                if after is not None:
                    query = query.where(
                        or_(
                            Conversation.created_at > after[0],
                            and_(Conversation.created_at == after[0], Conversation.id > after[1]),
                        )
                    )
                conversations = list(
                    await session.scalars(query.order_by(Conversation.created_at, Conversation.id).limit(batch))
                )
                if not conversations:
                    return
                summaries = await self._summaries(session, conversations)
                ids = [c.id for c in conversations]
                messages: dict[str, list[Message]] = {}
                for message in await session.scalars(
                    select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)
                ):
                    messages.setdefault(message.conversation_id, []).append(message)
            for summary in summaries:
                yield Transcript(summary, messages.get(summary.conversation.id, []), [], [], [])
            last = conversations[-1]
            after = (last.created_at, last.id)

    async def labelled_queries(self) -> list[LabelledQuery]:
        """Each labelled user question with the article that answers it: "should have answered
        with X" (X), "bot was right" (the article the bot answered with, or none when it rightly
        did not answer), "missing article" (none). A label of a whole conversation stands for its
        first question. Texts are redacted."""
        async with self._sessions() as session:
            labels = list(
                await session.execute(
                    select(ReviewLabel, Conversation.language)
                    .join(Conversation, Conversation.id == ReviewLabel.conversation_id)
                    .where(ReviewLabel.label.in_(("should_answer", "bot_right", "missing_article")))
                    .order_by(ReviewLabel.id)
                )
            )
            ids = {label.conversation_id for label, _ in labels}
            said: dict[str, list[Message]] = {}
            if ids:
                for message in await session.scalars(
                    select(Message)
                    .where(Message.conversation_id.in_(ids), Message.role.in_(("user", "bot")))
                    .order_by(Message.id)
                ):
                    said.setdefault(message.conversation_id, []).append(message)
        queries = []
        for label, language in labels:
            messages = said.get(label.conversation_id, [])
            position = next(
                (i for i, m in enumerate(messages) if m.role == "user" and label.message_id in (None, m.id)), None
            )
            if position is None:
                continue
            question = messages[position]
            article_id = label.article_id
            if label.label == "bot_right" and article_id is None:
                answer = next((m for m in messages[position + 1 :] if m.role == "bot" or m.role == "user"), None)
                # No article in the reply: the bot was right not to answer, a query to hand off.
                article_id = answer.article_id if answer is not None and answer.role == "bot" else None
            language = (question.data or {}).get("language") or language
            text = redact(question.text)  # an export: no personal data leaves
            queries.append(LabelledQuery(text, language, article_id, label.label, label.conversation_id))
        return queries

    # --- deletion ---------------------------------------------------------------------------

    async def purge(self, conversation_ids: Sequence[str]) -> int:
        """Delete the conversations and everything stored about them (messages, handoffs with
        their claims and tickets, notes, ratings, labels, reveals, curators' decisions on their
        questions, the widget's delivery records). Returns how many conversations there were."""
        ids = list(conversation_ids)
        if not ids:
            return 0
        async with self._sessions() as session, session.begin():
            messages = select(Message.id).where(Message.conversation_id.in_(ids))
            handoffs = select(Handoff.id).where(Handoff.conversation_id.in_(ids))
            await session.execute(delete(SuggestionDecision).where(SuggestionDecision.message_id.in_(messages)))
            await session.execute(delete(ReviewLabel).where(ReviewLabel.conversation_id.in_(ids)))
            await session.execute(delete(Reveal).where(Reveal.conversation_id.in_(ids)))
            await session.execute(delete(Claim).where(Claim.handoff_id.in_(handoffs)))
            await session.execute(delete(Ticket).where(Ticket.handoff_id.in_(handoffs)))
            await session.execute(delete(Handoff).where(Handoff.conversation_id.in_(ids)))
            await session.execute(delete(Note).where(Note.conversation_id.in_(ids)))
            await session.execute(delete(Feedback).where(Feedback.conversation_id.in_(ids)))
            await session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
            for conversation_id in ids:
                prefix = _escape_like(conversation_id) + ":%"
                await session.execute(delete(ChannelEvent).where(ChannelEvent.key.like(prefix, escape="\\")))
            result = await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
            return result.rowcount

    async def inactive_since(self, cutoff: datetime, limit: int = EXPORT_BATCH) -> list[str]:
        """Conversations with nothing new since `cutoff` (the retention period's oldest moment)."""
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(Conversation.id)
                    .where(Conversation.updated_at < cutoff)
                    .order_by(Conversation.updated_at)
                    .limit(limit)
                )
            )

"""The analytics dashboard's sessions, read from the database (`bot.figures` counts them,
`bot.analytics` serves them).

A conversation row can be a Telegram chat that lasts months, so the unit is the *session*: a
conversation's messages split wherever more than 30 minutes pass between two messages, except
while one of its handoffs is open (a user waiting for a person is one session; the open time
counts as activity, so the clock starts again when the handoff ends). A session has the
conversation's channel, the language of its first user message (as the message recorded it, else
the conversation's), and the day or ISO week (Monday first, UTC) of its first message; the range
selects sessions by that first message. Handoffs and ratings belong to the latest session of
their conversation that started at or before them; a claim and a ticket, to their handoff's.

The definitions, as shown on the page, are `bot.figures.DEFINITIONS`.

How: four queries read the range's messages (only the columns needed: times as seconds, the
user's language and the bot's decision read from the JSON by the database, no text), their
conversations' channel and language, the handoffs with their claim and ticket, and the ratings;
from 30 minutes before the range (to tell whether its first messages continue an earlier session)
to FOLLOW after it (to follow its sessions to their end and see who comes back within 24 hours: a
session still going FOLLOW - 24 h after the range is cut there). Sessions are cut and counted in
one pass in Python. Then the titles of the articles shown are read, and the texts of the
unanswered questions only. On tests/bench/generate_conversations.py's 1,000,000 messages over 90
days, the default 30 days take about 2 s and all 90 days 5 to 6 s, on SQLite and PostgreSQL alike
(with the same figures on both), half of it in the database.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy import Float, Row, Text, and_, case, cast, extract, func, or_, select

from bot.store.models import (
    AGENT_RATING,
    ArticleRevision,
    Claim,
    Conversation,
    Feedback,
    Handoff,
    Message,
    StoredArticle,
    Ticket,
)

GAP = 30 * 60  # seconds of silence that end a session
RETURN_WINDOW = 24 * 3600  # a user back within this long was not helped ("assumed" needs them gone)
FOLLOW = timedelta(days=2)
TEXT_BATCH = 20000  # unanswered questions' texts read per query
ROLES = ("user", "bot", "agent", "system")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EXITS = ("after_greeting", "after_first_answer", "after_answers", "waiting_for_person", "with_person", "ongoing")
NOT_ANSWERED = ("hand_off", "off_topic")  # the bot's decisions that answered nothing
RESOLVED = ("returned", "closed")
EPOCH_DAY = date(1970, 1, 1).toordinal()  # a Thursday: weekday 3


@dataclass(frozen=True)
class Query:
    """What the dashboard shows: sessions that started from `since` to `until` (whole days, UTC)."""

    since: date
    until: date
    channel: str | None = None
    language: str | None = None
    by: str = "day"  # day | week

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), UTC)

    def period(self, day: date) -> str:
        return (day if self.by == "day" else day - timedelta(days=day.weekday())).isoformat()

    def periods(self) -> list[str]:
        step = 1 if self.by == "day" else 7
        first = date.fromisoformat(self.period(self.since))
        return [(first + timedelta(days=n)).isoformat() for n in range(0, (self.until - first).days + 1, step)]


class Question(NamedTuple):
    """A user's message that nothing answered: its text is read only for those."""

    message_id: int
    language: str
    text: str = ""


@dataclass(slots=True)
class Handover:
    """A handoff as the figures need it: its times (seconds since 1970), its claim, its ticket."""

    reason: str
    created: float
    ended: float | None
    outcome: str | None
    claimed: float | None
    ticket: bool


class Session:
    """One session that started in the range, with what happened in it."""

    __slots__ = (
        "conversation_id", "channel", "language", "start", "end", "roles", "answers", "hours", "agent_times",
        "handoffs", "ratings", "agent_ratings", "questions", "returned",
    )  # fmt: skip

    def __init__(self, conversation_id: str, channel: str, language: str, start: float, end: float):
        self.conversation_id = conversation_id
        self.channel = channel
        self.language = language
        self.start = start
        self.end = end  # its last message
        self.roles = [0, 0, 0, 0]  # messages, in the order of ROLES
        self.answers: list[str] = []  # the articles the bot answered with
        self.hours: list[int] = []  # weekday * 24 + hour of each user message
        self.agent_times: list[float] = []
        self.handoffs: list[Handover] = []
        self.ratings: list[tuple[str, bool]] = []  # of answers: (article, helpful)
        self.agent_ratings: list[bool] = []
        self.questions: list[Question] = []  # that nothing answered
        self.returned = False  # the conversation's next session began within RETURN_WINDOW of its end

    @property
    def day(self) -> int:
        """Days since 1970-01-01."""
        return int(self.start // 86400)

    def containment(self, now: float) -> str | None:
        """confirmed | assumed | pending | None (not contained, or never answered)."""
        if not self.answers or self.handoffs or not all(helpful for _, helpful in self.ratings):
            return None
        if self.ratings:
            return "confirmed"
        if self.returned:
            return None
        return "pending" if now - self.end < RETURN_WINDOW else "assumed"

    def exit(self, now: float) -> str:
        if now - self.end < GAP:
            return "ongoing"
        if self.handoffs:
            taken = any(h.claimed is not None or h.ticket for h in self.handoffs)
            return "with_person" if taken else "waiting_for_person"
        return EXITS[min(len(self.answers), 2)]


def _epoch(column, dialect: str):
    """Seconds since 1970 (UTC), computed by the database: much faster than datetimes row by row."""
    if dialect == "sqlite":  # stored as UTC text without its zone; SQLite keeps time to the millisecond
        return func.round((func.julianday(column) - 2440587.5) * 86400.0, 3)
    return cast(extract("epoch", column), Float)


def _bridged(after: float, before: float, spans: list[tuple[float, float]]) -> bool:
    """True when no stretch of more than GAP between `after` and `before` is free of open
    handoffs (`spans`: (created, ended or inf), by creation)."""
    reach = after
    for created, ended in spans:
        if created >= before:
            break
        if ended <= reach:
            continue
        if created - reach > GAP:
            return False
        reach = ended
        if reach >= before:
            return True
    return before - reach <= GAP


class Analytics:
    def __init__(self, sessions):
        self._sessions = sessions

    async def sessions(self, query: Query) -> list[Session]:
        """The sessions that started in the range, in the channel and language asked for."""
        low, high = query.start - timedelta(seconds=GAP), query.end + FOLLOW
        async with self._sessions() as session:
            connection = await session.connection()  # rows as Core gives them: no ORM on 10^6 rows
            dialect = connection.dialect.name
            window = (Message.created_at >= low, Message.created_at < high)
            if query.channel:
                window += (
                    Message.conversation_id.in_(select(Conversation.id).where(Conversation.channel == query.channel)),
                )
            # Reading the JSON is the slow part: the bot's decision only where it can be one of these.
            unanswered = [cast(Message.data, Text).contains(decision, autoescape=True) for decision in NOT_ANSWERED]
            epoch = _epoch(Message.created_at, dialect)
            messages = (
                select(
                    epoch,
                    Message.id,
                    Message.role,
                    Message.article_id,
                    case((Message.role == "user", Message.data["language"].as_string())),
                    case(
                        (and_(Message.role == "bot", or_(*unanswered)), Message.data[("trace", "decision")].as_string())
                    ),
                    case((Message.role == "user", func.substr(Message.text, 1, 1))),  # "/": a button
                    Message.conversation_id,
                )
                .where(*window)
                .order_by(Message.conversation_id, epoch, Message.id)
            )
            conversations = select(Conversation.id, Conversation.channel, Conversation.language).where(
                Conversation.id.in_(select(Message.conversation_id).where(*window))
            )
            handoffs = (
                select(
                    Handoff.conversation_id,
                    _epoch(Handoff.created_at, dialect),
                    _epoch(Handoff.ended_at, dialect),
                    Handoff.reason,
                    Handoff.outcome,
                    _epoch(Claim.claimed_at, dialect),
                    Ticket.handoff_id,
                )
                .outerjoin(Claim, Claim.handoff_id == Handoff.id)
                .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
                .where(Handoff.created_at < high, or_(Handoff.ended_at.is_(None), Handoff.ended_at >= low))
            )
            ratings = select(
                Feedback.conversation_id, _epoch(Feedback.created_at, dialect), Feedback.article_id, Feedback.helpful
            ).where(Feedback.created_at >= low, Feedback.created_at < high)
            message_rows = (await connection.execute(messages)).all()
            about = {row[0]: row[1:] for row in await connection.execute(conversations)}
            handoff_rows = (await connection.execute(handoffs)).all()
            rating_rows = (await connection.execute(ratings)).all()

        handovers: dict[str, list[Handover]] = defaultdict(list)
        for conversation_id, created, ended, reason, outcome, claimed, ticket in handoff_rows:
            handovers[conversation_id].append(Handover(reason, created, ended, outcome, claimed, ticket is not None))
        bounds = (low.timestamp(), query.start.timestamp(), query.end.timestamp())
        found: list[Session] = []
        starts: dict[str, tuple[list[float], list[Session | None]]] = {}
        for conversation_id, rows in groupby(message_rows, key=itemgetter(7)):
            if conversation_id not in about:
                continue  # deleted (the retention period) between the two queries
            channel, language = about[conversation_id]
            conversation_handoffs = sorted(handovers.get(conversation_id, ()), key=lambda h: h.created)
            times, sessions = _split(rows, conversation_handoffs, bounds, channel, language)
            starts[conversation_id] = (times, sessions)
            found += [s for s in sessions if s is not None and query.language in (None, s.language)]
        for conversation_id, created, article_id, helpful in rating_rows:
            owner = _owner(starts, conversation_id, created)
            if owner is None:
                continue
            if article_id.startswith(AGENT_RATING):
                owner.agent_ratings.append(bool(helpful))
            else:
                owner.ratings.append((article_id, bool(helpful)))
        return found

    async def titles(self, article_ids: list[str]) -> dict[str, str]:
        """The articles' titles as last saved: in English where there is one."""
        if not article_ids:
            return {}
        head = and_(
            StoredArticle.id == ArticleRevision.article_id,
            StoredArticle.language == ArticleRevision.language,
            StoredArticle.head == ArticleRevision.number,
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(ArticleRevision.article_id, ArticleRevision.language, ArticleRevision.title)
                .join(StoredArticle, head)
                .where(StoredArticle.id.in_(article_ids))
            )
            titles: dict[str, str] = {}
            for article_id, _, title in sorted(rows, key=lambda row: row[1] != "en"):
                titles.setdefault(article_id, title)
            return titles

    async def texts(self, questions: list[Question]) -> list[Question]:
        """The questions with their texts (read in batches: only these messages' texts are read)."""
        texts: dict[int, str] = {}
        ids = [q.message_id for q in questions]
        async with self._sessions() as session:
            for first in range(0, len(ids), TEXT_BATCH):
                batch = ids[first : first + TEXT_BATCH]
                rows = await session.execute(select(Message.id, Message.text).where(Message.id.in_(batch)))
                texts.update((message_id, text) for message_id, text in rows)
        return [q._replace(text=texts.get(q.message_id, "")) for q in questions]


def _split(
    rows: Iterable[Row],
    handoffs: list[Handover],
    bounds: tuple[float, float, float],
    channel: str,
    conversation_language: str,
) -> tuple[list[float], list[Session | None]]:
    """A conversation's messages (by time) cut into sessions, in one pass: the start of each, and
    each as a Session if it started in the range, else None. Counts each session's messages and
    finds the questions the bot did not answer: a user's message (not a button) whose reply, up
    to the next user message, decided not to answer."""
    low, since, until = bounds
    spans = [(h.created, math.inf if h.ended is None else h.ended) for h in handoffs]
    # An open handoff from before the window carries a session that started before the range into it.
    before = [created for created, _ in spans if created < low]
    times: list[float] = []
    sessions: list[Session | None] = []
    asked: list[list[tuple]] = []  # each session's user messages, when a handoff may point at one
    session = question = previous = None
    for t, message_id, role, article_id, language, decision, first_character, conversation_id in rows:
        if previous is None or t - previous > GAP and not (spans and _bridged(previous, t, spans)):
            continued = previous is None and bool(before) and _bridged(before[-1], t, spans)
            session = Session(conversation_id, channel, "", t, t) if since <= t < until and not continued else None
            times.append(t)
            sessions.append(session)
            asked.append([])
            question = None
        previous = t
        if session is None:
            continue
        session.end = t
        if role == "user":
            session.roles[0] += 1
            seconds = int(t)
            session.hours.append((seconds // 86400 + 3) % 7 * 24 + seconds // 3600 % 24)  # 1970-01-01: a Thursday
            if not session.language:
                session.language = language or conversation_language
            question = None if first_character == "/" else (message_id, language or conversation_language)
            if spans:
                asked[-1].append((t, question))
        elif role == "bot":
            session.roles[1] += 1
            if article_id:
                session.answers.append(article_id)
            if question is not None and decision in NOT_ANSWERED:
                session.questions.append(Question(*question))
                question = None
        elif role == "agent":
            session.roles[2] += 1
            session.agent_times.append(t)
        elif role == "system":
            session.roles[3] += 1
    for k, session in enumerate(sessions):
        if session is not None:
            session.language = session.language or conversation_language
            session.returned = k + 1 < len(times) and times[k + 1] - session.end <= RETURN_WINDOW
    for handoff in handoffs:
        k = bisect_right(times, handoff.created) - 1
        if k >= 0 and sessions[k] is not None:
            sessions[k].handoffs.append(handoff)
            if handoff.reason == "low_confidence":
                _handed_off_question(sessions[k], asked[k], handoff.created)
    return times, sessions


def _handed_off_question(session: Session, asked: list[tuple], created: float) -> None:
    """A low-confidence handoff marks the user's last message before it, when its reply did not
    already (an older reply may carry no decision)."""
    k = bisect_right(asked, created, key=lambda pair: pair[0]) - 1
    question = asked[k][1] if k >= 0 else None
    if question is not None and all(q.message_id != question[0] for q in session.questions):
        session.questions.append(Question(*question))


def _owner(starts: dict, conversation_id: str, created: float) -> Session | None:
    if conversation_id not in starts:
        return None
    times, sessions = starts[conversation_id]
    k = bisect_right(times, created) - 1
    return sessions[k] if k >= 0 else None

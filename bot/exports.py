"""Conversations as reviewers see them, outside the store: the filter read from a query string
(or the command line), transcripts as JSON, and the CSV and JSON Lines exports.

Personal data is redacted by default everywhere here (`bot.redaction`): the users' and agents'
texts, the notes, the user's name. Only `reveal=True` shows them, and the caller logs who asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.errors import InvalidRequest
from bot.params import day, one_of
from bot.redaction import redact
from bot.store import CHANNELS, iso, rated_handoff
from bot.store.review import LABELS, OUTCOMES, RATINGS, ConversationFilter, HandoffView, Review, Summary, Transcript
from knowledge_base.articles import LANGUAGES

CSV_COLUMNS = (
    "conversation_id", "channel", "language", "outcome", "handoff_reasons", "message_id", "role", "created_at",
    "text", "article_id", "score", "intent", "intent_confidence",
)  # fmt: skip
FILTER_FIELDS = (
    "since", "until", "channel", "language", "outcome", "reason", "rating", "agent", "article", "q", "reviewed",
    "label",
)  # fmt: skip


def conversation_filter(params: Mapping[str, str]) -> ConversationFilter:
    """The filter a query string (or the command line's options) asks for; `until` is a whole
    day (inclusive). Raises InvalidRequest naming the parameter."""
    values = {name: (params.get(name) or "").strip() for name in FILTER_FIELDS}
    since = datetime.combine(day("since", values["since"]), time(), UTC) if values["since"] else None
    until = None
    if values["until"]:
        until = datetime.combine(day("until", values["until"]) + timedelta(days=1), time(), UTC)
    agent = None
    if values["agent"]:
        if not values["agent"].isdigit():
            raise InvalidRequest("'agent' must be a user id")
        agent = int(values["agent"])
    reviewed = None
    if values["reviewed"]:
        reviewed = one_of("reviewed", values["reviewed"], ("yes", "no")) == "yes"
    return ConversationFilter(
        since=since,
        until=until,
        channel=one_of("channel", values["channel"], CHANNELS),
        language=one_of("language", values["language"], LANGUAGES),
        outcome=one_of("outcome", values["outcome"], OUTCOMES),
        reason=values["reason"][:40] or None,
        rating=one_of("rating", values["rating"], RATINGS),
        agent_id=agent,
        article_id=values["article"][:120] or None,
        text=values["q"][:200] or None,
        reviewed=reviewed,
        label=one_of("label", values["label"], LABELS),
    )


def _text(value: str, reveal: bool) -> str:
    return value if reveal else redact(value)


def handoff_json(handoff: HandoffView) -> dict[str, Any]:
    return {
        "id": handoff.id,
        "reason": handoff.reason,
        "created_at": iso(handoff.created_at),
        "ended_at": iso(handoff.ended_at),
        "outcome": handoff.outcome,
        "agent": handoff.agent,
        "claimed_at": iso(handoff.claimed_at),
        "queue_wait_seconds": handoff.queue_wait,
        "ticket": handoff.ticket,
    }


def summary_json(summary: Summary, reveal: bool = False) -> dict[str, Any]:
    conversation = summary.conversation
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "language": conversation.language,
        "user_name": conversation.user_name if reveal else None,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        "messages": summary.messages,
        "first_question": _text(summary.first_question, reveal),
        "outcome": summary.outcome,
        "handoffs": [handoff_json(h) for h in summary.handoffs],
        "helpful": summary.helpful,
        "not_helpful": summary.not_helpful,
        "agent_ratings": summary.agent_ratings,
        "labels": summary.labels,
        "reviewed_at": iso(conversation.reviewed_at),
        "reviewed_by": summary.reviewed_by,
    }


def transcript_json(transcript: Transcript, reveal: bool = False) -> dict[str, Any]:
    """Every message with, for the bot's answers, the article, score, runners-up and Rasa's
    intent; the handoffs with their queue wait and agent; notes, ratings and labels."""
    agent_ratings = {
        handoff: f.helpful for f in transcript.feedback if (handoff := rated_handoff(f.article_id)) is not None
    }
    handoffs = []
    for handoff in transcript.summary.handoffs:
        handoffs.append({**handoff_json(handoff), "rating": agent_ratings.get(handoff.id)})
    return {
        "conversation": summary_json(transcript.summary, reveal),
        "messages": [_message_json(m, reveal) for m in transcript.messages],
        "handoffs": handoffs,
        "notes": [
            {"created_at": iso(at), "author": author, "text": _text(text, reveal)}
            for at, author, text in transcript.notes
        ],
        "feedback": [
            {"article_id": f.article_id, "helpful": f.helpful, "created_at": iso(f.created_at)}
            for f in transcript.feedback
        ],
        "labels": [
            {
                "id": label.id,
                "label": label.label,
                "message_id": label.message_id,
                "article_id": label.article_id,
                "comment": label.comment,
                "author": label.author,
                "created_at": iso(label.created_at),
            }
            for label in transcript.labels
        ],
        "redacted": not reveal,
    }


def _message_json(message, reveal: bool) -> dict[str, Any]:
    data = message.data or {}
    trace = data.get("trace") or {}
    return {
        "id": message.id,
        "role": message.role,
        "channel": message.channel,
        "text": _text(message.text, reveal),
        "display": data.get("display"),
        "created_at": iso(message.created_at),
        "article_id": message.article_id,
        "title": data.get("title"),
        "score": message.score,
        "agent": data.get("agent"),
        "intent": trace.get("intent"),
        "confidence": trace.get("confidence"),
        "ranking": trace.get("ranking") or [],
        "decision": trace.get("decision"),
        "threshold": trace.get("threshold"),
    }


# --- exports --------------------------------------------------------------------------------


async def jsonl_lines(review: Review, where: ConversationFilter) -> AsyncIterator[str]:
    """One redacted conversation a line, with its messages and handoffs."""
    async for transcript in review.export(where):
        record = summary_json(transcript.summary)
        record["messages"] = [_message_json(m, reveal=False) for m in transcript.messages]
        yield json.dumps(record, ensure_ascii=False) + "\n"


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will show, never run: text starting = + - @ or a tab gets a quote in
    front (CSV injection); None is empty."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def csv_lines(review: Review, where: ConversationFilter) -> AsyncIterator[str]:
    """One redacted message a row, with its conversation's channel, language and outcome."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(value) for value in row])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    async for transcript in review.export(where):
        summary, conversation = transcript.summary, transcript.summary.conversation
        reasons = " ".join(h.reason for h in summary.handoffs)
        for message in transcript.messages:
            trace = (message.data or {}).get("trace") or {}
            yield line(
                (
                    conversation.id, conversation.channel, conversation.language, summary.outcome, reasons,
                    message.id, message.role, iso(message.created_at), redact(message.text), message.article_id,
                    message.score, trace.get("intent"), trace.get("confidence"),
                )
            )  # fmt: skip

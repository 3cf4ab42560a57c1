"""What the assistant, the system and agents say to a user, as channels render it.

Rasa's REST channel returns a list of messages. Touchpoint's actions put their structured data in
a message's `custom` payload: `text`, `article_id`, `title`, `score` and `choices` for an answer,
`handoff: {reason}` when a person should take over, `feedback: {article_id, helpful}` when the
user rated an answer, and `trace` (Rasa's intent and confidence, the ranked articles with their
scores, the decision) with a knowledge-base verdict, kept for the reviewers' transcript. A
`custom` payload without text belongs to the text message before it (Rasa sends a response's
text and its custom payload separately).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.store import Message
from bot.store.models import iso


@dataclass
class BotMessage:
    text: str
    article_id: str | None = None
    title: str | None = None
    score: float | None = None
    choices: list[dict[str, str]] = field(default_factory=list)
    trace: dict[str, Any] | None = None  # stored, not shown to the user

    @property
    def rateable(self) -> bool:
        """An answer from an article can be rated helpful or not."""
        return self.article_id is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "article_id": self.article_id,
            "title": self.title,
            "score": self.score,
            "choices": self.choices,
            "rateable": self.rateable,
        }


@dataclass
class BotReply:
    messages: list[BotMessage] = field(default_factory=list)
    handoff: dict[str, str] | None = None
    feedback: list[dict[str, Any]] = field(default_factory=list)
    language: str = "en"  # the conversation's language after this turn
    state: str = "bot"  # the conversation's state after this turn (bot.conversations.State)
    replayed: bool = False  # the replies to a message sent before (the same client id), not a new turn

    def as_json(self) -> dict[str, Any]:
        answer = {
            "messages": [m.as_json() for m in self.messages],
            "handoff": self.handoff,
            "language": self.language,
            "state": self.state,
        }
        if self.replayed:
            answer["replayed"] = True
        return answer


def parse_rasa_output(raw: list[dict[str, Any]]) -> BotReply:
    result = BotReply()
    for item in raw:
        custom = dict(item.get("custom") or {})
        if handoff := custom.pop("handoff", None):
            result.handoff = {"reason": str(handoff.get("reason", "low_confidence"))}
        if feedback := custom.pop("feedback", None):
            if not isinstance(feedback.get("article_id"), str) or not isinstance(feedback.get("helpful"), bool):
                raise ValueError(f"malformed feedback {feedback!r}")
            result.feedback.append(feedback)
        text = item.get("text") or custom.get("text")
        choices = custom.get("choices") or [
            {"title": b.get("title", ""), "payload": b.get("payload", "")} for b in item.get("buttons") or []
        ]
        if text:
            result.messages.append(
                BotMessage(
                    text=text,
                    article_id=custom.get("article_id"),
                    title=custom.get("title"),
                    score=custom.get("score"),
                    choices=choices,
                    trace=custom.get("trace"),
                )
            )
        elif result.messages and (custom or choices):
            last = result.messages[-1]
            last.article_id = custom.get("article_id", last.article_id)
            last.title = custom.get("title", last.title)
            last.score = custom.get("score", last.score)
            last.choices = choices or last.choices
            last.trace = custom.get("trace", last.trace)
    return result


def bot_message(row: Message) -> BotMessage:
    """A stored message as a channel renders it (an agent's name stands as its title)."""
    data = row.data or {}
    return BotMessage(
        text=row.text,
        article_id=row.article_id if row.role == "bot" else None,
        title=data.get("title") or data.get("agent"),
        score=row.score,
        choices=data.get("choices") or [],
    )


def message_json(message: Message) -> dict[str, Any]:
    """A stored message as the API, the widget and the console show it."""
    data = message.data or {}
    return {
        "id": message.id,
        "role": message.role,
        "channel": message.channel,
        "text": message.text,
        "display": data.get("display"),
        "client_id": data.get("client_id"),
        "article_id": message.article_id if message.role == "bot" else None,  # an answer users rate
        "quoted_article_id": message.article_id if message.role == "agent" else None,  # an agent's insert
        "score": message.score,
        "title": data.get("title"),
        "choices": data.get("choices") or [],
        "handoff": data.get("handoff"),
        "agent": data.get("agent"),
        "created_at": iso(message.created_at),
    }

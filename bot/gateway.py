"""The gateway owns conversations: it stores every message, routes each one to the bot or, once
a conversation is handed off, to the support team, and turns Rasa's output into replies.

Rasa's REST channel returns a list of messages. Touchpoint's actions put their structured
data in a message's `custom` payload: `text`, `article_id`, `title`, `score` and `choices` for
an answer, `handoff: {reason}` when a person should take over, and `feedback: {article_id,
helpful}` when the user rated an answer. A `custom` payload without text belongs to the text
message before it (Rasa sends a response's text and its custom payload separately).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bot.rasa_client import RasaClient, RasaUnavailable
from bot.replies import reply
from bot.store import Message, Store
from knowledge_base.text import detect_language

logger = logging.getLogger(__name__)


@dataclass
class BotMessage:
    text: str
    article_id: str | None = None
    title: str | None = None
    score: float | None = None
    choices: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "article_id": self.article_id,
            "title": self.title,
            "score": self.score,
            "choices": self.choices,
        }


@dataclass
class BotReply:
    messages: list[BotMessage] = field(default_factory=list)
    handoff: dict[str, str] | None = None
    feedback: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"messages": [m.as_json() for m in self.messages], "handoff": self.handoff}


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
                )
            )
        elif result.messages and (custom or choices):
            last = result.messages[-1]
            last.article_id = custom.get("article_id", last.article_id)
            last.title = custom.get("title", last.title)
            last.score = custom.get("score", last.score)
            last.choices = choices or last.choices
    return result


def is_payload(text: str) -> bool:
    """Button payloads ('/affirm', '/choose_article{...}') say nothing about the user's language."""
    return text.startswith("/")


class Gateway:
    def __init__(self, store: Store, rasa: RasaClient):
        self._store = store
        self._rasa = rasa
        # One message at a time per conversation keeps the transcript and Rasa's tracker in order.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def handle(self, conversation_id: str, text: str, channel: str) -> BotReply:
        async with self._locks[conversation_id]:
            return await self._handle(conversation_id, text, channel)

    async def _handle(self, conversation_id: str, text: str, channel: str) -> BotReply:
        existing = await self._store.get_conversation(conversation_id)
        previous_language = existing.language if existing else "en"
        language = previous_language if is_payload(text) else detect_language(text, previous_language)
        conversation = await self._store.open_conversation(conversation_id, channel, language)
        await self._store.add_messages(conversation_id, [Message(role="user", channel=channel, text=text)])

        if conversation.status == "handoff":
            result = BotReply([BotMessage(reply("waiting_for_agent", language))])
            result.handoff = {"reason": conversation.handoff_reason or "user_request"}
            await self._store_bot_messages(conversation_id, channel, result)
            return result

        try:
            raw = await self._rasa.send(conversation_id, text, {"language": language, "channel": channel})
            try:
                result = parse_rasa_output(raw)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise RasaUnavailable(f"unreadable reply from Rasa: {exc!r}") from exc
            if not result.messages:
                raise RasaUnavailable("Rasa returned no message (an action probably failed)")
        except RasaUnavailable as exc:
            logger.warning("Handing off %s: %s", conversation_id, exc, exc_info=exc)
            result = BotReply([BotMessage(reply("service_error", language))], handoff={"reason": "service_error"})

        await self._store_bot_messages(conversation_id, channel, result)
        for feedback in result.feedback:
            await self._store.add_feedback(conversation_id, str(feedback["article_id"]), bool(feedback["helpful"]))
        if result.handoff:
            await self._store.hand_off(conversation_id, result.handoff["reason"])
        return result

    async def _store_bot_messages(self, conversation_id: str, channel: str, result: BotReply) -> None:
        await self._store.add_messages(
            conversation_id,
            [
                Message(
                    role="bot",
                    channel=channel,
                    text=m.text,
                    article_id=m.article_id,
                    score=m.score,
                    data={"title": m.title, "choices": m.choices, "handoff": result.handoff},
                )
                for m in result.messages
            ],
        )

"""The gateway owns conversations: it stores every message, routes each one to the bot or, once
a conversation is handed off, to the support team, and turns Rasa's output into replies.

Rasa's REST channel returns a list of messages. Touchpoint's actions put their structured
data in a message's `custom` payload: `text`, `article_id`, `title`, `score` and `choices` for
an answer, `handoff: {reason}` when a person should take over, and `feedback: {article_id,
helpful}` when the user rated an answer. A `custom` payload without text belongs to the text
message before it (Rasa sends a response's text and its custom payload separately).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.hub import DESK, Hub
from bot.locks import KeyedLock
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

    def as_json(self) -> dict[str, Any]:
        return {"messages": [m.as_json() for m in self.messages], "handoff": self.handoff, "language": self.language}


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


# An agent whose console checked in this recently is online (the console checks in every 30 s).
AGENT_ONLINE_WITHIN = timedelta(seconds=90)
MAX_TEXT = 4096  # Telegram's own limit, so no Telegram message is refused
# Payloads of the buttons every channel shows; Rasa reads a leading '/' as an intent.
GREET = "/greet"
HELPFUL = "/affirm"
NOT_HELPFUL = "/deny"
REQUEST_HUMAN = "/request_human"
# After a person hands the conversation back: did they help? (answered by the gateway, not Rasa)
PERSON_HELPED = "/person_helped"
PERSON_DID_NOT_HELP = "/person_did_not_help"
# Offered to a user who has waited QUEUE_TIMEOUT without an agent (answered by the gateway).
KEEP_WAITING = "/keep_waiting"
BACK_TO_BOT = "/back_to_bot"
LEAVE_MESSAGE = "/leave_message"
# Every payload a button may send besides an article choice (channels refuse any other).
BUTTON_PAYLOADS = (
    HELPFUL,
    NOT_HELPFUL,
    REQUEST_HUMAN,
    PERSON_HELPED,
    PERSON_DID_NOT_HELP,
    KEEP_WAITING,
    BACK_TO_BOT,
    LEAVE_MESSAGE,
)


class InvalidMessage(ValueError):
    """A message the gateway will not take: empty or too long."""


class WrongChannel(InvalidMessage):
    """The conversation belongs to another channel (a Telegram chat cannot be written to from the API)."""


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The text as stored and sent to Rasa: valid UTF-8 (lone surrogates become U+FFFD), no
    control characters but line breaks and tabs (PostgreSQL rejects NUL), trimmed."""
    text = _SURROGATES.sub("\ufffd", text)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return unicodedata.normalize("NFC", text).strip()


def checked_text(text: str) -> str:
    text = clean_text(text)
    if not text:
        raise InvalidMessage("the message is empty")
    if len(text) > MAX_TEXT:
        raise InvalidMessage(f"the message is longer than {MAX_TEXT} characters; please shorten it")
    return text


def has_words(text: str) -> bool:
    """False for text with no letter or digit at all: emoji, punctuation, symbols."""
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def typed_text(text: str) -> str:
    """What a user typed never reaches Rasa as an intent payload: a leading '/' is dropped."""
    return text.lstrip().lstrip("/") if text.lstrip().startswith("/") else text


def is_payload(text: str) -> bool:
    """Button payloads ('/affirm', '/choose_article{...}') say nothing about the user's language."""
    return text.startswith("/")


def message_json(message: Message) -> dict[str, Any]:
    """A stored message as the API and the widget show it."""
    data = message.data or {}
    return {
        "id": message.id,
        "role": message.role,
        "channel": message.channel,
        "text": message.text,
        "display": data.get("display"),
        "client_id": data.get("client_id"),
        "article_id": message.article_id,
        "score": message.score,
        "title": data.get("title"),
        "choices": data.get("choices") or [],
        "handoff": data.get("handoff"),
        "agent": data.get("agent"),
        "created_at": message.created_at.isoformat(),
    }


def _position(queue: list[tuple], conversation_id: str) -> int | None:
    """The conversation's place among the unclaimed handoffs of `Store.queue()` (1 is next)."""
    waiting = [conversation.id for conversation, _, claim, _, _ in queue if claim is None]
    return waiting.index(conversation_id) + 1 if conversation_id in waiting else None


def waiting_choices(language: str) -> list[dict[str, str]]:
    return [
        {"title": reply("keep_waiting", language), "payload": KEEP_WAITING},
        {"title": reply("back_to_bot", language), "payload": BACK_TO_BOT},
        {"title": reply("leave_message", language), "payload": LEAVE_MESSAGE},
    ]


def rating_choices(language: str) -> list[dict[str, str]]:
    return [
        {"title": reply("person_helped", language), "payload": PERSON_HELPED},
        {"title": reply("person_did_not_help", language), "payload": PERSON_DID_NOT_HELP},
    ]


class Gateway:
    def __init__(self, store: Store, rasa: RasaClient, hub: Hub | None = None):
        self._store = store
        self._rasa = rasa
        self.hub = hub or Hub()
        # One message at a time per conversation keeps the transcript and Rasa's tracker in order.
        self._locks = KeyedLock()

    def lock(self, conversation_id: str):
        """Hold the conversation (the desk does, to add an agent's turn in order)."""
        return self._locks.hold(conversation_id)

    async def handle(
        self,
        conversation_id: str,
        text: str,
        channel: str,
        *,
        language: str | None = None,
        display: str | None = None,
        client_id: str | None = None,
    ) -> BotReply:
        """Store the user's message, get the bot's reply (or the team's notice), store it, return it.

        `language` is what the channel knows of the user's language (Telegram's language_code,
        the widget's setting): it decides for a new conversation when the text does not.
        `display` is what the user saw for a button payload; `client_id` is the channel's id for
        the message. Raises InvalidMessage for an empty or over-long message, WrongChannel for a
        conversation that belongs to another channel.
        """
        text = checked_text(text)
        async with self._locks.hold(conversation_id):
            return await self._handle(conversation_id, text, channel, language, display, client_id)

    async def _handle(
        self,
        conversation_id: str,
        text: str,
        channel: str,
        hint: str | None,
        display: str | None,
        client_id: str | None,
    ) -> BotReply:
        existing = await self._store.get_conversation(conversation_id)
        if existing and existing.channel != channel:
            raise WrongChannel(f"conversation '{conversation_id}' belongs to the {existing.channel} channel")
        previous_language = existing.language if existing else (hint or "en")
        language = previous_language if is_payload(text) else detect_language(text, previous_language)
        conversation = await self._store.open_conversation(conversation_id, channel, language)
        data = {key: value for key, value in (("display", display), ("client_id", client_id)) if value is not None}
        await self._store.add_messages(conversation_id, [Message(role="user", channel=channel, text=text, data=data)])

        if conversation.status == "handoff":
            return await self._to_the_team(conversation_id, channel, language, conversation.handoff_reason, text)
        if text in (PERSON_HELPED, PERSON_DID_NOT_HELP):
            return await self._rate_person(conversation_id, channel, language, text == PERSON_HELPED)
        if not has_words(text):
            # Emoji or punctuation alone: no question to search for, and no reason for a person.
            result = BotReply([BotMessage(reply("no_words", language))], language=language)
            await self._store_bot_messages(conversation_id, channel, result)
            return result

        try:
            raw = await self._rasa.send(conversation_id, text, {"language": language, "channel": channel})
            try:
                result = parse_rasa_output(raw)
                result.language = language
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise RasaUnavailable(f"unreadable reply from Rasa: {exc!r}") from exc
            if not result.messages:
                raise RasaUnavailable("Rasa returned no message (an action probably failed)")
        except RasaUnavailable as exc:
            logger.warning("Handing off %s: %s", conversation_id, exc, exc_info=exc)
            result = BotReply(
                [BotMessage(reply("service_error", language))], handoff={"reason": "service_error"}, language=language
            )

        await self._store_bot_messages(conversation_id, channel, result)
        for feedback in result.feedback:
            await self._store.add_feedback(conversation_id, str(feedback["article_id"]), bool(feedback["helpful"]))
        if result.handoff:
            await self._store.hand_off(conversation_id, result.handoff["reason"])
            if not await self._rasa.set_paused(conversation_id, True):
                logger.warning("Could not pause %s in Rasa (its messages stay with the team anyway)", conversation_id)
            if await self._store.agents_online(AGENT_ONLINE_WITHIN):
                text = self._position_text(await self.queue_position(conversation_id) or 1, language)
            else:  # nobody can answer now: a ticket, answered in this chat when someone is back
                await self._store.open_ticket(conversation_id)
                text = reply("nobody_online", language)
            notice = BotReply([BotMessage(text)], handoff=result.handoff)
            await self._store_bot_messages(conversation_id, channel, notice)
            result.messages.extend(notice.messages)
            self.hub.publish(DESK, {"type": "queue"})
        return result

    @staticmethod
    def _position_text(position: int, language: str) -> str:
        return reply("queue_position", language).format(position=position)

    async def queue_position(self, conversation_id: str) -> int | None:
        """1 for the longest-waiting unclaimed handoff; None if the conversation is not waiting."""
        return _position(await self._store.queue(), conversation_id)

    async def _to_the_team(
        self, conversation_id: str, channel: str, language: str, reason: str | None, user_text: str
    ) -> BotReply:
        """A message while a person has (or is about to have) the conversation: it goes to the
        desk, never to the bot. While nobody has claimed it, the user hears where they are, and
        the choices offered after a long wait are answered here."""
        self.hub.publish(DESK, {"type": "message", "conversation_id": conversation_id})
        handoff = {"reason": reason or "user_request"}
        queue = await self._store.queue()
        entry = next((row for row in queue if row[0].id == conversation_id), None)
        if entry is None or entry[2] is not None:  # an agent has it: they answer
            return BotReply([], handoff=handoff, language=language)
        ticket = entry[4]
        if user_text == BACK_TO_BOT:
            await self._store.cancel_handoff(conversation_id)
            if not await self._rasa.set_paused(conversation_id, False):
                logger.warning("Could not resume %s in Rasa", conversation_id)
            self.hub.publish(DESK, {"type": "queue"})
            handoff, text = None, reply("back_with_bot", language)
        elif user_text == LEAVE_MESSAGE:
            await self._store.open_ticket(conversation_id)
            self.hub.publish(DESK, {"type": "queue"})
            text = reply("leave_your_message", language)
        elif ticket is not None:
            text = reply("ticket_noted", language)
        elif user_text == KEEP_WAITING:
            text = reply("still_waiting", language).format(position=_position(queue, conversation_id) or 1)
        else:
            position = _position(queue, conversation_id) or 1
            text = reply("waiting_for_agent", language) + " " + self._position_text(position, language)
        result = BotReply([BotMessage(text)], handoff=handoff, language=language)
        await self._store_bot_messages(conversation_id, channel, result)
        return result

    async def _rate_person(self, conversation_id: str, channel: str, language: str, helped: bool) -> BotReply:
        handoff_id = await self._store.last_ended_handoff(conversation_id)
        if handoff_id is not None:
            await self._store.add_feedback(conversation_id, f"handoff:{handoff_id}", helped)
        result = BotReply([BotMessage(reply("rated_person", language))], language=language)
        await self._store_bot_messages(conversation_id, channel, result)
        return result

    async def say(self, conversation_id: str, channel: str, user_text: str, key: str, language: str) -> BotReply:
        """Answer from the gateway's own replies (a channel's help, an unsupported attachment),
        storing both sides like any other turn."""
        async with self._locks.hold(conversation_id):
            existing = await self._store.get_conversation(conversation_id)
            if existing and existing.channel != channel:
                raise WrongChannel(f"conversation '{conversation_id}' belongs to the {existing.channel} channel")
            language = existing.language if existing else language
            await self._store.open_conversation(conversation_id, channel, language)
            await self._store.add_messages(conversation_id, [Message(role="user", channel=channel, text=user_text)])
            result = BotReply([BotMessage(reply(key, language))], language=language)
            await self._store_bot_messages(conversation_id, channel, result)
            return result

    async def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The stored conversation, once any message in flight has its reply."""
        async with self._locks.hold(conversation_id):
            return [message_json(m) for m in await self._store.messages(conversation_id)]

    async def turn(self, conversation_id: str, client_id: str) -> list[dict[str, Any]] | None:
        """The replies to the user message a channel sent with `client_id` (waiting for them if
        it is still being handled); None if no such message has replies."""
        messages = await self.history(conversation_id)
        asked = next((i for i, m in enumerate(messages) if m["role"] == "user" and m["client_id"] == client_id), None)
        if asked is None:
            return None
        replies = []
        for message in messages[asked + 1 :]:
            if message["role"] == "user":
                break
            replies.append(message)
        return replies or None

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

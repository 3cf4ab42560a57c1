"""The gateway takes every user message from every channel: it stores the message, lets the
conversation's state machine (`bot.conversations`) decide who answers, asks the assistant when
it should, stores the reply, and carries out what the transition caused.

A turn is two database transactions: the user's message (with whatever the state machine does
with it), then the reply (with a handoff if the assistant asked for one). The Rasa call sits
between them, outside any transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.channels.base import Channels
from bot.conversations import Conversations, DeskNotified, Event, QueueChanged, RasaPaused, State, Told
from bot.hub import DESK, Hub
from bot.locks import KeyedLock
from bot.messages import WrongChannel, checked_text, has_words, is_payload
from bot.metrics import AppMetrics
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.replies import BotMessage, BotReply, bot_message, message_json, parse_rasa_output
from bot.store import Conversation, Message, Store, Tx
from bot.strings import text as catalogue_text
from knowledge_base.text import detect_language

logger = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        store: Store,
        rasa: RasaClient,
        hub: Hub | None = None,
        channels: Channels | None = None,
        conversations: Conversations | None = None,
        metrics: AppMetrics | None = None,
        locks: KeyedLock | None = None,
    ):
        self._store = store
        self._rasa = rasa
        self.metrics = metrics or AppMetrics()
        self.hub = hub or Hub()
        self.channels = channels or Channels()
        self.conversations = conversations or Conversations()
        # One message at a time per conversation keeps the transcript and Rasa's tracker in order
        # (across app instances with a SharedKeyedLock).
        self._locks = KeyedLock() if locks is None else locks  # (an idle lock has len() 0)

    async def handle(
        self,
        conversation_id: str,
        text: str,
        channel: str,
        *,
        language: str | None = None,
        display: str | None = None,
        client_id: str | None = None,
        user_name: str | None = None,
    ) -> BotReply:
        """Store the user's message, get the answer (the assistant's, or the state machine's
        notice), store it, return it.

        `language` is what the channel knows of the user's language (Telegram's language_code,
        the widget's setting): it decides for a new conversation when the text does not.
        `display` is what the user saw for a button payload; `user_name` the name the channel
        knows the user by. `client_id` is the channel's id for the message: a message sent again
        with the same id (after a lost connection, to whichever app instance) is not stored
        again; it gets the replies the first sending got (`replayed`), waiting while that is
        still being handled, or, if the instance handling it died before the answer was stored,
        the answer now. Raises InvalidMessage for an empty or over-long message, WrongChannel
        for another channel's conversation.
        """
        started = time.perf_counter()
        text = checked_text(text)
        if self._store.redact_at_rest:  # a name is personal data too
            user_name = None
        data = {key: value for key, value in (("display", display), ("client_id", client_id)) if value is not None}
        async with self._locks.hold(conversation_id):
            if client_id is not None and (earlier := await self._earlier(conversation_id, client_id)):
                return await self._again(conversation_id, *earlier, channel, started)
            async with self._store.transaction() as tx:
                conversation = await self._open(tx, conversation_id, channel, language, text, user_name)
                data["language"] = conversation.language  # as it was then: analytics count by it
                stored = Message(role="user", channel=channel, text=text, data=data)
                tx.add_messages(conversation, [stored])
                # What was stored (redacted, with TOUCHPOINT_REDACT_AT_REST) goes on, to Rasa's tracker too.
                text = stored.text
                events = await self.conversations.user_message(tx, conversation, text)
                if events is None and not has_words(text):
                    # Emoji or punctuation alone: no question to search for, and no reason for a person.
                    events = [self.conversations.tell(tx, conversation, "no_words")]
                handoff = await self._handoff(tx, conversation)
            if events is not None:
                reply = await self._reply(conversation, [], events, handoff)
                self.metrics.turn(channel, started, None)
                return reply
            return await self._answer(conversation, text, channel, started)

    async def _answer(self, conversation: Conversation, text: str, channel: str, started: float) -> BotReply:
        """The assistant's answer to the stored user message `text`, stored; the conversation's lock is held."""
        result = await self._ask_assistant(conversation, text)
        async with self._store.transaction() as tx:
            conversation = await tx.conversation(conversation.id)
            reason = result.handoff["reason"] if result.handoff else None
            started_handoff = reason if conversation.state == State.BOT else None  # else one is open
            candidates = []
            if reason:  # articles to read while a person comes go with the notice that says when
                candidates = [choice for m in result.messages for choice in m.choices]
                for message in result.messages:
                    message.choices = []
            rows = []
            if not (reason and conversation.state == State.WAITING):  # in the queue already: one notice
                rows = [self._bot_row(conversation, m) for m in result.messages]
                tx.add_messages(conversation, rows)
            for feedback in result.feedback:
                tx.add_feedback(conversation.id, str(feedback["article_id"]), bool(feedback["helpful"]))
            events = await self.conversations.bot_replied(tx, conversation, reason, candidates)
            handoff = {"reason": reason} if reason else await self._handoff(tx, conversation)
        reply = await self._reply(conversation, rows, events, handoff)
        self.metrics.turn(channel, started, result, started_handoff)
        return reply

    async def _earlier(self, conversation_id: str, client_id: str) -> tuple[Message, list[Message], bool] | None:
        """The user message stored with `client_id`, what followed it up to the next user message,
        and whether it is the conversation's last message."""
        messages = await self._store.messages(conversation_id)
        asked = next(
            (i for i, m in enumerate(messages) if m.role == "user" and (m.data or {}).get("client_id") == client_id),
            None,
        )
        if asked is None:
            return None
        replies = []
        for message in messages[asked + 1 :]:
            if message.role == "user":
                break
            replies.append(message)
        return messages[asked], replies, asked == len(messages) - 1

    async def _again(
        self, conversation_id: str, asked: Message, replies: list[Message], last: bool, channel: str, started: float
    ) -> BotReply:
        """A message sent again: the replies it got; none and the bot has the conversation, so
        whoever handled it died before storing the answer: the answer now."""
        async with self._store.transaction() as tx:
            conversation = await tx.conversation(conversation_id)
            handoff = await self._handoff(tx, conversation)
        if last and conversation.state == State.BOT:
            logger.warning("Answering %s again: its first handling stopped before the answer was stored", asked.id)
            return await self._answer(conversation, asked.text, channel, started)
        return BotReply(
            [bot_message(row) for row in replies],
            handoff=handoff,
            language=conversation.language,
            state=conversation.state,
            replayed=True,
        )

    async def say(self, conversation_id: str, channel: str, user_text: str, key: str, language: str) -> BotReply:
        """Answer from the catalogue (a channel's help, an unsupported attachment), storing both
        sides like any other turn."""
        started = time.perf_counter()
        async with self._locks.hold(conversation_id), self._store.transaction() as tx:
            conversation = await self._open(tx, conversation_id, channel, language, None, None)
            tx.add_messages(conversation, [Message(role="user", channel=channel, text=user_text)])
            events = [self.conversations.tell(tx, conversation, key)]
            handoff = await self._handoff(tx, conversation)
        reply = await self._reply(conversation, [], events, handoff)
        self.metrics.turn(channel, started, None)
        return reply

    async def run(
        self, conversation_id: str, operation: Callable[[Tx, Conversation], Awaitable[list[Event]]]
    ) -> list[Event]:
        """Run a state-machine operation on a conversation (the desk's claim, reply, hand back...)
        in one transaction, in turn with the user's messages, and carry out its events.
        Returns the events; raises LookupError for an unknown conversation."""
        async with self._locks.hold(conversation_id):
            async with self._store.transaction() as tx:
                conversation = await tx.conversation(conversation_id)
                if conversation is None:
                    raise LookupError(conversation_id)
                events = await operation(tx, conversation)
            await self.carry_out(conversation, events)
        return events

    async def carry_out(self, conversation: Conversation, events: Sequence[Event], *, deliver: bool = True) -> None:
        """What the events ask for: messages to the user's channel (unless they are the reply
        being returned), the desk's live updates, and Rasa's pause flag."""
        for event in events:
            if isinstance(event, Told):
                if deliver:
                    await self.channels.deliver(conversation, event.messages)
                await self.hub.publish(DESK, {"type": "message", "conversation_id": conversation.id})
            elif isinstance(event, QueueChanged):
                await self.hub.publish(DESK, {"type": "queue"})
            elif isinstance(event, DeskNotified):
                await self.hub.publish(DESK, {"type": "message", "conversation_id": event.conversation_id})
            elif isinstance(event, RasaPaused) and not await self._rasa.set_paused(event.conversation_id, event.paused):
                # The gateway routes by the conversation's state either way; Rasa's flag is a courtesy.
                logger.warning("Could not tell Rasa to %s %s", "pause" if event.paused else "resume", conversation.id)

    async def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The stored conversation, once any message in flight has its reply."""
        async with self._locks.hold(conversation_id):
            return [message_json(m) for m in await self._store.messages(conversation_id)]

    # --- the turn's parts ------------------------------------------------------------------

    @staticmethod
    async def _open(
        tx: Tx, conversation_id: str, channel: str, hint: str | None, text: str | None, user_name: str | None
    ) -> Conversation:
        """The conversation (made on its first message), its language following the user's `text`
        (None, or a button's payload, keeps the language it had)."""
        conversation = await tx.conversation(conversation_id)
        if conversation is not None and conversation.channel != channel:
            raise WrongChannel(f"conversation '{conversation_id}' belongs to the {conversation.channel} channel")
        previous = conversation.language if conversation else (hint or "en")
        language = previous if text is None or is_payload(text) else detect_language(text, previous)
        if conversation is None:
            conversation = await tx.add_conversation(conversation_id, channel, language)
        conversation.language = language
        if user_name:
            conversation.user_name = user_name[:120]
        return conversation

    async def _ask_assistant(self, conversation: Conversation, text: str) -> BotReply:
        """Rasa's reply; when Rasa or the actions fail, the polite fallback and a handoff."""
        language = conversation.language
        metadata = {"language": language, "channel": conversation.channel}
        try:
            with self.metrics.rasa_seconds.time():
                raw = await self._rasa.send(conversation.id, text, metadata)
            try:
                result = parse_rasa_output(raw)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise RasaUnavailable(f"unreadable reply from Rasa: {exc!r}") from exc
            if not result.messages:
                raise RasaUnavailable("Rasa returned no message (an action probably failed)")
        except RasaUnavailable as exc:
            logger.warning("Handing off %s: %s", conversation.id, exc, exc_info=exc)
            fallback = BotMessage(catalogue_text("service_error", language))
            result = BotReply([fallback], handoff={"reason": "service_error"})
        return result

    @staticmethod
    def _bot_row(conversation: Conversation, message: BotMessage) -> Message:
        return Message(
            role="bot",
            channel=conversation.channel,
            text=message.text,
            article_id=message.article_id,
            score=message.score,
            data={
                "title": message.title,
                "choices": message.choices,
                **({"trace": message.trace} if message.trace else {}),
            },
        )

    @staticmethod
    async def _handoff(tx: Tx, conversation: Conversation) -> dict[str, str] | None:
        """The handoff the conversation is in, as a reply reports it (the state says where it is)."""
        if conversation.state == State.BOT:
            return None
        current = await tx.open_handoff(conversation.id)
        return {"reason": current.handoff.reason if current else "user_request"}

    async def _reply(
        self, conversation: Conversation, rows: list[Message], events: list[Event], handoff: dict[str, str] | None
    ) -> BotReply:
        """Carry out the events and return this turn's messages, in order, as the channel's reply."""
        await self.carry_out(conversation, events, deliver=False)
        told = [message for event in events if isinstance(event, Told) for message in event.messages]
        return BotReply(
            [bot_message(row) for row in rows + told],
            handoff=handoff,
            language=conversation.language,
            state=conversation.state,
        )

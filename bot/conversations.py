"""A conversation's state, and every transition of it, in one place.

    state     who answers the user                      ways out
    bot       the assistant (Rasa)                      hand_off -> waiting, leave_message -> ticket
    waiting   the assistant, while in the queue         claim -> agent, leave_message -> ticket, back_to_bot
    ticket    nobody now: the user leaves a message     claim -> agent, back_to_bot
    agent     the agent who claimed it                  hand_back, close, back_to_bot (the user leaves)

Every state has a way back to the assistant: a button on each notice, and the phrases of
`bot.vocabulary.BACK_PHRASES`. Each operation runs inside the caller's transaction (a `Tx`),
writes the conversation's state, handoff, claim and ticket rows and the messages the user is
told, and returns the events it caused; the caller delivers them (`bot.effects`). Nobody else
writes a conversation's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot import vocabulary
from bot.store import Conversation, Message, Tx, User, agent_rating, utcnow
from bot.strings import text

# An agent whose console checked in this recently is online (the console checks in every 30 s).
AGENT_ONLINE_WITHIN = timedelta(seconds=90)
QUEUE_TIMEOUT_KIND = "queue_timeout"


class State(StrEnum):
    BOT = "bot"
    WAITING = "waiting"
    TICKET = "ticket"
    AGENT = "agent"


TRANSITIONS: dict[str, dict[State, State]] = {
    "hand_off": {State.BOT: State.WAITING},
    "leave_message": {State.BOT: State.TICKET, State.WAITING: State.TICKET},
    # From bot: a ticket whose author went back to the assistant is still answered by a person.
    "claim": {State.WAITING: State.AGENT, State.TICKET: State.AGENT, State.BOT: State.AGENT},
    "back_to_bot": {State.WAITING: State.BOT, State.TICKET: State.BOT, State.AGENT: State.BOT},
    "hand_back": {State.AGENT: State.BOT},
    "close": {State.AGENT: State.BOT},
}


class IllegalTransition(Exception):
    """The conversation is not in a state the transition starts from."""

    def __init__(self, conversation: Conversation, transition: str):
        super().__init__(f"conversation '{conversation.id}' is {conversation.state}: it cannot {transition}")
        self.transition = transition


class NotTheOwner(Exception):
    """Only the agent who claimed a conversation may write to the user or end the handoff."""


class NothingToClaim(Exception):
    """The conversation has no open handoff."""


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Told:
    """The user is told these messages (stored in the transaction); deliver them in their channel."""

    messages: tuple[Message, ...]


@dataclass(frozen=True)
class QueueChanged:
    """The desk's queue is different (a handoff opened, was claimed, ended, became a ticket)."""


@dataclass(frozen=True)
class DeskNotified:
    """Something new in a conversation the agents may be reading (a user's message, a note)."""

    conversation_id: str


@dataclass(frozen=True)
class RasaPaused:
    """Rasa should stop (True) or resume (False) predicting for the conversation."""

    conversation_id: str
    paused: bool


Event = Told | QueueChanged | DeskNotified | RasaPaused


# --- the machine ----------------------------------------------------------------------------


def move(conversation: Conversation, transition: str) -> State:
    """The one place a conversation's state is written."""
    after = TRANSITIONS[transition].get(State(conversation.state))
    if after is None:
        raise IllegalTransition(conversation, transition)
    conversation.state = after
    return after


def _button(key: str, payload: str, language: str) -> dict[str, str]:
    return {"title": text(f"button_{key}", language), "payload": payload}


def back_button(language: str) -> dict[str, str]:
    return _button("back_to_bot", vocabulary.BACK_TO_BOT, language)


def waiting_choices(language: str) -> list[dict[str, str]]:
    return [
        _button("keep_waiting", vocabulary.KEEP_WAITING, language),
        back_button(language),
        _button("leave_message", vocabulary.LEAVE_MESSAGE, language),
    ]


def rating_choices(language: str) -> list[dict[str, str]]:
    return [
        _button("person_helped", vocabulary.PERSON_HELPED, language),
        _button("person_did_not_help", vocabulary.PERSON_DID_NOT_HELP, language),
    ]


class Conversations:
    """The state machine. Stateless itself: the state lives in the database row."""

    def __init__(self, agent_online_within: timedelta = AGENT_ONLINE_WITHIN):
        self._online_within = agent_online_within

    @staticmethod
    def tell(
        tx: Tx, conversation: Conversation, key: str, *, choices: list | None = None, kind: str | None = None, **fields
    ) -> Told:
        """Store a notice from the system in the user's language; return it as an event."""
        data: dict = {"choices": choices or []}
        if kind:
            data["kind"] = kind
        message = Message(
            role="system",
            channel=conversation.channel,
            text=text(key, conversation.language, **fields),
            data=data,
        )
        tx.add_messages(conversation, [message])
        return Told((message,))

    # --- the user's side --------------------------------------------------------------------

    async def user_message(self, tx: Tx, conversation: Conversation, message: str) -> list[Event] | None:
        """What the state machine does with a user's (stored) message. None: ask the assistant."""
        state = State(conversation.state)
        language = conversation.language
        if message in (vocabulary.PERSON_HELPED, vocabulary.PERSON_DID_NOT_HELP):
            return await self.rate_person(tx, conversation, message == vocabulary.PERSON_HELPED)
        if state is not State.BOT and vocabulary.means_back_to_bot(message):
            return await self.back_to_bot(tx, conversation)
        if message == vocabulary.BACK_TO_BOT:  # an old button, already with the bot
            return [self.tell(tx, conversation, "back_with_bot")]
        if message == vocabulary.LEAVE_MESSAGE and state in (State.BOT, State.WAITING):
            return await self.leave_message(tx, conversation)
        if message == vocabulary.KEEP_WAITING:
            if state is not State.WAITING:
                return [self.tell(tx, conversation, "button_expired")]
            position = await tx.position((await tx.open_handoff(conversation.id)).handoff)
            return [self.tell(tx, conversation, "still_waiting", position=position, choices=[back_button(language)])]
        if state is State.AGENT:
            return [DeskNotified(conversation.id)]
        if state is State.TICKET:
            told = self.tell(tx, conversation, "ticket_noted", choices=[back_button(language)])
            return [told, DeskNotified(conversation.id)]
        if state is State.WAITING and message == vocabulary.REQUEST_HUMAN:
            position = await tx.position((await tx.open_handoff(conversation.id)).handoff)
            return [self.tell(tx, conversation, "already_waiting", position=position, choices=[back_button(language)])]
        return None

    async def bot_replied(
        self, tx: Tx, conversation: Conversation, handoff_reason: str | None, candidates: list | None = None
    ) -> list[Event]:
        """After the assistant's reply (stored by the caller): a requested handoff, or, while
        waiting, the reminder that the user is still in the queue. `candidates` are article
        choices to offer while a person comes."""
        candidates = candidates or []
        state = State(conversation.state)
        events: list[Event] = []
        if state is State.WAITING:
            events.append(DeskNotified(conversation.id))
            position = await tx.position((await tx.open_handoff(conversation.id)).handoff)
            key = "waiting_for_agent" if handoff_reason else "waiting_bot_answered"
            choices = [*candidates, back_button(conversation.language)]
            told = self.tell(tx, conversation, key, position=position, choices=choices)
            if handoff_reason:  # the queue's place said too
                extra = self.tell(tx, conversation, "queue_position", position=position)
                told = Told(told.messages + extra.messages)
            events.append(told)
        elif state is State.BOT and handoff_reason:
            events += await self.hand_off(tx, conversation, handoff_reason, candidates)
        return events

    async def hand_off(
        self, tx: Tx, conversation: Conversation, reason: str, candidates: list | None = None
    ) -> list[Event]:
        """A person is asked for. With agents online the user joins the queue; with nobody online
        they are offered to leave a message (no ticket unless they do) and stay with the bot.
        `candidates` (article choices) come first among the notice's buttons."""
        language = conversation.language
        candidates = candidates or []
        if not await tx.agents_online(self._online_within):
            await tx.start_handoff(conversation.id, reason, outcome="no_agent")
            choices = [*candidates, _button("leave_message", vocabulary.LEAVE_MESSAGE, language)]
            return [self.tell(tx, conversation, "nobody_online", choices=choices)]
        handoff = await tx.start_handoff(conversation.id, reason)
        move(conversation, "hand_off")
        position = await tx.position(handoff)
        choices = [*candidates, back_button(language)]
        told = self.tell(tx, conversation, "queue_position", position=position, choices=choices)
        return [told, QueueChanged()]

    async def leave_message(self, tx: Tx, conversation: Conversation) -> list[Event]:
        """The user chose to leave a message: the open handoff (or a new one) becomes a ticket."""
        current = await tx.open_handoff(conversation.id)
        if current is None:
            reason = await tx.last_reason(conversation.id) or "user_request"
            handoff = await tx.start_handoff(conversation.id, reason)
        else:
            handoff = current.handoff
        if current is None or current.ticket is None:
            tx.add_ticket(handoff)
        move(conversation, "leave_message")
        told = self.tell(tx, conversation, "leave_your_message", choices=[back_button(conversation.language)])
        return [told, QueueChanged()]

    async def back_to_bot(self, tx: Tx, conversation: Conversation) -> list[Event]:
        """The user leaves the queue, their ticket or their agent and has the assistant again. A
        ticket they already wrote a message for stays open: the team still answers it."""
        move(conversation, "back_to_bot")
        before = await tx.open_handoff(conversation.id)
        events: list[Event] = [QueueChanged()]
        key = "back_with_bot"
        fields: dict = {}
        if before is not None:
            if before.agent_id is not None:
                agent = await tx.agent(before.agent_id)
                before.claim.ended_at = utcnow()
                before.claim.outcome = "user_left"
                tx.end_handoff(before.handoff, "user_left")
                key, fields = "back_with_bot_from_agent", {"name": agent.name if agent else ""}
                events += [RasaPaused(conversation.id, False), DeskNotified(conversation.id)]
            elif (
                before.ticket is not None
                and await tx.user_messages_since(conversation.id, before.ticket.created_at) > 1
            ):
                # More than the "back" itself: the message they left stays with the team.
                key = "back_with_bot_ticket_kept"
            else:
                tx.end_handoff(before.handoff, "cancelled")
        return [self.tell(tx, conversation, key, **fields), *events]

    async def rate_person(self, tx: Tx, conversation: Conversation, helped: bool) -> list[Event]:
        handoff = await tx.last_ended_claim(conversation.id)
        if handoff is not None:
            tx.add_feedback(conversation.id, agent_rating(handoff.id), helped)
        return [self.tell(tx, conversation, "rated_person")]

    async def offer_choices(self, tx: Tx, conversation: Conversation) -> list[Event]:
        """After a long wait: keep waiting, back to the assistant, or leave a message."""
        choices = waiting_choices(conversation.language)
        return [self.tell(tx, conversation, "queue_timeout", choices=choices, kind=QUEUE_TIMEOUT_KIND)]

    # --- the agent's side -------------------------------------------------------------------

    async def claim(self, tx: Tx, conversation: Conversation, agent: User) -> list[Event]:
        """Raises NothingToClaim, or HandoffAlreadyClaimed when another agent was first."""
        current = await tx.open_handoff(conversation.id)
        if current is None:
            raise NothingToClaim(conversation.id)
        await tx.claim(current.handoff, agent.id)
        move(conversation, "claim")
        told = self.tell(
            tx, conversation, "agent_joined", name=agent.name, choices=[back_button(conversation.language)]
        )
        return [told, QueueChanged(), RasaPaused(conversation.id, True)]

    async def agent_says(
        self, tx: Tx, conversation: Conversation, agent: User, message: str, article_id: str | None = None
    ) -> list[Event]:
        """The owner's reply; `article_id`: the knowledge-base article it quotes."""
        await self._require_owner(tx, conversation, agent)
        row = Message(
            role="agent", channel=conversation.channel, text=message, data={"agent": agent.name}, article_id=article_id
        )
        tx.add_messages(conversation, [row])
        return [Told((row,))]

    async def end(self, tx: Tx, conversation: Conversation, agent: User, outcome: str) -> list[Event]:
        """The owner hands the conversation back to the assistant ("returned") or closes it
        ("closed"); either way the user is asked whether the agent solved their problem."""
        current = await self._require_owner(tx, conversation, agent)
        move(conversation, "hand_back" if outcome == "returned" else "close")
        current.claim.ended_at = utcnow()
        current.claim.outcome = outcome
        tx.end_handoff(current.handoff, outcome)
        key = "agent_handed_back" if outcome == "returned" else "agent_closed"
        told = self.tell(tx, conversation, key, name=agent.name, choices=rating_choices(conversation.language))
        return [told, QueueChanged(), RasaPaused(conversation.id, False)]

    @staticmethod
    async def _require_owner(tx: Tx, conversation: Conversation, agent: User):
        current = await tx.open_handoff(conversation.id)
        if conversation.state != State.AGENT or current is None or current.agent_id != agent.id:
            raise NotTheOwner(conversation.id)
        return current

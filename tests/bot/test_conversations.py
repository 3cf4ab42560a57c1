"""The conversation state machine, on a real SQLite store: every transition from every state it
starts from, what each one tells the user, and that every other start is refused."""

from __future__ import annotations

import asyncio

import pytest

from bot import vocabulary
from bot.conversations import (
    TRANSITIONS,
    Conversations,
    DeskNotified,
    IllegalTransition,
    NotTheOwner,
    QueueChanged,
    RasaPaused,
    State,
    Told,
    move,
)
from bot.store import Conversation, Message, Store, User, utcnow


@pytest.fixture
def store(tmp_path) -> str:
    """A migrated SQLite database's URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'touchpoint.db'}"

    async def make():
        store = Store.from_url(url)
        await store.upgrade()
        await store.close()

    asyncio.run(make())
    return url


def run(url: str, work):
    """`await work(tx, machine)` in one transaction of a store opened (and closed) for it."""

    async def go():
        store = Store.from_url(url)
        try:
            async with store.transaction() as tx:
                return await work(tx, Conversations())
        finally:
            await store.close()

    return asyncio.run(go())


def told(events) -> list[str]:
    return [m.text for e in events if isinstance(e, Told) for m in e.messages]


def payloads(events) -> list[str]:
    return [c["payload"] for e in events if isinstance(e, Told) for m in e.messages for c in m.data["choices"]]


async def agents(tx, online: bool) -> User:
    """Alice, the agent: with her console open (online) or not."""
    agent = await tx.session.get(User, 1)
    if agent is None:
        agent = User(id=1, username="alice", name="Alice", role="agent", password_hash="x", active=True)
        tx.session.add(agent)
    agent.last_seen = utcnow() if online else None
    await tx.session.flush()
    return agent


async def conversation_in(tx, machine: Conversations, state: State, *, online: bool = True) -> Conversation:
    """A conversation brought to `state` the way users and agents do."""
    conversation = await tx.add_conversation(f"c-{state}-{online}", "api", "en")
    agent = await agents(tx, online)
    if state is State.BOT:
        return conversation
    if state is State.TICKET:
        await machine.leave_message(tx, conversation)
        return conversation
    await machine.hand_off(tx, conversation, "user_request")
    if state is State.AGENT:
        await machine.claim(tx, conversation, agent)
    assert conversation.state == state
    return conversation


def test_every_state_has_a_way_back_to_the_assistant():
    for state in State:
        if state is not State.BOT:
            assert TRANSITIONS["back_to_bot"][state] is State.BOT


@pytest.mark.parametrize(("transition", "start"), [(t, s) for t, starts in TRANSITIONS.items() for s in State])
def test_move_goes_only_where_the_table_says(transition, start):
    conversation = Conversation(id="c", channel="api", language="en", state=start.value)
    expected = TRANSITIONS[transition].get(start)
    if expected is None:
        with pytest.raises(IllegalTransition):
            move(conversation, transition)
        assert conversation.state == start
    else:
        assert move(conversation, transition) is expected and conversation.state == expected


def test_hand_off_with_agents_online_queues_the_user_with_a_way_back(store):
    async def work(tx, machine):
        conversation = await conversation_in(tx, machine, State.BOT)
        events = await machine.hand_off(tx, conversation, "low_confidence")
        return conversation.state, told(events), payloads(events), [type(e) for e in events]

    state, texts, buttons, kinds = run(store, work)
    assert state == State.WAITING and texts == ["You are number 1 in the queue."]
    assert buttons == [vocabulary.BACK_TO_BOT] and QueueChanged in kinds


def test_hand_off_with_nobody_online_offers_a_message_and_keeps_the_bot(store):
    async def work(tx, machine):
        conversation = await conversation_in(tx, machine, State.BOT, online=False)
        events = await machine.hand_off(tx, conversation, "user_request")
        return conversation.state, payloads(events), await tx.open_handoff(conversation.id)

    state, buttons, open_handoff = run(store, work)
    assert state == State.BOT and buttons == [vocabulary.LEAVE_MESSAGE] and open_handoff is None


@pytest.mark.parametrize("start", [State.WAITING, State.TICKET, State.AGENT])
def test_back_to_bot_from_every_state(store, start):
    async def work(tx, machine):
        conversation = await conversation_in(tx, machine, start)
        tx.add_messages(conversation, [Message(role="user", channel="api", text="back", data={})])
        events = await machine.user_message(tx, conversation, "back to the assistant")
        return conversation.state, told(events), events, await tx.open_handoff(conversation.id)

    state, texts, events, open_handoff = run(store, work)
    assert state == State.BOT and texts[0].startswith("You")
    assert open_handoff is None  # withdrawn (waiting, an empty ticket) or ended (the agent's)
    if start is State.AGENT:
        assert texts == ["You've left the chat with Alice; you're back with the virtual assistant."]
        assert RasaPaused("c-agent-True", False) in events and DeskNotified("c-agent-True") in events


def test_claim_and_end_are_the_owners_alone(store):
    async def work(tx, machine):
        conversation = await conversation_in(tx, machine, State.WAITING)
        alice = await agents(tx, True)
        claimed = await machine.claim(tx, conversation, alice)
        bob = User(id=2, username="bob", name="Bob", role="agent", password_hash="x", active=True)
        tx.session.add(bob)
        await tx.session.flush()
        with pytest.raises(NotTheOwner):
            await machine.agent_says(tx, conversation, bob, "hi")
        with pytest.raises(NotTheOwner):
            await machine.end(tx, conversation, bob, "closed")
        said = await machine.agent_says(tx, conversation, alice, "Hello")
        ended = await machine.end(tx, conversation, alice, "closed")
        return conversation.state, claimed, said, ended

    state, claimed, said, ended = run(store, work)
    assert RasaPaused("c-waiting-True", True) in claimed and told(claimed) == [
        "Alice from our support team has joined the chat."
    ]
    assert told(said) == ["Hello"]
    assert state == State.BOT and payloads(ended) == [vocabulary.PERSON_HELPED, vocabulary.PERSON_DID_NOT_HELP]


@pytest.mark.parametrize(
    ("start", "message", "expected"),
    [
        (State.BOT, "how do I pay", None),  # the assistant answers
        (State.WAITING, "how do I pay", None),  # the assistant answers while the place is kept
        (State.WAITING, vocabulary.REQUEST_HUMAN, "You're already in the queue for a person: number 1."),
        (State.WAITING, vocabulary.KEEP_WAITING, "OK, you're still in the queue: number 1."),
        (State.TICKET, "call me at noon", "Thanks, we've noted that."),
        (State.AGENT, "are you there?", []),  # the agent answers
        (State.BOT, vocabulary.KEEP_WAITING, "This button is no longer available."),
    ],
)
def test_who_answers_a_message_in_each_state(store, start, message, expected):
    async def work(tx, machine):
        conversation = await conversation_in(tx, machine, start)
        events = await machine.user_message(tx, conversation, message)
        return conversation.state, events

    state, events = run(store, work)
    assert state == start  # none of these moves the conversation
    if expected is None:
        assert events is None
    elif expected == []:
        assert told(events) == []
    else:
        assert told(events)[0].startswith(expected)

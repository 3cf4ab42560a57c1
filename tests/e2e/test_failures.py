"""Processes stopping under a live conversation: nothing is lost, the user is never left alone.

Each test restarts what it stopped, so the other end-to-end tests find the stack whole.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_conversation_survives_an_app_restart(stack, chat):
    chat.say("how do I check my remaining data")
    stack.process("app").stop()
    stack.process("app").start()
    stack.process("app").wait_ready()
    reply = chat.say("and how do I top up")
    assert reply["messages"], reply
    texts = [m["text"] for m in chat.stored()["messages"] if m["role"] == "user"]
    assert texts == ["how do I check my remaining data", "and how do I top up"]


def test_rasa_stopping_mid_conversation_hands_off_with_service_error(stack, chat):
    assert chat.say("how do I read my bill")["handoff"] is None
    stack.process("rasa").stop()
    try:
        reply = chat.say("这个月账单为什么这么高")
        assert reply["handoff"] == {"reason": "service_error"}
        assert reply["messages"][0]["text"].startswith("抱歉")
        stored = chat.stored()
        # Queued if an agent's console was open a moment ago (an earlier test), else offered a message.
        assert stored["state"] in ("bot", "waiting")
        assert [m["text"] for m in stored["messages"] if m["role"] == "user"] == [
            "how do I read my bill",
            "这个月账单为什么这么高",
        ]
        assert stored["messages"][-1]["role"] == "system"  # the queue's place, or the offer
    finally:
        stack.process("rasa").start()
        stack.process("rasa").wait_ready()


def test_action_server_down_hands_off_with_service_error(stack, chat):
    stack.process("actions").stop()
    try:
        reply = chat.say("how do I replace a lost SIM card")
        assert reply["handoff"] == {"reason": "service_error"}
        assert reply["messages"][0]["text"].startswith("Sorry")
        stored = chat.stored()["messages"]
        assert [m["role"] for m in stored] == ["user", "bot", "system"]
        assert stored[2]["text"].startswith(("You are number", "Nobody from our support team is online"))
    finally:
        stack.process("actions").start()
        stack.process("actions").wait_ready()

"""Handing a conversation to a person: the decision is made here, the routing by the gateway."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.vocabulary import HANDOFF_REASONS as REASONS


def hand_off(
    dispatcher: CollectingDispatcher,
    reason: str,
    candidates: list[dict[str, str]] | None = None,
    trace: dict[str, Any] | None = None,
) -> list[EventType]:
    """Tell the user a person is coming (in their language) and mark the reply as a handoff.
    `candidates` (article choices) are offered to read while they wait; `trace` says why."""
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    custom: dict[str, Any] = {"handoff": {"reason": reason}, **({"trace": trace} if trace else {})}
    if candidates:
        dispatcher.utter_message(
            response=f"utter_handoff_{reason}_with_candidates", json_message={**custom, "choices": candidates}
        )
    else:
        dispatcher.utter_message(response=f"utter_handoff_{reason}", json_message=custom)
    return [SlotSet("last_article_id", None), SlotSet("not_helpful_count", 0)]


class ActionHandoff(Action):
    """The user asked for a person."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return hand_off(dispatcher, "user_request")

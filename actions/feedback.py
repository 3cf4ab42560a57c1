"""'Helpful' / 'not helpful' on the last answer; repeated 'not helpful' brings in a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import choice_payload
from actions.handoff import hand_off
from knowledge_base.search import KnowledgeBase

# The last choice after "not helpful": Rasa reads the payload as the request_human intent.
TALK_TO_A_PERSON = {"en": "Talk to a person", "zh": "转人工客服"}


def previous_action(tracker: Tracker) -> str | None:
    """The bot's last action before the latest user message (action_listen aside)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None


class ActionFeedback(Action):
    def __init__(self, knowledge_base: KnowledgeBase, not_helpful_limit: int = 2):
        self._kb = knowledge_base
        self._not_helpful_limit = not_helpful_limit

    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        article_id = tracker.get_slot("last_article_id")
        if not article_id or previous_action(tracker) != "action_answer_question":
            # A yes or no that does not follow an answer ("thanks" - "no") rates nothing.
            dispatcher.utter_message(response="utter_ok")
            return []

        helpful = (tracker.latest_message.get("intent") or {}).get("name") == "affirm"
        dispatcher.utter_message(json_message={"feedback": {"article_id": article_id, "helpful": helpful}})
        if helpful:
            dispatcher.utter_message(response="utter_feedback_thanks")
            return [SlotSet("last_article_id", None), SlotSet("not_helpful_count", 0)]

        count = int(tracker.get_slot("not_helpful_count") or 0) + 1
        if count >= self._not_helpful_limit:
            return hand_off(dispatcher, "repeated_not_helpful")

        language = tracker.get_slot("language") or "en"
        alternatives = [a for a in (self._kb.get(i, language) for i in tracker.get_slot("runner_up_ids") or []) if a]
        choices = [{"title": a.title, "payload": choice_payload(a.id), "article_id": a.id} for a in alternatives]
        choices.append({"title": TALK_TO_A_PERSON.get(language, TALK_TO_A_PERSON["en"]), "payload": "/request_human"})
        dispatcher.utter_message(response="utter_feedback_sorry", json_message={"choices": choices})
        return [SlotSet("last_article_id", None), SlotSet("not_helpful_count", count)]

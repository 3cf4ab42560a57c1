"""The user's reaction to the bot's last reply: "helpful" / "not helpful" on an answer, thanks,
and messages that only look like one. Repeated "not helpful" brings in a person."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion, AnswerSettings, article_choice
from actions.handoff import hand_off
from bot.strings import text
from bot.vocabulary import REQUEST_HUMAN
from knowledge_base.articles import Article
from knowledge_base.search import KnowledgeBase

# Past this length a message is no yes, no or thanks, whatever the NLU says (a 3,200-character
# bill complaint was once taken for "yes, that helped"). Heartfelt thanks run longer than 60
# characters ("Thank you so much, that was really helpful and I appreciate your time today!" is
# 76, and the NLU is sure of it), so the line is at 100. A Chinese character counts twice: it
# says about as much as two Latin letters.
FEEDBACK_MAX_LENGTH = 100
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def is_long(text: str) -> bool:
    text = text.strip()
    return len(text) + len(_WIDE.findall(text)) > FEEDBACK_MAX_LENGTH


def asks_something(text: str) -> bool:
    return "?" in text or "？" in text


@dataclass(frozen=True)
class PreviousTurn:
    """The bot's turn before the latest user message: what it did, and what it answered."""

    action: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)  # the slots it set
    question: str | None = None  # the user's message it replied to, unless that was a button

    @property
    def answered(self) -> bool:
        """It answered with an article: action_answer_question, or this action taking a long
        message for a question (it sets last_article_id too)."""
        return self.action == "action_answer_question" or bool(self.slots.get("last_article_id"))

    @property
    def said_sorry(self) -> bool:
        """It was the reply to a first "not helpful" (the only turn that counts one)."""
        return (self.slots.get("not_helpful_count") or 0) > 0


def previous_turn(tracker: Tracker) -> PreviousTurn:
    """Read from the events as Rasa logs a turn: the user's message, the action, its bot
    messages and slots, then action_listen before the next message."""
    events = tracker.events
    latest = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), -1)
    slots: dict[str, Any] = {}
    at = latest - 1
    while at >= 0:
        event = events[at]
        if event.get("event") == "slot":
            slots.setdefault(event.get("name"), event.get("value"))  # walking back: the last value wins
        elif event.get("event") == "action" and event.get("name") != "action_listen":
            break
        at -= 1
    if at < 0:
        return PreviousTurn()
    asked = next((e for e in reversed(events[:at]) if e.get("event") == "user"), {})
    text = asked.get("text") or ""
    return PreviousTurn(events[at].get("name"), slots, text if text and not text.startswith("/") else None)


class ActionFeedback(Action):
    """Run for affirm, deny and thank. A yes or no rates the answer just given; a second "not
    helpful" in a row brings in a person. A long message or an answerable question is a
    question, however the NLU classified it."""

    def __init__(
        self, knowledge_base: KnowledgeBase, not_helpful_limit: int = 2, settings: AnswerSettings | None = None
    ):
        settings = settings or AnswerSettings()  # the answer action's, so both judge answers alike
        self._kb = knowledge_base
        self._not_helpful_limit = not_helpful_limit
        self._settings = settings
        self._answers = ActionAnswerQuestion(knowledge_base, settings)

    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if is_long(text):
            # A complaint or a story: answer it, or (no good answer) a person reads it.
            return self._answers.answer(dispatcher, self._answers.judge(text, tracker), tracker)
        if asks_something(text) and (verdict := self._answers.judge(text, tracker)).confident:
            # "No, how do I top up then?": a question the knowledge base answers is answered.
            return self._answers.answer(dispatcher, verdict, tracker)
        if intent == "thank":
            dispatcher.utter_message(response="utter_you_are_welcome")
            return []

        turn = previous_turn(tracker)
        article_id = tracker.get_slot("last_article_id")
        if article_id and turn.answered:
            return self._rate(dispatcher, tracker, turn, article_id, helpful=intent == "affirm")
        if intent == "deny" and turn.said_sorry:
            # "No" to "try one of these, or talk to a person": the second "not helpful" in a row.
            return self._not_helpful(dispatcher, tracker, turn, rated=None)
        # A yes or no that follows no answer ("thanks" - "anything else?" - "no") rates nothing.
        dispatcher.utter_message(response="utter_ok")
        return []

    def _rate(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, turn: PreviousTurn, article_id: str, *, helpful: bool
    ) -> list[EventType]:
        dispatcher.utter_message(json_message={"feedback": {"article_id": article_id, "helpful": helpful}})
        if helpful:
            dispatcher.utter_message(response="utter_feedback_thanks")
            return [SlotSet("last_article_id", None), SlotSet("not_helpful_count", 0)]
        return self._not_helpful(dispatcher, tracker, turn, rated=article_id)

    def _not_helpful(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, turn: PreviousTurn, rated: str | None
    ) -> list[EventType]:
        """Count one more "not helpful": at the limit a person takes over; before it the user
        gets what the reply promises, other articles when there are any and always a person."""
        count = int(tracker.get_slot("not_helpful_count") or 0) + 1
        if count >= self._not_helpful_limit:
            return hand_off(dispatcher, "repeated_not_helpful")

        language = tracker.get_slot("language") or "en"
        alternatives = self._alternatives(tracker, turn, rated) if rated else []
        choices = [article_choice(a) for a in alternatives]
        # The last choice: Rasa reads the payload as the request_human intent.
        choices.append({"title": text("button_talk_to_person", language), "payload": REQUEST_HUMAN})
        response = "utter_feedback_sorry" if alternatives else "utter_feedback_sorry_no_alternatives"
        dispatcher.utter_message(response=response, json_message={"choices": choices})
        return [SlotSet("last_article_id", None), SlotSet("not_helpful_count", count)]

    def _alternatives(self, tracker: Tracker, turn: PreviousTurn, rated: str) -> list[Article]:
        """The rated answer's close runners-up; without any, the knowledge base's other good
        answers to the question the user typed (an article picked by button has none)."""
        language = tracker.get_slot("language") or "en"
        runners_up = [a for a in (self._kb.get(i, language) for i in tracker.get_slot("runner_up_ids") or []) if a]
        if runners_up or not turn.question:
            return runners_up
        hits = self._kb.search(turn.question, language, k=self._settings.max_choices + 1)
        good = [hit.article for hit in hits if hit.article.id != rated and hit.score >= self._settings.threshold]
        return good[: self._settings.max_choices]

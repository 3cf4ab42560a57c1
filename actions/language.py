"""Keeps the `language` slot on the user's language, so responses come in zh or en."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from knowledge_base.articles import LANGUAGES
from knowledge_base.text import detect_language


class ActionDetectLanguage(Action):
    """Run by Rasa's slot extraction on every user message (custom slot mapping).

    The gateway sends the language it detected in the message metadata; without it (e.g. a
    message sent to Rasa directly) the language is detected from the text. Button payloads
    ('/affirm') keep the language the conversation already had.
    """

    def name(self) -> str:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        current = tracker.get_slot("language") or "en"
        metadata = tracker.latest_message.get("metadata") or {}
        language = metadata.get("language")
        if language not in LANGUAGES:
            text = tracker.latest_message.get("text") or ""
            language = current if text.startswith("/") else detect_language(text, current)
        return [SlotSet("language", language)]

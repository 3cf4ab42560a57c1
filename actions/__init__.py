"""Touchpoint's Rasa SDK actions: answer from the knowledge base, hand off, record feedback."""

from actions.answer import ActionAnswerQuestion, AnswerSettings
from actions.feedback import ActionFeedback
from actions.handoff import ActionHandoff, hand_off
from actions.language import ActionDetectLanguage

__all__ = [
    "ActionAnswerQuestion",
    "ActionDetectLanguage",
    "ActionFeedback",
    "ActionHandoff",
    "AnswerSettings",
    "hand_off",
]

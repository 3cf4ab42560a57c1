from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import ActionFeedback
from actions.handoff import REASONS, ActionHandoff, hand_off
from actions.language import ActionDetectLanguage
from tests.actions.conftest import make_tracker


def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return dispatcher.messages, events


def test_helpful_is_recorded_and_thanked(knowledge_base, domain):
    tracker = make_tracker(
        "yes, thanks", "affirm", slots={"last_article_id": "sim-puk"}, previous_action="action_answer_question"
    )
    messages, events = run(ActionFeedback(knowledge_base), tracker, domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "sim-puk", "helpful": True}}
    assert messages[1]["response"] == "utter_feedback_thanks"
    assert SlotSet("not_helpful_count", 0) in events


def test_first_not_helpful_offers_the_runners_up_and_a_person(knowledge_base, domain):
    tracker = make_tracker(
        "no",
        "deny",
        slots={"last_article_id": "sim-puk", "runner_up_ids": ["roaming-activate"], "language": "zh"},
        previous_action="action_answer_question",
    )
    messages, events = run(ActionFeedback(knowledge_base, not_helpful_limit=2), tracker, domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "sim-puk", "helpful": False}}
    assert messages[1]["response"] == "utter_feedback_sorry"
    choices = messages[1]["custom"]["choices"]
    assert [(c["title"], c["payload"]) for c in choices] == [
        ("开通国际漫游", '/choose_article{"article_id":"roaming-activate"}'),
        ("转人工客服", "/request_human"),
    ]
    assert SlotSet("not_helpful_count", 1) in events


def test_repeated_not_helpful_hands_off(knowledge_base, domain):
    tracker = make_tracker(
        "still no",
        "deny",
        slots={"last_article_id": "sim-puk", "not_helpful_count": 1},
        previous_action="action_answer_question",
    )
    messages, _ = run(ActionFeedback(knowledge_base, not_helpful_limit=2), tracker, domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "sim-puk", "helpful": False}}
    assert messages[1]["response"] == "utter_handoff_repeated_not_helpful"
    assert messages[1]["custom"] == {"handoff": {"reason": "repeated_not_helpful"}}


def test_yes_or_no_without_an_answer_records_nothing(knowledge_base, domain):
    messages, events = run(ActionFeedback(knowledge_base), make_tracker("yes", "affirm"), domain)
    assert [m["response"] for m in messages] == ["utter_ok"]
    assert events == []


def test_request_for_a_person_hands_off(domain):
    messages, _ = run(ActionHandoff(), make_tracker("转人工", "request_human"), domain)
    assert messages[0]["response"] == "utter_handoff_user_request"
    assert messages[0]["custom"] == {"handoff": {"reason": "user_request"}}


def test_unknown_handoff_reason_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown handoff reason"):
        hand_off(CollectingDispatcher(), "bored")


@pytest.mark.parametrize("reason", [r for r in REASONS if r != "service_error"])
def test_every_handoff_reason_has_a_response_in_both_languages(domain, reason):
    variations = domain["responses"][f"utter_handoff_{reason}"]
    conditions = [v.get("condition") for v in variations]
    assert [{"type": "slot", "name": "language", "value": "zh"}] in conditions
    assert None in conditions  # the English default


@pytest.mark.parametrize(
    ("text", "metadata", "current", "expected"),
    [
        ("How do I pay?", {}, "en", "en"),
        ("怎么交话费", {}, "en", "zh"),
        ("eSIM 怎么开通", {}, "en", "zh"),
        ("/affirm", {}, "zh", "zh"),
        ("123", {}, "zh", "zh"),
        ("hello", {"language": "zh"}, "en", "zh"),
        ("hello, can you help me", {"language": "fr"}, "zh", "en"),
        ("ok", {"language": "fr"}, "zh", "zh"),
    ],
)
def test_language_slot_follows_the_user(domain, text, metadata, current, expected):
    tracker = make_tracker(text, "greet", metadata=metadata, slots={"language": current})
    _, events = run(ActionDetectLanguage(), tracker, domain)
    assert events == [SlotSet("language", expected)]


def test_no_after_a_non_answer_turn_rates_nothing(knowledge_base, domain):
    # answer -> "thanks" -> "you're welcome, anything else?" -> "no": the answer was not unhelpful.
    tracker = make_tracker("no", "deny", slots={"last_article_id": "sim-puk"}, previous_action="utter_you_are_welcome")
    messages, events = run(ActionFeedback(knowledge_base), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_ok"]
    assert events == []

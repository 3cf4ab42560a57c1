from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion, AnswerSettings, choice_payload
from actions.feedback import ActionFeedback, is_long
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


# --- a second "not helpful" in a row -------------------------------------------------------

AFTER_SORRY = {"last_article_id": None, "not_helpful_count": 1}  # what the "not helpful" reply set


@pytest.mark.parametrize(("text", "language"), [("no", "en"), ("没用", "zh"), ("/deny", "en")])
def test_no_to_the_not_helpful_reply_is_the_second_not_helpful_and_brings_a_person(
    knowledge_base, domain, text, language
):
    tracker = make_tracker(
        text,
        "deny",
        slots={**AFTER_SORRY, "language": language},
        previous_action="action_feedback",
        previous_slots=AFTER_SORRY,
    )
    messages, events = run(ActionFeedback(knowledge_base), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_handoff_repeated_not_helpful"]  # the article was rated once
    assert messages[0]["custom"] == {"handoff": {"reason": "repeated_not_helpful"}}
    assert SlotSet("not_helpful_count", 0) in events


def test_under_a_higher_limit_a_second_no_offers_a_person_again(knowledge_base, domain):
    tracker = make_tracker(
        "no", "deny", slots=AFTER_SORRY, previous_action="action_feedback", previous_slots=AFTER_SORRY
    )
    messages, events = run(ActionFeedback(knowledge_base, not_helpful_limit=3), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_feedback_sorry_no_alternatives"]
    assert messages[0]["custom"]["choices"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    assert SlotSet("not_helpful_count", 2) in events


@pytest.mark.parametrize(
    ("intent", "previous_slots"),
    [
        ("affirm", AFTER_SORRY),  # "yes" to "try one of these" rates nothing
        ("deny", {}),  # the bot's last turn was not the "not helpful" reply (e.g. "you're welcome")
        ("deny", {"last_article_id": None, "not_helpful_count": 0}),  # it was "glad that helped"
    ],
)
def test_only_a_no_right_after_the_not_helpful_reply_counts_again(knowledge_base, domain, intent, previous_slots):
    tracker = make_tracker(
        "no", intent, slots=AFTER_SORRY, previous_action="action_feedback", previous_slots=previous_slots
    )
    messages, events = run(ActionFeedback(knowledge_base), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_ok"]
    assert events == []


# --- the "not helpful" reply shows what it offers --------------------------------------------


def rated_no(question: str, article_id: str = "billing-payment-methods", **slots):
    """'no' right after `article_id` was given as the answer to `question`."""
    answered = {"last_article_id": article_id, "runner_up_ids": []}
    return make_tracker(
        "no",
        "deny",
        slots={**answered, **slots},
        previous_action="action_answer_question",
        previous_slots=answered,
        asked=question,
    )


def test_without_runners_up_the_question_is_searched_again_for_other_articles(knowledge_base, domain):
    action = ActionFeedback(knowledge_base, settings=AnswerSettings(threshold=0.1, max_choices=3))
    messages, events = run(action, rated_no("roaming bill PIN"), domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "billing-payment-methods", "helpful": False}}
    assert messages[1]["response"] == "utter_feedback_sorry"
    choices = messages[1]["custom"]["choices"]
    assert [c["article_id"] for c in choices[:-1]] == ["roaming-activate", "sim-puk"]  # never the rated one
    assert choices[0]["payload"] == choice_payload("roaming-activate")
    assert choices[-1] == {"title": "Talk to a person", "payload": "/request_human"}
    assert SlotSet("not_helpful_count", 1) in events


@pytest.mark.parametrize(
    "tracker",
    [
        rated_no("How can I pay my bill?", language="zh"),  # nothing else is good enough
        rated_no(choice_payload("billing-payment-methods"), language="zh"),  # picked by button: no question
    ],
)
def test_with_nothing_else_to_try_the_reply_offers_only_a_person(knowledge_base, domain, tracker):
    action = ActionFeedback(knowledge_base, settings=AnswerSettings(threshold=0.5))
    messages, _ = run(action, tracker, domain)
    assert messages[1]["response"] == "utter_feedback_sorry_no_alternatives"
    assert messages[1]["custom"]["choices"] == [{"title": "转人工客服", "payload": "/request_human"}]
    promises = {v.get("condition") is None: v["text"] for v in domain["responses"][messages[1]["response"]]}
    assert "these" not in promises[True] and "相关内容" not in promises[False]


# --- what only looks like a yes, a no or thanks ---------------------------------------------

COMPLAINT = ("我上个月的账单多扣了两百块钱，我根本没有用那么多流量，你们必须给我一个解释。" * 90)[:3200]


@pytest.mark.parametrize("intent", ["affirm", "thank", "deny"])
def test_a_long_message_is_a_question_however_the_nlu_took_it(knowledge_base, domain, intent):
    tracker = rated_no("怎么交话费？", language="zh")
    tracker.latest_message.update(text=COMPLAINT, intent={"name": intent, "confidence": 0.9})
    settings = AnswerSettings(threshold=0.2)
    answered, events = run(ActionFeedback(knowledge_base, settings=settings), tracker, domain)
    question = make_tracker(COMPLAINT, slots={"language": "zh"})
    as_a_question = run(ActionAnswerQuestion(knowledge_base, settings), question, domain)
    # The trace says what the NLU took it for; all else is the answer to the question.
    said, asked = answered[0]["custom"]["trace"], as_a_question[0][0]["custom"]["trace"]
    assert (said.pop("intent"), said.pop("confidence")) == (intent, 0.9)
    asked.pop("intent"), asked.pop("confidence")
    assert (answered, events) == as_a_question  # no feedback, no thanks: the answer to the question
    assert answered[0]["custom"]["article_id"] is not None

    handed_off, _ = run(ActionFeedback(knowledge_base, settings=AnswerSettings(threshold=1.01)), tracker, domain)
    assert [m["custom"]["handoff"] for m in handed_off] == [{"reason": "low_confidence"}]
    assert handed_off[0]["custom"]["trace"]["decision"] == "hand_off"


def test_a_question_the_knowledge_base_answers_is_answered_not_taken_as_feedback(knowledge_base, domain):
    tracker = rated_no("Can I use my phone abroad?", "roaming-activate")
    tracker.latest_message.update(text="no, how can I pay my bill?")
    messages, _ = run(ActionFeedback(knowledge_base, settings=AnswerSettings(threshold=0.5)), tracker, domain)
    assert [m["custom"].get("article_id") for m in messages] == ["billing-payment-methods"]


def test_a_short_question_with_no_answer_is_still_feedback(knowledge_base, domain):
    tracker = rated_no("How can I pay my bill?")
    tracker.latest_message.update(text="no?")
    messages, _ = run(ActionFeedback(knowledge_base, settings=AnswerSettings(threshold=0.5)), tracker, domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "billing-payment-methods", "helpful": False}}


def test_short_thanks_is_welcomed_and_rates_nothing(knowledge_base, domain):
    tracker = rated_no("How can I pay my bill?")
    tracker.latest_message.update(text="thanks a lot!", intent={"name": "thank", "confidence": 0.99})
    messages, events = run(ActionFeedback(knowledge_base), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_you_are_welcome"]
    assert events == []


def test_an_answer_to_a_long_message_can_be_rated(knowledge_base, domain):
    answered = {"last_article_id": "billing-payment-methods", "runner_up_ids": ["sim-puk"]}
    tracker = make_tracker(
        "no", "deny", slots=answered, previous_action="action_feedback", previous_slots=answered, asked=COMPLAINT
    )
    messages, _ = run(ActionFeedback(knowledge_base), tracker, domain)
    assert messages[0]["custom"] == {"feedback": {"article_id": "billing-payment-methods", "helpful": False}}
    assert messages[1]["response"] == "utter_feedback_sorry"


@pytest.mark.parametrize(
    ("text", "long"),
    [
        ("Thank you so much, that was really helpful and I appreciate your time today!", False),
        ("a" * 100, False),
        ("a" * 101, True),
        ("谢" * 50, False),
        ("谢" * 51, True),
        (f"  {'ok ' * 33}  ", False),
    ],
)
def test_length_counts_a_chinese_character_twice(text, long):
    assert is_long(text) is long

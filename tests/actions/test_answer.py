from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion, AnswerSettings, choice_payload
from tests.actions.conftest import make_tracker


def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    return dispatcher.messages, events


def test_confident_question_is_answered_with_the_article(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.2))
    messages, events = run(action, make_tracker("How can I pay my bill?"), domain)

    assert len(messages) == 1
    answer = messages[0]["custom"]
    assert answer["article_id"] == "billing-payment-methods"
    assert answer["title"] == "Ways to pay your bill"
    assert answer["text"].startswith("Pay in the app")
    assert 0.2 <= answer["score"] <= 1.0
    assert SlotSet("last_article_id", "billing-payment-methods") in events


def test_answer_is_in_the_conversation_language(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.2))
    messages, _ = run(action, make_tracker("怎么交话费？", slots={"language": "zh"}), domain)
    assert messages[0]["custom"]["article_id"] == "billing-payment-methods"
    assert messages[0]["custom"]["title"] == "话费缴纳方式"


def test_low_score_hands_off_with_reason_low_confidence_and_nothing_to_offer(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=1.01, candidate_share=1.0))
    messages, events = run(action, make_tracker("How can I pay my bill?"), domain)

    trace = messages[0]["custom"].pop("trace")
    assert messages == [
        {
            "text": None,
            "buttons": [],
            "elements": [],
            "custom": {"handoff": {"reason": "low_confidence"}},
            "template": "utter_handoff_low_confidence",
            "response": "utter_handoff_low_confidence",
            "image": None,
            "attachment": None,
        }
    ]
    assert SlotSet("last_article_id", None) in events
    # Why, for the reviewers: the ranking that fell short of the threshold, and Rasa's intent.
    assert (trace["decision"], trace["threshold"], trace["intent"]) == ("hand_off", 1.01, "ask_question")
    assert trace["ranking"][0]["article_id"] == "billing-payment-methods"
    assert trace["ranking"][0]["score"] < 1.01 and trace["confidence"] is not None


def test_an_answer_carries_its_trace_with_the_runners_up(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.2))
    messages, _ = run(action, make_tracker("How can I pay my bill?"), domain)
    trace = messages[0]["custom"]["trace"]
    assert trace["decision"] in ("answer", "choices") and trace["threshold"] == 0.2
    scores = [hit["score"] for hit in trace["ranking"]]
    assert trace["ranking"][0]["article_id"] == "billing-payment-methods" and len(scores) > 1
    assert scores == sorted(scores, reverse=True) and scores[0] == messages[0]["custom"]["score"]


def test_low_score_hands_off_with_the_best_candidates_to_read_meanwhile(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=1.01, candidate_share=0.01))
    messages, _ = run(action, make_tracker("How can I pay my bill?"), domain)
    assert messages[0]["response"] == "utter_handoff_low_confidence_with_candidates"
    assert messages[0]["custom"]["handoff"] == {"reason": "low_confidence"}
    choices = messages[0]["custom"]["choices"]
    assert 1 <= len(choices) <= 3 and choices[0]["article_id"] == "billing-payment-methods"
    assert choices[0]["payload"] == choice_payload("billing-payment-methods")


def test_off_topic_intent_needs_a_higher_score_and_gets_an_offer_not_a_handoff(knowledge_base, domain):
    settings = AnswerSettings(threshold=0.2, out_of_scope_threshold=1.01)
    action = ActionAnswerQuestion(knowledge_base, settings)
    as_question, _ = run(action, make_tracker("How can I pay my bill?"), domain)
    as_off_topic, events = run(action, make_tracker("How can I pay my bill?", "out_of_scope"), domain)
    assert as_question[0]["custom"]["article_id"] == "billing-payment-methods"
    assert as_off_topic[0]["response"] == "utter_out_of_scope"
    assert as_off_topic[0]["custom"]["choices"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    assert as_off_topic[0]["custom"]["trace"]["decision"] == "off_topic"
    assert SlotSet("last_article_id", None) in events


def test_fallback_verdict_uses_the_intent_it_overruled(knowledge_base, domain):
    settings = AnswerSettings(threshold=0.2, out_of_scope_threshold=1.01)
    tracker = make_tracker(
        "How can I pay my bill?",
        "nlu_fallback",
        ranking=[{"name": "nlu_fallback", "confidence": 0.5}, {"name": "out_of_scope", "confidence": 0.4}],
    )
    messages, _ = run(ActionAnswerQuestion(knowledge_base, settings), tracker, domain)
    assert messages[0]["response"] == "utter_out_of_scope"  # off-topic after all: an offer


def test_close_runners_up_are_offered_as_choices(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.01, choice_margin=1.0, max_choices=2))
    messages, events = run(action, make_tracker("roaming bill PIN"), domain)
    choices = messages[0]["custom"]["choices"]
    assert 1 <= len(choices) <= 2
    assert messages[0]["custom"]["article_id"] not in {c["article_id"] for c in choices}
    for choice in choices:
        assert choice["payload"] == choice_payload(choice["article_id"])
    assert SlotSet("runner_up_ids", [c["article_id"] for c in choices]) in events


@pytest.mark.parametrize(
    ("message", "language", "first", "second"),
    [
        (
            "How can I pay my bill? And how do I turn on roaming abroad?",
            "en",
            "billing-payment-methods",
            "roaming-activate",
        ),
        ("怎么交话费？另外国际漫游怎么开通", "zh", "billing-payment-methods", "roaming-activate"),
    ],
)
def test_a_two_part_question_is_answered_and_the_second_part_offered(
    knowledge_base, domain, message, language, first, second
):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.2, choice_margin=0.0))
    messages, events = run(action, make_tracker(message, slots={"language": language}), domain)
    assert messages[0]["custom"]["article_id"] == first
    assert [c["article_id"] for c in messages[0]["custom"]["choices"]] == [second]
    assert messages[0]["custom"]["trace"]["decision"] == "choices"
    assert SlotSet("runner_up_ids", [second]) in events


def test_one_question_offers_no_second_answer(knowledge_base, domain):
    action = ActionAnswerQuestion(knowledge_base, AnswerSettings(threshold=0.2, choice_margin=0.0))
    messages, _ = run(action, make_tracker("How can I pay my bill with a card?"), domain)
    assert messages[0]["custom"]["article_id"] == "billing-payment-methods"
    assert messages[0]["custom"]["choices"] == []


def test_chosen_article_is_answered_directly(knowledge_base, domain):
    tracker = make_tracker(
        choice_payload("sim-puk"), "choose_article", entities=[{"entity": "article_id", "value": "sim-puk"}]
    )
    messages, _ = run(ActionAnswerQuestion(knowledge_base), tracker, domain)
    assert messages[0]["custom"]["article_id"] == "sim-puk"
    assert messages[0]["custom"]["score"] is None


@pytest.mark.parametrize("value", ["archived-article", ["sim-puk"], None])
def test_unknown_chosen_article_says_so_and_never_searches_the_payload(knowledge_base, domain, value):
    class NoSearch:
        def get(self, article_id, language):
            return knowledge_base.get(article_id, language)

        def search(self, *args, **kwargs):
            raise AssertionError("a button payload is not a question")

    tracker = make_tracker(
        '/choose_article{"article_id":"x"}', "choose_article", entities=[{"entity": "article_id", "value": value}]
    )
    messages, events = run(ActionAnswerQuestion(NoSearch()), tracker, domain)
    assert [m["response"] for m in messages] == ["utter_article_unavailable"]
    assert "utter_article_unavailable" in domain["responses"]
    assert SlotSet("last_article_id", None) in events  # a "no" now rates no earlier answer


def test_choice_payload_is_a_rasa_intent_with_entity():
    assert choice_payload("sim-puk") == '/choose_article{"article_id":"sim-puk"}'

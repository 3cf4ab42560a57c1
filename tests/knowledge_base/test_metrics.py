"""The answer-quality metrics on small cases worked out by hand."""

from __future__ import annotations

import pytest

from knowledge_base.metrics import (
    Outcome,
    best_threshold,
    handed_off,
    handoff_metrics,
    kind_metrics,
    retrieval_metrics,
    sweep,
    thresholds,
)


def outcome(expected: str | None, ranked: str, score: float, language: str = "en", kind: str | None = None) -> Outcome:
    return Outcome(language, frozenset([expected] if expected else []), tuple(ranked.split()), score, kind)


# Four in-scope queries: right first (score .9), right second (.6), right sixth (.5), not returned (.2);
# two out-of-scope queries scoring .25 and .7.
OUTCOMES = [
    outcome("a", "a b c", 0.9),
    outcome("a", "b a c", 0.6),
    outcome("a", "b c d e f a", 0.5),
    outcome("a", "b c", 0.2),
    outcome(None, "c", 0.25),
    outcome(None, "a", 0.7),
]


def test_retrieval_metrics_count_only_in_scope_queries():
    metrics = retrieval_metrics(OUTCOMES)
    assert metrics["queries"] == 4
    assert metrics["top1"] == pytest.approx(1 / 4)
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 6 + 0) / 4)
    assert metrics["recall@5"] == pytest.approx(2 / 4)


def test_handoff_metrics_at_a_threshold():
    # At 0.3 the .2 in-scope and the .25 out-of-scope queries are handed off.
    metrics = handoff_metrics(OUTCOMES, 0.3)
    assert metrics["handoff_precision"] == pytest.approx(1 / 2)
    assert metrics["handoff_recall"] == pytest.approx(1 / 2)
    assert metrics["handoff_f1"] == pytest.approx(1 / 2)
    assert metrics["out_of_scope_recall"] == metrics["handoff_recall"]
    assert metrics["in_scope_accuracy"] == pytest.approx(1 / 4)  # only the first is right and answered
    assert metrics["handoff_rate"] == pytest.approx(2 / 6)


def test_a_right_answer_handed_off_does_not_count_as_in_scope_accuracy():
    assert handoff_metrics(OUTCOMES, 0.95)["in_scope_accuracy"] == 0.0
    assert handoff_metrics(OUTCOMES, 0.95)["out_of_scope_recall"] == 1.0


def test_no_handoff_at_all_has_zero_precision_not_an_error():
    metrics = handoff_metrics(OUTCOMES, 0.0)
    assert metrics["handoff_precision"] == 0.0 and metrics["handoff_f1"] == 0.0


def test_best_threshold_maximises_in_scope_accuracy_plus_out_of_scope_recall():
    best = best_threshold(sweep(OUTCOMES, thresholds(0.05)))
    # 0.30-0.70: the .9 answer stays right and one out-of-scope query is caught, 1/4 + 1/2.
    # 0.75-0.90: the .9 answer still stands and both out-of-scope queries are caught, 1/4 + 1: the best.
    # Above 0.90 nothing is answered, 0 + 1.
    assert best["threshold"] == pytest.approx(0.75)
    assert best["in_scope_accuracy"] + best["out_of_scope_recall"] == pytest.approx(1.25)


def test_best_threshold_prefers_the_lower_of_equal_points():
    in_scope_only = [outcome("a", "a", 0.9), outcome("a", "a", 0.8)]
    assert best_threshold(sweep(in_scope_only, thresholds(0.1)))["threshold"] == 0.0


def test_thresholds_cover_zero_to_one():
    grid = thresholds(0.25)
    assert grid == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_a_query_is_handed_off_below_the_threshold_and_answered_at_it():
    assert handed_off(outcome("a", "a", 0.29), 0.3)
    assert not handed_off(outcome("a", "a", 0.3), 0.3)


def test_kind_metrics_score_each_kind_on_its_own():
    outcomes = [
        outcome("a", "a b", 0.9, kind="typo"),  # right and answered
        outcome("a", "a b", 0.2, kind="typo"),  # right but handed off at 0.3
        outcome("a", "b a", 0.8, kind="typo"),  # wrong article first
        outcome(None, "c", 0.25, kind="off_topic"),  # handed off: right
        outcome(None, "a", 0.7, kind="off_topic"),  # answered: wrong
        outcome(None, "a", 0.1, kind="mixed"),
        outcome("a", "a", 0.9, kind="mixed"),
        outcome("a", "a", 0.9),  # no kind: in the totals only
    ]
    kinds = kind_metrics(outcomes, 0.3)
    assert list(kinds) == ["mixed", "off_topic", "typo"]
    assert kinds["typo"] == {
        "queries": 3,
        "out_of_scope_queries": 0,
        "top1": pytest.approx(2 / 3),
        "answered_correctly": pytest.approx(1 / 3),
    }
    assert kinds["off_topic"] == {"queries": 2, "out_of_scope_queries": 2, "handoff_recall": pytest.approx(1 / 2)}
    assert kinds["mixed"] == {
        "queries": 2,
        "out_of_scope_queries": 1,
        "top1": 1.0,
        "answered_correctly": 1.0,
        "handoff_recall": 1.0,
    }


def test_kind_metrics_are_empty_when_no_query_has_a_kind():
    assert kind_metrics(OUTCOMES, 0.3) == {}

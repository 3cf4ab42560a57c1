"""The answer confidence's calibration (`knowledge_base/confidence.py`), on a generated knowledge
base large enough to calibrate: forty English articles, each about its own made-up product, with
six alternate questions that share the product's words."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from knowledge_base.articles import Article
from knowledge_base.confidence import FEATURES, MIN_EVIDENCE, Calibrator, Evidence, answers, fit, folds, uncalibrated
from knowledge_base.index import IndexSettings, KnowledgeIndex
from knowledge_base.search import HybridSearcher
from tests.helpers import hashing_encoders

WORDS = ["account", "bill", "card", "delivery", "refund", "router", "signal", "roaming", "plan", "number", "screen"]


def generated_articles(count: int = 40) -> list[Article]:
    rng = random.Random(7)
    articles = []
    for n in range(count):
        product = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        topic = rng.sample(WORDS, 3)
        questions: dict[str, None] = {}
        while len(questions) < 6:
            start = rng.choice(["how do i", "why does my", "can i", "where is the"])
            end = rng.choice(["today", "again", "please", "at home", "abroad"])
            questions[f"{start} {product} {' '.join(rng.sample(topic, 2))} {end}"] = None
        articles.append(
            Article(
                id=f"article-{n}",
                language="en",
                title=f"The {product} {topic[0]}",
                questions=tuple(questions),
                body=f"All about the {product}: its {' and '.join(topic)}.",
            )
        )
    return articles


@pytest.fixture(scope="module")
def calibrated(analyzer_module):
    return KnowledgeIndex.build(generated_articles(), hashing_encoders(), analyzer_module)


@pytest.fixture(scope="module")
def analyzer_module(tmp_path_factory):
    from knowledge_base.text import Analyzer

    return Analyzer(tmp_path_factory.mktemp("cache"))


def test_folds_ask_each_question_once_from_an_index_without_it():
    articles = generated_articles()
    settings = IndexSettings()
    made = folds(articles, settings, np.random.default_rng(0))
    assert len(made) == settings.calibration_folds
    asked = [
        (article.id, question) for _, questions in made for article, question, answerable in questions if answerable
    ]
    assert (
        len(asked)
        == len(set(asked))
        == sum(len(a.questions) - 1 for a in articles) - sum(len(a.questions) - 1 for a in _left_out(made))
    )
    for kept, questions in made:
        indexed = {(a.id, q) for a in kept for q in a.questions}
        kept_ids = {a.id for a in kept}
        for article, question, answerable in questions:
            assert (article.id, question) not in indexed
            assert (article.id in kept_ids) == answerable  # unanswerable: its article is left out whole
        for article in kept:  # each article keeps its first question
            original = next(a for a in articles if a.id == article.id)
            assert article.questions[0] == original.questions[0]


def _left_out(made) -> list[Article]:
    return list({article.id: article for _, qs in made for article, _, answerable in qs if not answerable}.values())


def test_too_little_evidence_gives_no_calibrator():
    rows = MIN_EVIDENCE * 2 - 1
    features = np.random.default_rng(0).random((rows, len(FEATURES)))
    right = np.arange(rows) < MIN_EVIDENCE - 1
    assert fit(Evidence(features, right, ("answerable",) * rows)) is None


def test_the_answerable_and_the_rest_weigh_alike():
    """Ten times as many off-topic questions as answerable ones do not push every confidence
    down: at relevance 0.5, half-way between where the two kinds lie, the confidence is about 0.5."""
    rng = np.random.default_rng(0)
    right = np.column_stack([rng.normal(0.7, 0.1, 60), np.zeros((60, len(FEATURES) - 1))])
    off_topic = np.column_stack([rng.normal(0.3, 0.1, 600), np.zeros((600, len(FEATURES) - 1))])
    evidence = Evidence(
        np.vstack([right, off_topic]),
        np.array([True] * 60 + [False] * 600),
        ("answerable",) * 60 + ("off_topic",) * 600,
    )
    calibrator = fit(evidence)
    low, middle, high = calibrator.confidence(np.array([[x, 0, 0, 0, 0] for x in (0.2, 0.5, 0.8)]))
    assert low < 0.1 and 0.35 < middle < 0.65 and high > 0.9


def test_an_index_calibrates_each_language_with_articles(calibrated):
    entry = calibrated.manifest["calibration"]["en"]
    assert entry["features"] == list(FEATURES)
    evidence = entry["evidence"]
    assert evidence["answerable"] > 100 and evidence["unanswerable"] > 0 and evidence["off_topic"] == 300
    assert evidence["right"] >= MIN_EVIDENCE
    assert "zh" not in calibrated.manifest["calibration"]  # no Chinese articles to calibrate
    assert calibrated.manifest["calibration_edits"] == 0
    # Relevance speaks for an answer: the fitted coefficient of relevance is positive.
    assert entry["coefficients"][FEATURES.index("relevance")] > 0


def test_scores_are_the_calibrated_probability_of_the_ranking(calibrated, analyzer_module):
    searcher = HybridSearcher(calibrated, hashing_encoders(), analyzer_module)
    calibrator = Calibrator.from_manifest(calibrated.manifest["calibration"]["en"])
    article = calibrated.articles[3]
    hits = searcher.search(article.questions[2], "en", k=5)
    assert hits[0].article.id == article.id
    assert hits[0].margin == pytest.approx(hits[0].relevance - hits[1].relevance)
    assert all(h.margin == pytest.approx(h.relevance - hits[0].relevance) for h in hits[1:])
    expected = calibrator.confidence(np.stack([h.features() for h in hits]))
    assert [h.score for h in hits] == pytest.approx(expected.tolist())
    assert all(0 < h.score < 1 for h in hits)
    # A question about nothing in the knowledge base is far less likely to be answered right.
    weather = searcher.search("will it rain in the mountains this weekend", "en", k=1)
    assert not weather or weather[0].score < hits[0].score / 2


def test_a_small_edit_keeps_the_calibration_and_a_larger_one_makes_it_again(calibrated, analyzer_module):
    first, *rest = calibrated.articles
    articles = [dataclasses.replace(first, body=first.body + " Also sold abroad."), *rest]
    edited = KnowledgeIndex.build(articles, hashing_encoders(), analyzer_module, previous=calibrated)
    assert edited.manifest["calibration"] == calibrated.manifest["calibration"]
    assert edited.manifest["calibration_edits"] == 2  # the old version out, the new one in

    articles = [articles[0], *(dataclasses.replace(a, title=a.title + "!") for a in articles[1:4]), *articles[4:]]
    again = KnowledgeIndex.build(articles, hashing_encoders(), analyzer_module, previous=edited)
    assert again.manifest["calibration_edits"] == 0  # 2 + 6 changes > 10% of 40 articles: calibrated anew

    other = KnowledgeIndex.build(
        articles, hashing_encoders(), analyzer_module, IndexSettings(index_answers=False), previous=again
    )
    assert other.manifest["calibration_edits"] == 0  # other settings: its own calibration


def single_questions(articles: list[Article]) -> list[Article]:
    """As in an FAQ of question-answer pairs: the question is the title, and no other."""
    return [dataclasses.replace(a, title=a.questions[0], questions=a.questions[:1]) for a in articles]


def test_without_alternate_questions_the_score_is_the_relevance_rescaled(analyzer_module):
    articles = single_questions(generated_articles())
    index = KnowledgeIndex.build(articles, hashing_encoders(), analyzer_module)
    assert "none" in index.manifest["calibration"]["en"]
    hits = HybridSearcher(index, hashing_encoders(), analyzer_module).search(articles[5].questions[0], "en")
    assert hits and all(h.score == pytest.approx(uncalibrated(h.relevance)) for h in hits)
    # The default threshold 0.5 stands where the threshold on the relevance stood, 0.3.
    assert [uncalibrated(r) for r in (0.0, 0.15, 0.3, 0.65, 1.0)] == pytest.approx([0, 0.25, 0.5, 0.75, 1])


def test_an_article_that_lists_the_question_answers_it_too():
    asked, other, third = generated_articles(3)
    assert answers(asked, asked, asked.questions[2])
    assert answers(
        dataclasses.replace(other, questions=(*other.questions, asked.questions[2])), asked, asked.questions[2]
    )
    assert answers(dataclasses.replace(other, title=asked.questions[2]), asked, asked.questions[2])
    assert not answers(third, asked, asked.questions[2])

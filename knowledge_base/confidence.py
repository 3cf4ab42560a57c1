"""Calibration: the score that the answer decision compares with its threshold is the probability
that the top answer is right, learnt per language from the knowledge base itself at index time.

The fused relevance of `search.py` ranks well, but what a relevance of 0.4 means depends on the
knowledge base: how many articles, how many alternate questions each, how alike they are, the
language's model. So one threshold on it suits no two knowledge bases. `touchpoint index` asks
the knowledge base questions whose right answer it knows, from indexes built without them:

- answerable: each article's alternate questions but its first, spread over `folds` indexes that
  each leave one fold of them out (and keep `kept_folds` of the others): right when the article
  comes first, wrong otherwise;
- unanswerable though about the business: the questions of a share of the articles, asked of an
  index without those articles (no answer is right);
- off-topic: `calibration/off_topic.yml`, questions no customer-service FAQ answers (no answer
  is right).

A logistic regression of "the top answer is right" on what the ranking says about an article
(`FEATURES`), the answerable and the not answerable weighing alike, turns a ranking into a
probability; the threshold is then a probability, the same on every knowledge base.

A language without enough alternate questions to hold out (a knowledge base of question-answer
pairs) is not calibrated: its score is the relevance rescaled (`uncalibrated`) so that the
default threshold falls where the threshold on the relevance stood before calibration.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from knowledge_base.articles import LANGUAGES, Article

if TYPE_CHECKING:
    from knowledge_base.encoder import Encoder
    from knowledge_base.index import IndexSettings, KnowledgeIndex
    from knowledge_base.search import Hit
    from knowledge_base.text import Analyzer

logger = logging.getLogger(__name__)

# What the confidence is read from, for one article of a ranking: its fused relevance, how far it
# stands above the best other article, the classifier's probability, and its dense and lexical
# similarity.
FEATURES = ("relevance", "margin", "probability", "dense", "lexical")
OFF_TOPIC = Path(__file__).parent / "calibration" / "off_topic.yml"
MIN_EVIDENCE = 20  # right and wrong answers each, per language, below which there is no calibration
REGULARISATION = 1.0  # the logistic regression's C
UNANSWERABLE_QUESTIONS = 3  # asked of each article left out
# A rebuild after a few edits keeps its previous build's calibration (calibrating builds
# `calibration_folds` more indexes, several times the cost of the edit's own rebuild), until the
# articles changed since the calibration reach this share of all articles.
RECALIBRATE_SHARE = 0.1


# The relevance that an uncalibrated language's score of 0.5 stands for (the default threshold on the
# relevance before the calibration came).
UNCALIBRATED_MIDPOINT = 0.3


def uncalibrated(relevance: float) -> float:
    """The score of an article in a language without a calibration: its relevance, mapped
    piecewise linearly onto [0, 1] with UNCALIBRATED_MIDPOINT at 0.5 (it is no probability)."""
    m = UNCALIBRATED_MIDPOINT
    return relevance * 0.5 / m if relevance <= m else 0.5 + (relevance - m) * 0.5 / (1 - m)


@dataclass(frozen=True)
class Calibrator:
    coefficients: tuple[float, ...]  # one per FEATURES
    intercept: float

    def confidence(self, features: np.ndarray) -> np.ndarray:
        """P(right) for each row of `features` (columns as FEATURES)."""
        logits = features @ np.asarray(self.coefficients, dtype=np.float64) + self.intercept
        return 1 / (1 + np.exp(-logits))

    def to_manifest(self) -> dict:
        return {"features": list(FEATURES), "coefficients": list(self.coefficients), "intercept": self.intercept}

    @classmethod
    def from_manifest(cls, entry: Mapping | None) -> Calibrator | None:
        if not entry or entry.get("features") != list(FEATURES):
            return None
        return cls(tuple(float(c) for c in entry["coefficients"]), float(entry["intercept"]))


@dataclass(frozen=True)
class Evidence:
    """Questions asked of the knowledge base with a known right answer, as the calibration sees them."""

    features: np.ndarray  # (questions, FEATURES)
    right: np.ndarray  # bool: the top answer was right
    kinds: tuple[str, ...]  # answerable | unanswerable | off_topic

    def counts(self) -> dict[str, int]:
        counts = {kind: self.kinds.count(kind) for kind in ("answerable", "unanswerable", "off_topic")}
        return counts | {"right": int(self.right.sum())}


@cache
def off_topic_questions() -> dict[str, tuple[str, ...]]:
    """The off-topic evidence, per language."""
    items = yaml.safe_load(OFF_TOPIC.read_text(encoding="utf-8"))["queries"]
    return {language: tuple(q["query"] for q in items if q["language"] == language) for language in LANGUAGES}


def fit(evidence: Evidence) -> Calibrator | None:
    """P(right | features); None when there are fewer than MIN_EVIDENCE right or wrong answers.
    The answerable questions weigh as much in all as the unanswerable and off-topic ones."""
    right = int(evidence.right.sum())
    if right < MIN_EVIDENCE or len(evidence.right) - right < MIN_EVIDENCE:
        return None
    from sklearn.linear_model import LogisticRegression

    kinds = np.array(evidence.kinds)
    answerable = kinds == "answerable"
    weights = np.where(answerable, 0.5 / max(answerable.sum(), 1), 0.5 / max((~answerable).sum(), 1))
    model = LogisticRegression(C=REGULARISATION, max_iter=1000)
    model.fit(evidence.features, evidence.right, sample_weight=weights * len(weights))
    return Calibrator(tuple(round(float(c), 6) for c in model.coef_[0]), round(float(model.intercept_[0]), 6))


def carried(previous: KnowledgeIndex | None, manifest: Mapping, articles: list[Article]) -> dict | None:
    """`previous`'s calibration, with the count of articles changed since it was fitted, when
    `articles` (indexed with `manifest`'s models and settings) are a small edit of its articles;
    None when it has none to carry or they need their own."""
    if previous is None or "calibration" not in previous.manifest:
        return None
    if any(previous.manifest.get(key) != manifest[key] for key in ("models", "settings")):
        return None
    changed = len(set(articles) ^ set(previous.articles)) + previous.manifest.get("calibration_edits", 0)
    if changed > RECALIBRATE_SHARE * len(articles):
        return None
    return {"calibration": previous.manifest["calibration"], "calibration_edits": changed}


def calibrate(
    index: KnowledgeIndex, encoders: Mapping[str, Encoder], analyzer: Analyzer, settings: IndexSettings
) -> dict[str, dict]:
    """Each language's calibration, for the index's manifest: the calibrator (or why there is
    none) and how much evidence it was fitted on."""
    started = time.perf_counter()
    languages = calibratable(index.articles)
    evidence = gather(index, encoders, analyzer, settings, languages) if languages else {}
    result = {}
    for language in sorted({article.language for article in index.articles}):
        found = evidence.get(language)
        calibrator = fit(found) if found is not None else None
        entry = calibrator.to_manifest() if calibrator else {"none": "too few alternate questions to hold out"}
        result[language] = entry | ({"evidence": found.counts()} if found is not None else {})
    logger.info("Calibrated the answer confidence in %.1f s: %s", time.perf_counter() - started, result)
    return result


def calibratable(articles: list[Article]) -> set[str]:
    """The languages whose articles have enough alternate questions to hold out. (A knowledge base
    of question-answer pairs has none: asking each question of an index that keeps only its
    answer was tried, and says little about customers' questions, which resemble questions.)"""
    alternates = {language: 0 for language in LANGUAGES}
    for article in articles:
        alternates[article.language] += max(len(article.questions) - 1, 0)
    return {language for language, count in alternates.items() if count >= 2 * MIN_EVIDENCE}


def gather(
    index: KnowledgeIndex,
    encoders: Mapping[str, Encoder],
    analyzer: Analyzer,
    settings: IndexSettings,
    languages: set[str],
) -> dict[str, Evidence]:
    """Ask the knowledge base the calibration's questions in `languages` (see the module's
    docstring and `folds`), each from an index without its answer, and keep what its ranking
    said."""
    from knowledge_base.index import KnowledgeIndex
    from knowledge_base.search import HybridSearcher

    rng = np.random.default_rng(0)
    fold_settings = dataclasses.replace(settings, calibrate=False)
    asked: dict[str, list[tuple[np.ndarray, bool, str]]] = {language: [] for language in languages}
    mine = [article for article in index.articles if article.language in languages]
    for kept, questions in folds(mine, settings, rng):
        fold = KnowledgeIndex.build(kept, encoders, analyzer, fold_settings, previous=index)
        searcher = HybridSearcher(fold, encoders, analyzer)
        for language in languages:
            asking = [q for q in questions if q[0].language == language]
            vectors = _vectors(index, encoders, language, [question for _, question, _ in asking])
            for (article, question, answerable), vector in zip(asking, vectors, strict=True):
                hits = searcher.search(question, language, k=2, vector=vector)
                right = answerable and bool(hits) and answers(hits[0].article, article, question)
                asked[language].append((_top_features(hits), right, "answerable" if answerable else "unanswerable"))
    full = HybridSearcher(index, encoders, analyzer)
    for language in languages:
        questions = list(off_topic_questions()[language])
        for question, vector in zip(questions, _vectors(index, encoders, language, questions), strict=True):
            asked[language].append(
                (_top_features(full.search(question, language, k=2, vector=vector)), False, "off_topic")
            )
    return {
        language: Evidence(
            np.array([row[0] for row in rows], dtype=np.float64).reshape(len(rows), len(FEATURES)),
            np.array([row[1] for row in rows], dtype=bool),
            tuple(row[2] for row in rows),
        )
        for language, rows in asked.items()
    }


def folds(
    articles: list[Article], settings: IndexSettings, rng: np.random.Generator
) -> list[tuple[list[Article], list[tuple[Article, str, bool]]]]:
    """(The articles to index, the questions to ask of them: (article, question, answerable)) for
    each of `settings.calibration_folds` folds. Every alternate question but an article's first
    falls in one fold and is asked there, from an index without it that keeps `kept_folds` of the
    other folds' questions; at most `calibration_questions` of them per language are asked. The
    first fold leaves a `calibration_unanswerable` share of the articles out whole and asks up to
    three questions of each (no answer is right)."""
    count, kept_folds = settings.calibration_folds, settings.calibration_kept_folds
    result: list[tuple[list[Article], list[tuple[Article, str, bool]]]] = [([], []) for _ in range(count)]
    for language in LANGUAGES:
        subset = [a for a in articles if a.language == language]
        left_out = set(rng.permutation(len(subset))[: round(len(subset) * settings.calibration_unanswerable)].tolist())
        answerable = [(p, i) for p, a in enumerate(subset) if p not in left_out for i in range(1, len(a.questions))]
        asked = {answerable[c] for c in rng.permutation(len(answerable))[: settings.calibration_questions].tolist()}
        for position, article in enumerate(subset):
            fold_of = rng.integers(count, size=len(article.questions)).tolist()
            for number, (kept, questions) in enumerate(result):
                if position in left_out:
                    if number == 0:
                        chosen = rng.permutation(len(article.questions))[:UNANSWERABLE_QUESTIONS].tolist()
                        questions.extend((article, article.questions[i], False) for i in chosen)
                    else:
                        kept.append(article)
                    continue
                keep = {(number + step) % count for step in range(1, kept_folds + 1)}
                rest = tuple(q for i, q in enumerate(article.questions) if i == 0 or fold_of[i] in keep)
                kept.append(dataclasses.replace(article, questions=rest))
                questions.extend(
                    (article, q, True)
                    for i, q in enumerate(article.questions)
                    if i > 0 and fold_of[i] == number and (position, i) in asked
                )
    return result


def answers(found: Article, asked: Article, question: str) -> bool:
    """Whether `found` answers `question`, asked of `asked`: it is that article, or the knowledge
    base lists the question for it too (an FAQ may answer one question in several articles)."""
    return found.id == asked.id or question == found.title or question in found.questions


def _vectors(index: KnowledgeIndex, encoders: Mapping[str, Encoder], language: str, texts: list[str]) -> list:
    """The questions' embeddings: the index's own where it embedded the text, else encoded now."""
    from knowledge_base.index import _encode

    encoder = encoders.get(language) if language in index.vectors else None
    if encoder is None:
        return [None] * len(texts)
    return list(_encode(encoder, texts, index.embedded(language)))


def _top_features(hits: list[Hit]) -> np.ndarray:
    return hits[0].features() if hits else np.zeros(len(FEATURES))

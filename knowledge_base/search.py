"""Hybrid search: dense (FAISS), lexical and classifier evidence fused into one score per article.

- similarity: for each article the best-matching unit counts on each side, and
  `similarity = w · dense + (1 − w) · lexical`, with w set per language. Dense cosines are
  rescaled from the model's "unrelated" level (measured at index time) to 1, so models with
  different score ranges fuse alike; a language without an encoder is lexical only.
- probability: the article classifier trained on the alternate questions (`classifier.py`).
- `relevance = a · probability + (1 − a) · similarity` ranks the articles. The classifier ranks
  better; similarity keeps off-topic questions low (the classifier spreads them over articles).
- score: the probability that the article is the right answer, from the index's calibration of
  the ranking (`confidence.py`); one threshold on it decides between answering and handing off,
  whatever the knowledge base. A language the index could not calibrate scores its relevance,
  rescaled (`confidence.uncalibrated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import sparse

from knowledge_base.articles import Article
from knowledge_base.confidence import Calibrator, uncalibrated
from knowledge_base.encoder import Encoder, load_encoders
from knowledge_base.index import KnowledgeIndex, open_index
from knowledge_base.text import Analyzer

# How much a match on each kind of unit counts: a match on the answer text is weaker
# evidence than a match on a question curators wrote for the article.
KIND_WEIGHTS = {"title": 1.0, "question": 1.0, "answer": 0.85, "pooled": 1.0}


@dataclass(frozen=True)
class SearchSettings:
    dense_weight: dict[str, float] = field(default_factory=lambda: {"en": 0.65, "zh": 0.65})
    classifier_weight: float = 0.6
    candidates: int = 100  # nearest units fetched from FAISS before grouping by article


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float  # the calibrated confidence that this article answers the question
    relevance: float  # the fused score the articles are ranked by
    margin: float  # relevance above the best other article's (negative below the first)
    dense: float
    lexical: float
    probability: float

    def features(self) -> np.ndarray:
        """What the calibration reads (`confidence.FEATURES`)."""
        return np.array([self.relevance, self.margin, self.probability, self.dense, self.lexical], dtype=np.float64)


class KnowledgeBase(Protocol):
    def search(self, query: str, language: str, k: int = 5) -> list[Hit]: ...

    def get(self, article_id: str, language: str) -> Article | None: ...


class HybridSearcher:
    """The knowledge base as the actions see it: search and look-up over a `KnowledgeIndex`."""

    def __init__(
        self,
        index: KnowledgeIndex,
        encoders: Mapping[str, Encoder],
        analyzer: Analyzer,
        settings: SearchSettings = SearchSettings(),
    ):
        self._index = index
        self._encoders = encoders
        self._baselines = index.manifest.get("dense_baseline", {})
        self._analyzer = analyzer
        self._settings = settings
        self._calibrators = {
            language: Calibrator.from_manifest(entry)
            for language, entry in index.manifest.get("calibration", {}).items()
        }
        self._by_key = {(a.id, a.language): a for a in index.articles}
        self._unit_article = {
            lang: np.fromiter((u.article for u in units), dtype=np.int64, count=len(units))
            for lang, units in index.units.items()
        }
        self._unit_weight = {
            lang: np.fromiter((KIND_WEIGHTS[u.kind] for u in units), dtype=np.float32, count=len(units))
            for lang, units in index.units.items()
        }

    @property
    def index(self) -> KnowledgeIndex:
        return self._index

    @property
    def encoders(self) -> Mapping[str, Encoder]:
        return self._encoders

    @property
    def analyzer(self) -> Analyzer:
        return self._analyzer

    def get(self, article_id: str, language: str) -> Article | None:
        """The article in that language; None if it has no version in it (no silent switch of language)."""
        return self._by_key.get((article_id, language))

    def search(self, query: str, language: str, k: int = 5, *, vector: np.ndarray | None = None) -> list[Hit]:
        """The `k` most relevant articles, best first; `vector` is the query's embedding when the
        caller has it already."""
        unit_article = self._unit_article.get(language)
        if unit_article is None or len(unit_article) == 0 or not query.strip():
            return []
        weights = self._unit_weight[language]
        articles = len(self._index.articles)
        classifier = self._index.classifiers.get(language)

        lexical_index = self._index.lexical[language]
        query_terms = lexical_index.vectorise(self._analyzer.features(query, language))
        lexical = _best_per_article(lexical_index.scores(query_terms) * weights, unit_article, articles)

        dense = np.zeros(articles, dtype=np.float32)
        encoder = self._encoders.get(language) if language in self._index.vectors else None
        dense_weight = self._settings.dense_weight.get(language, 0.0) if encoder is not None else 0.0
        wants_embedding = encoder is not None and (dense_weight > 0 or (classifier and classifier.uses_embeddings))
        query_vector = None
        if wants_embedding:
            query_vector = vector if vector is not None else encoder.encode([query])[0]
        if dense_weight > 0 and query_vector is not None:
            scores, ids = self._index.vectors[language].search(query_vector, self._settings.candidates)
            found = ids >= 0
            unit_ids = ids[found]
            baseline = self._baselines.get(language, 0.0)
            rescaled = np.clip((scores[found] - baseline) / (1 - baseline), 0, 1)
            dense = _best_per_article(rescaled * weights[unit_ids], unit_article[unit_ids], articles)
        similarity = dense_weight * dense + (1 - dense_weight) * lexical

        probability = np.zeros(articles, dtype=np.float32)
        fused = similarity
        if classifier is not None and (query_vector is not None or not classifier.uses_embeddings):
            features = query_terms
            if classifier.uses_embeddings:
                features = sparse.hstack([query_terms, sparse.csr_matrix(query_vector[None, :])], format="csr")
            probability[classifier.classes] = classifier.probabilities(features)[0]
            a = self._settings.classifier_weight
            fused = a * probability + (1 - a) * similarity

        order = np.argsort(-fused, kind="stable")
        top = [i for i in order[:k] if fused[i] > 0]
        if not top:
            return []
        first, second = fused[order[0]], fused[order[1]] if articles > 1 else 0.0
        hits = [
            Hit(
                self._index.articles[i],
                score=uncalibrated(float(fused[i])),
                relevance=float(fused[i]),
                margin=float(fused[i] - (second if i == order[0] else first)),
                dense=float(dense[i]),
                lexical=float(lexical[i]),
                probability=float(probability[i]),
            )
            for i in top
        ]
        if calibrator := self._calibrators.get(language):
            confidence = calibrator.confidence(np.stack([hit.features() for hit in hits]))
            hits = [replace(hit, score=float(c)) for hit, c in zip(hits, confidence, strict=True)]
        return hits


def _best_per_article(unit_scores: np.ndarray, unit_article: np.ndarray, articles: int) -> np.ndarray:
    best = np.zeros(articles, dtype=np.float32)
    np.maximum.at(best, unit_article, unit_scores.astype(np.float32))
    return best


def open_searcher(
    articles_dir: Path | str, index_dir: Path | str, models: Mapping[str, str], cache_dir: Path | str | None = None
) -> HybridSearcher:
    """The searcher over a knowledge-base folder: its models loaded, its index loaded or rebuilt if stale."""
    analyzer = Analyzer(cache_dir)
    encoders = load_encoders(models)
    return HybridSearcher(open_index(articles_dir, index_dir, encoders, analyzer), encoders, analyzer)

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base.articles import load_articles
from knowledge_base.index import KnowledgeIndex
from knowledge_base.search import HybridSearcher, SearchSettings, _best_per_article
from tests.helpers import HashingEncoder, hashing_encoders, write_articles


@pytest.fixture
def index(tmp_path, analyzer):
    return KnowledgeIndex.build(load_articles(write_articles(tmp_path)), hashing_encoders(), analyzer)


def test_best_unit_speaks_for_its_article():
    scores = np.array([0.2, 0.9, 0.1, 0.4], dtype=np.float32)
    owners = np.array([0, 0, 1, 1])
    assert _best_per_article(scores, owners, 3).tolist() == pytest.approx([0.9, 0.4, 0.0])


def test_fused_score_weighs_probability_and_both_similarity_sides(index, analyzer):
    settings = SearchSettings(dense_weight={"en": 0.3, "zh": 0.0}, classifier_weight=0.6)
    hits = HybridSearcher(index, hashing_encoders(), analyzer, settings).search(
        "which payment methods for my bill", "en"
    )
    for hit in hits:
        similarity = 0.3 * hit.dense + 0.7 * hit.lexical
        assert hit.relevance == pytest.approx(0.6 * hit.probability + 0.4 * similarity, abs=1e-6)
        assert 0.0 <= hit.score <= 1.0
    assert sum(h.probability for h in hits) == pytest.approx(1.0, abs=1e-5)


def test_without_a_classifier_the_score_is_the_similarity(tmp_path, analyzer):
    from knowledge_base.index import IndexSettings

    articles = load_articles(write_articles(tmp_path))
    index = KnowledgeIndex.build(articles, hashing_encoders(), analyzer, IndexSettings(classifier=False))
    searcher = HybridSearcher(index, hashing_encoders(), analyzer, SearchSettings(dense_weight={"en": 0.3}))
    for hit in searcher.search("which payment methods can I use for my bill", "en"):
        assert hit.relevance == pytest.approx(0.3 * hit.dense + 0.7 * hit.lexical, abs=1e-6)
        assert hit.probability == 0.0


def test_a_language_without_an_encoder_is_searched_lexically_and_never_encoded(tmp_path, analyzer):
    class ExplodingEncoder(HashingEncoder):
        def encode(self, texts):
            raise AssertionError("no encoder may run for a language indexed without one")

    index = KnowledgeIndex.build(load_articles(write_articles(tmp_path)), {"en": HashingEncoder()}, analyzer)
    searcher = HybridSearcher(index, {"en": ExplodingEncoder()}, analyzer, SearchSettings(dense_weight={"zh": 0.5}))
    hits = searcher.search("PIN码输错了，卡被锁", "zh")
    assert hits[0].article.id == "sim-puk"
    assert hits[0].dense == 0.0
    assert hits[0].relevance == pytest.approx(0.6 * hits[0].probability + 0.4 * hits[0].lexical)


def test_dense_scores_are_rescaled_from_the_unrelated_baseline(index, analyzer):
    encoders = hashing_encoders()
    query = "which payment methods for my bill"
    settings = SearchSettings(dense_weight={"en": 1.0}, classifier_weight=0)
    index.manifest["dense_baseline"]["en"] = 0.0
    before = {h.article.id: h.dense for h in HybridSearcher(index, encoders, analyzer, settings).search(query, "en")}
    index.manifest["dense_baseline"]["en"] = 0.5
    after = {h.article.id: h.dense for h in HybridSearcher(index, encoders, analyzer, settings).search(query, "en")}
    assert after
    for article_id, dense in after.items():
        assert dense == pytest.approx(max(0.0, (before[article_id] - 0.5) / 0.5), abs=1e-5)


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("how can I pay the bill", "en", "billing-payment-methods"),
        ("activate roaming abroad", "en", "roaming-activate"),
        ("出国漫游怎么开", "zh", "roaming-activate"),
        ("微信交话费", "zh", "billing-payment-methods"),
    ],
)
def test_search_ranks_the_matching_article_first(index, analyzer, query, language, expected):
    hits = HybridSearcher(index, hashing_encoders(), analyzer).search(query, language)
    assert hits[0].article.id == expected
    assert hits[0].article.language == language
    assert [h.relevance for h in hits] == sorted((h.relevance for h in hits), reverse=True)


def test_unrelated_query_scores_low(index, analyzer):
    searcher = HybridSearcher(index, hashing_encoders(), analyzer)
    related = searcher.search("how do I pay my bill", "en")[0]
    unrelated = searcher.search("recipe for chocolate cake", "en")[0]
    assert unrelated.relevance < related.relevance - 0.3
    assert unrelated.lexical < related.lexical / 2
    # With three articles the classifier cannot say "none": it spreads its probability.
    assert unrelated.probability < 0.6


def test_empty_query_and_unknown_language_find_nothing(index, analyzer):
    searcher = HybridSearcher(index, hashing_encoders(), analyzer)
    assert searcher.search("   ", "en") == []
    assert searcher.search("bonjour", "fr") == []


def test_get_prefers_the_requested_language_and_falls_back_to_another(index, analyzer, tmp_path):
    searcher = HybridSearcher(index, hashing_encoders(), analyzer)
    assert searcher.get("sim-puk", "zh").title == "SIM卡被锁：PIN码和PUK码"
    assert searcher.get("sim-puk", "en").title == "SIM locked: PIN and PUK codes"
    assert searcher.get("no-such-article", "en") is None

from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge_base.articles import content_hash, load_articles
from knowledge_base.index import (
    IndexSettings,
    KnowledgeIndex,
    StaleIndexError,
    open_index,
    read_manifest,
    unrelated_similarity,
)
from knowledge_base.search import HybridSearcher
from tests.helpers import HashingEncoder, article_text, hashing_encoders, write_articles


@pytest.fixture
def kb_dir(tmp_path):
    return write_articles(tmp_path / "articles")


def test_build_indexes_titles_questions_and_answers_per_language(kb_dir, analyzer):
    index = KnowledgeIndex.build(load_articles(kb_dir), hashing_encoders(), analyzer)
    # 3 articles per language, each: 1 title + 2 questions + 1 answer + 1 pooled (title and questions)
    assert index.manifest["units"] == {"en": 15, "zh": 15}
    assert len(index.vectors["en"]) == 15
    assert len(index.lexical["zh"]) == 15
    kinds = [u.kind for u in index.units["en"][:5]]
    assert kinds == ["title", "question", "question", "answer", "pooled"]
    first = index.articles[0]
    assert index.units[first.language][4].text.splitlines() == [first.title, *first.questions]
    assert index.classifiers["en"].uses_embeddings and index.classifiers["zh"].uses_embeddings
    assert index.manifest["models"] == {"en": "hashing-test-encoder", "zh": "hashing-test-encoder"}
    assert set(index.manifest["dense_baseline"]) == {"en", "zh"}


def test_a_language_without_an_encoder_gets_the_lexical_side_only(kb_dir, tmp_path, analyzer):
    index = KnowledgeIndex.build(load_articles(kb_dir), {"en": HashingEncoder()}, analyzer)
    assert set(index.vectors) == {"en"}
    assert index.manifest["models"] == {"en": "hashing-test-encoder", "zh": "none"}
    assert not index.classifiers["zh"].uses_embeddings
    index.save(tmp_path / "index")
    assert set(KnowledgeIndex.load(tmp_path / "index").vectors) == {"en"}


def test_unrelated_similarity_is_the_mean_cosine_across_articles():
    vectors = np.array([[1, 0], [1, 0], [0.6, 0.8]], dtype=np.float32)
    # Pairs across articles (0 vs 1): (0, 2) and (1, 2), both 0.6; the same-article pair (0, 1) is left out.
    assert unrelated_similarity(vectors, [0, 0, 1]) == pytest.approx(0.6)
    assert unrelated_similarity(vectors, [0, 0, 0]) == 0.0


def test_saved_index_loads_with_the_same_articles_and_results(kb_dir, tmp_path, analyzer):
    encoders = hashing_encoders()
    built = KnowledgeIndex.build(load_articles(kb_dir), encoders, analyzer, content=content_hash(kb_dir))
    built.save(tmp_path / "index")
    loaded = KnowledgeIndex.load(tmp_path / "index")

    assert [a.key for a in loaded.articles] == [a.key for a in built.articles]
    assert loaded.manifest == built.manifest
    for query, language in [("pay my bill", "en"), ("怎么交话费", "zh")]:
        before = HybridSearcher(built, encoders, analyzer).search(query, language)
        after = HybridSearcher(loaded, encoders, analyzer).search(query, language)
        assert [(h.article.id, round(h.score, 5)) for h in before] == [(h.article.id, round(h.score, 5)) for h in after]


def test_loading_a_missing_index_raises(tmp_path):
    with pytest.raises(StaleIndexError, match="no index"):
        KnowledgeIndex.load(tmp_path / "nowhere")


def test_open_index_builds_once_then_reuses(kb_dir, tmp_path, analyzer):
    index_dir = tmp_path / "index"
    first = open_index(kb_dir, index_dir, hashing_encoders(), analyzer)
    second = open_index(kb_dir, index_dir, hashing_encoders(), analyzer)
    assert second.manifest["built_at"] == first.manifest["built_at"]
    assert read_manifest(index_dir)["content_hash"] == content_hash(kb_dir)


def test_edited_article_makes_the_index_stale_and_it_is_rebuilt(kb_dir, tmp_path, analyzer):
    index_dir = tmp_path / "index"
    encoders = hashing_encoders()
    open_index(kb_dir, index_dir, encoders, analyzer)
    (kb_dir / "en" / "esim-activate.md").write_text(
        article_text(id="esim-activate", title="Get an eSIM", questions=("How do I get an eSIM?",)), encoding="utf-8"
    )
    rebuilt = open_index(kb_dir, index_dir, encoders, analyzer)
    assert "esim-activate" in {a.id for a in rebuilt.articles}
    assert HybridSearcher(rebuilt, encoders, analyzer).search("get an esim", "en")[0].article.id == "esim-activate"


def test_changed_settings_or_model_make_the_index_stale(kb_dir, tmp_path, analyzer):
    index_dir = tmp_path / "index"
    open_index(kb_dir, index_dir, hashing_encoders(), analyzer)
    without_answers = open_index(kb_dir, index_dir, hashing_encoders(), analyzer, IndexSettings(index_answers=False))
    assert without_answers.manifest["units"] == {"en": 12, "zh": 12}

    class OtherModel(HashingEncoder):
        name = "another-model"

    rebuilt = open_index(
        kb_dir, index_dir, hashing_encoders(OtherModel()), analyzer, IndexSettings(index_answers=False)
    )
    assert rebuilt.manifest["models"] == {"en": "another-model", "zh": "another-model"}


def test_tampered_manifest_format_is_stale(kb_dir, tmp_path, analyzer):
    index_dir = tmp_path / "index"
    built = open_index(kb_dir, index_dir, hashing_encoders(), analyzer)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["format_version"] = 0
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    rebuilt = open_index(kb_dir, index_dir, hashing_encoders(), analyzer)
    assert rebuilt.manifest["format_version"] == built.manifest["format_version"]
    assert read_manifest(index_dir)["format_version"] == built.manifest["format_version"]


def test_a_knowledge_base_in_one_language_indexes_and_searches(tmp_path, analyzer):
    english_only = [a for a in load_articles(write_articles(tmp_path / "articles")) if a.language == "en"]
    index = KnowledgeIndex.build(english_only, hashing_encoders(), analyzer)
    assert index.manifest["units"]["zh"] == 0 and index.classifiers["zh"] is None
    searcher = HybridSearcher(index, hashing_encoders(), analyzer)
    assert searcher.search("怎么交话费", "zh") == []
    assert searcher.search("pay my bill", "en")[0].article.id == "billing-payment-methods"
    index.save(tmp_path / "index")
    assert KnowledgeIndex.load(tmp_path / "index").manifest["units"]["zh"] == 0

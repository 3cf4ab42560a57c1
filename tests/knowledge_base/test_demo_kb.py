"""The demo knowledge base shipped with Touchpoint: complete, bilingual, and honest to test on."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from knowledge_base.articles import load_articles

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = load_articles(ROOT / "knowledge_base" / "articles", include_unpublished=True)
QUERIES = yaml.safe_load((ROOT / "tests" / "e2e" / "queries.yml").read_text(encoding="utf-8"))


def test_demo_has_at_least_60_articles_each_in_chinese_and_english():
    languages = defaultdict(set)
    for article in ARTICLES:
        languages[article.id].add(article.language)
    assert len(languages) >= 60
    assert {id: langs for id, langs in languages.items() if langs != {"en", "zh"}} == {}


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: f"{a.language}/{a.id}")
def test_every_demo_article_is_published_with_four_questions_and_a_real_answer(article):
    assert article.status == "published"
    assert len(article.questions) >= 4
    assert len(set(article.questions)) == len(article.questions)
    assert len(article.body) >= (60 if article.language == "zh" else 200)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_e2e_queries_appear_in_no_article_and_point_at_real_articles(language):
    ids = {a.id for a in ARTICLES}
    texts = [" ".join([a.title, *a.questions, a.body]).lower() for a in ARTICLES]
    for item in QUERIES[language]:
        assert item["article"] in ids, item
        assert not any(item["query"].lower() in text for text in texts), item

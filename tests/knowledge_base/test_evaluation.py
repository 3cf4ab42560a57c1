"""Query sets, the evaluation run and `touchpoint eval` on a small knowledge base."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from knowledge_base.articles import load_articles
from knowledge_base.evaluation import Query, QuerySetError, load_queries, report, run
from knowledge_base.index import KnowledgeIndex
from knowledge_base.search import HybridSearcher
from tests.conftest import ROOT
from tests.helpers import hashing_encoders, write_articles

QUERY_SET = """\
queries:
  - {language: en, query: "which payment methods can I use for my bill", article: billing-payment-methods}
  - {query: "PIN码输错三次，SIM卡锁了", article: sim-puk}
  - {language: en, query: "a question with two right answers", articles: [sim-puk, roaming-activate]}
  - {language: en, query: "who won the world cup", article: null}
"""


def test_yaml_query_set_loads_with_languages_and_expected_articles(tmp_path):
    path = tmp_path / "queries.yml"
    path.write_text(QUERY_SET, encoding="utf-8")
    queries = load_queries(path)
    assert [q.language for q in queries] == ["en", "zh", "en", "en"]
    assert queries[0].expected == {"billing-payment-methods"}
    assert queries[2].expected == {"sim-puk", "roaming-activate"}
    assert queries[3].expected == frozenset()


def test_json_lines_query_set_loads(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text(
        '{"query": "pay my bill", "article": "billing-payment-methods"}\n\n{"query": "hi", "article": null}\n'
    )
    assert [q.text for q in load_queries(path)] == ["pay my bill", "hi"]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"query": "pay"}\n', ".jsonl", r"queries.jsonl:1: article: missing"),
        ('{"query": "pay", "article": null}\nnot json\n', ".jsonl", r"queries.jsonl:2: not JSON"),
        ("queries:\n  - {query: '', article: a}\n", ".yml", r"query 1: query: must be a non-empty string"),
        ("queries:\n  - {query: x, article: a, language: fr}\n", ".yml", r"query 1: language: must be one of en, zh"),
        ("queries:\n  - {query: x, article: 3}\n", ".yml", r"query 1: article: must be an article id"),
        ("- just a list\n", ".yml", r"expected a mapping with a 'queries' list"),
    ],
)
def test_bad_query_sets_name_the_file_query_and_field(tmp_path, content, suffix, message):
    path = tmp_path / f"queries{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QuerySetError, match=message):
        load_queries(path)


def test_run_and_report_score_a_real_search(tmp_path, analyzer):
    encoders = hashing_encoders()
    index = KnowledgeIndex.build(load_articles(write_articles(tmp_path)), encoders, analyzer)
    searcher = HybridSearcher(index, encoders, analyzer)
    queries = [
        Query("which payment methods can I use for my bill", "en", frozenset({"billing-payment-methods"})),
        Query("PIN码输错三次，SIM卡锁了", "zh", frozenset({"sim-puk"})),
        Query("who won the world cup", "en", frozenset()),
    ]
    outcomes = run(searcher, queries)
    assert [o.ranked[0] for o in outcomes[:2]] == ["billing-payment-methods", "sim-puk"]
    result = report(outcomes, threshold=0.3)
    assert set(result) == {"all", "en", "zh"}
    assert result["all"]["retrieval"]["top1"] == 1.0
    assert result["zh"]["queries"] == 1 and result["en"]["out_of_scope_queries"] == 1
    assert len(result["all"]["curve"]) == 101


def test_touchpoint_eval_writes_json_and_a_plot(tmp_path):
    articles = write_articles(tmp_path / "articles")
    queries = tmp_path / "queries.yml"
    queries.write_text(QUERY_SET, encoding="utf-8")
    env = dict(
        os.environ,
        TOUCHPOINT_BUILD_DIR=str(tmp_path / "build"),
        TOUCHPOINT_EMBEDDING_MODEL="none",  # lexical only: no model to load in a unit test
        TOUCHPOINT_CHINESE_EMBEDDING_MODEL="none",
        MPLCONFIGDIR=str(tmp_path / "mpl"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", "--queries", str(queries), "--articles", str(articles)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "all: 4 queries (1 out of scope)" in result.stdout
    summary = json.loads((tmp_path / "build" / "eval" / "queries.json").read_text())
    assert summary["models"] == {"en": "none", "zh": "none"}
    assert summary["results"]["all"]["retrieval"]["queries"] == 3
    assert (tmp_path / "build" / "eval" / "queries.png").read_bytes().startswith(b"\x89PNG")


def test_touchpoint_eval_reports_a_bad_query_set_without_a_traceback(tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "pay"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", "--queries", str(queries)],
        cwd=ROOT, env=dict(os.environ, TOUCHPOINT_BUILD_DIR=str(tmp_path / "build")),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "queries.jsonl:1: article: missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_touchpoint_validate_reports_a_missing_folder_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate"],
        cwd=ROOT, env=dict(os.environ, TOUCHPOINT_ARTICLES_DIR=str(tmp_path / "nowhere")),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "knowledge base folder" in result.stderr and "Traceback" not in result.stderr

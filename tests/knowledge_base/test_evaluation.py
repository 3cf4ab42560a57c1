"""Query sets, the evaluation run and `touchpoint eval` on a small knowledge base."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from knowledge_base.articles import load_articles
from knowledge_base.evaluation import (
    Query,
    QuerySetError,
    folder_key,
    format_report,
    load_queries,
    report,
    reserve_paths,
    run,
    write_records,
)
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

KINDS = [
    Query("which payment methods can I use for my bill", "en", frozenset({"billing-payment-methods"}), "colloquial"),
    Query("PIN码输错三次，SIM卡锁了", "zh", frozenset({"sim-puk"}), "colloquial"),
    Query("how do I turn on roaming", "en", frozenset({"roaming-activate"}), "typo"),
    Query("who won the world cup", "en", frozenset(), "off_topic"),
    Query("what is the capital of peru", "en", frozenset(), "off_topic"),
    Query("tell me about roaming", "en", frozenset({"roaming-activate"})),
]


@pytest.fixture
def searcher(tmp_path, analyzer):
    encoders = hashing_encoders()
    index = KnowledgeIndex.build(load_articles(write_articles(tmp_path / "articles")), encoders, analyzer)
    return HybridSearcher(index, encoders, analyzer)


def test_yaml_query_set_loads_with_languages_and_expected_articles(tmp_path):
    path = tmp_path / "queries.yml"
    path.write_text(QUERY_SET, encoding="utf-8")
    queries = load_queries(path)
    assert [q.language for q in queries] == ["en", "zh", "en", "en"]
    assert queries[0].expected == {"billing-payment-methods"}
    assert queries[2].expected == {"sim-puk", "roaming-activate"}
    assert queries[3].expected == frozenset()
    assert {q.kind for q in queries} == {None}


def test_a_query_may_say_what_kind_of_query_it_is(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text(
        '{"query": "is it raining", "article": null, "kind": "off_topic"}\n{"query": "pay", "article": "a"}\n'
    )
    assert [q.kind for q in load_queries(path)] == ["off_topic", None]


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
        ("queries:\n  - {query: x, article: a, kind: 3}\n", ".yml", r"query 1: kind: must be a non-empty string"),
    ],
)
def test_bad_query_sets_name_the_file_query_and_field(tmp_path, content, suffix, message):
    path = tmp_path / f"queries{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QuerySetError, match=message):
        load_queries(path)


def test_run_and_report_score_a_real_search(searcher):
    queries = [
        Query("which payment methods can I use for my bill", "en", frozenset({"billing-payment-methods"})),
        Query("PIN码输错三次，SIM卡锁了", "zh", frozenset({"sim-puk"})),
        Query("who won the world cup", "en", frozenset()),
    ]
    results = run(searcher, queries)
    assert [r.outcome.ranked[0] for r in results[:2]] == ["billing-payment-methods", "sim-puk"]
    result = report([r.outcome for r in results], threshold=0.3)
    assert set(result) == {"all", "en", "zh"}
    assert result["all"]["retrieval"]["top1"] == 1.0
    assert result["zh"]["queries"] == 1 and result["en"]["out_of_scope_queries"] == 1
    assert len(result["all"]["curve"]) == 101
    assert "kinds" not in result["all"]  # the set marks no kinds
    assert "at_default" not in result["all"]


def test_report_gives_each_kind_of_query_its_own_figures(searcher):
    outcomes = [r.outcome for r in run(searcher, KINDS)]
    kinds = report(outcomes, threshold=0.3)["all"]["kinds"]
    assert set(kinds) == {"colloquial", "typo", "off_topic"}  # the unmarked query counts overall only
    assert kinds["colloquial"] == {"queries": 2, "out_of_scope_queries": 0, "top1": 1.0, "answered_correctly": 1.0}
    assert set(kinds["off_topic"]) == {"queries", "out_of_scope_queries", "handoff_recall"}
    assert kinds["off_topic"]["out_of_scope_queries"] == 2
    # At a threshold above every score all is handed off: out of scope caught, nothing answered.
    everything_handed_off = report(outcomes, threshold=1.01)["all"]["kinds"]
    assert everything_handed_off["off_topic"]["handoff_recall"] == 1.0
    assert everything_handed_off["colloquial"]["answered_correctly"] == 0.0
    assert everything_handed_off["colloquial"]["top1"] == 1.0


def test_report_keeps_the_default_setting_beside_a_chosen_threshold(searcher):
    outcomes = [r.outcome for r in run(searcher, KINDS)]
    result = report(outcomes, threshold=1.01, default=0.0)
    for group in result.values():
        assert group["handoff"]["threshold"] == 1.01
        assert group["at_default"]["handoff"]["threshold"] == 0.0
    assert result["all"]["at_default"]["handoff"]["handoff_rate"] == 0.0
    assert result["all"]["handoff"]["handoff_rate"] == 1.0
    assert result["all"]["at_default"]["kinds"]["off_topic"]["handoff_recall"] == 0.0
    text = format_report(result)
    assert "default 0.00" in text and "chosen 1.01" in text and "at 1.01" not in text
    assert text.count("off_topic") == 2  # its figures at each setting


def test_format_report_prints_each_kind(searcher):
    text = format_report(report([r.outcome for r in run(searcher, KINDS)], threshold=0.3))
    assert "at 0.30" in text
    assert "off_topic      2 queries, out of scope" in text
    assert "colloquial     2 queries" in text and "answered correctly 100.0%" in text


def test_each_query_gets_a_row_with_its_ranking_scores_and_decision(searcher, tmp_path):
    results = run(searcher, KINDS)
    path = tmp_path / "queries.jsonl"
    write_records(results, path, threshold=0.3)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(KINDS)
    first = rows[0]
    assert first["query"] == KINDS[0].text and first["language"] == "en" and first["kind"] == "colloquial"
    assert first["expected"] == ["billing-payment-methods"]
    assert first["ranked"][0]["article_id"] == "billing-payment-methods"
    assert set(first["ranked"][0]) == {"article_id", "score", "relevance", "margin", "dense", "lexical", "probability"}
    assert first["ranked"][0]["score"] == round(results[0].hits[0].score, 4)
    assert len(first["ranked"]) <= 5
    assert first["rank"] == 1 and first["top1_correct"] is True
    assert (first["threshold"], first["decision"], first["correct_decision"]) == (0.3, "answer", True)
    assert rows[1]["query"] == "PIN码输错三次，SIM卡锁了"  # kept readable, not escaped
    assert "PIN码" in path.read_text(encoding="utf-8")
    assert rows[5]["kind"] is None
    for row, result in zip(rows, results, strict=True):
        handed_off = result.outcome.top_score < 0.3
        assert row["decision"] == ("hand_off" if handed_off else "answer")
        assert row["correct_decision"] == (handed_off == (not result.query.expected))


def test_rows_carry_the_decision_at_the_default_setting_too(searcher, tmp_path):
    path = tmp_path / "queries.jsonl"
    write_records(run(searcher, KINDS[:1]), path, threshold=1.01, default=0.3)
    row = json.loads(path.read_text(encoding="utf-8"))
    assert (row["decision"], row["correct_decision"]) == ("hand_off", False)
    assert (row["threshold_at_default"], row["decision_at_default"], row["correct_decision_at_default"]) == (
        0.3,
        "answer",
        True,
    )


def test_reserve_paths_never_hands_out_a_name_already_taken(tmp_path):
    first = reserve_paths(tmp_path / "out" / "set.json", tmp_path / "out" / "set.jsonl")
    assert first == (tmp_path / "out" / "set.json", tmp_path / "out" / "set.jsonl")
    assert first[0].exists()  # taken at once, before it is written
    assert reserve_paths(tmp_path / "out" / "set.json", tmp_path / "out" / "set.jsonl")[0].name == "set-2.json"
    # A companion left by an earlier run counts too: all of a run's files share one number.
    (tmp_path / "out" / "set-3.png").write_bytes(b"")
    taken = reserve_paths(tmp_path / "out" / "set.json", tmp_path / "out" / "set.png")
    assert [p.name for p in taken] == ["set-4.json", "set-4.png"]


def test_folder_key_names_a_knowledge_base_by_its_folder_and_path(tmp_path):
    (tmp_path / "clinc150" / "articles").mkdir(parents=True)
    (tmp_path / "mykb").mkdir()
    assert folder_key(tmp_path / "clinc150" / "articles").startswith("clinc150-")
    assert folder_key(tmp_path / "mykb").startswith("mykb-")
    assert folder_key(tmp_path / "mykb") != folder_key(tmp_path / "other" / "mykb")
    assert len(folder_key(tmp_path / "mykb")) == len("mykb-") + 8


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
    out = tmp_path / "build" / "eval" / folder_key(articles)
    summary = json.loads((out / "queries.json").read_text())
    assert summary["models"] == {"en": "none", "zh": "none"}
    assert summary["results"]["all"]["retrieval"]["queries"] == 3
    assert summary["per_query"] == str(out / "queries.jsonl")
    assert len((out / "queries.jsonl").read_text().splitlines()) == 4
    assert (out / "queries.png").read_bytes().startswith(b"\x89PNG")


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

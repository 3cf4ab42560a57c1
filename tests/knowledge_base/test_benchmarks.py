"""The benchmark converters on tiny copies of each data set's format."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from knowledge_base.articles import load_articles
from knowledge_base.benchmarks import CONVERTERS, write_benchmark
from knowledge_base.evaluation import load_queries


def test_clinc150_intents_become_articles_and_oos_becomes_out_of_scope(tmp_path):
    data = {
        "train": [
            ["what is my balance", "balance"],
            ["how much money do i have", "balance"],
            ["book a flight", "book_flight"],
        ],
        "val": [["balance please", "balance"]],
        "oos_val": [["what is the meaning of life", "oos"]],
        "test": [["fly me to rome", "book_flight"]],
        "oos_test": [["tell me a joke", "oos"]],
        "oos_train": [["ignored", "oos"]],
    }
    (tmp_path / "data_full.json").write_text(json.dumps(data))
    counts = write_benchmark(CONVERTERS["clinc150"](tmp_path), tmp_path / "out")
    assert counts == {"articles": 2, "val": 2, "test": 2}
    articles = {a.id: a for a in load_articles(tmp_path / "out" / "articles")}
    assert articles["balance"].questions == ("what is my balance", "how much money do i have")
    assert set(articles) == {"balance", "book-flight"}
    test = load_queries(tmp_path / "out" / "test.jsonl")
    assert [(q.text, q.expected) for q in test] == [
        ("fly me to rome", frozenset({"book-flight"})),
        ("tell me a joke", frozenset()),
    ]


def test_banking77_shots_keep_the_first_examples_of_each_intent(tmp_path):
    (tmp_path / "train.csv").write_text(
        'text,category\nwhere is my card,card_arrival\n"card not here, help",card_arrival\nthird,card_arrival\n'
        "top up failed,top_up_failed\n"
    )
    (tmp_path / "test.csv").write_text("text,category\nmy card never came,card_arrival\n")
    benchmark = CONVERTERS["banking77"](tmp_path, shots=2)
    questions = {a.id: a.questions for a in benchmark.articles}
    assert questions == {
        "card-arrival": ("where is my card", "card not here, help"),
        "top-up-failed": ("top up failed",),
    }
    assert benchmark.splits["test"] == [{"query": "my card never came", "language": "en", "article": "card-arrival"}]


def test_stackfaq_queries_are_right_on_any_pair_of_their_thread(tmp_path):
    (tmp_path / "faq_pairs.tsv").write_text(
        "pair_id\tthread_id\tquestion\tanswer\n"
        "T000_A0\tT000\tStrike text\tUse ~~x~~\n"
        "T000_A1\tT000\tStrike text\tUse <del>\n"
    )
    (tmp_path / "queries.tsv").write_text("query_id\tthread_id\tpart\tquery\nT000_P1_0\tT000\t1\tcross out words\n")
    (tmp_path / "qrels.tsv").write_text("query_id\tpair_id\trelevance\nT000_P1_0\tT000_A0\t1\nT000_P1_0\tT000_A1\t1\n")
    benchmark = CONVERTERS["stackfaq"](tmp_path)
    assert [a.id for a in benchmark.articles] == ["t000-a0", "t000-a1"]
    assert benchmark.articles[1].body == "Use <del>"
    assert benchmark.splits["test"] == [
        {"query": "cross out words", "language": "en", "articles": ["t000-a0", "t000-a1"]}
    ]


def test_lcqmc_first_questions_are_articles_and_positive_seconds_are_queries(tmp_path):
    (tmp_path / "test.txt").write_text(
        "怎么开发票\t发票怎么开\t1\n怎么开发票\t哪里买票\t0\n今天天气\t明天下雨吗\t0\n", encoding="utf-8"
    )
    benchmark = CONVERTERS["lcqmc"](tmp_path)
    assert [(a.id, a.title) for a in benchmark.articles] == [("q00000", "怎么开发票"), ("q00001", "今天天气")]
    assert benchmark.splits["test"] == [{"query": "发票怎么开", "language": "zh", "article": "q00000"}]


def test_lcqmc_articles_keeps_the_first_questions_and_only_their_queries(tmp_path):
    (tmp_path / "test.txt").write_text(
        "怎么开发票\t发票怎么开\t1\n今天天气\t今天天气如何\t1\n怎么开发票\t开发票的方法\t1\n明天下雨吗\t下雨吗\t1\n",
        encoding="utf-8",
    )
    benchmark = CONVERTERS["lcqmc"](tmp_path, articles=2)
    assert [a.title for a in benchmark.articles] == ["怎么开发票", "今天天气"]
    assert [q["query"] for q in benchmark.splits["test"]] == ["发票怎么开", "今天天气如何", "开发票的方法"]


def test_lcqmc_articles_beyond_the_split_is_an_error(tmp_path):
    (tmp_path / "test.txt").write_text("怎么开发票\t发票怎么开\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 distinct first questions, fewer than 2"):
        CONVERTERS["lcqmc"](tmp_path, articles=2)


def test_convert_articles_option_sizes_lcqmc_and_is_refused_for_other_benchmarks(tmp_path, capsys):
    (tmp_path / "test.txt").write_text("怎么开发票\t发票怎么开\t1\n今天天气\t今天天气如何\t1\n", encoding="utf-8")
    assert main(["convert", "lcqmc", str(tmp_path), str(tmp_path / "out"), "--articles", "1"]) == 0
    assert [a.title for a in load_articles(tmp_path / "out" / "articles")] == ["怎么开发票"]
    assert main(["convert", "clinc150", str(tmp_path), str(tmp_path / "out"), "--articles", "1"]) == 2
    assert "--articles applies to lcqmc only" in capsys.readouterr().err

"""The benchmark converters on tiny copies of each data set's format."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bot.cli import main
from knowledge_base.articles import load_articles
from knowledge_base.benchmarks import CONVERTERS, write_benchmark
from knowledge_base.benchmarks.base import slug
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


def clinc_like(folder, domains: dict[str, list[str]], per_intent: int = 1) -> None:
    """A CLINC150-shaped data_full.json and domains.json: `per_intent` rows of each intent per split."""
    intents = [intent for members in domains.values() for intent in members]

    def rows(split: str) -> list[list[str]]:
        return [[f"{split} {number} {intent}", intent] for intent in intents for number in range(per_intent)]

    data = {split: rows(split) for split in ("train", "val", "test")}
    data |= {
        "oos_train": [["ignored", "oos"]],
        "oos_val": [["sing me a song", "oos"]],
        "oos_test": [["who won", "oos"]],
    }
    (folder / "data_full.json").write_text(json.dumps(data))
    (folder / "domains.json").write_text(json.dumps(domains))


def test_clinc150_unseen_leaves_a_quarter_of_the_intents_out_spread_over_the_domains(tmp_path):
    domains = {f"domain{d}": [f"intent_{d}_{i}" for i in range(15)] for d in range(10)}  # CLINC's 10 x 15
    clinc_like(tmp_path, domains)
    benchmark = CONVERTERS["clinc150-unseen"](tmp_path, seed=1)
    held_out = benchmark.about["held_out_intents"]
    assert len(held_out) == 38  # a quarter of 150, rounded half up
    per_domain = Counter(intent.rsplit("_", 1)[0] for intent in held_out)
    assert sorted(per_domain.values()) == [3, 3, 4, 4, 4, 4, 4, 4, 4, 4]
    assert len(benchmark.articles) == 112
    assert not {a.id for a in benchmark.articles} & {slug(i) for i in held_out}

    assert CONVERTERS["clinc150-unseen"](tmp_path, seed=1).about == benchmark.about  # deterministic
    assert CONVERTERS["clinc150-unseen"](tmp_path, seed=2).about["held_out_intents"] != held_out


def test_clinc150_unseen_marks_in_domain_off_topic_and_in_scope_questions(tmp_path):
    clinc_like(tmp_path, {"banking": ["balance", "transfer", "pin_change", "freeze_account"]}, per_intent=2)
    benchmark = CONVERTERS["clinc150-unseen"](tmp_path)
    [held_out] = benchmark.about["held_out_intents"]
    assert benchmark.about == {"benchmark": "clinc150-unseen", "seed": 1, "held_out_intents": [held_out]}
    for split in ("val", "test"):
        queries = benchmark.splits[split]
        kinds = Counter(q["kind"] for q in queries)
        assert kinds == {"in_scope": 6, "in_domain": 2, "off_topic": 1}
        for query in queries:
            intent = query["query"].split(" ", 2)[-1]
            if query["kind"] == "in_domain":
                assert (intent, query["article"]) == (held_out, None)
            elif query["kind"] == "off_topic":
                assert query["article"] is None and query["query"] in ("sing me a song", "who won")
            else:
                assert query["article"] == slug(intent) != slug(held_out)


def test_convert_clinc150_unseen_writes_query_sets_eval_reads_and_counts_each_kind(tmp_path, capsys):
    clinc_like(tmp_path, {"banking": ["balance", "transfer"], "travel": ["book_flight", "book_hotel"]})
    out = tmp_path / "out"
    assert main(["convert", "clinc150-unseen", str(tmp_path), str(out), "--seed", "3"]) == 0
    output = capsys.readouterr().out
    assert "wrote" in output and "test: in_scope 3, in_domain 1, off_topic 1" in output
    assert len(load_articles(out / "articles")) == 3
    test = load_queries(out / "test.jsonl")
    assert sum(not q.expected for q in test) == 2  # the held-out intent's question and the off-topic one
    assert json.loads((out / "benchmark.json").read_text())["seed"] == 3
    assert main(["convert", "clinc150", str(tmp_path), str(tmp_path / "plain"), "--seed", "3"]) == 2
    assert "--seed applies to clinc150-unseen only" in capsys.readouterr().err
    assert main(["convert", "clinc150", str(tmp_path), str(out)]) == 0
    assert not (out / "benchmark.json").exists()  # it described the conversion that is gone

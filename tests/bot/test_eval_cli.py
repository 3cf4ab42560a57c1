"""`touchpoint eval` and `touchpoint ask` as users run them: outputs named by knowledge base and
query set and never overwritten, the default setting beside a chosen threshold, figures per kind,
a folder's knowledge base asked without touching the running bot's index, one thread per model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import cli
from bot.settings import documented_variables
from knowledge_base.evaluation import folder_key
from tests.conftest import ROOT
from tests.helpers import SAMPLE_ARTICLES, write_articles

QUERY_SET = """\
queries:
  - {language: en, query: "which payment methods can I use", article: billing-payment-methods, kind: colloquial}
  - {query: "PIN码输错三次，SIM卡锁了", article: sim-puk, kind: colloquial}
  - {language: en, query: "how do I turn on roaming abroad", article: roaming-activate, kind: typo}
  - {language: en, query: "who won the world cup", article: null, kind: off_topic}
"""

TUNING_SET = """\
queries:
  - {language: en, query: "can I pay my bill with WeChat Pay", article: billing-payment-methods}
  - {language: en, query: "what is the weather tomorrow", article: null}
"""


@pytest.fixture
def build(tmp_path, monkeypatch) -> Path:
    """A build folder of its own, the models off (lexical search only: nothing to load), a
    knowledge base of three articles in two languages as the default articles, and the running
    bot's index folder at build/index."""
    for variable in documented_variables():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TOUCHPOINT_ARTICLES_DIR", str(write_articles(tmp_path / "kb" / "articles")))
    monkeypatch.setenv("TOUCHPOINT_EMBEDDING_MODEL", "none")
    monkeypatch.setenv("TOUCHPOINT_CHINESE_EMBEDDING_MODEL", "none")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # `main` sets them; put back after the test
        monkeypatch.setenv(variable, "1")
    (tmp_path / "queries.yml").write_text(QUERY_SET, encoding="utf-8")
    (tmp_path / "tuning.yml").write_text(TUNING_SET, encoding="utf-8")
    return tmp_path / "build"


def touchpoint(*argv: str) -> int:
    return cli.main(list(argv))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder` with its modification time and size."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


def test_eval_names_its_outputs_by_knowledge_base_and_query_set_and_never_overwrites_them(build, capsys):
    queries = build.parent / "queries.yml"
    assert touchpoint("eval", "--queries", str(queries)) == 0
    out = build / "eval" / folder_key(build.parent / "kb" / "articles")
    assert out.name.startswith("kb-")
    first = {name: (out / name).read_bytes() for name in ("queries.json", "queries.jsonl", "queries.png")}
    assert f"wrote {out / 'queries.json'}" in capsys.readouterr().out

    assert touchpoint("eval", "--queries", str(queries)) == 0
    assert f"wrote {out / 'queries-2.json'}" in capsys.readouterr().out
    assert {name: (out / name).read_bytes() for name in first} == first  # the first run's results stand
    assert (out / "queries-2.jsonl").exists() and (out / "queries-2.png").exists()
    assert json.loads((out / "queries-2.json").read_text())["per_query"] == str(out / "queries-2.jsonl")

    other = write_articles(build.parent / "other" / "articles", SAMPLE_ARTICLES[:3])
    assert touchpoint("eval", "--queries", str(queries), "--articles", str(other)) == 0
    assert (build / "eval" / folder_key(other) / "queries.json").exists()  # another knowledge base, another folder


def test_eval_writes_one_row_per_query_beside_the_totals(build):
    assert touchpoint("eval", "--queries", str(build.parent / "queries.yml")) == 0
    out = build / "eval" / folder_key(build.parent / "kb" / "articles")
    rows = [json.loads(line) for line in (out / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["query"] for row in rows][1] == "PIN码输错三次，SIM卡锁了"
    first = rows[0]
    assert first["kind"] == "colloquial" and first["expected"] == ["billing-payment-methods"]
    assert first["ranked"][0]["article_id"] == "billing-payment-methods"
    assert {"score", "dense", "lexical", "probability"} <= set(first["ranked"][0])
    assert (first["top1_correct"], first["threshold"], first["decision"]) == (True, 0.5, "answer")
    assert rows[3]["expected"] == [] and rows[3]["correct_decision"] == (rows[3]["decision"] == "hand_off")


def test_eval_reports_each_kind_of_query(build, capsys):
    assert touchpoint("eval", "--queries", str(build.parent / "queries.yml")) == 0
    printed = capsys.readouterr().out
    assert "colloquial     2 queries" in printed and "off_topic      1 queries, out of scope" in printed
    summary = json.loads(next((build / "eval").glob("*/queries.json")).read_text())
    kinds = summary["results"]["all"]["kinds"]
    assert set(kinds) == {"colloquial", "typo", "off_topic"}
    assert set(kinds["off_topic"]) == {"queries", "out_of_scope_queries", "handoff_recall"}
    assert {"top1", "answered_correctly"} <= set(kinds["typo"])


def test_eval_with_a_chosen_threshold_still_reports_the_default_setting(build, capsys):
    tuning = build.parent / "tuning.yml"
    argv = ["eval", "--queries", str(build.parent / "queries.yml"), "--choose-threshold-on", str(tuning)]
    assert touchpoint(*argv, "--threshold", "0.05") == 0
    printed = capsys.readouterr().out
    summary = json.loads(next((build / "eval").glob("*/queries.json")).read_text())
    chosen = summary["threshold"]
    assert summary["default_threshold"] == 0.05 and summary["threshold_chosen_on"] == str(tuning)
    assert f"threshold chosen on {tuning}: {chosen:.2f} (default 0.05)" in printed
    assert "default 0.05" in printed and f"chosen {chosen:.2f}" in printed
    everything = summary["results"]["all"]
    assert everything["handoff"]["threshold"] == chosen
    assert everything["at_default"]["handoff"]["threshold"] == 0.05
    assert everything["at_default"]["kinds"]["off_topic"]["queries"] == 1
    row = json.loads(next((build / "eval").glob("*/queries.jsonl")).read_text(encoding="utf-8").splitlines()[0])
    assert (row["threshold"], row["threshold_at_default"]) == (chosen, 0.05)
    assert "decision_at_default" in row and "correct_decision_at_default" in row


def test_eval_never_overwrites_json_and_plot_paths_given_on_the_command_line(build, capsys):
    results = build.parent / "results"
    results.mkdir()
    (results / "mine.json").write_text("an earlier result")
    argv = ["eval", "--queries", str(build.parent / "queries.yml"), "--json", str(results / "mine.json")]
    assert touchpoint(*argv, "--plot", str(results / "curve.png")) == 0
    assert (results / "mine.json").read_text() == "an earlier result"
    assert json.loads((results / "mine-2.json").read_text())["per_query"] == str(results / "mine-2.jsonl")
    assert (results / "curve.png").exists()
    assert touchpoint(*argv, "--plot", str(results / "curve.png")) == 0
    assert (results / "mine-3.json").exists() and (results / "curve-2.png").exists()
    printed = capsys.readouterr().out
    assert str(results / "mine-3.json") in printed and str(results / "curve-2.png") in printed
    assert touchpoint(*argv) == 0  # no --plot: the curve goes beside the totals, numbered with them
    assert (results / "mine-4.png").exists()


def test_ask_a_folder_searches_it_and_leaves_the_live_index_alone(build, capsys):
    live = build / "index"
    (live / "0123456789abcdef0123").mkdir(parents=True)
    (live / "0123456789abcdef0123" / "manifest.json").write_text("{}")
    before = snapshot(live)
    articles = build.parent / "kb" / "articles"

    assert touchpoint("ask", "--articles", str(articles), "which payment methods can I use") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["knowledge_base"] == str(articles.resolve())
    assert (answer["threshold"], answer["decision"]) == (0.5, "answer")
    assert answer["hits"][0]["article_id"] == "billing-payment-methods"
    assert (build / "eval-index" / folder_key(articles) / "manifest.json").exists()
    assert snapshot(live) == before

    own = build.parent / "own-index"
    assert touchpoint("ask", "--articles", str(articles), "--index-dir", str(own), "--threshold", "1.01", "pay") == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "hand_off"
    assert (own / "manifest.json").exists()
    assert snapshot(live) == before


def test_ask_reads_the_published_index_and_never_writes_or_prunes_it(build, capsys, monkeypatch):
    assert touchpoint("index") == 0  # the running bot's build
    live = build / "index"
    hour_ago = time.time() - 7200
    for number in range(4):  # older builds, and a crashed build's leftovers, that a clean-up would remove
        (live / f"old-build-{number}").mkdir()
        (live / f"old-build-{number}" / "manifest.json").write_text("{}")
        os.utime(live / f"old-build-{number}", (hour_ago - number, hour_ago - number))
    (live / ".leftover").mkdir()
    os.utime(live / ".leftover", (hour_ago, hour_ago))
    before = snapshot(live)
    capsys.readouterr()

    assert touchpoint("ask", "how can I pay my bill") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["knowledge_base"].startswith("published, version")
    assert answer["hits"][0]["article_id"] == "billing-payment-methods" and answer["decision"] == "answer"
    assert snapshot(live) == before
    assert not (build / "ask-index").exists()  # the bot's own build was read

    # The environment points at another database (another knowledge base): ask builds its own index.
    monkeypatch.setenv("TOUCHPOINT_DATABASE_URL", f"sqlite+aiosqlite:///{build.parent / 'other.db'}")
    monkeypatch.setenv("TOUCHPOINT_ARTICLES_DIR", str(write_articles(build.parent / "few", SAMPLE_ARTICLES[:2])))
    assert touchpoint("ask", "how can I pay my bill") == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["article_id"] == "billing-payment-methods"
    assert snapshot(live) == before
    assert [p for p in (build / "ask-index").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("command", ["eval", "ask"])
@pytest.mark.parametrize("where", ["index", "index/inner", "."])
def test_an_index_dir_in_or_around_the_live_index_is_refused(build, capsys, command, where):
    (build / "index").mkdir(parents=True)
    (build / "index" / "build.txt").write_text("serving")
    before = snapshot(build / "index")
    argv = ["--articles", str(build.parent / "kb" / "articles"), "--index-dir", str(build / where)]
    argv += ["--queries", str(build.parent / "queries.yml")] if command == "eval" else ["pay my bill"]
    assert touchpoint(command, *argv) == 1
    assert "running bot's index" in capsys.readouterr().err
    assert snapshot(build / "index") == before


def test_eval_loads_its_models_on_one_thread(tmp_path):
    """With the real models: torch computes on one thread even when it was imported (with its
    default of a thread per core) before `main` could set the environment."""
    articles = write_articles(tmp_path / "kb" / "articles")
    queries = tmp_path / "queries.yml"
    queries.write_text(QUERY_SET, encoding="utf-8")
    script = (
        "import json, os, sys, torch\n"
        "torch.set_num_threads(2)\n"
        "from bot.cli import main\n"
        f"code = main(['eval', '--queries', {str(queries)!r}, '--articles', {str(articles)!r}])\n"
        "print(json.dumps({'code': code, 'threads': torch.get_num_threads(),\n"
        "                  'omp': os.environ.get('OMP_NUM_THREADS'), 'mkl': os.environ.get('MKL_NUM_THREADS')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env |= {"TOUCHPOINT_BUILD_DIR": str(tmp_path / "build"), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    for variable in ("TOUCHPOINT_EMBEDDING_MODEL", "TOUCHPOINT_CHINESE_EMBEDDING_MODEL"):
        env.pop(variable, None)  # the default models
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured == {"code": 0, "threads": 1, "omp": "1", "mkl": "1"}

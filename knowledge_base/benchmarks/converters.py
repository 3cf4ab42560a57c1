"""The four public data sets in ../shared/benchmarks, each framed as a knowledge base.

- CLINC150 (Larson et al. 2019), `data_full.json`: an intent is an article whose alternate
  questions are its `train` utterances; `val` + `oos_val` choose the threshold, `test` +
  `oos_test` are reported (in-scope accuracy and out-of-scope recall).
- BANKING77 (Casanueva et al. 2020): the same framing on `train.csv` / `test.csv`; `shots`
  keeps the first N training examples per intent (the few-shot setting).
- StackFAQ (Karan & Šnajder 2018): each FAQ pair (question + answer) is an article; a query
  is right when the article found belongs to the query's thread (all of the thread's pairs).
- LCQMC (Liu et al. 2018), `test.txt`: the first question of every pair is an article; the
  second question of each positive pair is a query for it; every other article is a distractor.
- CLINC150 with a quarter of its intents left out of the knowledge base (`unseen.py`).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from knowledge_base.articles import Article
from knowledge_base.benchmarks.base import Benchmark, intent_articles, slug
from knowledge_base.benchmarks.unseen import clinc150_unseen


def clinc150(source: Path) -> Benchmark:
    data = json.loads((source / "data_full.json").read_text(encoding="utf-8"))

    def queries(*splits: str) -> list[dict]:
        return [
            {"query": text, "language": "en", "article": None if intent == "oos" else slug(intent)}
            for split in splits
            for text, intent in data[split]
        ]

    return Benchmark(
        articles=intent_articles(data["train"]),
        splits={"val": queries("val", "oos_val"), "test": queries("test", "oos_test")},
    )


def banking77(source: Path, shots: int | None = None) -> Benchmark:
    def rows(name: str) -> list[tuple[str, str]]:
        with open(source / name, encoding="utf-8", newline="") as handle:
            return [(row["text"], row["category"]) for row in csv.DictReader(handle)]

    train = rows("train.csv")
    if shots is not None:
        kept, counts = [], Counter()
        for text, intent in train:
            counts[intent] += 1
            if counts[intent] <= shots:
                kept.append((text, intent))
        train = kept
    test = [{"query": text, "language": "en", "article": slug(intent)} for text, intent in rows("test.csv")]
    return Benchmark(articles=intent_articles(train), splits={"test": test})


def stackfaq(source: Path) -> Benchmark:
    def rows(name: str) -> list[dict]:
        with open(source / name, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))

    articles = [
        Article(
            id=slug(pair["pair_id"]),
            language="en",
            title=pair["question"].strip(),
            questions=(pair["question"].strip(),),
            body=pair["answer"].strip() or pair["question"].strip(),
            tags=("stackfaq", pair["thread_id"].lower()),
        )
        for pair in rows("faq_pairs.tsv")
    ]
    relevant: dict[str, list[str]] = {}
    for qrel in rows("qrels.tsv"):
        relevant.setdefault(qrel["query_id"], []).append(slug(qrel["pair_id"]))
    queries = [
        {"query": q["query"], "language": "en", "articles": relevant[q["query_id"]]}
        for q in rows("queries.tsv")
        if q["query"].strip() and q["query_id"] in relevant
    ]
    return Benchmark(articles=articles, splits={"test": queries})


def lcqmc(source: Path, split: str = "test", articles: int | None = None) -> Benchmark:
    """`articles`: keep the first N distinct first questions and their queries, a knowledge base
    of a chosen size (test.txt has 12,088); fewer than N in the split is an error."""
    ids: dict[str, str] = {}
    positives: list[tuple[str, str]] = []
    for line in (source / f"{split}.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
            continue
        first, second, label = parts[0].strip(), parts[1].strip(), parts[2].strip()
        if first not in ids and (articles is None or len(ids) < articles):
            ids[first] = f"q{len(ids):05d}"
        if first in ids and label == "1" and first != second:
            positives.append((first, second))
    if articles is not None and len(ids) < articles:
        raise ValueError(f"{split}.txt has {len(ids)} distinct first questions, fewer than {articles}")
    queries = [{"query": second, "language": "zh", "article": ids[first]} for first, second in positives]
    return Benchmark(
        articles=[Article(id=i, language="zh", title=text, questions=(text,), body=text) for text, i in ids.items()],
        splits={split: queries},
    )


CONVERTERS: dict[str, Callable[..., Benchmark]] = {
    "clinc150": clinc150,
    "clinc150-unseen": clinc150_unseen,
    "banking77": banking77,
    "stackfaq": stackfaq,
    "lcqmc": lcqmc,
}

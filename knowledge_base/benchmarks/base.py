"""What a converter produces and how it is written out."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from knowledge_base.articles import Article, write_article


@dataclass
class Benchmark:
    articles: list[Article] = field(default_factory=list)
    # split name -> queries ({"query", "language", "article" | "articles"}, and "kind" where a
    # set mixes kinds of questions: "in_scope", "in_domain" (no article answers it), "off_topic")
    splits: dict[str, list[dict]] = field(default_factory=dict)
    # how it was made (e.g. a seed and what it chose), written to OUT/benchmark.json
    about: dict = field(default_factory=dict)


def slug(name: str) -> str:
    """An article id from a label: 'card_arrival' -> 'card-arrival', 'T000_A1' -> 't000-a1'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def intent_articles(examples: Iterable[tuple[str, str]], language: str = "en") -> list[Article]:
    """One article per intent, whose alternate questions are the intent's training utterances."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in examples:
        by_intent.setdefault(intent, []).append(text.strip())
    return [
        Article(
            id=slug(intent),
            language=language,
            title=intent.replace("_", " "),
            questions=tuple(dict.fromkeys(q for q in questions if q)),
            body=intent.replace("_", " "),  # the data sets have no answers; the same as the title, so not indexed
            tags=("benchmark",),
        )
        for intent, questions in sorted(by_intent.items())
    ]


def write_benchmark(benchmark: Benchmark, out: Path | str) -> dict[str, int]:
    """Write articles, query sets and `benchmark.json` under `out`, replacing what a previous run wrote there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "articles", ignore_errors=True)
    for article in benchmark.articles:
        write_article(out / "articles", article)
    counts = {"articles": len(benchmark.articles)}
    for split, queries in benchmark.splits.items():
        lines = (json.dumps(q, ensure_ascii=False) for q in queries)
        (out / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts[split] = len(queries)
    about = out / "benchmark.json"
    if benchmark.about:
        about.write_text(json.dumps(benchmark.about, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        about.unlink(missing_ok=True)  # not a previous conversion's
    return counts

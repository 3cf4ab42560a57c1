"""`touchpoint eval`: score a knowledge base against a query set.

A query set is YAML (`queries:` followed by a list) or JSON Lines (one object a line); each
query is an object with

    query:     the text a customer typed                          (required)
    article:   the id of the article that answers it, or null     (or `articles`: a list of ids,
               when no article does (out of scope)                 any of which counts as right)
    language:  en | zh                                            (default: detected from the text)

Results are per language and overall: retrieval (top-1, MRR@10, recall@5), the handoff decision
at the configured threshold, and a sweep over thresholds (see `metrics.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge_base.articles import LANGUAGES
from knowledge_base.metrics import Outcome, best_threshold, handoff_metrics, retrieval_metrics, sweep, thresholds
from knowledge_base.search import KnowledgeBase
from knowledge_base.text import detect_language


class QuerySetError(ValueError):
    """A query set that cannot be read; the message names the file and the query."""


@dataclass(frozen=True)
class Query:
    text: str
    language: str
    expected: frozenset[str]


def load_queries(path: Path | str) -> list[Query]:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".ndjson"):
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise QuerySetError(f"{path}:{number}: not JSON ({exc.msg})") from None
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise QuerySetError(f"{path}: not YAML ({exc})") from None
        if not isinstance(document, dict) or not isinstance(document.get("queries"), list):
            raise QuerySetError(f"{path}: expected a mapping with a 'queries' list")
        items = [(f"{path}: query {number}", item) for number, item in enumerate(document["queries"], 1)]
    return [_query(where, item) for where, item in items]


def _query(where: str, item: object) -> Query:
    if not isinstance(item, dict):
        raise QuerySetError(f"{where}: expected an object with 'query' and 'article'")
    text = item.get("query")
    if not isinstance(text, str) or not text.strip():
        raise QuerySetError(f"{where}: query: must be a non-empty string")
    if "articles" in item:
        expected = item["articles"] or []
    elif "article" in item:
        expected = [] if item["article"] is None else [item["article"]]
    else:
        raise QuerySetError(f"{where}: article: missing (use null for a query no article answers)")
    if not isinstance(expected, list) or not all(isinstance(a, str) and a for a in expected):
        raise QuerySetError(f"{where}: article: must be an article id, a list of ids, or null")
    language = item.get("language") or detect_language(text)
    if language not in LANGUAGES:
        raise QuerySetError(f"{where}: language: must be one of {', '.join(LANGUAGES)}")
    return Query(text, language, frozenset(expected))


def run(knowledge_base: KnowledgeBase, queries: Iterable[Query], k: int = 10) -> list[Outcome]:
    outcomes = []
    for query in queries:
        hits = knowledge_base.search(query.text, query.language, k=k)
        outcomes.append(
            Outcome(
                language=query.language,
                expected=query.expected,
                ranked=tuple(hit.article.id for hit in hits),
                top_score=hits[0].score if hits else 0.0,
            )
        )
    return outcomes


def report(outcomes: Sequence[Outcome], threshold: float) -> dict:
    """Metrics overall and per language, with the threshold sweep and its best point."""
    groups = {"all": list(outcomes)}
    for language in LANGUAGES:
        if subset := [o for o in outcomes if o.language == language]:
            groups[language] = subset
    result = {}
    for name, group in groups.items():
        curve = sweep(group, thresholds())
        result[name] = {
            "queries": len(group),
            "out_of_scope_queries": sum(not o.in_scope for o in group),
            "retrieval": retrieval_metrics(group),
            "handoff": handoff_metrics(group, threshold),
            "best_threshold": best_threshold(curve),
            "curve": curve,
        }
    return result


def format_report(result: dict) -> str:
    lines = []
    for name, group in result.items():
        r, h, best = group["retrieval"], group["handoff"], group["best_threshold"]
        lines.append(
            f"{name}: {group['queries']} queries ({group['out_of_scope_queries']} out of scope)\n"
            f"  retrieval   top-1 {r['top1']:.1%}  MRR@10 {r['mrr@10']:.3f}  recall@5 {r['recall@5']:.1%}\n"
            f"  at {h['threshold']:.2f}     in-scope accuracy {h['in_scope_accuracy']:.1%}  "
            f"out-of-scope recall {h['out_of_scope_recall']:.1%}  handoff P {h['handoff_precision']:.1%} "
            f"R {h['handoff_recall']:.1%} F1 {h['handoff_f1']:.3f}\n"
            f"  best {best['threshold']:.2f}   in-scope accuracy {best['in_scope_accuracy']:.1%}  "
            f"out-of-scope recall {best['out_of_scope_recall']:.1%}"
        )
    return "\n".join(lines)


def plot_curve(result: dict, path: Path | str, title: str = "") -> None:
    """In-scope accuracy and out-of-scope recall against the threshold, one line pair per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (name, group), colour in zip(result.items(), ("black", "tab:blue", "tab:red"), strict=False):
        xs = [p["threshold"] for p in group["curve"]]
        axes.plot(xs, [p["in_scope_accuracy"] for p in group["curve"]], color=colour, label=f"{name} in-scope accuracy")
        if group["out_of_scope_queries"]:
            recall = [p["out_of_scope_recall"] for p in group["curve"]]
            axes.plot(xs, recall, color=colour, linestyle="--", label=f"{name} out-of-scope recall")
    threshold = result["all"]["handoff"]["threshold"]
    axes.axvline(threshold, color="grey", linewidth=0.8, label=f"configured threshold {threshold:.2f}")
    axes.set_xlabel("handoff threshold on the top score")
    axes.set_ylim(0, 1.02)
    axes.set_xlim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    axes.set_title(title or "Answer or hand off: the threshold trade-off")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

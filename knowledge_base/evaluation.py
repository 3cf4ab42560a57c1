"""`touchpoint eval`: score a knowledge base against a query set.

A query set is YAML (`queries:` followed by a list) or JSON Lines (one object a line); each
query is an object with

    query:     the text a customer typed                          (required)
    article:   the id of the article that answers it, or null     (or `articles`: a list of ids,
               when no article does (out of scope)                 any of which counts as right)
    language:  en | zh                                            (default: detected from the text)
    kind:      what sort of query it is, free text: off_topic,    (optional)
               in_domain, typo, colloquial, situational, ...

Results are per language and overall: retrieval (top-1, MRR@10, recall@5), the handoff decision
at the configured threshold, figures per kind where the set marks kinds, and a sweep over
thresholds (see `metrics.py`). Each query's own result (what came back, with its scores, and the
decision) is a row of `write_records`' JSON Lines.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge_base.articles import LANGUAGES
from knowledge_base.metrics import (
    Outcome,
    best_threshold,
    handed_off,
    handoff_metrics,
    kind_metrics,
    retrieval_metrics,
    sweep,
    thresholds,
)
from knowledge_base.search import Hit, KnowledgeBase
from knowledge_base.text import detect_language

RANKED_SHOWN = 5  # articles with their scores in each query's row


class QuerySetError(ValueError):
    """A query set that cannot be read; the message names the file and the query."""


@dataclass(frozen=True)
class Query:
    text: str
    language: str
    expected: frozenset[str]
    kind: str | None = None


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
    kind = item.get("kind")
    if kind is not None and (not isinstance(kind, str) or not kind.strip()):
        raise QuerySetError(f"{where}: kind: must be a non-empty string (or left out)")
    return Query(text, language, frozenset(expected), kind.strip() if kind else None)


@dataclass(frozen=True)
class QueryResult:
    """One query of a set and what the knowledge base returned for it."""

    query: Query
    hits: tuple[Hit, ...]
    outcome: Outcome

    def record(self, threshold: float, default: float | None = None) -> dict:
        """The query's row in the per-query results: the articles ranked first with their scores,
        and the decision at `threshold` (and at `default`, when a threshold was chosen instead).
        A decision is correct when it hands off exactly the queries no article answers."""
        rank = self.outcome.rank()
        row = {
            "query": self.query.text,
            "language": self.query.language,
            "kind": self.query.kind,
            "expected": sorted(self.query.expected),
            "ranked": [
                {
                    "article_id": hit.article.id,
                    "score": round(hit.score, 4),
                    "relevance": round(hit.relevance, 4),
                    "margin": round(hit.margin, 4),
                    "dense": round(hit.dense, 4),
                    "lexical": round(hit.lexical, 4),
                    "probability": round(hit.probability, 4),
                }
                for hit in self.hits[:RANKED_SHOWN]
            ],
            "rank": rank,  # of the first expected article among the ten returned; null if absent
            "top1_correct": rank == 1,
            **self._decision(threshold),
        }
        if default is not None:
            row.update({f"{name}_at_default": value for name, value in self._decision(default).items()})
        return row

    def _decision(self, threshold: float) -> dict:
        hand_off = handed_off(self.outcome, threshold)
        return {
            "threshold": threshold,
            "decision": "hand_off" if hand_off else "answer",
            "correct_decision": hand_off != self.outcome.in_scope,
        }


def run(knowledge_base: KnowledgeBase, queries: Iterable[Query], k: int = 10) -> list[QueryResult]:
    results = []
    for query in queries:
        hits = tuple(knowledge_base.search(query.text, query.language, k=k))
        outcome = Outcome(
            language=query.language,
            expected=query.expected,
            ranked=tuple(hit.article.id for hit in hits),
            top_score=hits[0].score if hits else 0.0,
            kind=query.kind,
        )
        results.append(QueryResult(query, hits, outcome))
    return results


def report(outcomes: Sequence[Outcome], threshold: float, *, default: float | None = None) -> dict:
    """Metrics overall and per language, with the threshold sweep and its best point; overall,
    figures per kind of query when the set marks kinds. The decision is scored at `threshold`,
    and also at `default` (under "at_default") when `threshold` was chosen in its place."""
    groups = {"all": list(outcomes)}
    for language in LANGUAGES:
        if subset := [o for o in outcomes if o.language == language]:
            groups[language] = subset
    result = {}
    for name, group in groups.items():
        curve = sweep(group, thresholds())
        figures = {
            "queries": len(group),
            "out_of_scope_queries": sum(not o.in_scope for o in group),
            "retrieval": retrieval_metrics(group),
            "handoff": handoff_metrics(group, threshold),
        }
        if name == "all" and (kinds := kind_metrics(group, threshold)):
            figures["kinds"] = kinds
        if default is not None:
            figures["at_default"] = {"handoff": handoff_metrics(group, default)}
            if "kinds" in figures:
                figures["at_default"]["kinds"] = kind_metrics(group, default)
        result[name] = figures | {"best_threshold": best_threshold(curve), "curve": curve}
    return result


def format_report(result: dict) -> str:
    lines = []
    for name, group in result.items():
        r, best = group["retrieval"], group["best_threshold"]
        lines.append(f"{name}: {group['queries']} queries ({group['out_of_scope_queries']} out of scope)")
        lines.append(
            f"  {'retrieval':<13}top-1 {r['top1']:.1%}  MRR@10 {r['mrr@10']:.3f}  recall@5 {r['recall@5']:.1%}"
        )
        if "at_default" in group:
            default = group["at_default"]
            lines += _decision_lines("default", default["handoff"], default.get("kinds", {}))
            lines += _decision_lines("chosen", group["handoff"], group.get("kinds", {}))
        else:
            lines += _decision_lines("at", group["handoff"], group.get("kinds", {}))
        label = f"best {best['threshold']:.2f}"
        lines.append(
            f"  {label:<13}in-scope accuracy {best['in_scope_accuracy']:.1%}  "
            f"out-of-scope recall {best['out_of_scope_recall']:.1%}"
        )
    return "\n".join(lines)


def _decision_lines(setting: str, h: dict, kinds: dict) -> list[str]:
    label = f"{setting} {h['threshold']:.2f}"
    lines = [
        f"  {label:<13}in-scope accuracy {h['in_scope_accuracy']:.1%}  "
        f"out-of-scope recall {h['out_of_scope_recall']:.1%}  handoff P {h['handoff_precision']:.1%} "
        f"R {h['handoff_recall']:.1%} F1 {h['handoff_f1']:.3f}"
    ]
    for kind, k in kinds.items():
        scope = f"{k['queries']} queries"
        if k["out_of_scope_queries"] == k["queries"]:
            scope += ", out of scope"
        elif k["out_of_scope_queries"]:
            scope += f", {k['out_of_scope_queries']} out of scope"
        figures = []
        if "top1" in k:
            figures.append(f"top-1 {k['top1']:.1%}  answered correctly {k['answered_correctly']:.1%}")
        if "handoff_recall" in k:
            figures.append(f"handed off {k['handoff_recall']:.1%}")
        lines.append(f"    {kind:<15}{scope:<27}{'  '.join(figures)}")
    return lines


def write_records(results: Sequence[QueryResult], path: Path | str, threshold: float, default: float | None = None):
    """Each query's row (`QueryResult.record`) as one line of JSON."""
    with open(path, "w", encoding="utf-8") as out:
        for result in results:
            out.write(json.dumps(result.record(threshold, default), ensure_ascii=False) + "\n")


def folder_key(articles_dir: Path | str) -> str:
    """A name for a knowledge-base folder that tells it from any other: the folder's name (its
    parent's when it is called `articles`, as every converted benchmark's is) and a hash of its
    absolute path. Its index and its results are kept under this name."""
    articles_dir = Path(articles_dir).resolve()
    name = articles_dir.parent.name if articles_dir.name == "articles" else articles_dir.name
    return f"{name}-{hashlib.sha256(str(articles_dir).encode()).hexdigest()[:8]}"


def reserve_paths(*paths: Path) -> tuple[Path, ...]:
    """`paths`, or if any of them exists, the same names with -2, -3, ... after their stems: the
    first number none of them has, so an earlier run's results are never overwritten. The first
    is created at once (empty), so that a run finishing at the same moment takes the next number."""
    for number in itertools.count(1):
        suffix = "" if number == 1 else f"-{number}"
        candidates = tuple(p.with_name(f"{p.stem}{suffix}{p.suffix}") for p in paths)
        if any(c.exists() for c in candidates):
            continue
        candidates[0].parent.mkdir(parents=True, exist_ok=True)
        try:
            candidates[0].touch(exist_ok=False)
        except FileExistsError:
            continue
        return candidates
    raise AssertionError("unreachable")


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
    if "at_default" in result["all"]:
        default = result["all"]["at_default"]["handoff"]["threshold"]
        axes.axvline(default, color="grey", linewidth=0.8, linestyle=":", label=f"default threshold {default:.2f}")
        axes.axvline(threshold, color="grey", linewidth=0.8, label=f"chosen threshold {threshold:.2f}")
    else:
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

"""Answer-quality metrics: pure functions over what the knowledge base returned for each query.

Two decisions are scored:
- retrieval, on in-scope queries: top-1 accuracy, MRR@10 and recall@5 of the expected article;
- handoff, on all queries, at a threshold on the top score. "Hand off" is the positive class:
  it is right for a query no article answers (out of scope). Precision, recall and F1 follow,
  and as in the CLINC150 paper (Larson et al. 2019), in-scope accuracy (the right article first
  *and* answered, not handed off) and out-of-scope recall (the share handed off).

A query set may mark what sort of query each is (`kind`: off_topic, typo, colloquial, ...);
`kind_metrics` gives each kind its own figures, so a weak spot is not averaged away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    language: str
    expected: frozenset[str]  # the articles that answer the query; empty when none does
    ranked: tuple[str, ...]  # article ids the knowledge base returned, best first
    top_score: float  # the first one's score (0 when nothing came back)
    kind: str | None = None  # the query set's label for this sort of query, if it gives one

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)

    def rank(self) -> int | None:
        """1-based position of the first expected article, None if it was not returned."""
        return next((i for i, article in enumerate(self.ranked, 1) if article in self.expected), None)


def handed_off(outcome: Outcome, threshold: float) -> bool:
    """The decision at `threshold`: a person answers when the top score is below it."""
    return outcome.top_score < threshold


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def retrieval_metrics(outcomes: Sequence[Outcome], mrr_k: int = 10, recall_k: int = 5) -> dict[str, float]:
    scored = [o for o in outcomes if o.in_scope]
    ranks = [o.rank() for o in scored]
    return {
        "queries": len(scored),
        "top1": _ratio(sum(r == 1 for r in ranks), len(scored)),
        f"mrr@{mrr_k}": _ratio(sum(1 / r for r in ranks if r is not None and r <= mrr_k), len(scored)),
        f"recall@{recall_k}": _ratio(sum(r is not None and r <= recall_k for r in ranks), len(scored)),
    }


def handoff_metrics(outcomes: Sequence[Outcome], threshold: float) -> dict[str, float]:
    decisions = [handed_off(o, threshold) for o in outcomes]
    should = [not o.in_scope for o in outcomes]
    true_positive = sum(h and s for h, s in zip(decisions, should, strict=True))
    precision = _ratio(true_positive, sum(decisions))
    recall = _ratio(true_positive, sum(should))
    in_scope = [o for o, h in zip(outcomes, decisions, strict=True) if o.in_scope]
    answered_right = sum(o.rank() == 1 and not h for o, h in zip(outcomes, decisions, strict=True) if o.in_scope)
    return {
        "threshold": threshold,
        "handoff_precision": precision,
        "handoff_recall": recall,
        "handoff_f1": _ratio(2 * precision * recall, precision + recall),
        "in_scope_accuracy": _ratio(answered_right, len(in_scope)),
        "out_of_scope_recall": recall,
        "handoff_rate": _ratio(sum(decisions), len(outcomes)),
    }


def kind_metrics(outcomes: Sequence[Outcome], threshold: float) -> dict[str, dict[str, float]]:
    """Figures per kind of query, for the kinds the query set marks: over a kind's out-of-scope
    queries the share handed off at `threshold`; over its in-scope ones top-1 accuracy and the
    share answered with the right article (not handed off)."""
    result = {}
    for kind in sorted({o.kind for o in outcomes if o.kind}):
        group = [o for o in outcomes if o.kind == kind]
        in_scope = [o for o in group if o.in_scope]
        out_of_scope = [o for o in group if not o.in_scope]
        figures: dict[str, float] = {"queries": len(group), "out_of_scope_queries": len(out_of_scope)}
        if in_scope:
            figures["top1"] = retrieval_metrics(in_scope)["top1"]
            figures["answered_correctly"] = handoff_metrics(in_scope, threshold)["in_scope_accuracy"]
        if out_of_scope:
            figures["handoff_recall"] = handoff_metrics(out_of_scope, threshold)["handoff_recall"]
        result[kind] = figures
    return result


def sweep(outcomes: Sequence[Outcome], thresholds: Iterable[float]) -> list[dict[str, float]]:
    return [handoff_metrics(outcomes, t) for t in thresholds]


def best_threshold(curve: Sequence[dict[str, float]]) -> dict[str, float]:
    """The point that maximises the mean of in-scope accuracy and out-of-scope recall.

    With no out-of-scope queries that is the lowest threshold with the best in-scope accuracy.
    Ties go to the lower threshold (fewer handoffs).
    """
    return max(curve, key=lambda p: (p["in_scope_accuracy"] + p["out_of_scope_recall"], -p["threshold"]))


def thresholds(step: float = 0.01) -> list[float]:
    count = round(1 / step)
    return [round(i * step, 6) for i in range(count + 1)]

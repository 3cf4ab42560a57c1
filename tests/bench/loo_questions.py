"""Leave-one-question-out accuracy of the knowledge base: a tuning set that is not the test set.

    python tests/bench/loo_questions.py [--articles DIR] [--dense-weight 0.5 0.65] [--confusions 20] ...

Fold f removes the f-th alternate question of every article from the index and asks it; the
article it came from should come first. Prints top-1 per language and the score distributions
of right and wrong first answers, which is what the handoff threshold is chosen from.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from knowledge_base.articles import load_articles  # noqa: E402
from knowledge_base.encoder import DEFAULT_MODELS, load_encoders  # noqa: E402
from knowledge_base.index import IndexSettings, KnowledgeIndex  # noqa: E402
from knowledge_base.search import HybridSearcher, SearchSettings  # noqa: E402
from knowledge_base.text import Analyzer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=ROOT / "knowledge_base" / "articles")
    parser.add_argument(
        "--dense-weight",
        type=float,
        nargs="+",
        help="dense weights to try, for every language (default: the settings')",
    )
    parser.add_argument("--classifier-weight", type=float, nargs="+", default=[SearchSettings().classifier_weight])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--classifier-units", nargs="+", default=list(IndexSettings().classifier_units))
    parser.add_argument("--confusions", type=int, default=0, help="list this many most frequent article confusions")
    args = parser.parse_args()

    articles = load_articles(args.articles)
    encoders = load_encoders(DEFAULT_MODELS)
    analyzer = Analyzer(ROOT / "build" / "cache")
    results: dict[tuple[str, float, float], list[tuple[bool, float]]] = {}
    confusions: defaultdict[tuple[str, float, float], list[tuple[str, str | None, str]]] = defaultdict(list)
    for fold in range(args.folds):
        held_out = [(a, a.questions[fold]) for a in articles if len(a.questions) > fold + 1]
        kept = [
            dataclasses.replace(a, questions=a.questions[:fold] + a.questions[fold + 1 :])
            if len(a.questions) > fold + 1
            else a
            for a in articles
        ]
        index_settings = IndexSettings(classifier_units=tuple(args.classifier_units))
        index = KnowledgeIndex.build(kept, encoders, analyzer, index_settings)
        for weight in args.dense_weight or [None]:
            for a in args.classifier_weight:
                dense_weight = SearchSettings().dense_weight if weight is None else {"en": weight, "zh": weight}
                settings = SearchSettings(dense_weight=dense_weight, classifier_weight=a)
                searcher = HybridSearcher(index, encoders, analyzer, settings)
                for article, question in held_out:
                    hits = searcher.search(question, article.language, k=1)
                    right = bool(hits) and hits[0].article.id == article.id
                    outcome = (right, hits[0].score if hits else 0.0)
                    results.setdefault((article.language, weight, a), []).append(outcome)
                    if not right:
                        got = hits[0].article.id if hits else None
                        confusions[(article.language, weight, a)].append((article.id, got, question))
    for (language, weight, a), outcomes in sorted(results.items(), key=lambda item: str(item[0])):
        right = np.array([s for ok, s in outcomes if ok])
        wrong = np.array([s for ok, s in outcomes if not ok])
        print(
            f"{language} dense_weight={'default' if weight is None else weight} classifier_weight={a:.2f}: "
            f"top-1 {len(right) / len(outcomes):.1%} of {len(outcomes)}; "
            f"score right p10/p50 {np.percentile(right, 10):.2f}/{np.percentile(right, 50):.2f}, "
            f"wrong p50/p90 {np.percentile(wrong, 50) if len(wrong) else 0:.2f}/"
            f"{np.percentile(wrong, 90) if len(wrong) else 0:.2f}"
        )
        if args.confusions:
            pairs = Counter((expected, got) for expected, got, _ in confusions[(language, weight, a)])
            for (expected, got), count in pairs.most_common(args.confusions):
                print(f"    {count}x {expected} -> {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

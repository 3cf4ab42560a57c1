"""BM25 baseline on a converted benchmark, in the same framing as `touchpoint eval`.

    python tests/bench/bm25_baseline.py build/benchmarks/lcqmc/articles build/benchmarks/lcqmc/test.jsonl

Each article is one document: its title, alternate questions and (with --answers) its answer.
Tokens: jieba words for Chinese, lower-cased letters and digits for English. BM25 with
k1 = 1.2, b = 0.75. Prints top-1, MRR@10 and recall@5 over the in-scope queries.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path

import jieba
import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from knowledge_base.articles import load_articles  # noqa: E402
from knowledge_base.evaluation import load_queries  # noqa: E402
from knowledge_base.metrics import Outcome, retrieval_metrics  # noqa: E402

WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str, language: str) -> list[str]:
    if language == "zh":
        return [t for t in jieba.lcut(text.lower()) if t.strip() and not re.fullmatch(r"\W+", t)]
    return WORD.findall(text.lower())


def bm25_matrix(documents: list[list[str]], k1: float = 1.2, b: float = 0.75):
    vocabulary: dict[str, int] = {}
    rows, columns, values = [], [], []
    for row, document in enumerate(documents):
        for term, count in Counter(document).items():
            rows.append(row)
            columns.append(vocabulary.setdefault(term, len(vocabulary)))
            values.append(count)
    tf = sparse.csr_matrix((values, (rows, columns)), shape=(len(documents), len(vocabulary)), dtype=np.float32)
    lengths = np.array([len(d) for d in documents], dtype=np.float32)
    df = np.bincount(tf.indices, minlength=len(vocabulary))
    idf = np.log(1 + (len(documents) - df + 0.5) / (df + 0.5)).astype(np.float32)
    tf = tf.tocoo()
    norm = k1 * (1 - b + b * lengths[tf.row] / lengths.mean())
    weights = tf.data * (k1 + 1) / (tf.data + norm) * idf[tf.col]
    return vocabulary, sparse.csr_matrix((weights, (tf.row, tf.col)), shape=tf.shape)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("articles", type=Path)
    parser.add_argument("queries", type=Path)
    parser.add_argument("--answers", action="store_true", help="index the answers too")
    args = parser.parse_args()
    logging.getLogger("jieba").setLevel(logging.WARNING)

    articles = load_articles(args.articles)
    queries = [q for q in load_queries(args.queries) if q.expected]
    outcomes = []
    for language in sorted({a.language for a in articles}):
        subset = [a for a in articles if a.language == language]
        texts = [" ".join([a.title, *a.questions, *([a.body] if args.answers else [])]) for a in subset]
        vocabulary, matrix = bm25_matrix([tokens(t, language) for t in texts])
        for query in (q for q in queries if q.language == language):
            columns = [vocabulary[t] for t in set(tokens(query.text, language)) if t in vocabulary]
            scores = np.asarray(matrix[:, columns].sum(axis=1)).ravel()
            top = np.argsort(-scores, kind="stable")[:10]
            ranked = tuple(subset[i].id for i in top if scores[i] > 0)
            outcomes.append(Outcome(language, query.expected, ranked, float(scores[top[0]])))
    print(json.dumps(retrieval_metrics(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

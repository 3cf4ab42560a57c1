"""Retrieval alone: query encoding, FAISS search at 1k to 1M vectors, and the whole search.

    python tests/bench/bench_retrieval.py [--sizes 1000 10000 100000 1000000] [--json OUT]

- encoding: each held-out English and Chinese demo query encoded alone (the packaged models);
- search: the demo knowledge base's whole hybrid search (`HybridSearcher.search`), per query;
- scale: synthetic corpora of N vectors made from the demo units' real embeddings plus noise
  (cosine about 0.85 to their source, so the corpus has the clusters real articles have),
  searched with the held-out queries' real embeddings. For each N: build rate, index size,
  p50/p95/p99 of one query on one thread, exact (flat) and HNSW, and HNSW's recall@5 against
  exact search.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from knowledge_base.encoder import DEFAULT_MODELS  # noqa: E402
from knowledge_base.evaluation import load_queries  # noqa: E402
from knowledge_base.search import open_searcher  # noqa: E402
from knowledge_base.vectors import VectorIndex  # noqa: E402


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    values = np.array(milliseconds)
    return {f"p{p}_ms": round(float(np.percentile(values, p)), 2) for p in (50, 95, 99)}


def timed(function, items) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def synthetic_corpus(sources: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    corpus = np.empty((size, sources.shape[1]), dtype=np.float32)
    for start in range(0, size, 100_000):  # in blocks, to keep the noise's memory small
        stop = min(size, start + 100_000)
        block = sources[rng.integers(0, len(sources), stop - start)]
        block = block + rng.normal(scale=0.032, size=block.shape).astype(np.float32)
        corpus[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return corpus


def scale(size: int, sources: np.ndarray, queries: np.ndarray, rng: np.random.Generator) -> dict:
    corpus = synthetic_corpus(sources, size, rng)
    result: dict = {"vectors": size}
    indexes = {}
    for kind, approximate_above in (("exact", sys.maxsize), ("hnsw", 0)):
        faiss.omp_set_num_threads(2)  # building may use both cores
        started = time.perf_counter()
        indexes[kind] = VectorIndex.build(corpus, np.arange(size), approximate_above=approximate_above)
        seconds = time.perf_counter() - started
        faiss.omp_set_num_threads(1)  # one query, one thread: what a request gets
        result[kind] = {
            "build_vectors_per_s": round(size / seconds),
            "index_mib": round(faiss.serialize_index(indexes[kind]._index).nbytes / 2**20, 1),
            **percentiles(timed(lambda q, index=indexes[kind]: index.search(q, 100), queries)),
        }
    found = [len(set(indexes["exact"].search(q, 5)[1]) & set(indexes["hnsw"].search(q, 5)[1])) / 5 for q in queries]
    result["hnsw"]["recall@5"] = round(float(np.mean(found)), 4)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    searcher = open_searcher(
        ROOT / "knowledge_base" / "articles", ROOT / "build" / "index", DEFAULT_MODELS, ROOT / "build" / "cache"
    )
    index, encoders = searcher.index, searcher.encoders
    queries = load_queries(ROOT / "knowledge_base" / "eval" / "heldout.yml")
    report: dict = {"date": time.strftime("%Y-%m-%d"), "encoding": {}, "search": {}}
    for language in ("en", "zh"):
        texts = [q.text for q in queries if q.language == language]
        searcher.search(texts[0], language)  # first call pays one-off costs
        report["encoding"][language] = {
            "model": encoders[language].name,
            **percentiles(timed(lambda t, e=encoders[language]: e.encode([t]), texts)),
        }
        report["search"][language] = percentiles(timed(lambda t, lang=language: searcher.search(t, lang), texts))
        print(f"{language}: encoding {report['encoding'][language]}, whole search {report['search'][language]}")

    english = [q.text for q in queries if q.language == "en"]
    query_vectors = encoders["en"].encode(english)
    sources = index.vectors["en"]._index.reconstruct_n(0, len(index.vectors["en"]))
    rng = np.random.default_rng(0)
    report["scale"] = []
    for size in args.sizes:
        result = scale(size, sources, query_vectors, rng)
        report["scale"].append(result)
        print(json.dumps(result), flush=True)

    print("\n| vectors | exact p50/p95/p99 ms | HNSW p50/p95/p99 ms | HNSW recall@5 | build/s exact, HNSW | MiB |")
    print("|---|---|---|---|---|---|")
    for r in report["scale"]:
        e, h = r["exact"], r["hnsw"]
        print(
            f"| {r['vectors']:,} | {e['p50_ms']} / {e['p95_ms']} / {e['p99_ms']} | {h['p50_ms']} / {h['p95_ms']} / "
            f"{h['p99_ms']} | {h['recall@5']} | {e['build_vectors_per_s']:,}, {h['build_vectors_per_s']:,} | "
            f"{e['index_mib']}, {h['index_mib']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

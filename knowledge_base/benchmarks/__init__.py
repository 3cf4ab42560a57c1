"""Public benchmark data sets turned into Touchpoint knowledge bases and query sets.

Each converter reads a data set from where it lies (nothing is copied into the repository)
and writes `OUT/articles/en|zh/*.md` plus JSON Lines query sets `OUT/<split>.jsonl` in the
format `touchpoint eval` reads:

    touchpoint convert clinc150 ../shared/benchmarks/clinc150 build/benchmarks/clinc150
    touchpoint eval --articles build/benchmarks/clinc150/articles \\
        --choose-threshold-on build/benchmarks/clinc150/val.jsonl --queries build/benchmarks/clinc150/test.jsonl

`clinc150-unseen` leaves a quarter of CLINC150's intents out of the knowledge base: their
questions are in-domain but unanswerable, marked `kind: in_domain` apart from the data set's
off-topic ones (`kind: off_topic`). A team's own FAQ data is imported by `knowledge_base.imports`.
"""

from __future__ import annotations

from knowledge_base.benchmarks.base import Benchmark, write_benchmark
from knowledge_base.benchmarks.converters import CONVERTERS

__all__ = ["CONVERTERS", "Benchmark", "write_benchmark"]

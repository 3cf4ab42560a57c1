"""CLINC150 with in-domain questions no article answers (`clinc150-unseen`).

A quarter of the in-scope intents are left out of the knowledge base, chosen with a seed and
spread evenly over CLINC's ten domains (`domains.json`). Their `val` and `test` questions are
about the business but nothing answers them, so they must be handed off: `article: null`,
`kind: in_domain`. CLINC's own out-of-scope questions are `kind: off_topic`, and the other
intents' questions keep their article, `kind: in_scope`. `OUT/benchmark.json` names the
intents left out and the seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from knowledge_base.benchmarks.base import Benchmark, intent_articles, slug

HELD_OUT = 0.25


def held_out_intents(intents: list[str], domains: dict[str, list[str]], seed: int) -> list[str]:
    """A quarter of `intents` (rounded half up), each domain giving up as many as the next, give or
    take one: every domain's intents shuffled, then taken from the domains in turn."""
    rng = random.Random(seed)
    grouped = {domain: sorted(set(members) & set(intents)) for domain, members in sorted(domains.items())}
    grouped[""] = sorted(set(intents) - {i for members in grouped.values() for i in members})  # in no domain
    for members in grouped.values():
        rng.shuffle(members)
    order = [domain for domain in grouped if grouped[domain]]
    rng.shuffle(order)
    turns = [grouped[domain][turn] for turn in range(len(intents)) for domain in order if turn < len(grouped[domain])]
    turns = list(dict.fromkeys(turns))  # an intent listed in two domains counts once
    count = min(max(int(len(intents) * HELD_OUT + 0.5), 1), len(intents) - 1)
    return sorted(turns[:count])


def clinc150_unseen(source: Path, seed: int = 1) -> Benchmark:
    data = json.loads((source / "data_full.json").read_text(encoding="utf-8"))
    domains_file = source / "domains.json"
    domains = json.loads(domains_file.read_text(encoding="utf-8")) if domains_file.exists() else {}
    intents = sorted({intent for _, intent in data["train"]})
    held_out = set(held_out_intents(intents, domains, seed))

    def query(text: str, intent: str) -> dict:
        if intent == "oos":
            return {"query": text, "language": "en", "article": None, "kind": "off_topic"}
        if intent in held_out:
            return {"query": text, "language": "en", "article": None, "kind": "in_domain"}
        return {"query": text, "language": "en", "article": slug(intent), "kind": "in_scope"}

    def queries(*splits: str) -> list[dict]:
        return [query(text, intent) for split in splits for text, intent in data[split]]

    return Benchmark(
        articles=intent_articles((text, intent) for text, intent in data["train"] if intent not in held_out),
        splits={"val": queries("val", "oos_val"), "test": queries("test", "oos_test")},
        about={"benchmark": "clinc150-unseen", "seed": seed, "held_out_intents": sorted(held_out)},
    )

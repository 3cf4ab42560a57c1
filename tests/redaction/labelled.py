"""The labelled sentences (`sentences.yml`) and how the redactor is scored on them: a span found
counts when its kind and text match a labelled one (each labelled span matched once)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from bot.redaction import PLACEHOLDERS, find

SENTENCES = Path(__file__).with_name("sentences.yml")
KINDS = tuple(PLACEHOLDERS)


def load(path: Path = SENTENCES) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def score(entries: list[dict]) -> dict:
    """Per kind: true and false positives, misses, precision and recall; and the sentences
    without personal data in which something was redacted anyway."""
    hits, false, missed = Counter(), Counter(), Counter()
    wrongly_redacted = []
    for entry in entries:
        expected = Counter((span["type"], span["text"]) for span in entry["pii"])
        found = Counter((span.kind, span.text) for span in find(entry["text"]))
        for key, count in found.items():
            hits[key[0]] += min(count, expected[key])
            false[key[0]] += max(0, count - expected[key])
        for key, count in expected.items():
            missed[key[0]] += max(0, count - found[key])
        if not entry["pii"] and found:
            wrongly_redacted.append(entry["text"])
    kinds = {}
    for kind in (*KINDS, "all"):
        tp = sum(hits.values()) if kind == "all" else hits[kind]
        fp = sum(false.values()) if kind == "all" else false[kind]
        fn = sum(missed.values()) if kind == "all" else missed[kind]
        kinds[kind] = {
            "labelled": tp + fn,
            "found": tp + fp,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0,
        }
    return {"sentences": len(entries), "kinds": kinds, "wrongly_redacted": wrongly_redacted}

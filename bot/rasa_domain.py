"""Rasa's domain as it is trained: bot/domain.yml (intents, slots, actions) plus one response
per `utter_*` key of the string catalogue, so that what the assistant says has the same single
home as everything else users are told (bot/strings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.strings import catalogue

SOURCE = Path(__file__).resolve().parent / "domain.yml"
ENGLISH, CHINESE = "en", "zh"


def responses() -> dict[str, list[dict[str, Any]]]:
    """Each utter_* text: the Chinese variation when the `language` slot is zh, English else."""
    english, chinese = catalogue(ENGLISH), catalogue(CHINESE)
    condition = [{"type": "slot", "name": "language", "value": CHINESE}]
    return {
        key: [{"condition": condition, "text": chinese[key]}, {"text": english[key]}]
        for key in sorted(english)
        if key.startswith("utter_")
    }


def build_domain(source: Path = SOURCE) -> dict[str, Any]:
    domain = yaml.safe_load(source.read_text(encoding="utf-8"))
    if "responses" in domain:
        raise ValueError(f"{source}: responses belong in bot/strings/*.yml (keys utter_*), not in the domain")
    return {**domain, "responses": responses()}


def write_domain(out: Path, source: Path = SOURCE) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by `touchpoint domain` from {source.name} and bot/strings; do not edit.\n"
    out.write_text(header + yaml.safe_dump(build_domain(source), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out

"""Everything declared is wired up, and everything configurable is documented."""

from __future__ import annotations

from pathlib import Path

import yaml

from actions.server import build_executor
from bot.settings import Settings, documented_variables
from tests.helpers import hashing_encoders

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


def test_every_custom_action_in_the_domain_is_registered(tmp_path, analyzer):
    from knowledge_base.articles import load_articles
    from knowledge_base.index import KnowledgeIndex
    from knowledge_base.search import HybridSearcher
    from tests.helpers import write_articles

    index = KnowledgeIndex.build(load_articles(write_articles(tmp_path)), hashing_encoders(), analyzer)
    executor = build_executor(HybridSearcher(index, hashing_encoders(), analyzer), Settings())
    registered = {a.name for a in executor.list_actions()}
    assert set(DOMAIN["actions"]) == registered


def test_every_response_has_a_chinese_and_an_english_variation():
    for name, variations in DOMAIN["responses"].items():
        zh = [v for v in variations if v.get("condition") == [{"type": "slot", "name": "language", "value": "zh"}]]
        default = [v for v in variations if "condition" not in v]
        assert len(zh) == 1 and len(default) == 1, name


def test_every_response_the_actions_use_exists():
    source = "\n".join(p.read_text() for p in (ROOT / "actions").glob("*.py"))
    from actions.handoff import REASONS

    used = {f"utter_handoff_{r}" for r in REASONS if r != "service_error"}
    used |= {name for name in DOMAIN["responses"] if f'"{name}"' in source}
    assert used <= set(DOMAIN["responses"])
    assert {"utter_ok", "utter_feedback_thanks", "utter_feedback_sorry"} <= used


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [v for v in documented_variables() if v not in readme]
    assert missing == []

"""Everything declared is wired up, and everything configurable is documented."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from actions.server import build_executor
from bot.rasa_domain import build_domain
from bot.settings import Settings, documented_variables
from bot.strings import catalogue
from tests.helpers import hashing_encoders

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = build_domain()  # bot/domain.yml with its responses from bot/strings, as trained


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


def test_every_response_the_actions_and_rules_use_exists():
    source = "\n".join(p.read_text() for p in (ROOT / "actions").glob("*.py"))
    source += "\n".join(p.read_text() for p in (ROOT / "bot" / "data").glob("*.yml"))
    from actions.handoff import REASONS

    used = {f"utter_handoff_{r}" for r in REASONS if r != "service_error"}
    used |= {"utter_handoff_low_confidence_with_candidates"}
    used |= {
        name for name in re.findall(r"\butter_[a-z_]+", source) if not name.endswith("_") and name != "utter_message"
    }
    assert used - set(DOMAIN["responses"]) == set()
    assert {"utter_ok", "utter_feedback_thanks", "utter_feedback_sorry", "utter_out_of_scope"} <= used


def test_both_string_catalogues_have_the_same_keys_and_fields():
    english, chinese = catalogue("en"), catalogue("zh")
    assert set(english) == set(chinese)
    fields = re.compile(r"\{(\w+)\}")
    for key in english:
        assert set(fields.findall(english[key])) == set(fields.findall(chinese[key])), key


def test_the_domain_holds_no_text_of_its_own():
    source = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    assert "responses" not in source  # they come from bot/strings


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [v for v in documented_variables() if v not in readme]
    assert missing == []

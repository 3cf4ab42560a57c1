from __future__ import annotations

import pytest
from rasa_sdk import Tracker

from bot.rasa_domain import build_domain
from knowledge_base.articles import load_articles
from knowledge_base.index import KnowledgeIndex
from knowledge_base.search import HybridSearcher
from tests.helpers import hashing_encoders, write_articles


@pytest.fixture(scope="session")
def domain() -> dict:
    """The domain as trained: bot/domain.yml with its responses from bot/strings."""
    return build_domain()


@pytest.fixture
def knowledge_base(tmp_path, analyzer) -> HybridSearcher:
    index = KnowledgeIndex.build(load_articles(write_articles(tmp_path)), hashing_encoders(), analyzer)
    return HybridSearcher(index, hashing_encoders(), analyzer)


def make_tracker(
    text: str,
    intent: str = "ask_question",
    *,
    confidence: float = 0.95,
    slots: dict | None = None,
    entities: list[dict] | None = None,
    metadata: dict | None = None,
    ranking: list[dict] | None = None,
    previous_action: str | None = None,
    previous_slots: dict | None = None,
    asked: str | None = None,
) -> Tracker:
    """A tracker as Rasa sends it to the action server, after one user message.

    `previous_action` is the bot's last action before that message (e.g. the answer it rates),
    `previous_slots` the slots that action set, and `asked` the user message it replied to.
    Events are in Rasa's order: user, action_extract_slots, the action, its slots, action_listen.
    """
    earlier = []
    if asked is not None:
        earlier += [
            {"event": "user", "text": asked, "parse_data": {"text": asked, "intent": {"name": "ask_question"}}},
            {"event": "action", "name": "action_extract_slots"},
        ]
    if previous_action:
        earlier.append({"event": "action", "name": previous_action})
        earlier += [{"event": "slot", "name": k, "value": v} for k, v in (previous_slots or {}).items()]
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
        "entities": entities or [],
        "metadata": metadata or {},
    }
    state = {
        "sender_id": "test-conversation",
        "slots": {"language": "en", "not_helpful_count": 0, **(slots or {})},
        "latest_message": latest,
        "events": [
            *earlier,
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": latest, "metadata": metadata or {}},
            {"event": "action", "name": "action_extract_slots"},
        ],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return Tracker.from_dict(state)

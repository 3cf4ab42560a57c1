"""Review against the real processes: what Rasa and the action server decided reaches the
reviewer's transcript (intent, ranking, decision), redacted; the action server counts it."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import QUERIES, Chat
from tests.e2e.test_desk import PASSWORD, add_staff
from tests.staff import sign_in


@pytest.fixture(scope="module")
def reviewer(stack):
    username = add_staff(stack, "reviewer", "Rita Review")
    with httpx.Client(base_url=f"http://127.0.0.1:{stack.settings.app_port}", timeout=30) as client:
        assert sign_in(client, username, PASSWORD, next="/review").status_code == 303
        yield client


def transcript(reviewer: httpx.Client, chat: Chat) -> dict:
    response = reviewer.get(f"/api/review/conversations/{chat.conversation_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_an_answer_reaches_the_reviewer_with_why_it_was_given(chat, reviewer):
    chat.say("how can I pay my phone bill with alipay? I'm on 13812345678")
    user, bot = transcript(reviewer, chat)["messages"][:2]
    assert user["text"] == "how can I pay my phone bill with alipay? I'm on [phone]"
    assert bot["article_id"] == "billing-payment-methods" and bot["decision"] in ("answer", "choices")
    assert bot["intent"] and 0 < bot["confidence"] <= 1  # Rasa's own NLU
    assert bot["ranking"][0] == {"article_id": "billing-payment-methods", "score": bot["score"]}
    assert len(bot["ranking"]) > 1 and bot["ranking"][1]["score"] <= bot["score"]


def test_an_off_topic_question_is_shown_as_the_bot_judged_it(chat, reviewer):
    chat.say(QUERIES["off_topic"]["en"][0])
    bot = next(m for m in transcript(reviewer, chat)["messages"] if m["role"] == "bot")
    assert bot["decision"] == "off_topic" and bot["article_id"] is None


def test_the_action_server_counts_its_verdicts_for_prometheus(stack, chat):
    chat.say("怎么开通国际漫游？")
    metrics = httpx.get(f"{stack.settings.actions_url}/metrics", timeout=10).text
    searches = [
        line
        for line in metrics.splitlines()
        if line.startswith("touchpoint_searches_total{") and 'language="zh"' in line
    ]
    assert searches and sum(float(line.rsplit(" ", 1)[1]) for line in searches) >= 1
    assert "touchpoint_index_articles" in metrics and "process_resident_memory_bytes" in metrics

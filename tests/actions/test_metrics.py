"""The action server's GET /metrics: its questions by decision, counted from what the actions
reply over the real webhook, and the index it serves, counted as publications are built."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import rasa_sdk
from prometheus_client.parser import text_string_to_metric_families
from rasa_sdk.endpoint import create_app
from sanic import Sanic

from actions.answer import choice_payload
from actions.metrics import ActionMetrics, MeteredExecutor, MeteredKnowledgeBase, add_metrics
from actions.server import build_executor
from bot.settings import Settings
from bot.store import Store
from knowledge_base.articles import read_article_files
from tests.actions.conftest import make_tracker
from tests.helpers import hashing_encoders, write_articles


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, as Prometheus parses it: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def searches(scraped) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["language"], dict(labels)["decision"]): value
        for (name, labels), value in scraped.items()
        if name == "touchpoint_searches_total"
    }


@contextlib.asynccontextmanager
async def serving(app: Sanic):
    """The Sanic app started as an ASGI server starts it, and an HTTP client talking to it."""
    received, sent = asyncio.Queue(), asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, received.get, sent.put))
    await received.put({"type": "lifespan.startup"})
    assert (await sent.get())["type"] == "lifespan.startup.complete"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://actions.test") as client:
            yield client
    finally:
        await received.put({"type": "lifespan.shutdown"})
        await sent.get()
        await lifespan


def action_call(action: str, tracker, domain: dict) -> dict:
    return {
        "next_action": action,
        "sender_id": tracker.sender_id,
        "tracker": tracker.current_state(),
        "domain": domain,
        "version": rasa_sdk.__version__,
    }


def test_questions_are_counted_by_language_and_decision_and_timed(knowledge_base, domain, monkeypatch):
    monkeypatch.setattr(Sanic, "_app_registry", {})  # Sanic's app names are unique; rasa_sdk's taken for this test only
    metrics = ActionMetrics()
    # The hashing test encoders score a question 0.99 for its article, nonsense up to 0.57.
    settings = Settings(answer_threshold=0.7, out_of_scope_threshold=1.0)
    app = create_app(build_executor(knowledge_base, settings, MeteredExecutor(metrics)))
    add_metrics(app, metrics)
    chosen = make_tracker(
        choice_payload("sim-puk"), "choose_article", entities=[{"entity": "article_id", "value": "sim-puk"}]
    )
    calls = [
        ("action_answer_question", make_tracker("How can I pay my bill?")),
        ("action_answer_question", make_tracker("怎么交话费？", slots={"language": "zh"})),
        ("action_answer_question", make_tracker("xylophone quasar marmot")),
        ("action_answer_question", make_tracker("How can I pay my bill?", "out_of_scope")),
        # No question searched for: an article chosen by its button, a person asked for, thanks.
        ("action_answer_question", chosen),
        ("action_handoff", make_tracker("a person please", "request_human")),
        ("action_feedback", make_tracker("thanks", "thank")),
    ]

    async def scenario():
        async with serving(app) as client:
            for action, tracker in calls:
                assert (await client.post("/webhook", json=action_call(action, tracker, domain))).status_code == 200
            return await client.get("/metrics")

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    scraped = samples(response.text)
    assert searches(scraped) == {
        ("en", "answer"): 1,
        ("zh", "answer"): 1,
        ("en", "hand_off"): 1,
        ("en", "off_topic"): 1,
    }
    assert scraped["touchpoint_search_seconds_count", ()] == 4
    assert scraped["touchpoint_search_seconds_bucket", (("le", "+Inf"),)] == 4
    assert 0 < scraped["touchpoint_search_seconds_sum", ()] < 60
    assert scraped["process_resident_memory_bytes", ()] > 0


def test_a_long_message_answered_by_the_feedback_action_is_counted_too(knowledge_base, domain):
    metrics = ActionMetrics()
    executor = build_executor(knowledge_base, Settings(answer_threshold=0.7), MeteredExecutor(metrics))
    tracker = make_tracker("How can I pay my bill? " * 20, "affirm")  # a story, not a yes

    result = asyncio.run(executor.run(action_call("action_feedback", tracker, domain)))
    assert result.responses[0]["custom"]["article_id"] == "billing-payment-methods"
    assert searches(samples(metrics.exposition().decode())) == {("en", "answer"): 1}


def test_the_served_index_and_its_builds_are_reported(tmp_path, analyzer):
    metrics = ActionMetrics()
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    encoders = hashing_encoders()
    live = MeteredKnowledgeBase(store, tmp_path / "index", encoders, analyzer, worker="test:1", metrics=metrics)

    def scraped() -> dict[tuple[str, tuple], float]:
        return samples(metrics.exposition().decode())

    def report() -> tuple[float, float, float, float]:
        now = scraped()
        return (
            now["touchpoint_index_version", ()],
            now["touchpoint_index_articles", ()],
            now["touchpoint_index_builds_total", (("result", "built"),)],
            now["touchpoint_index_builds_total", (("result", "failed"),)],
        )

    def broken(articles, previous):
        raise MemoryError("out of memory while indexing")

    async def scenario():
        await store.upgrade()
        before = report()
        await store.library.import_articles(read_article_files(write_articles(tmp_path / "kb")))
        await live.refresh()
        first = report(), await store.library.version()
        assert await live.refresh() is False  # nothing new: no build
        await store.library.unpublish("sim-puk", "en", author_id=None)
        live._build = broken
        await live.refresh()
        await live.refresh()  # not retried at once: one failure
        failed = report()
        await store.close()
        return before, first, failed

    before, (first, version), failed = asyncio.run(scenario())
    assert before == (-1, 0, 0, 0)
    assert version > 0 and first == (version, live.articles, 1, 0) and live.articles > 0
    assert failed == (version, live.articles, 1, 1)  # the old index still serving

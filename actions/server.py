"""The action server: serves Rasa's action calls from the published knowledge base, and the
agents' search-as-you-type (GET /search), so the models are loaded in one process only. It
follows every publication without a restart (`actions/live.py`), and reports on itself at GET
/metrics (`actions/metrics.py`)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions.answer import ActionAnswerQuestion, AnswerSettings
from actions.curation import add_curation
from actions.feedback import ActionFeedback
from actions.handoff import ActionHandoff
from actions.language import ActionDetectLanguage
from actions.live import LiveKnowledgeBase
from actions.metrics import ActionMetrics, MeteredExecutor, MeteredKnowledgeBase, add_metrics
from bot.settings import Settings, load_settings
from bot.store import Store
from knowledge_base.encoder import load_encoders
from knowledge_base.search import KnowledgeBase
from knowledge_base.text import Analyzer

logger = logging.getLogger(__name__)


def answer_settings(settings: Settings) -> AnswerSettings:
    return AnswerSettings(
        threshold=settings.answer_threshold,
        out_of_scope_threshold=settings.out_of_scope_threshold,
        choice_margin=settings.choice_margin,
        max_choices=settings.max_choices,
    )


def build_executor(
    knowledge_base: KnowledgeBase, settings: Settings, executor: ActionExecutor | None = None
) -> ActionExecutor:
    """The actions, registered on `executor` (default: a plain ActionExecutor)."""
    answering = answer_settings(settings)
    executor = executor or ActionExecutor()
    for action in (
        ActionDetectLanguage(),
        ActionAnswerQuestion(knowledge_base, answering),
        ActionHandoff(),
        ActionFeedback(knowledge_base, settings.not_helpful_limit, answering),
    ):
        executor.register_action(action)
    return executor


def live_knowledge_base(settings: Settings, store: Store, metrics: ActionMetrics) -> LiveKnowledgeBase:
    """The published knowledge base, with the models loaded once for every rebuild."""
    encoders, analyzer = load_encoders(settings.embedding_models), Analyzer(settings.cache_dir)
    return MeteredKnowledgeBase(store, settings.index_dir, encoders, analyzer, build_in_child=True, metrics=metrics)


def add_knowledge_status(app: Sanic, knowledge_base: LiveKnowledgeBase) -> None:
    """GET /knowledge: the knowledge-base version this process answers from."""

    @app.get("/knowledge")
    async def knowledge(request: Request) -> HTTPResponse:
        return json(
            {"version": knowledge_base.version, "articles": knowledge_base.articles, "worker": knowledge_base.worker}
        )


def keep_current(app: Sanic, knowledge_base: LiveKnowledgeBase, store: Store) -> None:
    """Serve once the published knowledge base is indexed; then follow every publication."""

    @app.before_server_start
    async def load(app: Sanic, loop) -> None:
        await knowledge_base.refresh()
        if knowledge_base.searcher is None:
            raise RuntimeError("the knowledge base could not be indexed; see the error above")
        logger.info("Knowledge base ready: version %d, %d articles", knowledge_base.version, knowledge_base.articles)
        app.ctx.watch = asyncio.create_task(knowledge_base.watch())

    @app.before_server_stop
    async def stop(app: Sanic, loop) -> None:
        app.ctx.watch.cancel()
        await store.close()


MAX_SEARCH_RESULTS = 10


def add_search(app: Sanic, knowledge_base: KnowledgeBase) -> None:
    """GET /search?q=...&language=zh|en&k=5: the knowledge base's best articles for a query."""

    @app.get("/search")
    async def search(request: Request) -> HTTPResponse:
        query = (request.args.get("q") or "").strip()
        language = request.args.get("language") or "en"
        try:
            k = min(max(int(request.args.get("k") or 5), 1), MAX_SEARCH_RESULTS)
        except ValueError:
            return json({"error": {"code": "invalid_request", "message": "'k' must be a number"}}, status=400)
        if language not in ("en", "zh"):
            return json({"error": {"code": "invalid_request", "message": "'language' must be en or zh"}}, status=400)
        if not query:
            return json({"results": []})
        hits = knowledge_base.search(query[:500], language, k=k)
        results = [
            {"article_id": h.article.id, "title": h.article.title, "body": h.article.body, "score": round(h.score, 4)}
            for h in hits
        ]
        return json({"results": results})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run Touchpoint's Rasa action server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = load_settings()
    store = Store.from_url(settings.database_url)
    metrics = ActionMetrics()
    knowledge_base = live_knowledge_base(settings, store, metrics)
    app = create_app(build_executor(knowledge_base, settings, MeteredExecutor(metrics)))
    add_search(app, knowledge_base)
    add_knowledge_status(app, knowledge_base)
    add_metrics(app, metrics)
    add_curation(app, knowledge_base, answer_settings(settings))
    keep_current(app, knowledge_base, store)
    app.run(host=args.host, port=args.port, single_process=True, motd=False, access_log=False)


if __name__ == "__main__":
    main()

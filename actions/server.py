"""The action server: loads the knowledge-base index once and serves Rasa's action calls, and
the agents' search-as-you-type (GET /search), so the models are loaded in one process only."""

from __future__ import annotations

import argparse
import logging

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions.answer import ActionAnswerQuestion, AnswerSettings
from actions.feedback import ActionFeedback
from actions.handoff import ActionHandoff
from actions.language import ActionDetectLanguage
from bot.settings import Settings, load_settings
from knowledge_base.search import HybridSearcher, KnowledgeBase, open_searcher

logger = logging.getLogger(__name__)


def build_executor(knowledge_base: KnowledgeBase, settings: Settings) -> ActionExecutor:
    answer_settings = AnswerSettings(
        threshold=settings.answer_threshold,
        out_of_scope_threshold=settings.out_of_scope_threshold,
        choice_margin=settings.choice_margin,
        max_choices=settings.max_choices,
    )
    executor = ActionExecutor()
    for action in (
        ActionDetectLanguage(),
        ActionAnswerQuestion(knowledge_base, answer_settings),
        ActionHandoff(),
        ActionFeedback(knowledge_base, settings.not_helpful_limit, answer_settings),
    ):
        executor.register_action(action)
    return executor


def load_knowledge_base(settings: Settings) -> HybridSearcher:
    searcher = open_searcher(settings.articles_dir, settings.index_dir, settings.embedding_models, settings.cache_dir)
    searcher.search("warm up", "en")  # first query pays one-off costs (jieba, torch kernels)
    searcher.search("预热", "zh")
    return searcher


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
    knowledge_base = load_knowledge_base(settings)
    logger.info("Knowledge base ready: %d articles", len(knowledge_base.index.articles))
    app = create_app(build_executor(knowledge_base, settings))
    add_search(app, knowledge_base)
    app.run(host=args.host, port=args.port, single_process=True, motd=False, access_log=False)


if __name__ == "__main__":
    main()

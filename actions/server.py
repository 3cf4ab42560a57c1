"""The action server: loads the knowledge-base index once and serves Rasa's action calls."""

from __future__ import annotations

import argparse
import logging

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

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
        ActionFeedback(knowledge_base, settings.not_helpful_limit),
    ):
        executor.register_action(action)
    return executor


def load_knowledge_base(settings: Settings) -> HybridSearcher:
    searcher = open_searcher(settings.articles_dir, settings.index_dir, settings.embedding_models, settings.cache_dir)
    searcher.search("warm up", "en")  # first query pays one-off costs (jieba, torch kernels)
    searcher.search("预热", "zh")
    return searcher


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
    app.run(host=args.host, port=args.port, single_process=True, motd=False, access_log=False)


if __name__ == "__main__":
    main()

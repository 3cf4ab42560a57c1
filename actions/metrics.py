"""GET /metrics on the action server: what this process serves and how its questions go, in
Prometheus' text format.

- `touchpoint_searches_total{language, decision}`: the questions the assistant searched the
  knowledge base for, by the decision its reply carries in its trace (`answer`, `choices`,
  `off_topic`, `hand_off`); `touchpoint_search_seconds`: the time the action took to search and
  decide. Both read what the actions reply (`MeteredExecutor`), so they count every action that
  answers a question (the answer action's and the feedback action's) and nothing else: an
  article chosen by its button, a rating, or the agents' search-as-you-type.
- `touchpoint_index_version`, `touchpoint_index_articles`: the knowledge base this process
  answers from (-1 and 0 until its first index is built), read at each scrape.
- `touchpoint_index_builds_total{result}`: indexes built for a new publication (`built`), and
  builds that failed and left the old index serving (`failed`).
- `process_*`: this process's CPU time, memory and open files.

Each action-server process has its own registry and endpoint, and so its own figures. The route
is open, like /search and /try: the action server listens on the internal port only (Rasa and
the app call it), and nothing here is personal.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector
from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.live import LiveKnowledgeBase
from knowledge_base.articles import LANGUAGES

# An English search takes milliseconds; a Chinese one, or one on 10,000 articles, up to a second.
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ActionMetrics:
    """The action server's metrics on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        registry = self.registry
        self.searches = Counter(
            "touchpoint_searches",
            "Questions searched for in the knowledge base, by language and decision.",
            ["language", "decision"],
            registry=registry,
        )
        self.search_seconds = Histogram(
            "touchpoint_search_seconds",
            "Searching for a question and deciding, in seconds.",
            buckets=SECONDS,
            registry=registry,
        )
        self.index_builds = Counter(
            "touchpoint_index_builds", "Index builds for new publications, by result.", ["result"], registry=registry
        )
        for result in ("built", "failed"):  # both series from the start, so an alert on failures sees the first
            self.index_builds.labels(result)
        self.index_version = Gauge(
            "touchpoint_index_version", "The knowledge-base version this process answers from.", registry=registry
        )
        self.index_articles = Gauge(
            "touchpoint_index_articles", "Articles in the index this process answers from.", registry=registry
        )

    def serving(self, knowledge_base: LiveKnowledgeBase) -> None:
        """Report what `knowledge_base` serves, as it is at each scrape."""
        self.index_version.set_function(lambda: knowledge_base.version)
        self.index_articles.set_function(lambda: knowledge_base.articles)

    def replied(self, action_call: dict[str, Any], responses: list[dict[str, Any]], seconds: float) -> None:
        """An action ran: count and time it if its reply decided on a question."""
        for response in responses:
            trace = (response.get("custom") or {}).get("trace")
            if isinstance(trace, dict) and trace.get("decision"):
                break
        else:
            return
        language = ((action_call.get("tracker") or {}).get("slots") or {}).get("language") or "en"
        self.searches.labels(language if language in LANGUAGES else "other", trace["decision"]).inc()
        self.search_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MeteredKnowledgeBase(LiveKnowledgeBase):
    """A `LiveKnowledgeBase` whose builds are counted and whose version and size are reported."""

    def __init__(self, *args, metrics: ActionMetrics, **kwargs):
        super().__init__(*args, **kwargs)
        self._metrics = metrics
        metrics.serving(self)

    async def refresh(self) -> bool:
        failed_before = self._failed
        built = await super().refresh()
        if built:
            self._metrics.index_builds.labels("built").inc()
        elif self._failed is not None and self._failed is not failed_before:  # a new failure, not a wait to retry
            self._metrics.index_builds.labels("failed").inc()
        return built


class MeteredExecutor(ActionExecutor):
    """Rasa SDK's executor, counting and timing the actions that decide on a question."""

    def __init__(self, metrics: ActionMetrics):
        super().__init__()
        self._metrics = metrics

    async def run(self, action_call: dict[str, Any], *args, **kwargs) -> ActionExecutorRunResult | None:
        started = time.perf_counter()
        result = await super().run(action_call, *args, **kwargs)
        if result is not None:
            self._metrics.replied(action_call, result.responses, time.perf_counter() - started)
        return result


def add_metrics(app: Sanic, metrics: ActionMetrics) -> None:
    """GET /metrics: this process's metrics, in the text format every Prometheus reads."""

    @app.get("/metrics")
    async def scrape(request: Request) -> HTTPResponse:
        return HTTPResponse(metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)

"""GET /metrics: the app's figures in Prometheus' text format, for this process.

- `touchpoint_messages_total{channel, outcome}`: users' messages by how their turn ended:
  `answered` (the assistant answered from an article), `handoff` (it asked for a person),
  `fallback` (Rasa or the actions failed: the polite apology and a handoff), `other` (everything
  else: greetings, clarifying questions, the state machine's notices, messages to an agent).
- `touchpoint_turn_seconds{channel}`: a turn, from the message's arrival to its reply (waiting
  for the conversation's previous message included); `touchpoint_rasa_seconds`: the Rasa call alone.
- `touchpoint_handoffs_total{reason}`: handoffs the assistant started for a user who was with
  the bot (queued, or with nobody online offered to leave a message).
- `touchpoint_queue_length` (users waiting for a person: no agent, no message left),
  `touchpoint_agents_online` and `touchpoint_knowledge_base_version` (the newest publication):
  read from the database at each scrape, NaN while it cannot be read.
- `process_*`: this process's CPU time, memory and open files.

Each app holds a registry of its own (apps in one test process never collide), and a process
serves its own figures: run several and Prometheus scrapes each. Counters start at zero with the
process, which Prometheus' `rate()` allows for.

Access: no personal data is shown, but queue and traffic figures are not for the public, and
this port is the public one (the widget, the API, Telegram's webhook). So a scrape needs
TOUCHPOINT_METRICS_TOKEN as a bearer token (a token of its own: a scraper's credentials must not
read transcripts, as the API token can); while none is set nobody can scrape. (The action
server's /metrics is open: it listens on the internal port only.)
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.auth import require_bearer
from bot.conversations import AGENT_ONLINE_WITHIN
from bot.errors import Forbidden
from bot.replies import BotReply
from bot.store import Claim, Handoff, Store, Ticket

logger = logging.getLogger(__name__)

# A turn is Rasa's reply (a tenth of a second to seconds) plus two transactions; Rasa's timeout is 15 s.
SECONDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def outcome(assistant: BotReply | None) -> str:
    """How a turn ended, from the assistant's reply (None: the state machine answered alone)."""
    if assistant is None:
        return "other"
    if assistant.handoff:
        return "fallback" if assistant.handoff["reason"] == "service_error" else "handoff"
    if any(message.article_id for message in assistant.messages):
        return "answered"
    return "other"


class AppMetrics:
    """The app's metrics on a registry of their own; the gateway counts, a scrape reads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        registry = self.registry
        self.messages = Counter(
            "touchpoint_messages",
            "Users' messages by channel and how the turn ended.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.turn_seconds = Histogram(
            "touchpoint_turn_seconds",
            "A user's message to its reply, in seconds.",
            ["channel"],
            buckets=SECONDS,
            registry=registry,
        )
        self.rasa_seconds = Histogram(
            "touchpoint_rasa_seconds", "The Rasa call of a turn, in seconds.", buckets=SECONDS, registry=registry
        )
        self.handoffs = Counter(
            "touchpoint_handoffs", "Handoffs the assistant started, by reason.", ["reason"], registry=registry
        )
        self.queue_length = Gauge(
            "touchpoint_queue_length", "Users waiting for a person (unclaimed, no message left).", registry=registry
        )
        self.agents_online = Gauge("touchpoint_agents_online", "Agents with the console open.", registry=registry)
        self.knowledge_base_version = Gauge(
            "touchpoint_knowledge_base_version", "The newest publication of the knowledge base.", registry=registry
        )

    def turn(self, channel: str, started: float, assistant: BotReply | None, handoff: str | None = None) -> None:
        """A turn ended: `started` is its time.perf_counter(), `assistant` the assistant's reply
        (None if it was not asked), `handoff` the reason of the handoff it started, if it did."""
        self.messages.labels(channel, outcome(assistant)).inc()
        self.turn_seconds.labels(channel).observe(time.perf_counter() - started)
        if handoff:
            self.handoffs.labels(handoff).inc()

    async def read(self, store: Store) -> None:
        """The figures kept in the database, as they are now."""
        try:
            async with store.transaction() as tx:
                waiting = await tx.session.scalar(
                    select(func.count(Handoff.id))
                    .outerjoin(Claim, Claim.handoff_id == Handoff.id)
                    .outerjoin(Ticket, Ticket.handoff_id == Handoff.id)
                    .where(Handoff.ended_at.is_(None), Claim.id.is_(None), Ticket.handoff_id.is_(None))
                )
                online = await tx.agents_online(AGENT_ONLINE_WITHIN)
            version = await store.library.version()
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("Metrics: could not read the database", exc_info=exc)
            waiting = online = version = float("nan")
        self.queue_length.set(waiting)
        self.agents_online.set(online)
        self.knowledge_base_version.set(version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def require_scraper(request: Request) -> None:
    """TOUCHPOINT_METRICS_TOKEN as a bearer token (see above for why)."""
    expected = request.app.state.settings.metrics_token
    if not expected:
        raise Forbidden("set TOUCHPOINT_METRICS_TOKEN and send it as a bearer token to read the metrics")
    require_bearer(request, expected, "TOUCHPOINT_METRICS_TOKEN")


async def metrics(request: Request) -> Response:
    require_scraper(request)
    app_metrics: AppMetrics = request.app.state.gateway.metrics
    await app_metrics.read(request.app.state.store)
    # The classic text format, which every Prometheus reads (the library's default names version 1.0.0).
    return Response(app_metrics.exposition(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


routes = [Route("/metrics", metrics, methods=["GET"])]

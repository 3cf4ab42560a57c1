"""Live updates inside one app process: the agents' console and the users' widgets subscribe to
topics ("desk", "conversation:<id>") and get every event published on them, in order.

One process only: with several app instances, a page sees the events of the instance it is
connected to (claims stay exclusive across instances; they are enforced by the database).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

DESK = "desk"
MAX_BACKLOG = 1000  # a subscriber this far behind is dropped rather than holding memory


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class Hub:
    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue]] = defaultdict(set)

    @contextlib.contextmanager
    def subscribe(self, *topics: str) -> Iterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue(MAX_BACKLOG)
        for topic in topics:
            self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            for topic in topics:
                self._subscribers[topic].discard(queue)
                if not self._subscribers[topic]:
                    del self._subscribers[topic]

    def publish(self, topic: str, event: dict[str, Any]) -> int:
        """Hand `event` to every subscriber of `topic`; returns how many got it."""
        delivered = 0
        for queue in list(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
                delivered += 1
        return delivered

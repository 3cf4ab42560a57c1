"""Live updates: the agents' console and the users' widgets subscribe to topics ("desk",
"conversation:<id>") and get every event published on them, in order.

`Hub` carries events within one app process. `RedisHub` carries them through Redis pub/sub to
every app instance, so that a widget connected to one instance sees at once an agent's reply
sent through another. Events published by one instance arrive in the order it published them;
the gateway publishes a conversation's events while it holds the conversation's lock, so they
keep their order across instances too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DESK = "desk"
MAX_BACKLOG = 1000  # a subscriber this far behind is dropped rather than holding memory


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class Hub:
    """Events within this process."""

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

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.deliver(topic, event)

    def deliver(self, topic: str, event: dict[str, Any]) -> int:
        """Hand `event` to this process's subscribers of `topic`; returns how many got it."""
        delivered = 0
        for queue in list(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
                delivered += 1
        return delivered

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisHub(Hub):
    """Events through Redis pub/sub, heard by every instance (this one included).

    While Redis is unreachable an event reaches this instance's subscribers only, and the listener
    reconnects with a back-off; when it is back, the consoles here are told to reload their queue,
    since events of other instances may have been missed meanwhile (a widget gets what it missed
    with the conversation's history when it reconnects)."""

    CHANNEL = "touchpoint:hub:"
    RETRY_FIRST, RETRY_LONGEST = 0.2, 5.0

    def __init__(self, redis: Redis):
        super().__init__()
        self._redis = redis
        self._listener: asyncio.Task | None = None
        self._listening = asyncio.Event()
        self._unreachable = False

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):  # not reachable yet: serve, and listen when it is
            await asyncio.wait_for(self._listening.wait(), 5.0)

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        if self._listening.is_set():
            try:
                await self._redis.publish(self.CHANNEL + topic, json.dumps(event, ensure_ascii=False))
                return
            except (RedisError, OSError) as exc:
                logger.warning("A live event reached this instance's pages only: %s", exc)
        self.deliver(topic, event)

    async def _listen(self) -> None:
        delay = self.RETRY_FIRST
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(self.CHANNEL + "*")
                    self._found()
                    delay = self.RETRY_FIRST
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            self.deliver(message["channel"].decode()[len(self.CHANNEL) :], json.loads(message["data"]))
            except (RedisError, OSError) as exc:
                self._lost(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.RETRY_LONGEST)

    def _found(self) -> None:
        self._listening.set()
        if self._unreachable:
            logger.info("Live events go through Redis again")
            self._unreachable = False
            self.deliver(DESK, {"type": "queue"})

    def _lost(self, exc: BaseException) -> None:
        self._listening.clear()
        if not self._unreachable:
            logger.warning("Live events reach this instance's pages only: Redis is unreachable (%s)", exc)
            self._unreachable = True

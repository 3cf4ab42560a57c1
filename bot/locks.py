"""One holder at a time per key (a conversation, a chat), without keeping a lock per key forever.

`KeyedLock` orders the holders within one process. `SharedKeyedLock` adds a lease in Redis so
that app instances behind a load balancer take turns too: a message sent to one instance waits
while another handles the same conversation's previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

logger = logging.getLogger(__name__)


class KeyedLock:
    """Waiters on one key go in arrival order; a key's lock is dropped once nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class SharedKeyedLock(KeyedLock):
    """KeyedLock across processes: this process's turn first (arrival order), then a lease in
    Redis, renewed while it is held. An instance that dies holding a lease frees it within LEASE
    seconds. While Redis is unreachable the turns are this instance's only (a message is never
    refused because of it), and that is logged."""

    PREFIX = "touchpoint:turn:"
    LEASE = 10.0  # seconds; renewed every LEASE / 3 while held
    POLL = 0.02  # seconds between tries while another instance holds the key

    def __init__(self, redis: Redis):
        super().__init__()
        self._redis = redis
        self._unreachable = False

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        async with super().hold(key):
            lease = self._redis.lock(f"{self.PREFIX}{key}", timeout=self.LEASE, sleep=self.POLL)
            try:
                await lease.acquire()
            except (RedisError, OSError) as exc:
                self._lost(exc)
                lease = None
            if lease is None:
                yield
                return
            self._found()
            renewal = asyncio.create_task(self._renew(lease))
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(LockError, RedisError, OSError):  # expired or Redis gone: nothing held
                    await lease.release()

    async def _renew(self, lease) -> None:
        while True:
            await asyncio.sleep(self.LEASE / 3)
            try:
                await lease.reacquire()
            except (LockError, RedisError, OSError) as exc:
                logger.warning("Could not renew the lease on %s: %s", lease.name, exc)

    def _lost(self, exc: BaseException) -> None:
        if not self._unreachable:
            logger.warning("Conversations are ordered per instance only: Redis is unreachable (%s)", exc)
            self._unreachable = True

    def _found(self) -> None:
        if self._unreachable:
            logger.info("Conversations are ordered across instances again")
            self._unreachable = False

"""Rate limits on what users send: token buckets per conversation (an API client's conversation,
a widget connection) and per address, so that one client can neither flood the assistant nor
fill the agents' queue. Over the limit, a message is refused before anything is stored or sent
to Rasa: 429 with Retry-After over HTTP, an error frame with `retry_after` on the widget's socket.

Each app instance counts in its own memory: behind a load balancer of N instances a client that
reaches all of them gets up to N times the rate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import ApiError

MAX_KEYS = 100_000  # buckets kept; the least recently used go first (a full bucket loses nothing)


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many messages; try again in {self.retry_after} s")


@dataclass(frozen=True)
class Rate:
    per_minute: float  # 0: no limit
    burst: int  # sent at once before the rate applies


class RateLimiter:
    """`rate.burst` messages at once per key, then `rate.per_minute`."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS):
        self._rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def wait(self, key: str) -> float:
        """Take a token for `key`: 0 if there was one, else the seconds until there is (none taken)."""
        if self._rate.per_minute <= 0:
            return 0.0
        now = self._clock()
        per_second = self._rate.per_minute / 60
        tokens, when = self._buckets.pop(key, (float(self._rate.burst), now))
        tokens = min(float(self._rate.burst), tokens + (now - when) * per_second)
        waiting = 0.0 if tokens >= 1 else (1 - tokens) / per_second
        self._buckets[key] = (tokens - 1 if waiting == 0 else tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return waiting


class Limits:
    """The app's limits: per conversation or connection, and per address."""

    def __init__(self, conversation: Rate, address: Rate, clock: Callable[[], float] = time.monotonic):
        self._conversation = RateLimiter(conversation, clock)
        self._address = RateLimiter(address, clock)

    @classmethod
    def per_minute(cls, conversation: float, address: float) -> Limits:
        """Bursts of a third of a minute's messages, then the rate."""
        return cls(*(Rate(rate, max(1, round(rate / 3))) for rate in (conversation, address)))

    def check(self, conversation: str, address: str | None) -> None:
        """Raises RateLimited when either key is over its limit (the address's token is taken only
        if the conversation had one)."""
        if waiting := self._conversation.wait(conversation):
            raise RateLimited(waiting)
        if address is not None and (waiting := self._address.wait(address)):
            raise RateLimited(waiting)

"""Rate limits on what users send: token buckets per conversation (an API client's conversation,
a widget connection, a Telegram chat) and per address, so that one client can neither flood the
assistant nor fill the agents' queue. Over the limit, a message is refused before anything is
stored or sent to Rasa: 429 with Retry-After over HTTP, an error frame with `retry_after` on the
widget's socket, a notice in Telegram.

With TOUCHPOINT_REDIS_URL the buckets are in Redis, shared by every app instance behind the load
balancer; without it (or while Redis is unreachable) each instance counts in its own memory.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.errors import ApiError

logger = logging.getLogger(__name__)

MAX_KEYS = 100_000  # buckets kept in memory; the least recently used go first (a full bucket loses nothing)


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

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


class RateLimiter:
    """`rate.burst` messages at once per key, then `rate.per_minute`, counted in this process."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS):
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def wait(self, key: str) -> float:
        """Take a token for `key`: 0 if there was one, else the seconds until there is (none taken)."""
        if self.rate.per_minute <= 0:
            return 0.0
        now = self._clock()
        tokens, when = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - when) * self.rate.per_second)
        waiting = 0.0 if tokens >= 1 else (1 - tokens) / self.rate.per_second
        self._buckets[key] = (tokens - 1 if waiting == 0 else tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return waiting

    async def take(self, key: str) -> float:
        return self.wait(key)


# The same bucket as RateLimiter.wait, in one atomic step on the Redis server's clock (the
# instances' clocks need not agree). Kept until it would be full again.
_TAKE = """
local burst, per_second = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'when')
local tokens = tonumber(state[1]) or burst
local when = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - when) * per_second)
local waiting = 0
if tokens >= 1 then tokens = tokens - 1 else waiting = (1 - tokens) / per_second end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'when', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / per_second) + 1)
return tostring(waiting)
"""


class SharedRateLimiter:
    """RateLimiter's buckets in Redis, so that every app instance counts against the same ones.
    While Redis cannot be reached, this instance counts alone (a limit is never a reason to
    refuse every message)."""

    PREFIX = "touchpoint:rate:"

    def __init__(self, rate: Rate, redis: Redis, fallback: RateLimiter | None = None):
        self.rate = rate
        self._take = redis.register_script(_TAKE)
        self._fallback = fallback or RateLimiter(rate)
        self._failing = False

    async def take(self, key: str) -> float:
        if self.rate.per_minute <= 0:
            return 0.0
        try:
            waiting = float(await self._take(keys=[self.PREFIX + key], args=[self.rate.burst, self.rate.per_second]))
        except (RedisError, OSError) as exc:
            if not self._failing:
                logger.warning("Rate limits counted per instance: Redis is unreachable (%s)", exc)
            self._failing = True
            return self._fallback.wait(key)
        if self._failing:
            logger.info("Rate limits shared through Redis again")
            self._failing = False
        return waiting


class Limits:
    """The app's limits: per conversation or connection, and per address."""

    def __init__(self, conversation: RateLimiter | SharedRateLimiter, address: RateLimiter | SharedRateLimiter):
        self._conversation = conversation
        self._address = address

    @classmethod
    def per_minute(cls, conversation: float, address: float, redis: Redis | None = None) -> Limits:
        """Bursts of a third of a minute's messages, then the rate; in Redis when one is given."""
        rates = [Rate(rate, max(1, round(rate / 3))) for rate in (conversation, address)]
        if redis is None:
            return cls(*(RateLimiter(rate) for rate in rates))
        return cls(*(SharedRateLimiter(rate, redis) for rate in rates))

    async def check(self, conversation: str, address: str | None) -> None:
        """Raises RateLimited when either key is over its limit (the address's token is taken only
        if the conversation had one)."""
        if waiting := await self._conversation.take(conversation):
            raise RateLimited(waiting)
        if address is not None and (waiting := await self._address.take(address)):
            raise RateLimited(waiting)

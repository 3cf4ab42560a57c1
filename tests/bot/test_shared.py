"""What app instances share through Redis, each against a real (private) Redis server: live
events heard by every instance in order, one turn at a time per conversation across instances,
rate limits counted once for all, and each part serving on alone while Redis restarts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis

from bot.hub import DESK, RedisHub
from bot.limits import Rate, RateLimiter, SharedRateLimiter
from bot.locks import SharedKeyedLock


@contextlib.asynccontextmanager
async def instances(url: str, count: int = 2):
    """`count` Redis clients, as `count` app instances would each have."""
    clients = [Redis.from_url(url) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def hubs(url: str):
    """Two started RedisHubs, one per instance."""
    async with instances(url) as clients:
        started = [RedisHub(client) for client in clients]
        for hub in started:
            await hub.start()
        try:
            yield started
        finally:
            for hub in started:
                await hub.close()


async def next_event(queue: asyncio.Queue, timeout: float = 5.0):
    return await asyncio.wait_for(queue.get(), timeout)


def test_an_event_published_on_one_instance_reaches_subscribers_of_every_instance_in_order(redis_server):
    async def main():
        async with hubs(redis_server.url) as (hub_a, hub_b):
            with hub_a.subscribe("conversation:c1") as on_a, hub_b.subscribe("conversation:c1", DESK) as on_b:
                for n in range(20):
                    await hub_a.publish("conversation:c1", {"n": n, "text": "您好"})
                await hub_b.publish(DESK, {"type": "queue"})
                heard_b = [await next_event(on_b) for _ in range(21)]
                heard_a = [await next_event(on_a) for _ in range(20)]
                assert on_a.empty()  # the desk event is not on a's topic
        assert heard_a == [{"n": n, "text": "您好"} for n in range(20)]
        assert heard_b[:20] == heard_a and heard_b[20] == {"type": "queue"}

    asyncio.run(main())


def test_events_reach_this_instance_while_redis_restarts_and_every_instance_after(redis_server):
    async def main():
        async with hubs(redis_server.url) as (hub_a, hub_b):
            with hub_a.subscribe("conversation:c1", DESK) as on_a, hub_b.subscribe("conversation:c1") as on_b:
                redis_server.stop()
                await asyncio.sleep(0.3)
                await hub_a.publish("conversation:c1", {"n": "during"})  # no error: this instance hears it
                assert await next_event(on_a) == {"n": "during"}
                redis_server.start()
                # Once its listener is back, the consoles here reload their queue (events of
                # other instances may have been missed).
                assert await next_event(on_a, timeout=15) == {"type": "queue"}
                for _ in range(100):  # b's listener comes back on its own back-off
                    if hub_b._listening.is_set():
                        break
                    await asyncio.sleep(0.1)
                await hub_a.publish("conversation:c1", {"n": "after"})
                assert await next_event(on_b, timeout=10) == {"n": "after"}
                assert await next_event(on_a) == {"n": "after"}

    asyncio.run(main())


def test_a_conversation_is_handled_by_one_instance_at_a_time(redis_server):
    async def main():
        log: list[str] = []
        async with instances(redis_server.url) as (a, b):
            lock_a, lock_b = SharedKeyedLock(a), SharedKeyedLock(b)

            async def turn(locks: SharedKeyedLock, name: str, key: str, pause: float):
                async with locks.hold(key):
                    log.append(f"{name} in")
                    await asyncio.sleep(pause)
                    log.append(f"{name} out")

            first = asyncio.create_task(turn(lock_a, "a", "c1", 0.3))
            await asyncio.sleep(0.05)
            await asyncio.gather(first, turn(lock_b, "b", "c1", 0), turn(lock_b, "other", "c2", 0))
        return log

    log = asyncio.run(main())
    assert log.index("a out") < log.index("b in")  # b waited for a, on another instance
    assert log.index("other in") < log.index("a out")  # another conversation did not


def test_a_lease_outlives_its_first_term_while_held_and_is_freed_when_its_holder_is_gone(redis_server):
    async def main():
        async with instances(redis_server.url, 3) as (a, b, c):
            lock_a, lock_b = SharedKeyedLock(a), SharedKeyedLock(b)
            lock_a.LEASE = lock_b.LEASE = 0.6
            order: list[str] = []

            async def long_turn():
                async with lock_a.hold("c1"):
                    order.append("a in")
                    await asyncio.sleep(1.5)  # longer than the lease: renewed meanwhile
                    order.append("a out")

            async def waiter():
                await asyncio.sleep(0.1)
                async with lock_b.hold("c1"):
                    order.append("b in")

            await asyncio.gather(long_turn(), waiter())
            assert order == ["a in", "a out", "b in"]
            # A holder that died (its lease taken and never released nor renewed) holds it one lease at most.
            dead = c.lock(SharedKeyedLock.PREFIX + "c2", timeout=0.6)
            assert await dead.acquire()
            started = asyncio.get_running_loop().time()
            async with lock_b.hold("c2"):
                waited = asyncio.get_running_loop().time() - started
            assert 0.3 < waited < 2.0

    asyncio.run(main())


def test_turns_go_on_per_instance_while_redis_is_down(redis_server):
    async def main():
        async with instances(redis_server.url, 1) as (a,):
            locks = SharedKeyedLock(a)
            redis_server.stop()
            async with asyncio.timeout(5):
                async with locks.hold("c1"):
                    pass
            assert locks._unreachable
            redis_server.start()
            async with locks.hold("c1"):
                pass
            assert not locks._unreachable

    asyncio.run(main())


def test_rate_limits_are_counted_once_for_every_instance(redis_server):
    async def main():
        rate = Rate(per_minute=60, burst=3)
        async with instances(redis_server.url) as (a, b):
            on_a, on_b = SharedRateLimiter(rate, a), SharedRateLimiter(rate, b)
            waits = [await limiter.take("api:c1") for limiter in (on_a, on_b, on_a, on_b)]
            assert waits[:3] == [0, 0, 0]
            assert waits[3] == pytest.approx(1.0, abs=0.05)  # the fourth, on either instance, waits a second
            assert await on_b.take("api:c2") == 0  # another key
            assert await SharedRateLimiter(Rate(0, 1), a).take("api:c1") == 0  # no limit

            # Redis gone: each instance counts alone, and nothing is refused for it.
            redis_server.stop()
            fallback = RateLimiter(rate)
            alone = SharedRateLimiter(rate, a, fallback)
            assert [await alone.take("api:c3") for _ in range(4)][:3] == [0, 0, 0]
            redis_server.start()
            assert await alone.take("api:c4") == 0

    asyncio.run(main())

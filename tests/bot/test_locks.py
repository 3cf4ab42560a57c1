"""KeyedLock: one holder per key, waiters in arrival order, no lock kept for an idle key."""

from __future__ import annotations

import asyncio

from bot.locks import KeyedLock


def test_one_key_runs_in_order_other_keys_run_alongside_and_idle_keys_are_dropped():
    locks = KeyedLock()
    log: list[str] = []

    async def work(key: str, name: str, pause: float) -> None:
        async with locks.hold(key):
            log.append(f"{name} in")
            await asyncio.sleep(pause)
            log.append(f"{name} out")

    async def main() -> int:
        tasks = [
            asyncio.create_task(work("chat-1", "a", 0.05)),
            asyncio.create_task(work("chat-1", "b", 0)),
            asyncio.create_task(work("chat-2", "c", 0)),
        ]
        await asyncio.sleep(0.01)
        held = len(locks)
        await asyncio.gather(*tasks)
        return held

    held = asyncio.run(main())
    assert held == 1  # chat-2 came and went; chat-1 is held with a waiter
    assert log.index("a out") < log.index("b in")  # b waited for a
    assert log.index("c out") < log.index("a out")  # c did not wait for chat-1
    assert len(locks) == 0

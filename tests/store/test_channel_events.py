"""Claiming inbound events once, on SQLite and PostgreSQL: a redelivery is refused; with a window,
a key older than it belongs to a new event and is claimed again, by one claimant only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.store import ChannelEvent, Store, utcnow
from tests.databases import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    return database_url(request) or f"sqlite+aiosqlite:///{tmp_path / 'touchpoint.db'}"


def test_a_key_is_claimed_once_and_again_only_after_its_window(url):
    async def check():
        store = Store.from_url(url)
        await store.upgrade()
        window = timedelta(days=1)
        assert await store.claim_event("telegram:1:7", forget_after=window)
        assert not await store.claim_event("telegram:1:7", forget_after=window)
        assert await store.claim_event("widget:c1:m1")
        assert not await store.claim_event("widget:c1:m1")
        async with store.engine.begin() as connection:
            await connection.execute(update(ChannelEvent).values(created_at=utcnow() - timedelta(days=2)))
        assert not await store.claim_event("widget:c1:m1")  # no window: claimed for good
        claims = await asyncio.gather(*(store.claim_event("telegram:1:7", forget_after=window) for _ in range(5)))
        assert sorted(claims) == [False] * 4 + [True]
        await store.close()

    asyncio.run(check())


def test_a_claim_never_marked_done_is_taken_over_after_it_is_abandoned(url):
    async def check():
        store = Store.from_url(url)
        await store.upgrade()
        abandoned = timedelta(minutes=2)

        async def age(key: str, by: timedelta):
            async with store.engine.begin() as connection:
                await connection.execute(
                    update(ChannelEvent).where(ChannelEvent.key == key).values(created_at=utcnow() - by)
                )

        assert await store.claim_event("dead", abandoned_after=abandoned)  # its process died
        assert not await store.claim_event("dead", abandoned_after=abandoned)  # maybe still in hand
        await age("dead", timedelta(minutes=3))
        claims = await asyncio.gather(*(store.claim_event("dead", abandoned_after=abandoned) for _ in range(4)))
        assert sorted(claims) == [False] * 3 + [True]
        assert await store.claim_event("finished", abandoned_after=abandoned)
        await store.event_done("finished")
        await age("finished", timedelta(minutes=3))
        assert not await store.claim_event("finished", abandoned_after=abandoned)  # done: a redelivery
        await store.close()

    asyncio.run(check())

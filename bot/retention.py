"""Deleting users' data: one conversation on request (`touchpoint purge --conversation ID`), and
every conversation with nothing new for TOUCHPOINT_RETENTION_DAYS days (checked hourly by the app).

A conversation is stored in the database (messages, handoffs, notes, ratings, labels, reveals)
and in Rasa's tracker; both are cleared. What was already delivered to the user's Telegram chat
stays there: that copy is the user's own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.rasa_client import RasaClient
from bot.store import Store, utcnow

logger = logging.getLogger(__name__)

CHECK_EVERY = 3600.0  # seconds between retention sweeps


class PurgeFailed(RuntimeError):
    pass


async def purge(store: Store, rasa: RasaClient | None, conversation_ids: list[str]) -> int:
    """Delete the conversations everywhere; returns how many the database had. Rasa's tracker is
    cleared first: if Rasa refuses or cannot be reached (RasaUnavailable) the database keeps
    them, so that a retry finds them. `rasa` None: Rasa is known not to be running (its trackers
    are kept in its memory, so there is nothing to clear)."""
    if rasa is not None:
        for conversation_id in conversation_ids:
            if not await rasa.forget(conversation_id):
                raise PurgeFailed(f"Rasa refused to clear the tracker of '{conversation_id}'; nothing was deleted")
    return await store.review.purge(conversation_ids)


async def sweep(store: Store, rasa: RasaClient | None, days: int) -> int:
    """Delete every conversation with nothing new in `days` days; returns how many."""
    cutoff = utcnow() - timedelta(days=days)
    deleted = 0
    while batch := await store.review.inactive_since(cutoff):
        deleted += await purge(store, rasa, batch)
    return deleted


async def keep_retention(store: Store, rasa: RasaClient, days: int, every: float = CHECK_EVERY) -> None:
    """The app's background task: a sweep now and then every `every` seconds."""
    while True:
        try:
            deleted = await sweep(store, rasa, days)
            if deleted:
                logger.info("Retention: deleted %d conversations with nothing new in %d days", deleted, days)
        except Exception:  # a failed sweep is retried at the next one; the app keeps serving
            logger.exception("Retention sweep failed")
        await asyncio.sleep(every)

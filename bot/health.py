"""What `GET /healthz` says: the database, Rasa, the action server and, under `touchpoint run`,
its processes. It answers within about two seconds whatever the load, and stays truthful:

- A service that refuses connections or answers with an error is down at once.
- A service too busy to answer the probe in time, but that answered a user's message within the
  last RECENT seconds, is up and marked busy (under load Rasa's event loop is taken by the
  messages themselves, and a slow probe is no outage).
- Concurrent requests share one probe, so a flood of health checks adds no load of its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.rasa_client import RasaClient
from bot.store import Store

PROBE_TIMEOUT = 2.0  # seconds
RECENT = 15.0  # seconds a user's answered message vouches for Rasa and the action server


class Health:
    def __init__(
        self,
        store: Store,
        rasa: RasaClient,
        processes_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._store = store
        self._rasa = rasa
        self._processes_file = processes_file
        self._clock = clock
        self._probing: asyncio.Task | None = None

    async def report(self) -> dict[str, Any]:
        """{"status": "ok" | "degraded", "checks": {name: {"ok", ...}}, "processes"?: {...}}"""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe())
        return await asyncio.shield(self._probing)

    async def _probe(self) -> dict[str, Any]:
        database, rasa, actions = await asyncio.gather(
            self._database(),
            self._service(self._rasa.rasa_url + "/"),
            self._service(self._rasa.actions_url + "/health"),
        )
        checks = {"database": database, "rasa": rasa, "actions": actions}
        report: dict[str, Any] = {
            "status": "ok" if all(check["ok"] for check in checks.values()) else "degraded",
            "checks": checks,
        }
        if processes := self._processes():
            report["processes"] = processes
        return report

    async def _database(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._store.ping(), PROBE_TIMEOUT)
        except TimeoutError:
            return {"ok": False, "error": "TimeoutError"}
        except Exception as exc:  # any driver error means the database is not usable
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": True}

    async def _service(self, url: str) -> dict[str, Any]:
        try:
            response = await self._rasa.get(url, PROBE_TIMEOUT)
        except httpx.TimeoutException as exc:
            answered = self._rasa.last_answered
            if answered is not None and self._clock() - answered < RECENT:
                return {"ok": True, "url": url, "busy": True}
            return {"ok": False, "url": url, "error": type(exc).__name__}
        except httpx.HTTPError as exc:
            return {"ok": False, "url": url, "error": type(exc).__name__}
        return {"ok": response.status_code == 200, "url": url, "status": response.status_code}

    def _processes(self) -> dict[str, Any] | None:
        """What `touchpoint run` last wrote of its processes (running, pid, restarts)."""
        if self._processes_file is None:
            return None
        try:
            return json.loads(self._processes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

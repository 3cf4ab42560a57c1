"""Thin client for the Rasa server's REST channel and the action server's health endpoint."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx


class RasaUnavailable(RuntimeError):
    """Rasa (or the actions behind it) could not produce a reply."""


class RasaClient:
    def __init__(self, rasa_url: str, actions_url: str, *, timeout: float, http: httpx.AsyncClient | None = None):
        self._rasa_url = rasa_url.rstrip("/")
        self._actions_url = actions_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self.last_answered: float | None = None  # time.monotonic() of Rasa's last reply with messages

    @property
    def rasa_url(self) -> str:
        return self._rasa_url

    @property
    def actions_url(self) -> str:
        return self._actions_url

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one user message; return Rasa's bot messages (REST channel format)."""
        try:
            response = await self._http.post(
                f"{self._rasa_url}/webhooks/rest/webhook",
                json={"sender": conversation_id, "message": text, "metadata": metadata},
                timeout=self._timeout,
            )
            response.raise_for_status()
            messages = response.json()
        except httpx.TimeoutException as exc:
            raise RasaUnavailable(f"Rasa did not answer within {self._timeout:g} s") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(f"Rasa request failed: {exc!r}") from exc
        if not isinstance(messages, list):
            raise RasaUnavailable(f"unexpected reply from Rasa: {messages!r}")
        if messages:  # (none: an action failed)
            self.last_answered = time.monotonic()
        return messages

    async def set_paused(self, conversation_id: str, paused: bool) -> bool:
        """Pause the conversation in Rasa's tracker while a person owns it (Rasa then predicts
        nothing for it), resume it after. False, logged by the caller, if Rasa could not be told:
        the gateway does not send a handed-off conversation's messages to Rasa either way."""
        event = {"event": "pause" if paused else "resume"}
        url = f"{self._rasa_url}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        try:
            response = await self._http.post(url, json=event, timeout=self._timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def forget(self, conversation_id: str) -> bool:
        """Empty the conversation's tracker (its events replaced by none). False if Rasa refused;
        raises RasaUnavailable if Rasa cannot be reached."""
        url = f"{self._rasa_url}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        try:
            response = await self._http.put(url, json=[], timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa request failed: {exc!r}") from exc
        return response.status_code == 200

    async def parse(self, text: str) -> dict[str, Any] | None:
        """Rasa's NLU reading of `text` (its top intent: name and confidence); None if Rasa is down."""
        try:
            response = await self._http.post(
                f"{self._rasa_url}/model/parse", json={"text": text}, timeout=self._timeout
            )
            response.raise_for_status()
            return response.json().get("intent")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None

    async def search(self, query: str, language: str, k: int = 5) -> list[dict[str, Any]]:
        """The action server's knowledge-base search (for the agents' console)."""
        try:
            response = await self._http.get(
                f"{self._actions_url}/search", params={"q": query, "language": language, "k": k}, timeout=self._timeout
            )
            response.raise_for_status()
            return list(response.json()["results"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise RasaUnavailable(f"knowledge-base search failed: {exc!r}") from exc

    async def actions(self, path: str, body: dict[str, Any], timeout: float = 60.0) -> httpx.Response:
        """POST `body` to the action server's `path` (the curation pages' test panel and grouping,
        which need its models); RasaUnavailable if it does not answer."""
        try:
            return await self._http.post(f"{self._actions_url}{path}", json=body, timeout=max(timeout, self._timeout))
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"the action server did not answer {path}: {exc!r}") from exc

    async def get(self, url: str, timeout: float) -> httpx.Response:
        """GET one of Rasa's or the action server's URLs (health probes); raises httpx's errors."""
        return await self._http.get(url, timeout=timeout)

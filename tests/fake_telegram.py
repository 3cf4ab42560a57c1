"""A local stand-in for Telegram's Bot API, over real HTTP on 127.0.0.1.

Telegram's servers cannot be reached from the test machines, so python-telegram-bot talks to
this instead (its base_url). It behaves like the parts of the Bot API Touchpoint uses:
- `/bot<token>/<method>` with form-encoded or JSON bodies, answers `{"ok": true, "result": ...}`;
- getUpdates long-polls, honours `offset` (confirming everything before it) and `timeout`;
- sendMessage checks what Telegram checks: text of 1-4096 characters after HTML parsing,
  well-formed HTML with Telegram's tags only, and button data of at most 64 bytes;
- editMessageReplyMarkup knows each sent message's keyboard: removing one that is already gone
  is Telegram's 400 "message is not modified";
- setMyCommands checks command names and descriptions and keeps the menu per language;
- failures on demand: `fail_next("sendMessage", 429, retry_after=1)`, a 502, or a 400 with
  Telegram's description.
Tests read what the bot did from `calls`, `sent` and `commands`.
"""

from __future__ import annotations

import contextlib
import html.parser
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-token_for-the-fake-api"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Skylark", "username": "SkylarkHelpBot"}
TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "blockquote",
}


class EntityError(ValueError):
    pass


class _TelegramHtml(html.parser.HTMLParser):
    """Parses text as Telegram's HTML parse mode does: only its tags, properly nested."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            raise EntityError(f'Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data):
        self.visible.append(data)


def visible_text(text: str) -> str:
    """The text a user sees for `text` in parse mode HTML; EntityError where Telegram says
    "Bad Request: can't parse entities"."""
    if re.search(r"<(?!/?[a-z-]+[ >])", text):
        raise EntityError("Unescaped '<': it must be &lt; outside a tag")
    if re.search(r"&(?!(?:[a-z]+|#\d+|#x[0-9a-f]+);)", text, re.IGNORECASE):
        raise EntityError("Unescaped '&': it must be &amp; outside an entity")
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
    return "".join(parser.visible)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeTelegram:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0  # updates with ids below this were confirmed by an offset
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._keyboards: dict[tuple[int, int], dict[str, Any] | None] = {}  # (chat, message id): markup
        self.commands: dict[str | None, list[dict[str, str]]] = {}  # language code (None: default): menu
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/bot"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what tests do ---------------------------------------------------------------------
    def next_update_id(self) -> int:
        return next(self._update_ids)

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (as if a user did something)."""
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()
        return update

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        description = description or _DESCRIPTIONS.get(status, "Error")
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
            body["description"] = f"Too Many Requests: retry after {retry_after}"
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, body)] * times)

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """sendMessage calls that succeeded, oldest first."""
        return [
            c.params
            for c in self.calls
            if c.method == "sendMessage"
            and "failed" not in c.params
            and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "the bot"):
        """Wait until predicate() is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := predicate():
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; calls: {self.methods()[-20:]}")

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        return self.wait_for(
            lambda: (m := self.sent(chat_id)) and len(m) >= count and m, timeout, f"{count} messages to chat {chat_id}"
        )

    # --- update builders -------------------------------------------------------------------
    def text_update(self, chat_id: int, text: str, *, language_code: str | None = "en") -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": "Test"}
        if language_code:
            user["language_code"] = language_code
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": self.next_update_id(), "message": message}

    def button_update(self, chat_id: int, sent: dict[str, Any], data: str, *, language_code: str = "en"):
        """A press on a button of a message the bot sent (as recorded in `sent`)."""
        return {
            "update_id": self.next_update_id(),
            "callback_query": {
                "id": str(next(self._ids)),
                "chat_instance": "ci",
                "from": {"id": chat_id, "is_bot": False, "first_name": "Test", "language_code": language_code},
                "data": data,
                "message": {
                    "message_id": sent["message_id"],
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
                    "from": BOT_USER,
                    "text": sent["text"],
                    "reply_markup": sent["reply_markup"],
                },
            },
        }

    # --- the server ------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                fake._serve(self)

            do_GET = do_POST

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return self._respond(request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = request.path[len(prefix) :]
        params = self._params(request)
        with self._lock:
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
        call = Call(method, params if failure is None else {**params, "failed": failure[0]})
        self.calls.append(call)
        if failure:
            return self._respond(request, *failure)
        try:
            result = self._result(method, params)
        except EntityError as exc:
            call.params["failed"] = 400
            return self._respond(
                request,
                400,
                {"ok": False, "error_code": 400, "description": f"Bad Request: can't parse entities: {exc}"},
            )
        except ValueError as exc:
            call.params["failed"] = 400
            return self._respond(request, 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
        self._respond(request, 200, {"ok": True, "result": result})

    @staticmethod
    def _params(request: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode() if length else ""
        if request.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        params: dict[str, Any] = {}
        for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
            try:
                params[key] = json.loads(value)  # PTB JSON-encodes every non-string field
            except json.JSONDecodeError:
                params[key] = value
        return params

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("deleteWebhook", "setWebhook", "sendChatAction", "answerCallbackQuery"):
            return True
        if method == "setMyCommands":
            return self._set_my_commands(params)
        if method == "getUpdates":
            return self._get_updates(params)
        if method == "sendMessage":
            return self._send_message(params)
        if method == "editMessageReplyMarkup":
            return self._edit_reply_markup(params)
        raise ValueError(f"method {method} is not supported by the fake")

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._lock:
            if offset:
                self._confirmed = max(self._confirmed, offset)
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self._updates)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        shown = visible_text(text) if params.get("parse_mode") == "HTML" else text
        if not shown.strip():
            raise ValueError("message text is empty")
        if len(shown) > 4096:
            raise ValueError("message is too long")
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ValueError("button text is empty")
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise ValueError("BUTTON_DATA_INVALID")
        message_id = next(self._ids)
        params["message_id"] = message_id
        params["shown"] = shown
        with self._lock:
            self._keyboards[int(params["chat_id"]), message_id] = params.get("reply_markup")
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
            "text": shown,
        }

    def _edit_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params.get("chat_id") or 0), int(params.get("message_id") or 0)
        markup = params.get("reply_markup") or None
        with self._lock:
            if (chat_id, message_id) not in self._keyboards:
                raise ValueError("message to edit not found")
            if self._keyboards[chat_id, message_id] == markup:
                raise ValueError(NOT_MODIFIED)
            self._keyboards[chat_id, message_id] = markup
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": "",
            **({"reply_markup": markup} if markup else {}),
        }

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ValueError("BOT_COMMANDS_TOO_MUCH" if isinstance(commands, list) else "commands must be a list")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ValueError("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ValueError("BOT_COMMAND_DESCRIPTION_INVALID")
        language = params.get("language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", str(language)):
            raise ValueError("LANG_CODE_INVALID")
        if (params.get("scope") or {"type": "default"}) != {"type": "default"}:
            raise ValueError("only the default scope is supported by the fake")
        with self._lock:
            self.commands[language] = commands
        return True

    @staticmethod
    def _respond(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the bot stopped a long poll
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)


_DESCRIPTIONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)

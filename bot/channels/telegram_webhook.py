"""The app's Telegram webhook: Telegram POSTs each update here with the secret token header."""

from __future__ import annotations

import hmac
import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.errors import InvalidRequest, NotFound, Unauthorized

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def telegram_webhook(request: Request) -> JSONResponse:
    channel = getattr(request.app.state, "telegram", None)
    if channel is None or not channel.webhook:
        raise NotFound("the Telegram webhook is not enabled (set TOUCHPOINT_TELEGRAM_WEBHOOK_URL)")
    expected = request.app.state.settings.telegram_webhook_secret
    if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), expected.encode()):
        raise Unauthorized(f"missing or wrong {SECRET_HEADER} header")
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):  # not JSON or not UTF-8, nested too deep, a number too long
        raise InvalidRequest("request body must be a JSON Telegram update") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise InvalidRequest("request body must be a Telegram update with an integer update_id")
    # Handled before answering: if the gateway cannot take it, the 500 makes Telegram redeliver.
    await channel.handle_webhook_update(channel.parse_update(data))
    return JSONResponse({"ok": True})


routes = [Route("/telegram/webhook", telegram_webhook, methods=["POST"])]

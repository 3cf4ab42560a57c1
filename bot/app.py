"""The Touchpoint app: one Starlette service holding the gateway, the store and the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot import analytics, api, auth, curation, desk, hardening, metrics, retention, review
from bot.channels import telegram_webhook, widget
from bot.channels.base import Channels, LiveTopic, StoredOnly
from bot.errors import ApiError
from bot.gateway import Gateway
from bot.health import Health
from bot.hub import Hub, RedisHub
from bot.limits import Limits, RateLimited
from bot.locks import SharedKeyedLock
from bot.rasa_client import RasaClient
from bot.settings import Settings
from bot.store import Store

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    response = _error(exc.status, exc.code, exc.message)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return _error(exc.status_code, "http_error", str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "something went wrong on our side; the error was logged")


def create_app(settings: Settings, rasa: RasaClient | None = None) -> Starlette:
    """The app for `settings`; `rasa` replaces the Rasa client (tests pass one on a fake transport)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        settings.build_dir.mkdir(parents=True, exist_ok=True)
        store = Store.from_url(settings.database_url, redact_at_rest=settings.redact_at_rest)
        await store.upgrade()  # a no-op at the newest revision; `touchpoint db upgrade` does the same
        client = rasa or RasaClient(settings.rasa_url, settings.actions_url, timeout=settings.rasa_timeout)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        hub = RedisHub(redis) if redis else Hub()
        await hub.start()
        channels = Channels(StoredOnly("api"), StoredOnly("cli"), LiveTopic(widget.CHANNEL, hub))
        app.state.settings = settings
        app.state.store = store
        app.state.rasa = client
        app.state.gateway = Gateway(store, client, hub, channels, locks=SharedKeyedLock(redis) if redis else None)
        app.state.desk = desk.Desk(app)
        app.state.health = Health(store, client, settings.processes_file)
        app.state.limits = Limits.per_minute(settings.rate_conversation, settings.rate_address, redis)
        app.state.telegram = None
        tasks = []
        if settings.queue_timeout:
            tasks.append(asyncio.create_task(desk.watch_the_queue(app.state.desk, settings.queue_timeout)))
        if settings.retention_days:
            tasks.append(asyncio.create_task(retention.keep_retention(store, client, settings.retention_days)))
        try:
            if settings.telegram_token:
                from bot.channels.telegram import TelegramChannel

                app.state.telegram = TelegramChannel(settings, app.state.gateway, store, app.state.limits)
                channels.register(app.state.telegram)
                await app.state.telegram.start()
            yield
        finally:
            for task in tasks:
                task.cancel()
            if app.state.telegram:
                await app.state.telegram.stop()
            await hub.close()
            if redis:
                await redis.aclose()
            await client.close()
            await store.close()

    static = Mount("/static", StaticFiles(directory=str(widget.STATIC)), name="static")
    session = Middleware(
        SessionMiddleware,
        secret_key=auth.secret_key(settings),
        session_cookie=auth.SESSION_COOKIE,
        max_age=auth.SESSION_HOURS * 3600,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    return Starlette(
        routes=api.routes
        + telegram_webhook.routes
        + widget.routes
        + auth.routes
        + desk.routes
        + curation.routes
        + review.routes
        + analytics.routes
        + metrics.routes
        + [static],
        middleware=[
            Middleware(hardening.SecurityHeaders),
            Middleware(hardening.BodyLimit, limit=settings.max_body_bytes),
            session,
        ],
        lifespan=lifespan,
        exception_handlers={
            auth.LoginRequired: auth.login_redirect,
            **curation.exception_handlers,
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )

"""Telegram: python-telegram-bot's Application in front of the gateway.

Updates arrive by long polling (development: set TELEGRAM_TOKEN) or through the app's webhook
(production: also set TOUCHPOINT_TELEGRAM_WEBHOOK_URL and _SECRET; Telegram's secret-token header
is checked on every call). Either way each update is handled once: its id is recorded in the
database before it is handled (Telegram redelivers webhooks it thinks failed), and forgotten
again only when the gateway could not take the message, so the redelivery is handled.

Replies go out in HTML parse mode, split under Telegram's 4096-character limit, with the
answer's choices and "helpful / not helpful" as inline keyboards; a keyboard is used once, so a
double tap is one press. A call that Telegram refused with 429 (retry_after), failed with a 5xx
or that never reached it is retried; one it refused with another 4xx is not (it would be refused
again), nor one that may have arrived (the response timed out), since Telegram has no way to
deduplicate a sendMessage.

At start the bot fills Telegram's "/" menu with its commands, in English and in Chinese.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any, TypeVar

# Opt in to timedelta time periods now (PTB 22 warns on the int form, which v23 drops).
os.environ.setdefault("PTB_TIMEDELTA", "true")

import httpx  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User  # noqa: E402
from telegram.constants import ChatAction, ChatType, InlineKeyboardButtonLimit, MessageLimit, ParseMode  # noqa: E402
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, TypeHandler  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.channels.formatting import split_text, to_telegram_html  # noqa: E402
from bot.gateway import Gateway  # noqa: E402
from bot.limits import Limits, RateLimited  # noqa: E402
from bot.locks import KeyedLock  # noqa: E402
from bot.messages import InvalidMessage, clean_text, typed_text  # noqa: E402
from bot.replies import BotMessage, BotReply, bot_message  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Conversation, Store  # noqa: E402
from bot.store import Message as StoredMessage  # noqa: E402
from bot.strings import text as canned_reply  # noqa: E402
from bot.vocabulary import BUTTON_PAYLOADS, GREET, HELPFUL, NOT_HELPFUL, REQUEST_HUMAN, choice_payload  # noqa: E402

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SEND_ATTEMPTS = 5
TYPING_REFRESH = 4.5  # Telegram shows "typing..." for 5 seconds
ALLOWED_UPDATES = ["message", "callback_query"]
CHOICE_PREFIX = "a:"  # callback data of a choice button: a:<article id> (Telegram allows 64 bytes)
# The "/" menu, described per language (bot/strings); the first is the default (any other language).
COMMANDS = ("start", "human", "help")
MENU_LANGUAGES = ("en", "zh")
# The 4xx statuses PTB raises its own errors for (BadRequest, InvalidToken, Forbidden, Conflict,
# RetryAfter); any other it raises as a NetworkError, as it does a 5xx.
PTB_CLIENT_ERRORS = {400, 401, 403, 404, 409, 429}


T = TypeVar("T")


def user_language(user: User | None) -> str | None:
    """zh or en from Telegram's language_code (an IETF tag such as zh-hans); None if unknown."""
    code = ((user and user.language_code) or "").lower()
    if not code:
        return None
    return "zh" if code.startswith("zh") else "en"


REDELIVERY_WINDOW = timedelta(days=1)
# An update claimed this long ago and never done was abandoned by a process that died handling it
# (a turn gives up on Rasa well before: TOUCHPOINT_RASA_TIMEOUT); its redelivery is handled.
ABANDONED_AFTER = timedelta(minutes=2)


def conversation_id(chat_id: int) -> str:
    return f"{CHANNEL}:{chat_id}"


def chat_of(conversation: str) -> int | None:
    """The Telegram chat a conversation id stands for; None for another channel's conversation."""
    prefix, _, chat = conversation.partition(":")
    return int(chat) if prefix == CHANNEL and chat.lstrip("-").isdigit() else None


def callback_data(choice: dict[str, Any]) -> str | None:
    """The button data for a choice, within Telegram's 64 bytes; None if it cannot fit."""
    data = CHOICE_PREFIX + str(choice["article_id"]) if choice.get("article_id") else str(choice.get("payload") or "")
    return data if 0 < len(data.encode()) <= InlineKeyboardButtonLimit.MAX_CALLBACK_DATA else None


def payload_from_callback(data: str) -> str | None:
    """The gateway payload a button stands for; None for data this bot never sent."""
    if data in BUTTON_PAYLOADS:
        return data
    if data.startswith(CHOICE_PREFIX) and len(data) > len(CHOICE_PREFIX):
        return choice_payload(data[len(CHOICE_PREFIX) :])
    return None


@dataclass(frozen=True)
class Outgoing:
    html: str
    keyboard: InlineKeyboardMarkup | None = None


def render(reply: BotReply) -> list[Outgoing]:
    """Telegram messages for a reply: each bot message split under the length limit, its title in
    bold, and its keyboard (choices, then the rating row for an answer) under the last piece."""
    outgoing = []
    for message in reply.messages:
        rows = []
        for choice in message.choices:
            if data := callback_data(choice):
                rows.append([InlineKeyboardButton(str(choice.get("title") or "?"), callback_data=data)])
            else:
                logger.warning("Choice %r does not fit in Telegram's button data; left out", choice)
        if message.rateable:
            rows.append(
                [
                    InlineKeyboardButton(canned_reply("button_helpful", reply.language), callback_data=HELPFUL),
                    InlineKeyboardButton(canned_reply("button_not_helpful", reply.language), callback_data=NOT_HELPFUL),
                ]
            )
        title = f"**{message.title}**\n\n" if message.title else ""
        pieces = split_text(title + message.text, MessageLimit.MAX_TEXT_LENGTH)
        for number, piece in enumerate(pieces, start=1):
            keyboard = InlineKeyboardMarkup(rows) if rows and number == len(pieces) else None
            outgoing.append(Outgoing(to_telegram_html(piece), keyboard))
    return outgoing


def may_have_arrived(error: TelegramError) -> bool:
    """A request sent whole whose response never came (read timed out or failed, the connection
    closed without an answer) may have been carried out; one refused, timed out while connecting
    or writing, or answered with an error was not."""
    return isinstance(error, NetworkError) and isinstance(
        error.__cause__, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError
    )


def worth_retrying(error: NetworkError) -> bool:
    """A 5xx or a request that never reached Telegram; not a 400 (PTB's BadRequest is a
    NetworkError too), which would be refused again, nor a request that may have been carried out."""
    return not isinstance(error, BadRequest) and not may_have_arrived(error)


def seconds(period: timedelta | float) -> float:
    """retry_after is a timedelta with PTB_TIMEDELTA=true (our default), else a number."""
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


class ClientError(TelegramError):
    """Telegram refused the request with a 4xx PTB has no error class for."""


class TelegramRequest(HTTPXRequest):
    """PTB's HTTPX request, but a 4xx is never a NetworkError: PTB raises one for a 4xx it has no
    class for (413, say) as for a 502, and only the 502 is worth sending again."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR and status not in PTB_CLIENT_ERRORS:
            raise ClientError(f"Telegram refused the request ({status}): {payload[:500].decode(errors='replace')}")
        return status, payload


class ChatOrderedUpdates(BaseUpdateProcessor):
    """Updates from different chats are handled concurrently, one chat's updates in order.

    The chat's turn comes before a concurrency slot, so a chat with many updates queued waits
    without holding slots that other chats need."""

    def __init__(self, max_concurrent_updates: int = 64):
        super().__init__(max_concurrent_updates)
        self._chats = KeyedLock()

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        async with self._chats.hold(chat.id if chat else None):
            await super().process_update(update, coroutine)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class TelegramChannel:
    name = CHANNEL

    def __init__(self, settings: Settings, gateway: Gateway, store: Store, limits: Limits | None = None):
        if not settings.telegram_token:
            raise ValueError("TelegramChannel needs TELEGRAM_TOKEN")
        self._settings = settings
        self._gateway = gateway
        self._store = store
        self._limits = limits or Limits.per_minute(settings.rate_conversation, 0)
        self._refused_until: dict[int, float] = {}  # chat -> when it may be told again that it is over its rate
        self._bot_id = settings.telegram_token.split(":", 1)[0]
        self.webhook = bool(settings.telegram_webhook_url)
        self._webhook_chats = KeyedLock()  # webhook calls bypass PTB's update processor
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_token)
            .base_url(settings.telegram_api_url)
            .base_file_url(settings.telegram_api_url.replace("/bot", "/file/bot"))
            .request(
                TelegramRequest(connection_pool_size=32, connect_timeout=5.0, read_timeout=20.0, write_timeout=20.0)
            )
            .concurrent_updates(ChatOrderedUpdates())
        )
        if self.webhook:
            builder = builder.updater(None)
        else:
            builder = builder.get_updates_request(TelegramRequest(connect_timeout=5.0, read_timeout=30.0))
        self.application: Application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)

    chat_of = staticmethod(chat_of)

    @property
    def bot(self):
        return self.application.bot

    async def start(self) -> None:
        await self.application.initialize()
        if self.webhook:
            await self._send(
                lambda: self.bot.set_webhook(
                    self._settings.telegram_webhook_url,
                    secret_token=self._settings.telegram_webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
            )
        else:
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await self.application.start()
        logger.info("Telegram bot %s started (%s)", self._bot_id, "webhook" if self.webhook else "long polling")
        await self._register_commands()

    async def _register_commands(self) -> None:
        """Fill Telegram's "/" menu: the first language's descriptions for every client, each
        other's for clients in that language. The menu is a convenience (the commands work
        without it), so a failure is logged and the bot runs on."""
        for language in MENU_LANGUAGES:
            commands = [(command, canned_reply(f"telegram_command_{command}", language)) for command in COMMANDS]
            try:
                await self._send(
                    lambda language=language, commands=commands: self.bot.set_my_commands(
                        commands, language_code=None if language == MENU_LANGUAGES[0] else language
                    )
                )
            except TelegramError as exc:
                logger.warning("Could not register the bot's commands (%s): %s", language, exc)

    async def stop(self) -> None:
        if self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    def parse_update(self, data: dict[str, Any]) -> Update:
        return Update.de_json(data, self.bot)

    async def handle_webhook_update(self, update: Update) -> None:
        """Like handle_update, one chat's updates in order (Telegram may call in parallel)."""
        chat = update.effective_chat
        async with self._webhook_chats.hold(chat.id if chat else None):
            await self.handle_update(update)

    async def handle_update(self, update: Update) -> None:
        """Handle one update once. Raises (after forgetting the update, so that Telegram's
        redelivery is handled) when the gateway could not take the message."""
        key = f"{CHANNEL}:{self._bot_id}:{update.update_id}"
        # Telegram keeps an update for redelivery at most a day, and may start update_id again
        # after a week without updates: a key older than that is a new update's.
        if not await self._store.claim_event(key, forget_after=REDELIVERY_WINDOW, abandoned_after=ABANDONED_AFTER):
            logger.info("Update %s was already handled; ignoring the redelivery", update.update_id)
            return
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            await self._store.event_done(key)
            return  # a support bot talks one to one; group and channel posts are not for it
        try:
            await self._limits.check(conversation_id(chat.id), None)
        except RateLimited as exc:
            await self._refuse(chat.id, update, exc)
            await self._store.event_done(key)
            return
        try:
            async with self._typing(chat.id):
                reply = await self._route(update)
        except Exception:
            await self._store.release_event(key)
            raise
        if reply is not None:
            await self.send_reply(chat.id, reply)
        await self._store.event_done(key)

    async def _refuse(self, chat_id: int, update: Update, limited: RateLimited) -> None:
        """A chat over its rate: the update is dropped (nothing stored, nothing sent to Rasa), and
        the user is told so once per wait, not once per message of a flood."""
        logger.info("Update %s from chat %s refused: %s", update.update_id, chat_id, limited.message)
        now = time.monotonic()
        if self._refused_until.get(chat_id, 0) > now:
            return
        self._refused_until = {chat: until for chat, until in self._refused_until.items() if until > now}
        self._refused_until[chat_id] = now + limited.retry_after
        user = update.effective_user
        language = (user_language(user) if user else None) or "en"
        with contextlib.suppress(TelegramError):
            notice = canned_reply("rate_limited", language, seconds=limited.retry_after)
            await self._send(lambda: self.bot.send_message(chat_id, notice))

    async def deliver(self, conversation: Conversation, messages: Sequence[StoredMessage]) -> None:
        """The Channel interface: stored messages (an agent's reply, a notice) to the user's chat."""
        chat_id = chat_of(conversation.id)
        if chat_id is None:
            logger.warning("%s is not a Telegram conversation; not delivered", conversation.id)
            return
        await self.send_reply(chat_id, BotReply([bot_message(m) for m in messages], language=conversation.language))

    async def send_reply(self, chat_id: int, reply: BotReply) -> None:
        """Send a reply, piece by piece; a piece Telegram never received is retried, so none is
        doubled; a piece that failed for good is logged and the rest still go."""
        for message in render(reply):
            try:
                await self._send(
                    lambda message=message: self.bot.send_message(
                        chat_id,
                        message.html,
                        parse_mode=ParseMode.HTML,
                        reply_markup=message.keyboard,
                    )
                )
            except Forbidden:
                logger.info("Chat %s blocked the bot; reply not delivered (it is stored)", chat_id)
                return
            except TelegramError as exc:
                logger.error("A reply to chat %s may not have been delivered (it is stored): %s", chat_id, exc)

    async def _route(self, update: Update) -> BotReply | None:
        if update.callback_query:
            return await self._on_button(update)
        message = update.message
        if message is None:
            return None  # edits and other update kinds are not part of the conversation
        chat = conversation_id(message.chat_id)
        language = user_language(message.from_user)
        # A redelivered update whose message was stored before a crash is answered, not stored again.
        client_id = f"message-{message.message_id}"
        if not message.text:
            kinds = ("photo", "sticker", "voice", "video", "document", "location")
            kind = next((k for k in kinds if getattr(message, k, None)), "attachment")
            return await self._gateway.say(chat, CHANNEL, f"[{kind}]", "text_only", language or "en")
        command = _command(message)
        if command == "start":
            return await self._gateway.handle(
                chat, GREET, CHANNEL, language=language, display=message.text, client_id=client_id
            )
        if command == "human":
            return await self._gateway.handle(
                chat, REQUEST_HUMAN, CHANNEL, language=language, display=message.text, client_id=client_id
            )
        if command is not None:  # /help and any command the bot does not know
            return await self._gateway.say(chat, CHANNEL, message.text, "telegram_help", language or "en")
        text = typed_text(message.text)
        try:
            name = message.from_user.full_name if message.from_user else None
            return await self._gateway.handle(
                chat, text, CHANNEL, language=language, user_name=name, client_id=client_id
            )
        except InvalidMessage as exc:
            logger.info("Message in chat %s refused: %s", message.chat_id, exc)
            key = "too_long" if clean_text(text) else "no_words"
            return await self._gateway.say(chat, CHANNEL, f"[refused: {exc}]", key, language or "en")

    async def _on_button(self, update: Update) -> BotReply | None:
        """One press per keyboard: the first press on a keyboard is handled and the keyboard
        removed; a second (a double tap, or a client that still shows it) is answered as expired.
        Raises, with the keyboard unclaimed again, when the gateway could not take the press."""
        query = update.callback_query
        payload = payload_from_callback(query.data or "")
        message = query.message if isinstance(query.message, Message) else None
        key = self._keyboard_key(message) if message else None
        fresh = payload is not None and key is not None and await self._store.claim_event(key)
        language = user_language(query.from_user) or "en"
        with contextlib.suppress(TelegramError):
            await self._send(lambda: query.answer(None if fresh else canned_reply("button_expired", language)))
        if not fresh:
            logger.info(
                "Button %r in chat %s is expired or its keyboard was used", query.data, update.effective_chat.id
            )
            return None
        keyboard = message.reply_markup.inline_keyboard if message.reply_markup else ()
        pressed = next((b.text for row in keyboard for b in row if b.callback_data == query.data), None)
        with contextlib.suppress(TelegramError):
            await self._send(lambda: message.edit_reply_markup(None))
        try:
            return await self._gateway.handle(
                conversation_id(message.chat.id),
                payload,
                CHANNEL,
                language=user_language(query.from_user),
                display=pressed,
            )
        except Exception:
            await self._store.release_event(key)
            raise

    def _keyboard_key(self, message: Message) -> str:
        return f"{CHANNEL}:{self._bot_id}:keyboard:{message.chat.id}:{message.message_id}"

    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int):
        async def keep_typing() -> None:
            while True:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
                await asyncio.sleep(TYPING_REFRESH)

        task = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _send(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, retried while Telegram asks to wait (429), failed (5xx) or never got it; any
        other refusal raises at once, and the last failure raises."""
        for attempt in range(1, SEND_ATTEMPTS):
            try:
                return await call()
            except RetryAfter as exc:
                delay = seconds(exc.retry_after)
            except NetworkError as exc:  # a 5xx, a connection failure, TimedOut; BadRequest too
                if not worth_retrying(exc):
                    raise
                delay = min(0.5 * 2**attempt, 30.0)
            logger.warning("Telegram call failed (attempt %d); retrying in %.1f s", attempt, delay)
            await asyncio.sleep(delay)
        return await call()

    async def _on_update(self, update: Update, context: Any) -> None:
        """Long polling: the update is already confirmed to Telegram, so a failure is answered
        here with the polite service-error reply rather than left to a redelivery."""
        try:
            await self.handle_update(update)
        except Exception:
            logger.exception("Telegram update %s failed", update.update_id)
            chat = update.effective_chat
            if chat is not None and chat.type == ChatType.PRIVATE:
                language = user_language(update.effective_user) or "en"
                fallback = BotReply([BotMessage(canned_reply("service_error", language))], language=language)
                await self.send_reply(chat.id, fallback)

    async def _on_error(self, update: object, context: Any) -> None:
        logger.error("Telegram update %r failed", getattr(update, "update_id", update), exc_info=context.error)


def _command(message: Message) -> str | None:
    """The bot command a message starts with ('start' for '/start' or '/start@SkylarkBot')."""
    words = message.text[1:].split(maxsplit=1) if message.text.startswith("/") else []
    return words[0].split("@", 1)[0].lower() if words else None

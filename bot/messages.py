"""What a user's message must be before anything is stored: valid, not empty, not too long."""

from __future__ import annotations

import re
import unicodedata

MAX_TEXT = 4096  # Telegram's own limit, so no Telegram message is refused
# A client's name for a message (the widget's ids, the API's message_id): sent again, handled once.
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidMessage(ValueError):
    """A message the gateway will not take: empty or too long."""


class WrongChannel(InvalidMessage):
    """The conversation belongs to another channel (a Telegram chat cannot be written to from the API)."""


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The text as stored and sent to Rasa: valid UTF-8 (lone surrogates become U+FFFD), no
    control characters but line breaks and tabs (PostgreSQL rejects NUL), trimmed."""
    text = _SURROGATES.sub("\ufffd", text)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return unicodedata.normalize("NFC", text).strip()


def checked_text(text: str) -> str:
    text = clean_text(text)
    if not text:
        raise InvalidMessage("the message is empty")
    if len(text) > MAX_TEXT:
        raise InvalidMessage(f"the message is longer than {MAX_TEXT} characters; please shorten it")
    return text


def has_words(text: str) -> bool:
    """False for text with no letter or digit at all: emoji, punctuation, symbols."""
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def typed_text(text: str) -> str:
    """What a user typed never reaches Rasa as an intent payload: a leading '/' is dropped."""
    return text.lstrip().lstrip("/") if text.lstrip().startswith("/") else text


def is_payload(text: str) -> bool:
    """Button payloads ('/affirm', '/choose_article{...}') say nothing about the user's language."""
    return text.startswith("/")

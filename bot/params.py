"""Parameters and bodies of the APIs, checked: a bad one is refused with InvalidRequest naming it
(and said the same way on the command line, which takes the same filters)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.requests import Request

from bot.errors import InvalidRequest

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day(name: str, value: str) -> date:
    """A date written YYYY-MM-DD."""
    try:
        if DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidRequest(f"'{name}' must be a date, YYYY-MM-DD")


def one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """`value` if it is one of `allowed`; None if it is empty."""
    if value and value not in allowed:
        raise InvalidRequest(f"'{name}' must be one of {', '.join(allowed)}")
    return value or None


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body; InvalidRequest if it is anything else."""
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep, a number too long
        raise InvalidRequest("request body must be JSON (UTF-8, nested at most a few hundred levels)") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body

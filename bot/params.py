"""Query-string parameters of the staff APIs, checked: a bad one is refused with InvalidRequest
naming it (and said the same way on the command line, which takes the same filters)."""

from __future__ import annotations

import re
from datetime import date

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

"""Personal data in what users write: found, and replaced by a placeholder naming its kind.

Kinds: phone numbers (Chinese mobiles and landlines, international numbers written with their
country code), e-mail addresses, Chinese resident identity card numbers (their check character
verified, GB 11643-1999, and their birth date a real date) and bank card numbers (16 to 19
digits passing the Luhn check). Order and tracking numbers, dates, prices, PUK codes, IMEIs and
corporate hotlines (400/800) are left alone: a number is personal only when its shape and its
checksum say so. `tests/bench/bench_redaction.py` measures it on a labelled set
(`tests/redaction/sentences.yml`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

PLACEHOLDERS = {"phone": "[phone]", "email": "[email]", "id_card": "[id card]", "bank_card": "[bank card]"}

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# 16 to 19 digits, plain or grouped by single spaces or hyphens.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){15,18}(?![\d])")
# A phone number is not a piece of a longer run of digit groups (a card, a reference).
_ALONE_BEFORE, _ALONE_AFTER = r"(?<![\d+])(?<!\d[ -])", r"(?!\d)(?![ -]\d{3})"
PHONES = (
    # Chinese mobile: 1[3-9]x xxxx xxxx, with +86 / 0086 in front or not
    re.compile(_ALONE_BEFORE + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _ALONE_AFTER),
    # Chinese landline with its area code: 010-12345678, (021) 6123 4567, 0755-2345678
    re.compile(_ALONE_BEFORE + r"(?:\(0\d{2,3}\)\s?|0\d{2,3}[ -])\d{3,4}[ -]?\d{4}" + _ALONE_AFTER),
    # International, written with its country code: +44 20 7946 0958, +1 (415) 555-0132
    re.compile(r"(?<![A-Za-z0-9+])\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{1,4}(?:[ -]?\d{2,4}){1,4}" + _ALONE_AFTER),
)
# A number right after one of these words is a reference the operator made, not a card.
REFERENCE_WORDS = re.compile(
    r"(?:订单|单号|流水号|发票|编号|工单|快递|运单|order|tracking|invoice|reference|ref|ticket|imei)\s*(?:号|no\.?|number|#)?\s*[:：]?\s*$",
    re.IGNORECASE,
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    text: str


def is_id_card(number: str) -> bool:
    """A Chinese resident identity card number: its check character and birth date are right."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= date.today().year


def luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find(text: str) -> list[Span]:
    """The personal data in `text`, in order; spans never overlap (the first kind found wins:
    e-mail, identity card, bank card, phone)."""
    found: list[Span] = []

    def add(kind: str, match: re.Match) -> None:
        start, end = match.span()
        if not any(start < other.end and other.start < end for other in found):
            found.append(Span(kind, start, end, match.group()))

    for match in EMAIL.finditer(text):
        add("email", match)
    for match in ID_CARD.finditer(text):
        if is_id_card(match.group()):
            add("id_card", match)
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if luhn(digits) and not REFERENCE_WORDS.search(text[: match.start()]):
            add("bank_card", match)
    for pattern in PHONES:
        for match in pattern.finditer(text):
            if 8 <= len(re.sub(r"\D", "", match.group())) <= 15:
                add("phone", match)
    return sorted(found, key=lambda span: span.start)


def redact(text: str) -> str:
    """`text` with each piece of personal data replaced by its placeholder, e.g. "[phone]"."""
    for span in reversed(find(text)):
        text = text[: span.start] + PLACEHOLDERS[span.kind] + text[span.end :]
    return text

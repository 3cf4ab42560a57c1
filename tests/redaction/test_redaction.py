"""Personal data is redacted, and order numbers, dates and prices are not: the labelled set's
figures (`tests/bench/bench_redaction.py` prints them), and the rules one at a time."""

from __future__ import annotations

import pytest

from bot.redaction import find, is_id_card, luhn, redact
from tests.redaction.labelled import KINDS, load, score


def test_the_labelled_set_is_large_and_mixed():
    entries = load()
    assert len(entries) >= 200
    assert {e["language"] for e in entries} == {"zh", "en"}
    assert {span["type"] for e in entries for span in e["pii"]} == set(KINDS)
    assert sum(1 for e in entries if not e["pii"]) >= 80


def test_recall_on_every_kind_and_nothing_redacted_that_is_not_personal():
    result = score(load())
    for kind in KINDS:
        assert result["kinds"][kind]["recall"] >= 0.99, (kind, result["kinds"][kind])
    assert result["kinds"]["all"]["precision"] >= 0.98, result["kinds"]["all"]
    assert result["wrongly_redacted"] == []


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("我的手机号是13812345678，麻烦回电", "我的手机号是[phone]，麻烦回电"),
        ("call +44 20 7946 0958 or 138-1234-5678", "call [phone] or [phone]"),
        ("邮箱是zhang.wei+bill@mail.example.cn谢谢", "邮箱是[email]谢谢"),
        ("卡号6222 0200 0000 0000 000", "卡号[bank card]"),
        ("Order 2026110312345678 on 2026-11-03, ¥199.00", "Order 2026110312345678 on 2026-11-03, ¥199.00"),
        (
            "hotline 400 820 1888, PUK 12345678, IMEI 356938035643809",
            "hotline 400 820 1888, PUK 12345678, IMEI 356938035643809",
        ),
    ],
)
def test_examples(text, redacted):
    assert redact(text) == redacted


def test_checksums():
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert is_id_card("11010519491231002X")  # the standard's own example
    assert not is_id_card("110105194912310021")  # its check character changed
    assert not is_id_card("110105194913310028")  # month 13
    assert [span.kind for span in find("身份证11010519491231002X，卡4111 1111 1111 1111")] == ["id_card", "bank_card"]

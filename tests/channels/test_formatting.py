"""Article text for Telegram: escaping, the Markdown subset, and splitting under the limit."""

from __future__ import annotations

import random

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from bot.channels.formatting import split_text, to_telegram_html
from bot.channels.telegram import callback_data, may_have_arrived, payload_from_callback
from tests.fake_telegram import visible_text


def test_text_is_escaped_and_the_markdown_subset_becomes_telegram_html():
    text = "**Pay** with `*#100#` or see [the guide](https://x.example/a?b=1&c=2)\n- one\n* two\n<b>&"
    assert to_telegram_html(text) == (
        '<b>Pay</b> with <code>*#100#</code> or see <a href="https://x.example/a?b=1&amp;c=2">the guide</a>\n'
        "• one\n• two\n&lt;b&gt;&amp;"
    )


@pytest.mark.parametrize(
    "text", ["[click](javascript:alert(1))", "**unclosed bold", "a ** b", "`", "<script>alert(1)</script>"]
)
def test_anything_else_stays_literal_text(text):
    assert visible_text(to_telegram_html(text)) == text  # valid for Telegram, shown as typed


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("aaaa bbbb **hello world**", 20, ["aaaa bbbb", "**hello world**"]),
        ("see this: [guide](https://e.x/y) ok", 25, ["see this:", "[guide](https://e.x/y) ok"]),
        ("Hello world\n" + "A" * 30 + " more", 40, ["Hello world", "A" * 30 + " more"]),
        ("first paragraph\n\nsecond one here", 20, ["first paragraph", "second one here"]),
        ("中" * 45, 20, ["中" * 20, "中" * 20, "中" * 5]),
        ("xxxxx**yyyy**zzzzzzzzzzzzzzz", 20, ["xxxxx**yyyy**zzzzzzz", "zzzzzzzz"]),
    ],
)
def test_split_at_the_best_break_and_never_inside_a_span(text, limit, pieces):
    assert split_text(text, limit) == pieces


def test_split_pieces_fit_keep_every_word_and_keep_markup_paired():
    generator = random.Random(7)
    words = ["roaming", "**bold words**", "`*#100#`", "[guide](https://x.example/g)", "套餐流量", "a", "\n", "\n\n"]
    for _ in range(300):
        text = " ".join(generator.choice(words) for _ in range(generator.randint(1, 120)))
        limit = generator.randint(30, 200)
        pieces = split_text(text, limit)
        assert all(0 < len(p) <= limit for p in pieces)
        assert " ".join(pieces).split() == text.split()
        for piece in pieces:
            html = to_telegram_html(piece)
            visible_text(html)  # raises on broken HTML
            assert html.count("<b>") == html.count("</b>") and "**" not in visible_text(html)


def test_button_data_fits_telegrams_64_bytes():
    assert callback_data({"article_id": "roaming-rates", "payload": "/choose_article{...}"}) == "a:roaming-rates"
    assert callback_data({"payload": "/request_human"}) == "/request_human"
    assert callback_data({"article_id": "x" * 63}) is None
    assert payload_from_callback("a:roaming-rates") == '/choose_article{"article_id":"roaming-rates"}'
    assert payload_from_callback("/deny") == "/deny"
    assert payload_from_callback("/restart") is None and payload_from_callback("a:") is None


def network_error(cause: Exception) -> NetworkError:
    error = TimedOut() if isinstance(cause, httpx.TimeoutException) else NetworkError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("cause", "arrived"),
    [
        (httpx.ReadTimeout("read"), True),
        (httpx.ReadError("reset"), True),
        (httpx.RemoteProtocolError("closed"), True),
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("connect"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.WriteTimeout("write"), False),
    ],
)
def test_only_a_request_sent_whole_without_an_answer_may_have_arrived(cause, arrived):
    assert may_have_arrived(network_error(cause)) is arrived

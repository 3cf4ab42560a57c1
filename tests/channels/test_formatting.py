"""Article text for Telegram: escaping, the Markdown subset, and splitting under the limit."""

from __future__ import annotations

import random
import re
from pathlib import Path

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from bot.channels.formatting import split_text, tables_as_lists, to_telegram_html
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


STORE_HOURS = """Open **every day**:

| Store | Normal days | Public holidays |
|---|:---:|---:|
| All stores | 9:00–21:00 | 10:00–18:00 |
| Flagship <b>&</b> | 9:00–22:00 | |

Ask in store."""


def test_a_table_becomes_one_list_item_per_row_with_its_headers():
    assert to_telegram_html(STORE_HOURS) == (
        "Open <b>every day</b>:\n\n"
        "• <b>All stores</b>: Normal days: 9:00–21:00; Public holidays: 10:00–18:00\n"
        "• <b>Flagship &lt;b&gt;&amp;&lt;/b&gt;</b>: Normal days: 9:00–22:00\n\n"
        "Ask in store."
    )


def test_a_chinese_table_gets_chinese_punctuation():
    table = "| 门店 | 平日 |\n|---|---|\n| 所有门店 | 9:00–21:00 |"
    assert to_telegram_html(table) == "• <b>所有门店</b>：平日：9:00–21:00"


@pytest.mark.parametrize(
    ("table", "html"),
    [
        # An escaped pipe is text in its cell; a missing cell is left out, an extra one dropped.
        ("a | b\n--|--\n`x\\|y` | 1 \\| 2\nonly\n", "• <code>x|y</code>: b: 1 | 2\nonly\n"),
        ("| a | b |\n|---|---|\n| one |\n| 1 | 2 | 3 |", "• <b>one</b>\n• <b>1</b>: b: 2"),
        ("| | note |\n|--|--|\n| | **x** |", "• note: <b>x</b>"),
        ("| only a header |\n|---|", "only a header"),
    ],
)
def test_table_rows_are_read_as_github_reads_them(table, html):
    assert to_telegram_html(table) == html


@pytest.mark.parametrize(
    "text",
    [
        "a | b\nc | d",  # no delimiter row
        "Title\n---\ntext",  # a heading underline, not a table
        "| a | b |\n|---|",  # the delimiter row has fewer cells than the header
        "Plans:\n- one | two\n- three",
    ],
)
def test_text_that_is_no_table_is_left_alone(text):
    assert tables_as_lists(text) == text


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Dial **\\*#06#**.", "Dial <b>*#06#</b>."),
        ("\\*\\*not bold\\*\\* and \\*not italic\\*", "**not bold** and *not italic*"),
        ("**a \\*\\* b**", "<b>a ** b</b>"),
        ("\\`not code\\` but `\\*code\\*`", "`not code` but <code>\\*code\\*</code>"),
        ("\\[not a link\\](https://x.example)", "[not a link](https://x.example)"),
        ("[a \\] b](https://x.example)", '<a href="https://x.example">a ] b</a>'),
        ("\\_x\\_ \\# \\| \\\\ \\<b\\> \\&", "_x_ # | \\ &lt;b&gt; &amp;"),
        ("\\- not a list\n\\* nor this", "- not a list\n* nor this"),
        ("C:\\Users\\me \\d", "C:\\Users\\me \\d"),  # only punctuation can be escaped
        ("ends with \\", "ends with \\"),
    ],
)
def test_backslash_escapes_show_the_character_and_open_no_span(text, html):
    assert to_telegram_html(text) == html
    visible_text(html)  # valid for Telegram


ARTICLES = sorted((Path(__file__).resolve().parents[2] / "knowledge_base" / "articles").glob("*/*.md"))


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_article_shows_no_markdown_markers_in_telegram(path):
    body = path.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    shown = visible_text(to_telegram_html(body))
    assert not re.search(r"\\[!-/:-@\[-`{-~]", shown)  # no escape left undone
    assert "**" not in shown
    assert not re.search(r"^\s*\|", shown, re.MULTILINE)  # no table left as pipes


def test_a_table_split_across_messages_stays_a_list_in_each():
    rows = "\n".join(f"| store {n} | 9:00–21:00 |" for n in range(40))
    pieces = split_text(f"Hours:\n\n| Store | Hours |\n|---|---|\n{rows}", 300)
    assert len(pieces) > 2
    for piece in pieces:
        shown = visible_text(to_telegram_html(piece))
        assert "|" not in shown
        assert all(line.startswith("• store ") for line in shown.splitlines()[-3:])


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

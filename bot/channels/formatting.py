"""Article text for chat channels: the small Markdown subset articles use (**bold**, `code`,
[links](https://...), "- " lists) turned into Telegram HTML, and long texts split into messages.

Everything else is text: it is escaped, never interpreted, so a user's or an author's `<script>`
reaches the chat as the characters they typed.
"""

from __future__ import annotations

import html
import re

# **bold**, `code`, [label](http(s)://url) - nothing that spans lines.
_INLINE = re.compile(
    r"\*\*(?P<bold>[^*\n]+?)\*\*|`(?P<code>[^`\n]+)`|\[(?P<label>[^\]\n]+)\]\((?P<url>https?://[^)\s]+)\)"
)
_BULLET = re.compile(r"^(\s*)[-*] ", re.MULTILINE)


def to_telegram_html(text: str) -> str:
    """Markdown-ish article text as Telegram HTML (parse_mode HTML); unmatched markers stay literal."""
    out = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()], quote=False))
        if match["bold"] is not None:
            out.append(f"<b>{html.escape(match['bold'], quote=False)}</b>")
        elif match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'], quote=False)}</code>")
        else:
            out.append(f'<a href="{html.escape(match["url"])}">{html.escape(match["label"], quote=False)}</a>')
        position = match.end()
    out.append(html.escape(text[position:], quote=False))
    return _BULLET.sub(r"\1• ", "".join(out))


def split_text(text: str, limit: int) -> list[str]:
    """Split into pieces of at most `limit` characters, at a paragraph break if there is one in
    the second half of the piece, else a line break, else a space; a single word longer than the
    limit (a URL, say) is the only thing ever cut. Inline markup never spans lines, so a piece
    cut at a line break never splits it; a piece cut at a space is cut outside any marker pair.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if separator == " ":
                at = _space_outside_markup(window)
            if at > limit // 2 or (separator == " " and at > 0):
                cut = at
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _space_outside_markup(window: str) -> int:
    """The last space in `window` that is not inside a **bold**, `code` or [link](...) span."""
    line_start = window.rfind("\n") + 1
    inside = [(m.start(), m.end()) for m in _INLINE.finditer(window, line_start)]
    for at in range(len(window) - 1, line_start - 1, -1):
        if window[at] == " " and not any(start < at < end for start, end in inside):
            return at
    return -1

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
    """Split into pieces of at most `limit` characters: at a paragraph break in the second half
    of the piece if there is one, else a line break there, else the last space or line break
    that is not inside a **bold**, `code` or [link](...) span, else just before a span that
    crosses the limit. Only a run with no break at all (a long URL, Chinese without spaces) is
    cut mid-run, and only a span longer than a whole piece loses its pairing (its markers then
    show as typed; the HTML stays valid).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut(text: str, limit: int) -> int:
    """Where to end the first piece of `text` (longer than `limit`)."""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at > limit // 2:
            return at
    spans = [(m.start(), m.end()) for m in _INLINE.finditer(text)]

    def inside_span(at: int) -> bool:
        return any(start < at < end for start, end in spans)

    for at in range(limit, 0, -1):
        if window[at] in " \n" and not inside_span(at):
            return at
    straddled = [start for start, end in spans if 0 < start < limit < end]
    if straddled:
        return min(straddled)
    # A single span longer than a whole piece: its markers cannot stay paired; keep words whole.
    spaces = [at for at in range(limit, 0, -1) if window[at] in " \n"]
    return spaces[0] if spaces else limit

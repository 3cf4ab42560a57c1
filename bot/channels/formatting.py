"""Article text for chat channels: the small Markdown subset articles use (**bold**, `code`,
[links](https://...), "- " lists, backslash escapes and pipe tables) turned into Telegram HTML,
and long texts split into messages.

Everything else is text: it is escaped, never interpreted, so a user's or an author's `<script>`
reaches the chat as the characters they typed.
"""

from __future__ import annotations

import html
import re

# Markdown's backslash escapes: any ASCII punctuation, as CommonMark has it.
_ESCAPE = r"\\(?P<escaped>[!-/:-@\[-`{-~])"
# A span's content: escaped characters count as text, so `**\*#06#**` is bold "*#06#".
_BOLD_TEXT = r"(?:\\[^\n]|[^*\\\n])+?"
_LABEL_TEXT = r"(?:\\[^\n]|[^\]\\\n])+"
# An escape, **bold**, `code` (escapes stay literal inside it, as in CommonMark) or
# [label](http(s)://url) - nothing that spans lines.
_INLINE = re.compile(
    rf"{_ESCAPE}|\*\*(?P<bold>{_BOLD_TEXT})\*\*|`(?P<code>[^`\n]+)`"
    rf"|\[(?P<label>{_LABEL_TEXT})\]\((?P<url>https?://[^)\s]+)\)"
)
_UNESCAPE = re.compile(_ESCAPE)
_BULLET = re.compile(r"(\s*)[-*] ")
# A pipe table's delimiter row: `|---|:--:|` (cells of hyphens with optional alignment colons).
_DELIMITER_ROW = re.compile(r"\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")
_PIPE = re.compile(r"(?<!\\)\|")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def to_telegram_html(text: str) -> str:
    """Markdown-ish article text as Telegram HTML (parse_mode HTML); unmatched markers stay literal."""
    return "\n".join(_line_html(line) for line in tables_as_lists(text).split("\n"))


def _line_html(line: str) -> str:
    """One line: a "- " or "* " item gets a bullet; the marker is looked for before escapes are
    undone, so an author's `\\- not a list` stays a plain line."""
    if bullet := _BULLET.match(line):
        return f"{bullet[1]}• {_inline_html(line[bullet.end() :])}"
    return _inline_html(line)


def _inline_html(text: str) -> str:
    out = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()], quote=False))
        if match["escaped"] is not None:
            out.append(html.escape(match["escaped"], quote=False))
        elif match["bold"] is not None:
            out.append(f"<b>{html.escape(unescape(match['bold']), quote=False)}</b>")
        elif match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'], quote=False)}</code>")
        else:
            label = html.escape(unescape(match["label"]), quote=False)
            out.append(f'<a href="{html.escape(match["url"])}">{label}</a>')
        position = match.end()
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


def unescape(text: str) -> str:
    """`text` with Markdown's backslash escapes undone (`\\*` is `*`; `\\d` stays as typed)."""
    return _UNESCAPE.sub(r"\g<escaped>", text)


def tables_as_lists(text: str) -> str:
    """Pipe tables (a header row, a `|---|---|` row, body rows) rewritten as "- " items, one a
    body row, since chat apps like Telegram have no tables: `- **cell 1**: header 2: cell 2;
    header 3: cell 3` (full-width punctuation for a Chinese table). The rest is left as it is."""
    lines = text.split("\n")
    out = []
    at = 0
    while at < len(lines):
        if at + 1 < len(lines) and _starts_table(lines[at], lines[at + 1]):
            header = _cells(lines[at])
            at += 2
            rows = []
            while at < len(lines) and lines[at].strip() and _PIPE.search(lines[at]):
                rows.append(_cells(lines[at]))
                at += 1
            out.extend(_row_as_item(header, row) for row in rows)
            if not rows:
                out.append(" · ".join(cell for cell in header if cell))
        else:
            out.append(lines[at])
            at += 1
    return "\n".join(out)


def _starts_table(header: str, delimiter: str) -> bool:
    """GitHub's rule: a row with a pipe, then a delimiter row with as many cells."""
    return (
        bool(_PIPE.search(header))
        and "|" in delimiter
        and _DELIMITER_ROW.fullmatch(delimiter) is not None
        and len(_cells(header)) == len(_cells(delimiter))
    )


def _cells(row: str) -> list[str]:
    """A row's cells, without the outer pipes. An escaped `\\|` is a pipe in its cell, even in a
    code span (GitHub's rule: tables are split before spans are read)."""
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(row)]


def _row_as_item(header: list[str], row: list[str]) -> str:
    """One body row as a list item: its first cell in bold, then "header: cell" for the rest."""
    row = (row + [""] * len(header))[: len(header)]
    chinese = any(_CJK.search(cell) for cell in header + row)
    colon, semicolon = ("：", "；") if chinese else (": ", "; ")
    first, rest = row[0], zip(header[1:], row[1:], strict=True)
    pairs = semicolon.join(f"{name}{colon}{cell}" if name else cell for name, cell in rest if cell)
    # Bold only plain text: `**` around a code span or a link would show their markers.
    label = f"**{first}**" if first and re.fullmatch(r"(?:\\[^\n]|[^*`\[\\\n])+", first) else first
    return "- " + colon.join(part for part in (label, pairs) if part)


def split_text(text: str, limit: int) -> list[str]:
    """Split into pieces of at most `limit` characters: at a paragraph break in the second half
    of the piece if there is one, else a line break there, else the last space or line break
    that is not inside a **bold**, `code` or [link](...) span, else just before a span that
    crosses the limit. Only a run with no break at all (a long URL, Chinese without spaces) is
    cut mid-run, and only a span longer than a whole piece loses its pairing (its markers then
    show as typed; the HTML stays valid). Tables become lists first (`tables_as_lists`), so
    every piece is Markdown that `to_telegram_html` renders whole, even one that starts in the
    middle of a table.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces = []
    rest = tables_as_lists(text).strip()
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

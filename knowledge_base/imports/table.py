"""A spreadsheet of questions: CSV or TSV with a header row.

- `question,intent`: one article per intent, its questions the intent's rows. With an `answer`
  column the answer is the body; without one the article is a draft whose body asks for it.
- `question,answer`: one article per distinct answer, the questions that share it grouped.
- `language` (optional): en or zh per row; else detected per question, an intent's rows in
  another language than the rest becoming that language's article under the same id.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.imports.base import ArticleIds, Imported, SourceError, language_code, make_article, read_text
from knowledge_base.text import detect_language


@dataclass
class Row:
    line: int
    question: str
    intent: str
    answer: str
    language: str | None


def read_csv(source: Path, *, language: str | None = None) -> Imported:
    return read_table(source, delimiter=",", language=language)


def read_tsv(source: Path, *, language: str | None = None) -> Imported:
    return read_table(source, delimiter="\t", language=language)


def read_table(source: Path, *, delimiter: str, language: str | None = None) -> Imported:
    rows, columns = _rows(source, delimiter)
    by_intent = "intent" in columns
    groups: dict[tuple[str, str], list[Row]] = {}
    intent_language = {
        intent: detect_language(" ".join(r.question for r in rows if r.intent == intent))
        for intent in dict.fromkeys(r.intent for r in rows)
    }
    for row in rows:
        row_language = language or row.language or detect_language(row.question, intent_language[row.intent])
        groups.setdefault((row.intent if by_intent else row.answer, row_language), []).append(row)

    ids, articles = ArticleIds(), []
    for (name, group_language), group in groups.items():
        answer = _answer(source, group, columns) if "answer" in columns else None
        key = name if by_intent else (name, group_language)
        article_id = ids(key, name if by_intent else group[0].question, group[0].question)
        questions = [r.question for r in group]
        intent = name if by_intent else None
        articles.append(make_article(article_id, group_language, questions, answer, source.name, intent))
    return Imported(articles)


def read_records(source: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """Every record of the file with the line it starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(read_text(source), newline=""), delimiter=delimiter, strict=True)
    found: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            found.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise SourceError(source, start, None, f"not valid {kind} ({exc}); is a quote left open?") from None
    return found


def _rows(source: Path, delimiter: str) -> tuple[list[Row], dict[str, int]]:
    """The rows with their line numbers, and the header's columns -> 1-based positions."""
    records = read_records(source, delimiter)
    if not records:
        raise SourceError(source, 1, None, "is empty; the first line must name the columns, e.g. question,intent")

    header_line, header = records[0]
    columns: dict[str, int] = {}
    for position, name in enumerate(header, 1):
        name = name.strip().lower()
        if name in columns:
            raise SourceError(source, header_line, position, f"'{name}' is named twice in the header")
        if name:
            columns[name] = position
    if "question" not in columns or not ({"intent", "answer"} & set(columns)):
        found = ", ".join(repr(c) for c in columns) or "nothing"
        raise SourceError(
            source, header_line, None, f"the header must name question and intent or answer columns (found {found})"
        )

    rows = []
    for line, record in records[1:]:
        if any(value.strip() for value in record):
            if len(record) != len(header):
                column = min(len(record), len(header)) + 1
                message = f"the header names {len(header)} columns but this row has {len(record)}"
                raise SourceError(source, line, column, message)
            rows.append(_row(source, columns, line, record))
    return rows, columns


def _row(source: Path, columns: dict[str, int], line: int, record: list[str]) -> Row:
    def value(name: str, required: bool = False) -> str:
        if name not in columns:
            return ""
        text = record[columns[name] - 1].strip()
        if required and not text:
            raise SourceError(source, line, f"{columns[name]} ({name})", "is empty")
        return text

    language = value("language")
    if language and language_code(language) is None:
        where = f"{columns['language']} (language)"
        raise SourceError(source, line, where, f"'{language}' is not a language Touchpoint answers in (en, zh)")
    return Row(
        line=line,
        question=value("question", required=True),
        intent=value("intent", required=True),
        answer=value("answer", required="intent" not in columns),
        language=language_code(language) if language else None,
    )


def _answer(source: Path, group: list[Row], columns: dict[str, int]) -> str | None:
    """The one answer the group's rows give (rows may leave it empty); two different ones are an error."""
    first = next((row for row in group if row.answer), None)
    for row in group:
        if row.answer and row.answer != first.answer:
            raise SourceError(
                source,
                row.line,
                f"{columns['answer']} (answer)",
                f"intent '{row.intent}' already has a different answer on line {first.line}",
            )
    return first.answer if first else None

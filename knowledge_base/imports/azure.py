"""An Azure QnA Maker or Language Studio (custom question answering) export: one article per QnA.

- TSV (QnA Maker's "Export QnAs"): `Question	Answer	Source	Metadata	...	QnaId`, one row per
  question, a QnA's alternate questions on rows of their own; rows are grouped by `QnaId`, or
  by answer when there is no such column.
- JSON: QnA Maker's download (`{"qnaDocuments": [...]}`) or create body (`qnaList`), or a
  Language Studio project export (`{"assets": {"qnas": [...]}}`), each QnA with `questions`
  and `answer`; the project's `metadata.language` is the articles' language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from knowledge_base.imports.base import ArticleIds, Imported, SourceError, language_code, make_article, read_text
from knowledge_base.imports.table import read_records
from knowledge_base.text import detect_language


@dataclass
class Qna:
    id: str | None
    answer: str
    questions: list[str] = field(default_factory=list)


def read_azure(source: Path, *, language: str | None = None) -> Imported:
    if source.suffix.lower() == ".json":
        qnas, project_language = _json_qnas(source)
    else:
        qnas, project_language = _tsv_qnas(source), None
    language = language or project_language
    ids, articles = ArticleIds(), []
    for qna in qnas:
        qna_language = language or detect_language(" ".join(qna.questions))
        article_id = ids(qna.id or qna.answer, qna.questions[0])
        articles.append(make_article(article_id, qna_language, qna.questions, qna.answer, source.name))
    return Imported(articles)


def _tsv_qnas(source: Path) -> list[Qna]:
    records = read_records(source, "\t")
    header = [name.strip().lower().replace(" ", "") for name in records[0][1]] if records else []
    if "question" not in header or "answer" not in header:
        raise SourceError(source, 1, None, "expected QnA Maker's header: Question, Answer, Source, Metadata, ...")
    columns = {name: position for position, name in enumerate(header)}
    qnas: dict[str, Qna] = {}
    for line, record in records[1:]:
        if not any(value.strip() for value in record):
            continue
        if len(record) < len(header):
            message = f"the header names {len(header)} columns but this row has {len(record)}"
            raise SourceError(source, line, len(record) + 1, message)
        question, answer = record[columns["question"]].strip(), _unescape(record[columns["answer"]].strip())
        if not question:
            raise SourceError(source, line, f"{columns['question'] + 1} (Question)", "is empty")
        qna_id = record[columns["qnaid"]].strip() if "qnaid" in columns else ""
        qna = qnas.setdefault(qna_id or answer, Qna(qna_id or None, answer))
        if answer != qna.answer:
            where = f"{columns['answer'] + 1} (Answer)"
            raise SourceError(source, line, where, f"QnA {qna_id} has a different answer on an earlier line")
        qna.questions.append(question)
    return list(qnas.values())


def _unescape(answer: str) -> str:
    """QnA Maker writes an answer's line breaks as the two characters '\\n'."""
    return answer.replace("\\n", "\n") if "\n" not in answer else answer


def _json_qnas(source: Path) -> tuple[list[Qna], str | None]:
    try:
        document = json.loads(read_text(source))
    except json.JSONDecodeError as exc:
        raise SourceError(source, exc.lineno, exc.colno, f"not valid JSON ({exc.msg})") from None
    document = document if isinstance(document, dict) else {}
    items = document.get("qnaDocuments") or document.get("qnaList") or (document.get("assets") or {}).get("qnas")
    if not isinstance(items, list):
        raise SourceError(source, None, None, "expected 'qnaDocuments', 'qnaList' or 'assets.qnas': a list of QnAs")
    qnas = []
    for number, item in enumerate(items, 1):
        questions = item.get("questions") if isinstance(item, dict) else None
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise SourceError(source, None, None, f"QnA number {number}: 'questions' must be a list of texts")
        answer = item.get("answer")
        asked = [q for q in questions if q.strip()]
        if asked:  # QnA Maker keeps QnAs whose questions were all deleted; nobody can ask them
            qnas.append(Qna(str(number), answer if isinstance(answer, str) else "", asked))
    language = (document.get("metadata") or {}).get("language")
    return qnas, language_code(language) if isinstance(language, str) else None

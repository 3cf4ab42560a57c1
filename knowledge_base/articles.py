"""Knowledge-base articles: one Markdown file per article and language, with YAML front matter.

A file looks like::

    ---
    id: roaming-activate
    language: en
    title: Turn on international roaming
    questions:
      - How do I activate roaming before I travel?
    tags: [roaming]
    status: published
    ---
    The answer, in Markdown.

`load_articles` rejects a bad file with an `ArticleError` naming the file, the line and the
field, so a curator can fix it without guessing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LANGUAGES = ("en", "zh")
STATUSES = ("published", "draft", "archived")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FIELDS = ("id", "language", "title", "questions", "tags", "status")
REQUIRED = ("id", "language", "title", "questions", "status")


class ArticleError(ValueError):
    """A malformed article file: says where (file, line) and what (field)."""

    def __init__(self, path: Path | str, line: int, field: str | None, message: str):
        self.path = Path(path)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass(frozen=True)
class Article:
    id: str
    language: str
    title: str
    questions: tuple[str, ...]
    body: str
    tags: tuple[str, ...] = ()
    status: str = "published"
    path: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.language)


def parse_article(text: str, path: Path | str = "<string>") -> Article:
    """Parse one article file's text; raise `ArticleError` on any problem."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleError(path, 1, None, "must start with a '---' line opening the front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ArticleError(path, 1, None, "front matter is not closed by a '---' line") from None

    front_text = "\n".join(lines[1:end])
    try:
        node = yaml.compose(front_text, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(front_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise ArticleError(path, line, None, f"front matter is not valid YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise ArticleError(path, 2, None, "front matter must be a mapping of fields")

    def line_of(name: str, item: int | None = None) -> int:
        for key, value in node.value:
            if key.value == name:
                if item is not None and isinstance(value, yaml.SequenceNode) and item < len(value.value):
                    value = value.value[item]
                return value.start_mark.line + 2  # +1 for 1-based, +1 for the opening '---'
        return 1

    def fail(name: str, message: str, item: int | None = None) -> ArticleError:
        return ArticleError(path, line_of(name, item), name, message)

    for name in meta:
        if name not in FIELDS:
            raise fail(name, f"unknown field; expected one of {', '.join(FIELDS)}")
    for name in REQUIRED:
        if name not in meta:
            raise ArticleError(path, 1, name, "missing required field")
    problems = field_problems(meta)
    if problems:
        problem = problems[0]
        raise fail(problem.field, problem.message, problem.item)
    article_id = meta["id"]
    if isinstance(path, Path) and path.suffix == ".md" and path.stem != article_id:
        raise fail("id", f"does not match the file name '{path.name}'")

    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise ArticleError(path, end + 2, "body", "the answer after the front matter is empty")

    return Article(
        id=article_id,
        language=meta["language"],
        title=meta["title"].strip(),
        questions=tuple(q.strip() for q in meta["questions"]),
        body=body,
        tags=tuple(t.strip() for t in meta.get("tags") or []),
        status=meta["status"],
        path=Path(path) if isinstance(path, Path) else None,
    )


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    item: int | None = None  # which question, for a list field


def article_from_fields(fields: dict, status: str) -> Article:
    """The article that `fields` (checked by `field_problems`) describe, its texts trimmed."""
    return Article(
        id=fields["id"],
        language=fields["language"],
        title=fields["title"].strip(),
        questions=tuple(q.strip() for q in fields["questions"]),
        body=fields["body"].strip(),
        tags=tuple(t.strip() for t in fields.get("tags") or ()),
        status=status,
    )


def field_problems(fields: dict) -> list[FieldProblem]:
    """What is wrong with an article's fields (the front matter's, or a form's with "body"):
    the checks of `touchpoint validate`, for every save whatever its source."""
    problems = []
    article_id = fields.get("id")
    if not isinstance(article_id, str) or not ID_PATTERN.match(article_id):
        problems.append(
            FieldProblem("id", "must be lowercase letters, digits and single hyphens, e.g. 'roaming-activate'")
        )
    if fields.get("language") not in LANGUAGES:
        problems.append(FieldProblem("language", f"must be one of {', '.join(LANGUAGES)}"))
    title = fields.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(FieldProblem("title", "must be a non-empty string"))
    questions = fields.get("questions")
    if not isinstance(questions, list | tuple) or not questions:
        problems.append(FieldProblem("questions", "must be a non-empty list of questions"))
    else:
        for number, question in enumerate(questions):
            if not isinstance(question, str) or not question.strip():
                problems.append(
                    FieldProblem("questions", f"every question must be a non-empty string, got {question!r}", number)
                )
                break
    tags = fields.get("tags") or []
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append(FieldProblem("tags", "must be a list of non-empty strings"))
    if fields.get("status") not in STATUSES:
        problems.append(FieldProblem("status", f"must be one of {', '.join(STATUSES)}"))
    if "body" in fields and (not isinstance(fields["body"], str) or not fields["body"].strip()):
        problems.append(FieldProblem("body", "the answer is empty"))
    return problems


def render_article(article: Article) -> str:
    """The file text of `article`, as `parse_article` reads it back."""
    front = {
        "id": article.id,
        "language": article.language,
        "title": article.title,
        "questions": list(article.questions),
        "tags": list(article.tags),
        "status": article.status,
    }
    yaml_text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{yaml_text}---\n{article.body}\n"


def write_article(directory: Path | str, article: Article) -> Path:
    """Save `article` as `directory/<language>/<id>.md`."""
    path = Path(directory) / article.language / f"{article.id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_article(article), encoding="utf-8")
    return path


def article_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*.md") if p.name.lower() != "readme.md")


def read_article_files(directory: Path | str) -> list[tuple[Article, str]]:
    """Every article under `directory` (recursively), whatever its status, with its file's text;
    fail on the first bad file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"knowledge base folder {directory} does not exist")
    read: list[tuple[Article, str]] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in article_files(directory):
        try:
            text = path.read_text(encoding="utf-8-sig")  # editors on Windows may add a byte-order mark
        except UnicodeDecodeError:
            raise ArticleError(path, 1, None, "is not UTF-8 text") from None
        article = parse_article(text, path)
        if path.parent.name in LANGUAGES and path.parent.name != article.language:
            raise ArticleError(
                path, 1, "language", f"is {article.language!r} but the file is in the {path.parent.name!r} folder"
            )
        if article.key in seen:
            raise ArticleError(
                path, 1, "id", f"'{article.id}' ({article.language}) is already defined in {seen[article.key]}"
            )
        seen[article.key] = path
        read.append((article, path.read_bytes().decode("utf-8")))
    return read


def load_articles(directory: Path | str, *, include_unpublished: bool = False) -> list[Article]:
    """Load every article under `directory` (recursively); fail on the first bad file."""
    return [
        article for article, _ in read_article_files(directory) if include_unpublished or article.status == "published"
    ]


def articles_hash(articles: list[Article]) -> str:
    """A hash of what the index is built from: changes whenever an article's content does."""
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.key):
        for part in (article.id, article.language, article.title, *article.questions, article.body, *article.tags):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(b"\1")
    return digest.hexdigest()


def content_hash(directory: Path | str) -> str:
    """A hash of every article file's name and bytes: changes whenever the knowledge base does."""
    digest = hashlib.sha256()
    directory = Path(directory)
    for path in article_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()

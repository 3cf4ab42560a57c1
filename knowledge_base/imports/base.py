"""What every importer shares: where an error is, article ids, drafts, and writing the folder."""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from knowledge_base.articles import LANGUAGES, Article, write_article

ID_LENGTH = 60

# A draft's body until a curator writes the answer; `status: draft` keeps it from ever being answered.
DRAFT_BODY = {
    "en": (
        "**Answer needed.** This article was imported from {origin} without an answer. Write the answer here, "
        "then publish the article: until then it is a draft and the bot never answers with it."
    ),
    "zh": (
        "**待写答案。** 本文章从 {origin} 导入，没有答案。"
        "请在这里写好答案后发布：发布之前它是草稿，机器人不会用它回答。"
    ),
}
ORIGIN = {"en": "`{file}` (intent `{intent}`)", "zh": "`{file}`（意图 `{intent}`）"}


class SourceError(ValueError):
    """Input that cannot be imported: says where (file, line, column) and what is wrong."""

    def __init__(self, path: Path | str, line: int | None, column: int | str | None, message: str):
        self.path, self.line, self.column, self.message = Path(path), line, column, message
        where = str(path) + (f":{line}" if line else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass
class Imported:
    articles: list[Article] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out, and why

    @property
    def drafts(self) -> list[Article]:
        return [a for a in self.articles if a.status == "draft"]


def read_text(path: Path | str, data: bytes | None = None) -> str:
    """The file's text (a byte-order mark dropped); bytes that are not UTF-8 are an error at their place."""
    data = Path(path).read_bytes() if data is None else data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise SourceError(path, line, column, "is not UTF-8 text; save it as UTF-8 (Excel: 'CSV UTF-8')") from None


def language_code(value: str) -> str | None:
    """'en', 'EN-us', 'zh_CN', 'zh-Hans' -> 'en' / 'zh'; None for a language Touchpoint does not answer in."""
    code = re.split(r"[-_]", value.strip().lower())[0]
    return code if code in LANGUAGES else None


def slugify(text: str) -> str:
    """'Opening hours?' -> 'opening-hours', 'faq/ask_café' -> 'faq-ask-cafe'; '' when nothing is Latin."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > ID_LENGTH:
        slug = slug[:ID_LENGTH].rsplit("-", 1)[0] if "-" in slug[:ID_LENGTH] else slug[:ID_LENGTH]
    return slug


class ArticleIds:
    """Unique article ids: the slug of the first name that has one, then '-2', '-3' on a clash.

    A key (an intent, a QnA id) keeps its id, so an intent's English and Chinese articles share
    it as translations do. Names with no Latin letters at all get 'faq-1', 'faq-2', ...
    """

    def __init__(self):
        self._ids: dict[object, str] = {}
        self._numbered = 0

    def __call__(self, key: object, *names: str) -> str:
        if key in self._ids:
            return self._ids[key]
        base = next((slug for slug in map(slugify, names) if slug), None)
        if base is None:
            self._numbered += 1
            base = f"faq-{self._numbered}"
        candidate, number = base, 2
        while candidate in self._ids.values():
            candidate, number = f"{base}-{number}", number + 1
        self._ids[key] = candidate
        return candidate


def clean_question(text: str) -> str:
    return " ".join(text.split())


def make_article(
    article_id: str, language: str, questions: list[str], answer: str | None, file: str, intent: str | None = None
) -> Article:
    """An article titled by its first question: published with `answer`, a draft without one that
    says where it came from (`file`, and the `intent` if any)."""
    questions = list(dict.fromkeys(q for q in map(clean_question, questions) if q))
    answer = (answer or "").replace("\r\n", "\n").strip()
    return Article(
        id=article_id,
        language=language,
        title=questions[0],
        questions=tuple(questions),
        body=answer or DRAFT_BODY[language].format(origin=_origin(language, file, intent)),
        status="published" if answer else "draft",
    )


def _origin(language: str, file: str, intent: str | None) -> str:
    return ORIGIN[language].format(file=file, intent=intent) if intent else f"`{file}`"


def write_articles(imported: Imported, out: Path | str, *, replace: bool = False) -> Path:
    """Write `OUT/articles/<language>/<id>.md`; a folder that has files is only replaced when asked,
    since a curator may have written answers into it."""
    folder = Path(out) / "articles"
    if folder.exists() and any(folder.iterdir()):
        if not replace:
            raise FileExistsError(f"{folder} is not empty; convert into a new folder or pass --force to replace it")
        shutil.rmtree(folder)
    for article in imported.articles:
        write_article(folder, article)
    return folder

"""The knowledge base in the database: articles, every revision of them, and publications.

An article (one id in one language) is a row pointing at two of its revisions: `head`, the newest
saved, and `live`, the one users are answered with. Saving a draft adds a revision and leaves the
live one serving; publishing makes the head live; unpublishing and archiving take it off the air.
Every change to what users are answered with adds a publication, and the newest publication's id
is the knowledge base's version, which every action server watches (`actions/live.py`).

Two curators saving the same article: each save names the revision it was based on, and a save
based on anything but the head is refused with a `Conflict` carrying the head, so the curator sees
what changed and loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import is_payload
from bot.store.models import (
    ArticleRevision,
    Conversation,
    Feedback,
    Handoff,
    IndexStatus,
    Message,
    Publication,
    ReviewLabel,
    StoredArticle,
    SuggestionDecision,
    User,
    aware,
    utcnow,
)
from knowledge_base.articles import (
    LANGUAGES,
    STATUSES,
    Article,
    ArticleError,
    FieldProblem,
    article_from_fields,
    field_problems,
    parse_article,
    read_article_files,
    render_article,
)

USAGE_DAYS = 30  # "answered in the last 30 days" on the articles page


class ArticleNotFound(LookupError):
    pass


class InvalidArticle(ValueError):
    """A save that `touchpoint validate` would reject: every problem, by field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


class Conflict(Exception):
    """The article changed since the revision the save was based on."""

    def __init__(self, head: Revision):
        self.head = head
        super().__init__(f"the article was saved by {head.author} as revision {head.number} meanwhile")


@dataclass(frozen=True)
class Revision:
    article_id: str
    language: str
    number: int
    title: str
    questions: tuple[str, ...]
    body: str
    tags: tuple[str, ...]
    action: str
    author: str  # the author's name, or "command line"
    created_at: datetime

    def article(self, status: str) -> Article:
        return Article(self.article_id, self.language, self.title, self.questions, self.body, self.tags, status)

    def content(self) -> dict:
        return {"title": self.title, "questions": list(self.questions), "body": self.body, "tags": list(self.tags)}


@dataclass(frozen=True)
class ArticleState:
    """An article in one language as the editor shows it."""

    id: str
    language: str
    status: str
    head: Revision
    live: int | None
    updated_at: datetime

    @property
    def has_unpublished_changes(self) -> bool:
        return self.status == "published" and self.live != self.head.number


@dataclass(frozen=True)
class ArticleSummary:
    id: str
    language: str
    title: str
    status: str
    live: int | None
    head: int
    tags: tuple[str, ...]
    updated_at: datetime
    updated_by: str | None
    translated: bool  # has a version in the other language
    answered: int  # times the bot answered with it in the last USAGE_DAYS
    helpful: int
    not_helpful: int

    @property
    def helpful_rate(self) -> float | None:
        rated = self.helpful + self.not_helpful
        return self.helpful / rated if rated else None


@dataclass(frozen=True)
class ImportReport:
    added: int
    changed: int
    unchanged: int
    version: int


@dataclass(frozen=True)
class ArticleFilter:
    text: str = ""
    language: str | None = None
    status: str | None = None
    tag: str | None = None
    untranslated: bool = False  # no version in the other language
    edited_by: str | None = None  # a username
    not_helpful: bool = False  # rated not helpful at least once


def check(fields: dict) -> None:
    problems = field_problems(fields)
    if problems:
        raise InvalidArticle(problems)


class Library:
    def __init__(self, sessions):
        self._sessions = sessions

    # --- what the bot answers with --------------------------------------------------------

    async def version(self) -> int:
        """The knowledge base's version: the newest publication's id (0 before any)."""
        async with self._sessions() as session:
            return await _version(session)

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(StoredArticle)) or 0)

    async def live_articles(self) -> tuple[int, list[Article]]:
        """The knowledge base's version and its published articles. The version is read first: a
        publication committed in between makes the articles newer than the version, never older,
        so a reader that rebuilds whenever the version moves never misses a publication."""
        async with self._sessions() as session, session.begin():
            version = await _version(session)
            rows = await session.execute(  # plain columns: 10,000 articles in a fraction of the ORM's time
                select(
                    ArticleRevision.article_id,
                    ArticleRevision.language,
                    ArticleRevision.title,
                    ArticleRevision.questions,
                    ArticleRevision.body,
                    ArticleRevision.tags,
                )
                .join(StoredArticle, _revision_at(StoredArticle.live))
                .where(StoredArticle.status == "published")
                .order_by(ArticleRevision.language, ArticleRevision.article_id)
            )
            return version, [
                Article(article_id, language, title, tuple(questions), body, tuple(tags or ()), "published")
                for article_id, language, title, questions, body, tags in rows
            ]

    # --- import and export ----------------------------------------------------------------

    async def seed(self, folder) -> ImportReport | None:
        """Import `folder` (the demo knowledge base by default) into a database without articles;
        None if it has some. Two processes seeding at once: one imports, the other finds it done."""
        if await self.count():
            return None
        files = read_article_files(folder)
        try:
            return await self.import_articles(files)
        except IntegrityError:
            return None

    async def import_articles(self, files: Iterable[tuple[Article, str]], author_id: int | None = None) -> ImportReport:
        """Import parsed files (article, file text) in one transaction: a new revision for each
        new or changed article, its status as the file says. All or nothing."""
        added = changed = unchanged = 0
        async with self._sessions() as session, session.begin():
            now = utcnow()
            # Every article and its newest revision in one query (10,000 articles import in seconds).
            current = {
                (row.id, row.language): (row, head)
                for row, head in await session.execute(
                    select(StoredArticle, ArticleRevision)
                    .join(ArticleRevision, _revision_at(StoredArticle.head))
                    .with_for_update(of=StoredArticle)
                )
            }
            for article, source in files:
                row, head = current.get(article.key, (None, None))
                content = _content_of(article)
                same_text = head is not None and _content(head) == content and head.source == source
                if same_text and row.status == article.status:
                    unchanged += 1
                    continue
                if row is None:
                    row = StoredArticle(id=article.id, language=article.language, head=0)
                    session.add(row)
                    added += 1
                else:
                    changed += 1
                if not same_text:
                    _add_revision(session, row, content, "import", author_id, now, source)
                row.status = article.status
                row.live = row.head if article.status == "published" else None
                row.updated_at, row.updated_by = now, author_id
            publication = None
            if added or changed:
                publication = Publication(action="import", author_id=author_id, created_at=now)
                session.add(publication)
                await session.flush()
            version = publication.id if publication else await _version(session)
        return ImportReport(added, changed, unchanged, version)

    async def export_articles(self) -> list[tuple[Article, str]]:
        """Every article with the text of its file: the live revision of a published article
        (what users read), else the newest. An imported revision gives back its file's bytes."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(StoredArticle, ArticleRevision)
                .join(
                    ArticleRevision,
                    _revision_at(func.coalesce(StoredArticle.live, StoredArticle.head)),
                )
                .order_by(StoredArticle.language, StoredArticle.id)
            )
            exported = []
            for row, revision in rows:
                article = _revision(revision, "").article(row.status)
                text = revision.source if revision.source and _status_of(revision.source) == row.status else None
                exported.append((article, text or render_article(article)))
            return exported

    # --- the curation pages ---------------------------------------------------------------

    async def articles(self, query: ArticleFilter = ArticleFilter(), limit: int = 500) -> list[ArticleSummary]:
        since = utcnow() - timedelta(days=USAGE_DAYS)
        answered = (
            select(Message.article_id, Conversation.language, func.count(Message.id).label("n"))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.role == "bot", Message.article_id.is_not(None), Message.created_at >= since)
            .group_by(Message.article_id, Conversation.language)
            .subquery()
        )
        rated = (
            select(
                Feedback.article_id,
                Conversation.language,
                func.sum(case((Feedback.helpful.is_(True), 1), else_=0)).label("yes"),
                func.sum(case((Feedback.helpful.is_(False), 1), else_=0)).label("no"),
            )
            .join(Conversation, Conversation.id == Feedback.conversation_id)
            .where(Feedback.created_at >= since)
            .group_by(Feedback.article_id, Conversation.language)
            .subquery()
        )
        twin = StoredArticle.__table__.alias("twin")
        editor = User.__table__.alias("editor")
        statement = (
            select(
                StoredArticle,
                ArticleRevision.title,
                ArticleRevision.tags,
                editor.c.name,
                twin.c.id.is_not(None).label("translated"),
                func.coalesce(answered.c.n, 0),
                func.coalesce(rated.c.yes, 0),
                func.coalesce(rated.c.no, 0),
            )
            .join(
                ArticleRevision,
                _revision_at(StoredArticle.head),
            )
            .outerjoin(editor, editor.c.id == StoredArticle.updated_by)
            .outerjoin(twin, and_(twin.c.id == StoredArticle.id, twin.c.language != StoredArticle.language))
            .outerjoin(
                answered,
                and_(answered.c.article_id == StoredArticle.id, answered.c.language == StoredArticle.language),
            )
            .outerjoin(rated, and_(rated.c.article_id == StoredArticle.id, rated.c.language == StoredArticle.language))
        )
        if not query.tag:  # tags are matched below, in Python (JSON lists): limit after them
            statement = statement.limit(limit)
        order = [StoredArticle.id, StoredArticle.language]
        if query.language:
            statement = statement.where(StoredArticle.language == query.language)
        if query.status:
            statement = statement.where(StoredArticle.status == query.status)
        if query.untranslated:
            statement = statement.where(twin.c.id.is_(None))
        if query.not_helpful:
            statement = statement.where(func.coalesce(rated.c.no, 0) > 0)
        if query.edited_by:
            edits = (
                select(ArticleRevision.id)
                .join(User, User.id == ArticleRevision.author_id)
                .where(
                    ArticleRevision.article_id == StoredArticle.id,
                    ArticleRevision.language == StoredArticle.language,
                    User.username == query.edited_by,
                )
            )
            statement = statement.where(edits.exists())
        if query.text:
            pattern = f"%{query.text}%"
            order = [case((ArticleRevision.title.ilike(pattern), 0), else_=1), *order]  # title matches first
            statement = statement.where(
                or_(
                    StoredArticle.id.ilike(pattern),
                    ArticleRevision.title.ilike(pattern),
                    ArticleRevision.body.ilike(pattern),
                    cast(ArticleRevision.questions, Text).ilike(pattern),
                )
            )
        async with self._sessions() as session:
            rows = list(await session.execute(statement.order_by(*order)))
        summaries = []
        for row, title, tags, editor_name, translated, used, yes, no in rows:
            if query.tag and query.tag not in (tags or []):
                continue
            summaries.append(
                ArticleSummary(
                    id=row.id,
                    language=row.language,
                    title=title,
                    status=row.status,
                    live=row.live,
                    head=row.head,
                    tags=tuple(tags or ()),
                    updated_at=row.updated_at,
                    updated_by=editor_name,
                    translated=bool(translated),
                    answered=int(used),
                    helpful=int(yes),
                    not_helpful=int(no),
                )
            )
        return summaries[:limit]

    async def tags(self) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ArticleRevision.tags).join(
                    StoredArticle,
                    _revision_at(StoredArticle.head),
                )
            )
            return sorted({tag for tags in rows for tag in tags or ()})

    async def article(self, article_id: str, language: str) -> ArticleState:
        async with self._sessions() as session:
            row = await session.get(StoredArticle, (article_id, language))
            if row is None:
                raise ArticleNotFound(f"no article {article_id!r} in {language!r}")
            head = await _head(session, row)
            return ArticleState(row.id, row.language, row.status, await _named(session, head), row.live, row.updated_at)

    async def save(self, fields: dict, *, base: int | None, author_id: int | None, action: str = "save") -> int:
        """Save `fields` (id, language, title, questions, body, tags) as a new revision, based
        on revision `base` (None: a new article). Returns the new revision's number."""
        fields = {**fields, "status": "draft"}
        check(fields)
        content = _content_of(article_from_fields(fields, "draft"))
        async with self._sessions() as session, session.begin():
            row = await session.get(StoredArticle, (fields["id"], fields["language"]), with_for_update=True)
            if row is None and base is not None:
                raise ArticleNotFound(f"no article {fields['id']!r} in {fields['language']!r}")
            if row is not None and row.head != base:
                raise Conflict(await _named(session, await _head(session, row)))
            if row is not None and _content(await _head(session, row)) == content:
                return row.head  # nothing changed: no new revision
            now = utcnow()
            if row is None:
                row = StoredArticle(id=fields["id"], language=fields["language"], status="draft", head=0)
                session.add(row)
            row.updated_at, row.updated_by = now, author_id
            _add_revision(session, row, content, action, author_id, now)
            try:
                await session.flush()
            except IntegrityError:  # another save took this number between our read and write
                await session.rollback()
                raise Conflict((await self.article(fields["id"], fields["language"])).head) from None
            return row.head

    async def publish(
        self, article_id: str, language: str, *, author_id: int | None, revision: int | None = None
    ) -> int:
        """Make `revision` (default: the newest) what users are answered with; returns the
        knowledge base's new version."""
        return await self._publish(article_id, language, "publish", author_id, revision)

    async def unpublish(self, article_id: str, language: str, *, author_id: int | None) -> int:
        return await self._publish(article_id, language, "unpublish", author_id)

    async def archive(self, article_id: str, language: str, *, author_id: int | None) -> int:
        return await self._publish(article_id, language, "archive", author_id)

    async def restore(self, article_id: str, language: str, number: int, *, author_id: int | None) -> tuple[int, int]:
        """Save revision `number`'s content as the newest revision and publish it; returns the
        new revision's number and the knowledge base's new version."""
        old = await self.revision(article_id, language, number)
        state = await self.article(article_id, language)
        fields = {"id": article_id, "language": language, **old.content()}
        new = await self.save(fields, base=state.head.number, author_id=author_id, action="restore")
        return new, await self.publish(article_id, language, author_id=author_id, revision=new)

    async def add_question(
        self, article_id: str, language: str, question: str, *, author_id: int | None
    ) -> tuple[int | None, int]:
        """Add `question` as an alternate question (a suggestion accepted): published at once
        into what users read, and kept in a pending draft too, so that neither is lost and no
        unreviewed draft goes live. An article that is not published gets it in its draft only.
        Returns the knowledge base's new version (None if nothing was published) and the head."""
        state = await self.article(article_id, language)

        def with_question(revision: Revision) -> dict:
            questions = list(revision.questions)
            if question not in questions:
                questions.append(question)
            return {"id": article_id, "language": language, **revision.content(), "questions": questions}

        head = state.head.number
        if state.status != "published":
            head = await self.save(with_question(state.head), base=head, author_id=author_id, action="suggestion")
            return None, head
        draft = state.head if state.has_unpublished_changes else None
        live = await self.revision(article_id, language, state.live)
        head = await self.save(with_question(live), base=head, author_id=author_id, action="suggestion")
        version = await self.publish(article_id, language, author_id=author_id, revision=head)
        if draft is not None:  # the curator's draft, the question added, stays the newest revision
            head = await self.save(with_question(draft), base=head, author_id=author_id, action="suggestion")
        return version, head

    async def _publish(
        self, article_id: str, language: str, action: str, author_id: int | None, revision: int | None = None
    ) -> int:
        async with self._sessions() as session, session.begin():
            row = await session.get(StoredArticle, (article_id, language), with_for_update=True)
            if row is None:
                raise ArticleNotFound(f"no article {article_id!r} in {language!r}")
            if action == "publish":
                number = revision or row.head
                if not 1 <= number <= row.head:
                    raise ArticleNotFound(f"{article_id!r} ({language}) has no revision {number}")
                row.status, row.live = "published", number
            else:
                row.status, row.live, number = ("draft" if action == "unpublish" else "archived"), None, None
            now = utcnow()
            row.updated_at, row.updated_by = now, author_id
            publication = Publication(
                article_id=article_id,
                language=language,
                action=action,
                revision=number,
                author_id=author_id,
                created_at=now,
            )
            session.add(publication)
            await session.flush()
            return publication.id

    # --- history --------------------------------------------------------------------------

    async def revisions(self, article_id: str, language: str) -> list[Revision]:
        """Every revision, newest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(ArticleRevision, User.name)
                .outerjoin(User, User.id == ArticleRevision.author_id)
                .where(ArticleRevision.article_id == article_id, ArticleRevision.language == language)
                .order_by(ArticleRevision.number.desc())
            )
            return [_revision(revision, name) for revision, name in rows]

    async def revision(self, article_id: str, language: str, number: int) -> Revision:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ArticleRevision, User.name)
                    .outerjoin(User, User.id == ArticleRevision.author_id)
                    .where(
                        ArticleRevision.article_id == article_id,
                        ArticleRevision.language == language,
                        ArticleRevision.number == number,
                    )
                )
            ).first()
            if row is None:
                raise ArticleNotFound(f"{article_id!r} ({language}) has no revision {number}")
            return _revision(*row)

    async def publications(self, article_id: str, language: str) -> list[tuple[Publication, str]]:
        """Publishes, unpublishes and archivings of the article, newest first, with who did them."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Publication, User.name)
                .outerjoin(User, User.id == Publication.author_id)
                .where(Publication.article_id == article_id, Publication.language == language)
                .order_by(Publication.id.desc())
            )
            return [(publication, name or "command line") for publication, name in rows]

    # --- what the action servers serve ----------------------------------------------------

    async def report_index(
        self,
        worker: str,
        *,
        version: int,
        articles: int,
        build_seconds: float | None = None,
        failed_version: int | None = None,
        error: str | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(IndexStatus, worker)
            if row is None:
                row = IndexStatus(worker=worker)
                session.add(row)
            row.version, row.articles, row.updated_at = version, articles, utcnow()
            row.failed_version, row.error = failed_version, error
            if build_seconds is not None:
                row.build_seconds = build_seconds

    async def index_status(self, within: timedelta = timedelta(minutes=2)) -> list[IndexStatus]:
        """The action servers that reported within `within`, i.e. that are running."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(IndexStatus).where(IndexStatus.updated_at >= utcnow() - within).order_by(IndexStatus.worker)
            )
            return list(rows)


def _revision_at(number) -> ColumnElement[bool]:
    """Joins an article to its revision `number` (a column of the article: head or live)."""
    return and_(
        ArticleRevision.article_id == StoredArticle.id,
        ArticleRevision.language == StoredArticle.language,
        ArticleRevision.number == number,
    )


async def _head(session: AsyncSession, row: StoredArticle) -> ArticleRevision:
    return await session.scalar(
        select(ArticleRevision).where(
            ArticleRevision.article_id == row.id,
            ArticleRevision.language == row.language,
            ArticleRevision.number == row.head,
        )
    )


async def _named(session: AsyncSession, revision: ArticleRevision) -> Revision:
    author = await session.get(User, revision.author_id) if revision.author_id else None
    return _revision(revision, author.name if author else None)


def _revision(row: ArticleRevision, author: str | None) -> Revision:
    return Revision(
        article_id=row.article_id,
        language=row.language,
        number=row.number,
        title=row.title,
        questions=tuple(row.questions),
        body=row.body,
        tags=tuple(row.tags or ()),
        action=row.action,
        author=author or "command line",
        created_at=row.created_at,
    )


async def _version(session: AsyncSession) -> int:
    """The knowledge base's version: the newest publication's id (0 before any)."""
    return int(await session.scalar(select(func.max(Publication.id))) or 0)


def _content_of(article: Article) -> dict:
    """The part of an article a revision keeps (its id, language and status are the article's)."""
    return {
        "title": article.title,
        "questions": list(article.questions),
        "body": article.body,
        "tags": list(article.tags),
    }


def _add_revision(
    session: AsyncSession,
    row: StoredArticle,
    content: dict,
    action: str,
    author_id: int | None,
    now: datetime,
    source: str | None = None,
) -> None:
    """The article's next revision, which becomes its head."""
    row.head += 1
    session.add(
        ArticleRevision(
            article_id=row.id,
            language=row.language,
            number=row.head,
            author_id=author_id,
            action=action,
            source=source,
            created_at=now,
            **content,
        )
    )


def _content(row: ArticleRevision) -> dict:
    return {"title": row.title, "questions": list(row.questions), "body": row.body, "tags": list(row.tags or ())}


def _status_of(source: str) -> str | None:
    try:
        return parse_article(source).status
    except ArticleError:
        return None


__all__ = [
    "LANGUAGES",
    "STATUSES",
    "ArticleFilter",
    "ArticleNotFound",
    "ArticleState",
    "ArticleSummary",
    "Conflict",
    "ImportReport",
    "InvalidArticle",
    "Library",
    "Revision",
]


# --- the suggestions inbox --------------------------------------------------------------------

SUGGESTION_DAYS = 30
MAX_SUGGESTIONS = 2000  # questions read for one inbox, newest first


@dataclass(frozen=True)
class AskedQuestion:
    """A user's question the bot did not answer well, and why it is in the inbox."""

    message_id: int
    conversation_id: str
    text: str
    language: str
    asked_at: datetime
    source: str  # reviewer | low_confidence | not_helpful | agent_inserted
    # The article a reviewer said should have answered it, the one rated not helpful, or the one
    # an agent inserted.
    article_id: str | None


class Suggestions:
    def __init__(self, sessions):
        self._sessions = sessions

    async def questions(self, days: int = SUGGESTION_DAYS, limit: int = MAX_SUGGESTIONS) -> list[AskedQuestion]:
        """Questions of the last `days` days that no curator has decided on, oldest first: those
        a reviewer labelled "should have answered with X" or "missing article", those handed off
        for low confidence, those whose answer was rated not helpful, and those of handed-off
        conversations in which an agent inserted an article."""
        since = utcnow() - timedelta(days=days)
        async with self._sessions() as session:
            handoffs = list(
                await session.execute(
                    select(Handoff.conversation_id, Handoff.created_at)
                    .where(Handoff.reason == "low_confidence", Handoff.created_at >= since)
                    .order_by(Handoff.id.desc())
                    .limit(limit)
                )
            )
            ratings = list(
                await session.execute(
                    select(Feedback.conversation_id, Feedback.created_at, Feedback.article_id)
                    .where(Feedback.helpful.is_(False), Feedback.created_at >= since)
                    .order_by(Feedback.id.desc())
                    .limit(limit)
                )
            )
            inserted = list(
                await session.execute(
                    select(Message.conversation_id, Message.created_at, Message.article_id)
                    .where(Message.role == "agent", Message.article_id.is_not(None), Message.created_at >= since)
                    .order_by(Message.id.desc())
                    .limit(limit)
                )
            )
            labelled = list(
                await session.execute(
                    select(ReviewLabel.conversation_id, ReviewLabel.message_id, ReviewLabel.article_id)
                    .where(ReviewLabel.label.in_(("should_answer", "missing_article")), ReviewLabel.created_at >= since)
                    .order_by(ReviewLabel.id.desc())
                    .limit(limit)
                )
            )
            ids = {row[0] for row in (*handoffs, *ratings, *inserted, *labelled)}
            if not ids:
                return []
            decided = select(SuggestionDecision.message_id)
            said = list(
                await session.execute(
                    select(Message, Conversation.language)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.conversation_id.in_(ids), Message.role.in_(("user", "bot")))
                    .where(Message.id.not_in(decided) | (Message.role == "bot"))
                    .order_by(Message.id)
                )
            )
        by_conversation: dict[str, list[tuple[Message, str]]] = {}
        for message, language in said:
            by_conversation.setdefault(message.conversation_id, []).append((message, language))

        found: dict[int, AskedQuestion] = {}

        def add(conversation_id: str, before: datetime, source: str, article_id: str | None, rated: bool = False):
            """The user's question before `before`: before the rated answer, for a rating."""
            messages = [
                (m, lang)
                for m, lang in by_conversation.get(conversation_id, [])
                if aware(m.created_at) <= aware(before)
            ]
            if rated:  # the question is the one the rated answer replied to
                answers = [i for i, (m, _) in enumerate(messages) if m.role == "bot" and m.article_id == article_id]
                messages = messages[: answers[-1]] if answers else []
            question = next(
                ((m, lang) for m, lang in reversed(messages) if m.role == "user" and not _is_button(m)), None
            )
            if question is None or question[0].id in found:
                return
            message, language = question
            found[message.id] = AskedQuestion(
                message.id, conversation_id, message.text, language, message.created_at, source, article_id
            )

        for conversation_id, message_id, article_id in labelled:  # a reviewer's word comes first
            said_there = by_conversation.get(conversation_id, [])
            question = next(
                ((m, lang) for m, lang in said_there if m.role == "user" and message_id in (None, m.id)), None
            )
            if question is not None and not _is_button(question[0]) and question[0].id not in found:
                message, language = question
                found[message.id] = AskedQuestion(
                    message.id, conversation_id, message.text, language, message.created_at, "reviewer", article_id
                )
        for conversation_id, at, article_id in inserted:
            add(conversation_id, at, "agent_inserted", article_id)
        for conversation_id, at, article_id in ratings:
            add(conversation_id, at, "not_helpful", article_id, rated=True)
        for conversation_id, at in handoffs:
            add(conversation_id, at, "low_confidence", None)
        return sorted(found.values(), key=lambda q: q.message_id)

    async def decide(
        self, message_ids: list[int], decision: str, *, article_id: str | None, author_id: int | None
    ) -> int:
        """Record a decision on questions; those already decided keep their first one."""
        async with self._sessions() as session, session.begin():
            known = set(
                await session.scalars(
                    select(SuggestionDecision.message_id).where(SuggestionDecision.message_id.in_(message_ids))
                )
            )
            existing = set(await session.scalars(select(Message.id).where(Message.id.in_(message_ids))))
            added = 0
            for message_id in dict.fromkeys(message_ids):
                if message_id in known or message_id not in existing:
                    continue
                session.add(
                    SuggestionDecision(
                        message_id=message_id, decision=decision, article_id=article_id, author_id=author_id
                    )
                )
                added += 1
            return added


def _is_button(message: Message) -> bool:
    """A pressed button or a typed command is no question for the knowledge base."""
    return is_payload(message.text)

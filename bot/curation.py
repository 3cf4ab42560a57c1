"""The curation desk: support staff (roles curator and admin) keep the knowledge base.

Pages: the articles (search and filters, with how often each was answered and rated), the editor
(the zh and en versions of an article side by side, a preview rendered by the widget's own code,
save draft / publish / unpublish / archive, revisions with diffs and restore, a test panel), and
the suggestions inbox (what users asked that the bot could not answer well, grouped by meaning).

Everything is in the database (`bot.store.library`); a publish is answered by every action
server within seconds, without a restart (`actions/live.py`). The test panel and the grouping run
in the action server, which holds the models (`actions/curation.py`).
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.auth import csrf_token, requires, templates
from bot.errors import ApiError, Conflict, InvalidRequest, NotFound
from bot.messages import MAX_TEXT
from bot.params import json_object
from bot.rasa_client import RasaUnavailable
from bot.redaction import redact
from bot.store import iso
from bot.store.library import (
    ArticleFilter,
    ArticleNotFound,
    ArticleState,
    InvalidArticle,
    Revision,
)
from bot.store.library import Conflict as SaveConflict
from knowledge_base.articles import ID_PATTERN, LANGUAGES, STATUSES, FieldProblem

logger = logging.getLogger(__name__)

CURATOR_ROLES = ("curator",)
ARTICLE = "/api/kb/articles/{article_id}/{language}"
EXAMPLES = 5  # questions shown per suggestion group
ARTICLES_SHOWN = 500  # rows of the articles page; a larger knowledge base is searched and filtered


class InvalidFields(ApiError):
    """A save that the article checks reject: the message per field, shown next to each."""

    status = 422
    code = "invalid_article"

    def __init__(self, problems: InvalidArticle):
        super().__init__(str(problems))
        self.fields = {}
        for problem in problems.problems:
            self.fields.setdefault(problem.field, problem.message)


class ServerConflict(Conflict):
    """The article was saved by someone else since the revision this save was based on."""

    def __init__(self, conflict: SaveConflict):
        super().__init__(str(conflict))
        self.head = conflict.head


class SearchUnavailable(ApiError):
    status = 503
    code = "search_unavailable"


async def invalid_fields(request: Request, exc: InvalidFields) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message, "fields": exc.fields}}, exc.status)


async def save_conflict(request: Request, exc: ServerConflict) -> JSONResponse:
    body = {"error": {"code": exc.code, "message": exc.message}, "head": revision_json(exc.head)}
    return JSONResponse(body, exc.status)


def revision_json(revision: Revision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "title": revision.title,
        "questions": list(revision.questions),
        "body": revision.body,
        "tags": list(revision.tags),
        "action": revision.action,
        "author": revision.author,
        "created_at": iso(revision.created_at),
    }


def state_json(state: ArticleState) -> dict[str, Any]:
    return {
        "id": state.id,
        "language": state.language,
        "status": state.status,
        "live": state.live,
        "head": revision_json(state.head),
        "has_unpublished_changes": state.has_unpublished_changes,
        "updated_at": iso(state.updated_at),
    }


def _key(request: Request) -> tuple[str, str]:
    article_id, language = request.path_params["article_id"], request.path_params["language"]
    if language not in LANGUAGES:
        raise NotFound(f"language must be one of {', '.join(LANGUAGES)}")
    if not ID_PATTERN.match(article_id):
        raise NotFound(f"no article {article_id!r}")
    return article_id, language


def _library(request: Request):
    return request.app.state.store.library


def _author(request: Request) -> int:
    return request.state.staff.id


# --- pages -------------------------------------------------------------------------------------


def _page(view: str):
    @requires(*CURATOR_ROLES, page=True)
    async def page(request: Request) -> Response:
        context = {
            "staff": request.state.staff,
            "csrf": csrf_token(request),
            "view": view,
            "article_id": request.path_params.get("article_id", ""),
            "max_text": MAX_TEXT,
            "languages": LANGUAGES,
            "statuses": STATUSES,
        }
        return templates.TemplateResponse(request, "curation.html", context)

    return page


# --- articles ----------------------------------------------------------------------------------


@requires(*CURATOR_ROLES)
async def list_articles(request: Request) -> JSONResponse:
    params = request.query_params
    language = params.get("language") or None
    status = params.get("status") or None
    if language not in (None, *LANGUAGES):
        raise InvalidRequest(f"'language' must be one of {', '.join(LANGUAGES)}")
    if status not in (None, *STATUSES):
        raise InvalidRequest(f"'status' must be one of {', '.join(STATUSES)}")
    query = ArticleFilter(
        text=params.get("q", "").strip()[:200],
        language=language,
        status=status,
        tag=params.get("tag") or None,
        untranslated=params.get("untranslated") in ("1", "true"),
        edited_by=params.get("edited_by") or None,
        not_helpful=params.get("not_helpful") in ("1", "true"),
    )
    library = _library(request)
    summaries = await library.articles(query, limit=ARTICLES_SHOWN + 1)
    return JSONResponse(
        {
            "truncated": len(summaries) > ARTICLES_SHOWN,  # more match: search or filter to see them
            "articles": [
                {
                    "id": s.id,
                    "language": s.language,
                    "title": s.title,
                    "status": s.status,
                    "live": s.live,
                    "head": s.head,
                    "has_unpublished_changes": s.status == "published" and s.live != s.head,
                    "tags": list(s.tags),
                    "updated_at": iso(s.updated_at),
                    "updated_by": s.updated_by,
                    "translated": s.translated,
                    "answered_30d": s.answered,
                    "helpful": s.helpful,
                    "not_helpful": s.not_helpful,
                    "helpful_rate": None if s.helpful_rate is None else round(s.helpful_rate, 3),
                }
                for s in summaries[:ARTICLES_SHOWN]
            ],
            "tags": await library.tags(),
            "editors": [{"username": u.username, "name": u.name} for u in await request.app.state.store.users()],
        }
    )


@requires(*CURATOR_ROLES)
async def get_article(request: Request) -> JSONResponse:
    """Both language versions of an article (null where it has none)."""
    article_id = request.path_params["article_id"]
    versions = {}
    for language in LANGUAGES:
        try:
            versions[language] = state_json(await _library(request).article(article_id, language))
        except ArticleNotFound:
            versions[language] = None
    if not any(versions.values()):
        raise NotFound(f"no article {article_id!r}")
    return JSONResponse({"id": article_id, "versions": versions})


@requires(*CURATOR_ROLES)
async def save_article(request: Request) -> JSONResponse:
    """Save a draft: a new revision based on revision `base` (null for a new article); with
    "publish": true it is published at once. A malformed id is a field error like any other."""
    article_id, language = request.path_params["article_id"], request.path_params["language"]
    body = await json_object(request)
    base = body.get("base")
    if base is not None and not isinstance(base, int):
        raise InvalidRequest("'base' must be the revision number the edit started from, or null for a new article")
    fields = {
        "id": article_id,
        "language": language,
        "title": body.get("title"),
        "questions": body.get("questions"),
        "body": body.get("body"),
        "tags": body.get("tags") or [],
    }
    for name in ("title", "body"):
        if isinstance(fields[name], str) and len(fields[name]) > 20 * MAX_TEXT:
            raise InvalidFields(InvalidArticle([_too_long(name)]))
    library = _library(request)
    try:
        number = await library.save(fields, base=base, author_id=_author(request))
    except InvalidArticle as exc:
        raise InvalidFields(exc) from None
    except SaveConflict as exc:
        raise ServerConflict(exc) from None
    except ArticleNotFound as exc:
        raise NotFound(str(exc)) from None
    version = None
    if body.get("publish"):
        version = await library.publish(article_id, language, author_id=_author(request), revision=number)
    state = await library.article(article_id, language)
    return JSONResponse({"revision": number, "version": version, "article": state_json(state)})


def _too_long(field: str) -> FieldProblem:
    return FieldProblem(field, f"is longer than {20 * MAX_TEXT} characters")


def _status_change(action: str):
    @requires(*CURATOR_ROLES)
    async def change(request: Request) -> JSONResponse:
        article_id, language = _key(request)
        body = await json_object(request) if (await request.body()) else {}
        library = _library(request)
        try:
            if action == "publish":
                revision = body.get("revision")
                if revision is not None and not isinstance(revision, int):
                    raise InvalidRequest("'revision' must be a revision number")
                version = await library.publish(article_id, language, author_id=_author(request), revision=revision)
            elif action == "unpublish":
                version = await library.unpublish(article_id, language, author_id=_author(request))
            else:
                version = await library.archive(article_id, language, author_id=_author(request))
            state = await library.article(article_id, language)
        except ArticleNotFound as exc:
            raise NotFound(str(exc)) from None
        return JSONResponse({"version": version, "article": state_json(state)})

    return change


@requires(*CURATOR_ROLES)
async def revisions(request: Request) -> JSONResponse:
    article_id, language = _key(request)
    library = _library(request)
    history = await library.revisions(article_id, language)
    if not history:
        raise NotFound(f"no article {article_id!r} in {language!r}")
    return JSONResponse(
        {
            "revisions": [revision_json(r) for r in history],
            "publications": [
                {
                    "action": p.action,
                    "revision": p.revision,
                    "author": author,
                    "created_at": iso(p.created_at),
                }
                for p, author in await library.publications(article_id, language)
            ],
        }
    )


@requires(*CURATOR_ROLES)
async def diff(request: Request) -> JSONResponse:
    """What changed between two revisions, field by field: the title and body line by line, the
    questions and tags item by item, each part ["same" | "added" | "removed", text]."""
    article_id, language = _key(request)
    try:
        old_number, new_number = int(request.query_params["from"]), int(request.query_params["to"])
    except (KeyError, ValueError):
        raise InvalidRequest("'from' and 'to' must be revision numbers") from None
    library = _library(request)
    try:
        old = await library.revision(article_id, language, old_number)
        new = await library.revision(article_id, language, new_number)
    except ArticleNotFound as exc:
        raise NotFound(str(exc)) from None
    return JSONResponse({"from": revision_json(old), "to": revision_json(new), "changes": changes(old, new)})


def changes(old: Revision, new: Revision) -> dict[str, list[list[str]]]:
    return {
        "title": _diff([old.title], [new.title]),
        "questions": _diff(list(old.questions), list(new.questions)),
        "body": _diff(old.body.splitlines(), new.body.splitlines()),
        "tags": _diff(list(old.tags), list(new.tags)),
    }


def _diff(old: list[str], new: list[str]) -> list[list[str]]:
    parts = []
    for operation, a0, a1, b0, b1 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if operation == "equal":
            parts += [["same", line] for line in old[a0:a1]]
        else:
            parts += [["removed", line] for line in old[a0:a1]]
            parts += [["added", line] for line in new[b0:b1]]
    return parts


@requires(*CURATOR_ROLES)
async def restore(request: Request) -> JSONResponse:
    """Save an old revision's content as the newest and publish it."""
    article_id, language = _key(request)
    number = (await json_object(request)).get("revision")
    if not isinstance(number, int):
        raise InvalidRequest("'revision' must be the number of the revision to restore")
    library = _library(request)
    try:
        revision, version = await library.restore(article_id, language, number, author_id=_author(request))
        state = await library.article(article_id, language)
    except ArticleNotFound as exc:
        raise NotFound(str(exc)) from None
    return JSONResponse({"revision": revision, "version": version, "article": state_json(state)})


# --- what the bot serves, and what it would do -----------------------------------------------


@requires(*CURATOR_ROLES)
async def status(request: Request) -> JSONResponse:
    """The published version and what each running action server serves: a publish is live when
    every one of them serves its version; a failed build says why."""
    library = _library(request)
    version = await library.version()
    workers = [
        {
            "worker": w.worker,
            "version": w.version,
            "articles": w.articles,
            "build_seconds": w.build_seconds,
            "failed_version": w.failed_version,
            "error": w.error,
            "updated_at": iso(w.updated_at),
        }
        for w in await library.index_status()
    ]
    return JSONResponse(
        {
            "version": version,
            "workers": workers,
            "live": bool(workers) and all(w["version"] >= version for w in workers),
        }
    )


async def _actions(request: Request, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await request.app.state.rasa.actions(path, body)
    except RasaUnavailable as exc:
        logger.warning("%s", exc)
        raise SearchUnavailable("the action server is not answering; try again in a moment") from None
    if response.status_code == 400:
        raise InvalidRequest(response.json()["error"]["message"])
    if response.status_code != 200:
        raise SearchUnavailable(f"the action server answered {response.status_code}")
    return response.json()


@requires(*CURATOR_ROLES)
async def try_question(request: Request) -> JSONResponse:
    """The test panel: what the bot would do with a question, published and with a draft. Rasa's
    NLU says whether it takes the question as off-topic (which raises the bar to answer)."""
    body = await json_object(request)
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequest("'query' must be the question to try")
    intent = await request.app.state.rasa.parse(query.strip()[:500])
    result = await _actions(
        request,
        "/try",
        {
            "query": query,
            "language": body.get("language"),
            "draft": body.get("draft"),
            "off_topic": (intent or {}).get("name") == "out_of_scope",
        },
    )
    return JSONResponse({**result, "intent": intent})


# --- suggestions -------------------------------------------------------------------------------


@requires(*CURATOR_ROLES)
async def suggestions(request: Request) -> JSONResponse:
    """What users asked that the bot could not answer well, grouped by meaning across both
    languages, the most asked first; each group with the article to add it to preselected (the
    one a reviewer named, else the one an agent inserted, else the best match). Personal data in
    the questions is redacted."""
    asked = await request.app.state.store.suggestions.questions()
    if not asked:
        return JSONResponse({"groups": []})
    grouped = await _actions(
        request, "/group", {"questions": [{"text": q.text, "language": q.language} for q in asked]}
    )
    groups = []
    for group in grouped["groups"]:
        members = [asked[i] for i in group["members"]]
        named = Counter(q.article_id for q in members if q.source == "reviewer" and q.article_id)
        inserted = Counter(q.article_id for q in members if q.source == "agent_inserted" and q.article_id)
        best = group.get("best")
        if named or inserted:  # a reviewer's choice, then an agent's, then the search's
            why, votes = ("reviewer", named) if named else ("agent_inserted", inserted)
            target = {"article_id": votes.most_common(1)[0][0], "language": members[0].language, "why": why}
        else:
            target = (
                {"article_id": best["article_id"], "language": best["language"], "why": "best_match"} if best else None
            )
        if target:
            target.update(await _target_version(request, target["article_id"], target["language"]))
        groups.append(
            {
                "asked": len({q.conversation_id for q in members}),
                "questions": [
                    {
                        "message_id": q.message_id,
                        "text": redact(q.text),
                        "language": q.language,
                        "source": q.source,
                        "article_id": q.article_id,
                        "conversation_id": q.conversation_id,
                        "asked_at": iso(q.asked_at),
                    }
                    for q in members
                ],
                "examples": [redact(q.text) for q in members[:EXAMPLES]],
                "sources": dict(Counter(q.source for q in members)),
                "target": target,
            }
        )
    groups.sort(key=lambda g: (-g["asked"], -max(q["message_id"] for q in g["questions"])))
    return JSONResponse({"groups": groups})


async def _target_version(request: Request, article_id: str, language: str) -> dict[str, Any]:
    """The article's version in `language`, else in the other language (an agent may insert an
    article of either language): its language and title."""
    for each in (language, *(other for other in LANGUAGES if other != language)):
        try:
            state = await _library(request).article(article_id, each)
        except ArticleNotFound:
            continue
        return {"language": each, "title": state.head.title}
    return {"title": None}


def _message_ids(body: dict[str, Any]) -> list[int]:
    ids = body.get("message_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise InvalidRequest("'message_ids' must be the list of the group's questions")
    return ids


@requires(*CURATOR_ROLES)
async def accept_suggestion(request: Request) -> JSONResponse:
    """Add a question as an alternate question of an article and publish it, like any edit (an
    article with a pending draft gets it in both; one that is not published, in its draft)."""
    body = await json_object(request)
    ids = _message_ids(body)
    article_id, language, question = body.get("article_id"), body.get("language"), body.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequest("'question' must be the question to add")
    if language not in LANGUAGES or not isinstance(article_id, str):
        raise InvalidRequest("'article_id' and 'language' must name an article")
    library = _library(request)
    try:
        version, head = await library.add_question(article_id, language, question.strip(), author_id=_author(request))
    except ArticleNotFound as exc:
        raise NotFound(str(exc)) from None
    except InvalidArticle as exc:
        raise InvalidFields(exc) from None
    except SaveConflict as exc:
        raise ServerConflict(exc) from None
    await request.app.state.store.suggestions.decide(ids, "added", article_id=article_id, author_id=_author(request))
    state = await library.article(article_id, language)
    return JSONResponse(
        {"revision": head, "version": version, "published": version is not None, "article": state_json(state)}
    )


def _decision(decision: str):
    @requires(*CURATOR_ROLES)
    async def decide(request: Request) -> JSONResponse:
        body = await json_object(request)
        article_id = body.get("article_id") if isinstance(body.get("article_id"), str) else None
        decided = await request.app.state.store.suggestions.decide(
            _message_ids(body), decision, article_id=article_id, author_id=_author(request)
        )
        return JSONResponse({"decided": decided})

    return decide


routes = [
    Route("/curation", _page("articles"), methods=["GET"]),
    Route("/curation/new", _page("new"), methods=["GET"]),
    Route("/curation/suggestions", _page("suggestions"), methods=["GET"]),
    Route("/curation/articles/{article_id}", _page("editor"), methods=["GET"]),
    Route("/api/kb/articles", list_articles, methods=["GET"]),
    Route("/api/kb/status", status, methods=["GET"]),
    Route("/api/kb/try", try_question, methods=["POST"]),
    Route("/api/kb/suggestions", suggestions, methods=["GET"]),
    Route("/api/kb/suggestions/accept", accept_suggestion, methods=["POST"]),
    Route("/api/kb/suggestions/dismiss", _decision("dismissed"), methods=["POST"]),
    Route("/api/kb/suggestions/new-article", _decision("new_article"), methods=["POST"]),
    Route("/api/kb/articles/{article_id}", get_article, methods=["GET"]),
    Route(ARTICLE, save_article, methods=["PUT"]),
    Route(ARTICLE + "/publish", _status_change("publish"), methods=["POST"]),
    Route(ARTICLE + "/unpublish", _status_change("unpublish"), methods=["POST"]),
    Route(ARTICLE + "/archive", _status_change("archive"), methods=["POST"]),
    Route(ARTICLE + "/revisions", revisions, methods=["GET"]),
    Route(ARTICLE + "/diff", diff, methods=["GET"]),
    Route(ARTICLE + "/restore", restore, methods=["POST"]),
]

exception_handlers = {InvalidFields: invalid_fields, ServerConflict: save_conflict}

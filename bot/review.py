"""Conversation review (roles reviewer and admin): the list of conversations with filters, a
transcript with why the bot answered as it did, the review workflow (mark reviewed, labels with
a comment) and exports of the filtered conversations, CSV or JSON Lines, streamed.

Personal data is redacted in everything shown and exported (`bot.exports`); an admin may reveal
one conversation, and every reveal is logged with who and when.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.auth import csrf_token, requires, templates
from bot.errors import Forbidden, InvalidRequest, NotFound
from bot.exports import conversation_filter, csv_lines, jsonl_lines, summary_json, transcript_json
from bot.params import json_object
from bot.store import CHANNELS
from bot.store.review import LABELS, OUTCOMES, RATINGS, InvalidLabel
from bot.vocabulary import HANDOFF_REASONS
from knowledge_base.articles import ID_PATTERN, LANGUAGES

REVIEWER_ROLES = ("reviewer",)
REVEAL_ROLES = ("admin",)  # may see a conversation's personal data, logged
MAX_COMMENT = 2000
PRIVATE = {"Cache-Control": "no-store"}  # conversations are never kept in a browser's or proxy's cache
CONVERSATION = "/api/review/conversations/{conversation_id:path}"


def _page(view: str):
    @requires(*REVIEWER_ROLES, page=True)
    async def page(request: Request) -> Response:
        staff = request.state.staff
        agents = []  # for the list's agent filter
        if view == "list":
            agents = [u for u in await request.app.state.store.users() if u.role in ("agent", "admin")]
        context = {
            "staff": staff,
            "csrf": csrf_token(request),
            "view": view,
            "conversation_id": request.path_params.get("conversation_id", ""),
            "channels": CHANNELS,
            "languages": LANGUAGES,
            "outcomes": OUTCOMES,
            "reasons": HANDOFF_REASONS,
            "ratings": RATINGS,
            "labels": LABELS,
            "agents": agents,
            "may_reveal": staff.may(*REVEAL_ROLES),
        }
        return templates.TemplateResponse(request, "review.html", context)

    return page


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if not value:
        return default
    if not value.isdigit():
        raise InvalidRequest(f"'{name}' must be a positive whole number")
    return int(value)


@requires(*REVIEWER_ROLES)
async def list_conversations(request: Request) -> Response:
    where = conversation_filter(request.query_params)
    page = await request.app.state.store.review.page(
        where, page=_int(request, "page", 1), size=_int(request, "size", 50)
    )
    return JSONResponse(
        {
            "conversations": [summary_json(row) for row in page.rows],
            "total": page.total,
            "page": page.page,
            "size": page.size,
        },
        headers=PRIVATE,
    )


async def _transcript(request: Request, reveal: bool = False) -> dict:
    conversation_id = request.path_params["conversation_id"]
    review = request.app.state.store.review
    transcript = await review.transcript(conversation_id)
    if transcript is None:
        raise NotFound(f"no conversation '{conversation_id}'")
    body = transcript_json(transcript, reveal=reveal)
    body["reveals"] = [{"by": name, "at": at.isoformat()} for name, at in await review.reveals(conversation_id)]
    return body


@requires(*REVIEWER_ROLES)
async def get_transcript(request: Request) -> Response:
    return JSONResponse(await _transcript(request), headers=PRIVATE)


@requires(*REVIEWER_ROLES)
async def reveal(request: Request) -> Response:
    """The transcript unredacted, for an admin; the reveal is logged first."""
    staff = request.state.staff
    if not staff.may(*REVEAL_ROLES):
        raise Forbidden("only an admin may reveal personal data")
    conversation_id = request.path_params["conversation_id"]
    if await request.app.state.store.get_conversation(conversation_id) is None:
        raise NotFound(f"no conversation '{conversation_id}'")
    await request.app.state.store.review.log_reveal(conversation_id, staff.id)
    return JSONResponse(await _transcript(request, reveal=True), headers=PRIVATE)


@requires(*REVIEWER_ROLES)
async def mark_reviewed(request: Request) -> Response:
    body = await json_object(request)
    reviewed = body.get("reviewed", True)
    if not isinstance(reviewed, bool):
        raise InvalidRequest("'reviewed' must be true or false")
    conversation_id = request.path_params["conversation_id"]
    if not await request.app.state.store.review.mark_reviewed(conversation_id, request.state.staff.id, reviewed):
        raise NotFound(f"no conversation '{conversation_id}'")
    return JSONResponse(await _transcript(request))


@requires(*REVIEWER_ROLES)
async def add_label(request: Request) -> Response:
    body = await json_object(request)
    label, message_id, article_id, comment = (body.get(k) for k in ("label", "message_id", "article_id", "comment"))
    if not isinstance(label, str):
        raise InvalidRequest(f"'label' must be one of {', '.join(LABELS)}")
    if message_id is not None and (not isinstance(message_id, int) or isinstance(message_id, bool)):
        raise InvalidRequest("'message_id' must be a message's id")
    if article_id is not None and (not isinstance(article_id, str) or not ID_PATTERN.match(article_id)):
        raise InvalidRequest("'article_id' must be an article's id")
    comment = comment or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise InvalidRequest(f"'comment' must be text of at most {MAX_COMMENT} characters")
    conversation_id = request.path_params["conversation_id"]
    try:
        await request.app.state.store.review.add_label(
            conversation_id,
            request.state.staff.id,
            label,
            message_id=message_id,
            article_id=article_id,
            comment=comment.strip(),
        )
    except InvalidLabel as exc:
        raise InvalidRequest(str(exc)) from None
    except LookupError:
        raise NotFound(f"no conversation '{conversation_id}'") from None
    return JSONResponse(await _transcript(request), status_code=201)


@requires(*REVIEWER_ROLES)
async def remove_label(request: Request) -> Response:
    conversation_id, label_id = request.path_params["conversation_id"], request.path_params["label_id"]
    if not await request.app.state.store.review.remove_label(conversation_id, label_id):
        raise NotFound(f"no label {label_id} on conversation '{conversation_id}'")
    return JSONResponse(await _transcript(request))


def _export(kind: str):
    formats = {"csv": (csv_lines, "text/csv; charset=utf-8"), "jsonl": (jsonl_lines, "application/x-ndjson")}
    lines, media_type = formats[kind]

    @requires(*REVIEWER_ROLES)
    async def export(request: Request) -> Response:
        where = conversation_filter(request.query_params)  # checked before the first byte is sent
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        headers = {"Content-Disposition": f'attachment; filename="conversations-{stamp}.{kind}"', **PRIVATE}
        return StreamingResponse(lines(request.app.state.store.review, where), media_type=media_type, headers=headers)

    return export


routes = [
    Route("/review", _page("list"), methods=["GET"]),
    Route("/review/conversations/{conversation_id:path}", _page("transcript"), methods=["GET"]),
    Route("/api/review/conversations", list_conversations, methods=["GET"]),
    Route("/api/review/export.csv", _export("csv"), methods=["GET"]),
    Route("/api/review/export.jsonl", _export("jsonl"), methods=["GET"]),
    # A conversation's id may hold "/" (an API client chooses it): the action is the last segment.
    Route(CONVERSATION + "/reviewed", mark_reviewed, methods=["POST"]),
    Route(CONVERSATION + "/labels", add_label, methods=["POST"]),
    Route(CONVERSATION + "/labels/{label_id:int}", remove_label, methods=["DELETE"]),
    Route(CONVERSATION + "/reveal", reveal, methods=["POST"]),
    Route(CONVERSATION, get_transcript, methods=["GET"]),
]

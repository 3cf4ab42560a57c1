"""The analytics dashboard (roles reviewer and admin): sessions and messages, busiest hours,
containment, handoffs and the desk's times, answer ratings, what nothing answered, and where users
leave; over a date range (UTC), per channel and language, by day or ISO week.

The figures are counted in `bot.figures` from the sessions `bot.store.analytics` cuts (which says
how, and what each figure counts); here the questions nothing answered are redacted and grouped
by meaning by the action server, as the curation's suggestions are, or by their text when it does
not answer. Every chart's data is also served as CSV.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections import Counter
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.auth import csrf_token, requires, templates
from bot.errors import InvalidRequest, NotFound
from bot.exports import csv_cell
from bot.figures import DEFINITIONS, figures
from bot.params import day, one_of
from bot.rasa_client import RasaUnavailable
from bot.redaction import redact
from bot.store import CHANNELS, utcnow
from bot.store.analytics import ROLES, Query, Question
from knowledge_base.articles import LANGUAGES

logger = logging.getLogger(__name__)

REVIEWER_ROLES = ("reviewer",)
DEFAULT_DAYS = 30
MAX_DAYS = 366
# The action server embeds and searches every question it groups: the most asked distinct texts go
# to it (it takes up to 2000, actions/curation.py), the rest are grouped by their text.
MAX_GROUPED = 500
GROUPING_TIMEOUT = 20.0  # seconds; then the questions are grouped by their text
GROUPS_SHOWN = 30
EXAMPLES = 5


def analytics_query(params: Mapping[str, str], today: date) -> Query:
    """The range and filters a query string asks for: by default the last 30 days (today
    included), by day. Raises InvalidRequest naming the parameter."""
    until = day("until", params["until"]) if params.get("until") else today
    since = day("since", params["since"]) if params.get("since") else until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidRequest("'since' must be on or before 'until'")
    if (until - since).days >= MAX_DAYS:
        raise InvalidRequest(f"the range may be at most {MAX_DAYS} days")
    return Query(
        since=since,
        until=until,
        channel=one_of("channel", params.get("channel"), CHANNELS),
        language=one_of("language", params.get("language"), LANGUAGES),
        by=one_of("by", params.get("by"), ("day", "week")) or "day",
    )


async def report(request: Request, with_questions: bool = True) -> dict[str, Any]:
    """Every figure for the query string's range and filters; the unanswered questions grouped
    (which asks the action server) only `with_questions`."""
    now = utcnow()
    query = analytics_query(request.query_params, now.date())
    analytics = request.app.state.store.analytics
    sessions = await analytics.sessions(query)
    result = {
        "range": {
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "by": query.by,
            "channel": query.channel,
            "language": query.language,
            "timezone": "UTC",
            "generated_at": now.isoformat(timespec="seconds"),
        },
        **figures(sessions, query, now),
    }
    answers = result["answers"]
    titles = await analytics.titles(sorted({a["article_id"] for a in answers["top"] + answers["worst"]}))
    for row in answers["top"] + answers["worst"]:
        row["title"] = titles.get(row["article_id"])
    if with_questions:
        asked = sorted((q for s in sessions for q in s.questions), key=lambda q: q.message_id)
        result["unanswered"] = await unanswered(request, await analytics.texts(asked))
    return result


def _normal(text: str) -> str:
    """Two questions with the same letters and digits, whatever the case, spaces and punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN") or text.strip()


async def unanswered(request: Request, questions: list[Question]) -> dict[str, Any]:
    """The questions, redacted, in groups of one meaning (or of one text, when the action server
    does not answer), the largest first."""
    redacted = {text: redact(text) for text in {q.text for q in questions}}
    texts = [redacted[q.text] for q in questions]
    same_text: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        same_text.setdefault(_normal(text), []).append(i)
    clusters = sorted(same_text.values(), key=lambda members: -len(members))
    grouped_by = "meaning"
    if clusters:
        sent = clusters[:MAX_GROUPED]
        body = [
            {
                "text": texts[m[0]],
                "language": questions[m[0]].language if questions[m[0]].language in LANGUAGES else "en",
            }
            for m in sent
        ]
        groups = await _group(request, body)
        if groups is None:
            grouped_by = "text"
        else:
            clusters = [sorted(i for p in g["members"] for i in sent[p]) for g in groups] + clusters[MAX_GROUPED:]
    clusters.sort(key=lambda members: (-len(members), min(members)))
    shown = []
    for members in clusters[:GROUPS_SHOWN]:
        examples = list(dict.fromkeys(texts[i] for i in members))[:EXAMPLES]
        languages = Counter(questions[i].language for i in members)
        shown.append({"count": len(members), "examples": examples, "languages": dict(sorted(languages.items()))})
    return {
        "questions": len(questions),
        "grouped_by": grouped_by,
        "groups": shown,
        "more_groups": max(0, len(clusters) - GROUPS_SHOWN),
    }


async def _group(request: Request, questions: list[dict[str, str]]) -> list[dict[str, Any]] | None:
    """The action server's grouping (`POST /group`, as the curation's suggestions); None if it does
    not answer."""
    try:
        response = await request.app.state.rasa.actions("/group", {"questions": questions}, timeout=GROUPING_TIMEOUT)
    except RasaUnavailable as exc:
        logger.warning("Grouping the unanswered questions by text: %s", exc)
        return None
    if response.status_code != 200:
        logger.warning("Grouping the unanswered questions by text: /group answered %s", response.status_code)
        return None
    return response.json()["groups"]


# --- the charts' data as CSV ---------------------------------------------------------------


def _rows(result: dict[str, Any], chart: str) -> tuple[list[str], list[list[Any]]]:
    if chart == "sessions":
        header = ["period", "sessions", *CHANNELS, *LANGUAGES]
        return header, [
            [r["period"], r["sessions"], *r["channels"].values(), *r["languages"].values()] for r in result["sessions"]
        ]
    if chart == "messages":
        return ["period", *ROLES], [[r["period"], *(r[role] for role in ROLES)] for r in result["messages"]]
    if chart == "hours":
        hours = result["hours"]
        return ["weekday", *map(str, range(24))], [
            [d, *row] for d, row in zip(hours["weekdays"], hours["grid"], strict=True)
        ]
    if chart == "containment":
        columns = ["sessions", "answered", "confirmed", "assumed", "pending", "contained", "contained_share", "rest"]
        series = result["containment"]["series"] + [{"period": "total", **result["containment"]}]
        return ["period", *columns], [[r["period"], *(r[c] for c in columns)] for r in series]
    if chart == "handoffs":
        handoffs = result["handoffs"]
        rows = [[r["reason"], r["sessions"], r["rate"]] for r in handoffs["reasons"]]
        rows += [["any", handoffs["sessions"], handoffs["rate"]]]
        rows += [["ticket", handoffs["tickets"]["sessions"], handoffs["tickets"]["rate"]]]
        return ["reason", "sessions", "rate"], rows
    if chart == "handoff_rate":
        columns = ["period", "sessions", "handoffs", "rate"]
        return columns, [[r[c] for c in columns] for r in result["handoffs"]["series"]]
    if chart == "desk":
        desk = result["desk"]
        measures = ("queue_wait", "first_response", "resolution")
        return ["measure", "count", "p50_seconds", "p90_seconds"], [
            [m, desk[m]["count"], desk[m]["p50"], desk[m]["p90"]] for m in measures
        ]
    if chart == "agent_ratings":
        ratings = result["desk"]["agent_ratings"]
        return ["helpful", "not_helpful", "helpful_share"], [list(ratings.values())]
    if chart in ("articles", "worst_articles"):
        columns = ["article_id", "title", "answers", "helpful", "not_helpful", "helpful_rate"]
        listed = result["answers"]["top" if chart == "articles" else "worst"]
        return columns, [[r[c] for c in columns] for r in listed]
    if chart == "unanswered":
        groups = result["unanswered"]["groups"]
        return ["group", "questions", "languages", "examples"], [
            [n, g["count"], " ".join(f"{k}:{v}" for k, v in g["languages"].items()), " | ".join(g["examples"])]
            for n, g in enumerate(groups, 1)
        ]
    if chart == "exits":
        return ["exit", "sessions", "share"], [[r["exit"], r["sessions"], r["share"]] for r in result["exits"]]
    if chart == "breakdown":
        columns = ["sessions", "answered", "contained", "contained_share", "handoffs", "handoff_rate"]
        columns += ["helpful", "not_helpful", "helpful_rate"]
        rows = [["channel", r["channel"], *(r[c] for c in columns)] for r in result["breakdown"]["channels"]]
        rows += [["language", r["language"], *(r[c] for c in columns)] for r in result["breakdown"]["languages"]]
        return ["dimension", "value", *columns], rows
    raise NotFound(f"no chart {chart!r}")


CHARTS = (
    "sessions", "messages", "hours", "containment", "handoffs", "handoff_rate", "desk", "agent_ratings",
    "articles", "worst_articles", "unanswered", "exits", "breakdown",
)  # fmt: skip


# --- routes ----------------------------------------------------------------------------------


@requires(*REVIEWER_ROLES, page=True)
async def page(request: Request) -> Response:
    context = {
        "staff": request.state.staff,
        "csrf": csrf_token(request),
        "channels": CHANNELS,
        "languages": LANGUAGES,
        "definitions": DEFINITIONS,
        "default_days": DEFAULT_DAYS,
    }
    return templates.TemplateResponse(request, "analytics.html", context)


@requires(*REVIEWER_ROLES)
async def analytics_json(request: Request) -> JSONResponse:
    return JSONResponse(await report(request))


@requires(*REVIEWER_ROLES)
async def analytics_csv(request: Request) -> Response:
    chart = request.path_params["chart"]
    if chart not in CHARTS:
        raise NotFound(f"no chart {chart!r}; the charts are {', '.join(CHARTS)}")
    result = await report(request, with_questions=chart == "unanswered")
    header, rows = _rows(result, chart)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    span = f"{result['range']['since']}_{result['range']['until']}"
    headers = {"Content-Disposition": f'attachment; filename="analytics-{chart}-{span}.csv"'}
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


routes = [
    Route("/analytics", page, methods=["GET"]),
    Route("/api/analytics", analytics_json, methods=["GET"]),
    Route("/api/analytics/{chart}.csv", analytics_csv, methods=["GET"]),
]

"""The analytics dashboard's figures, counted from the sessions `bot.store.analytics` cuts (its
docstring says how), with the definitions the page shows.

Percentiles are nearest-rank: the p-th percentile of n sorted values is the one at rank
ceil(p * n / 100), always a value that occurred (p50 of 4 waits is the 2nd shortest, p90 of 4 is
the longest).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import chain
from typing import Any

from bot.store import CHANNELS
from bot.store.analytics import EPOCH_DAY, EXITS, RESOLVED, ROLES, WEEKDAYS, Query, Session
from bot.vocabulary import HANDOFF_REASONS
from knowledge_base.articles import LANGUAGES

MIN_RATINGS = 3  # for the worst-rated articles
TOP = 10  # articles listed

DEFINITIONS = {
    "session": "A conversation's messages until more than 30 minutes pass without one; while a handoff is "
    "open the session goes on. Counted on the day (or ISO week, from Monday) of its first message, UTC.",
    "language": "The language of the session's first message from the user (the conversation's, for older "
    "messages that did not record it).",
    "containment": "Sessions answered with at least one article and no handoff. Confirmed: rated helpful at "
    "least once and never not helpful. Assumed: not rated, and the user did not come back within 24 hours "
    "(a session less than 24 hours old is pending). Share: confirmed + assumed over all sessions.",
    "handoff_rate": "Sessions with a handoff for that reason, over all sessions. Tickets: sessions in which "
    "the user left a message for the team.",
    "desk": "Queue wait: from the handoff to an agent taking it. First response: from taking it to the agent's "
    "first message. Resolution: from the handoff to its end, for those returned or closed by the agent. "
    "p50 and p90 are nearest-rank percentiles.",
    "helpful_rate": "Helpful over helpful + not helpful, among the ratings of answers.",
    "unanswered": "What users asked that the bot handed off for low confidence or took as off-topic, grouped "
    "by meaning. Personal data is redacted.",
    "exits": "The last thing in the session: after the greeting (no answer, no handoff), after the first "
    "answer, after two or more answers, waiting for a person (nobody took it and no message was left), with "
    "a person (an agent took it or a ticket was left); ongoing: its last message is less than 30 minutes old.",
}


def percentile(values: list[float], p: int) -> float | None:
    """Nearest-rank: the value at rank ceil(p * n / 100) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _spread(seconds: list[float]) -> dict[str, Any]:
    p50, p90 = percentile(seconds, 50), percentile(seconds, 90)
    return {
        "count": len(seconds),
        "p50": None if p50 is None else round(p50, 1),
        "p90": None if p90 is None else round(p90, 1),
    }


# What is counted for each (period, channel, language): sums of one row a session.
FIELDS = (
    "sessions", *ROLES, "answered", "confirmed", "assumed", "pending", "handoffs", "tickets", "helpful", "not_helpful",
)  # fmt: skip
Tally = dict[str, int]


def figures(sessions: list[Session], query: Query, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard but the grouped questions (see `bot.analytics`)."""
    clock = now.timestamp()
    periods: dict[int, str] = {}
    rows: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    reasons: Counter = Counter()
    exits: Counter = Counter()
    for s in sessions:
        day = s.day
        if day not in periods:
            periods[day] = query.period(date.fromordinal(EPOCH_DAY + day))
        kind = s.containment(clock)
        helpful = sum(h for _, h in s.ratings)
        rows[(periods[day], s.channel, s.language)].append(
            (
                1, *s.roles, bool(s.answers), kind == "confirmed", kind == "assumed", kind == "pending",
                bool(s.handoffs), any(h.ticket for h in s.handoffs), helpful, len(s.ratings) - helpful,
            )
        )  # fmt: skip
        if s.handoffs:
            reasons.update({h.reason for h in s.handoffs})
        exits[s.exit(clock)] += 1
    cube = {key: [sum(column) for column in zip(*group, strict=True)] for key, group in rows.items()}
    by_period = _rollup(cube, lambda key: key[0])
    by_channel = _rollup(cube, lambda key: key[1])
    by_language = _rollup(cube, lambda key: key[2])
    per_channel = _rollup(cube, lambda key: key[:2])
    per_language = _rollup(cube, lambda key: (key[0], key[2]))
    whole = _rollup(cube, lambda key: "all")["all"]
    dates = query.periods()
    return {
        "periods": dates,
        "totals": {
            "sessions": whole["sessions"],
            "conversations": len({s.conversation_id for s in sessions}),
            "messages": {role: whole[role] for role in ROLES},
        },
        "sessions": [
            {
                "period": p,
                "sessions": by_period[p]["sessions"],
                "channels": {c: per_channel[(p, c)]["sessions"] for c in CHANNELS},
                "languages": {x: per_language[(p, x)]["sessions"] for x in LANGUAGES},
            }
            for p in dates
        ],
        "messages": [{"period": p, **{role: by_period[p][role] for role in ROLES}} for p in dates],
        "hours": _hours(sessions),
        "containment": {**_containment(whole), "series": [{"period": p, **_containment(by_period[p])} for p in dates]},
        "handoffs": {
            "sessions": whole["handoffs"],
            "rate": share(whole["handoffs"], whole["sessions"]),
            "reasons": [
                {"reason": r, "sessions": reasons[r], "rate": share(reasons[r], whole["sessions"])}
                for r in [*HANDOFF_REASONS, *sorted(set(reasons) - set(HANDOFF_REASONS))]
            ],
            "tickets": {"sessions": whole["tickets"], "rate": share(whole["tickets"], whole["sessions"])},
            "series": [
                {
                    "period": p,
                    "sessions": by_period[p]["sessions"],
                    "handoffs": by_period[p]["handoffs"],
                    "rate": share(by_period[p]["handoffs"], by_period[p]["sessions"]),
                }
                for p in dates
            ],
        },
        "desk": _desk(sessions),
        "answers": _answers(sessions),
        "exits": [{"exit": e, "sessions": exits[e], "share": share(exits[e], len(sessions))} for e in EXITS],
        "breakdown": {
            "channels": [{"channel": c, **_breakdown(by_channel[c])} for c in CHANNELS],
            "languages": [{"language": x, **_breakdown(by_language[x])} for x in LANGUAGES],
        },
    }


def _rollup(cube: dict[tuple, list[int]], key) -> defaultdict[Any, Tally]:
    """The cube's tallies summed by `key` of (period, channel, language); zeros for any other."""
    sums: dict[Any, list[int]] = {}
    for cell, tally in cube.items():
        into = sums.setdefault(key(cell), [0] * len(FIELDS))
        for i, value in enumerate(tally):
            into[i] += value
    rolled: defaultdict[Any, Tally] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    rolled.update({k: dict(zip(FIELDS, v, strict=True)) for k, v in sums.items()})
    return rolled


def _hours(sessions: list[Session]) -> dict[str, Any]:
    cells = Counter(chain.from_iterable(session.hours for session in sessions))
    grid = [[cells[day * 24 + hour] for hour in range(24)] for day in range(7)]
    return {
        "weekdays": list(WEEKDAYS),
        "grid": grid,
        "by_hour": [sum(row[hour] for row in grid) for hour in range(24)],
        "by_weekday": [sum(row) for row in grid],
    }


def _containment(tally: Tally) -> dict[str, Any]:
    contained = tally["confirmed"] + tally["assumed"]
    return {
        "sessions": tally["sessions"],
        "answered": tally["answered"],
        "confirmed": tally["confirmed"],
        "assumed": tally["assumed"],
        "pending": tally["pending"],
        "contained": contained,
        "contained_share": share(contained, tally["sessions"]),
        "rest": tally["sessions"] - contained - tally["pending"],
    }


def _desk(sessions: list[Session]) -> dict[str, Any]:
    waits, responses, resolutions, ratings = [], [], [], []
    for session in sessions:
        ratings += session.agent_ratings
        for h in session.handoffs:
            if h.claimed is not None:
                waits.append(h.claimed - h.created)
                until = math.inf if h.ended is None else h.ended
                replies = [t for t in session.agent_times if h.claimed <= t <= until]
                if replies:
                    responses.append(replies[0] - h.claimed)
            if h.outcome in RESOLVED and h.ended is not None:
                resolutions.append(h.ended - h.created)
    helpful = sum(ratings)
    return {
        "queue_wait": _spread(waits),
        "first_response": _spread(responses),
        "resolution": _spread(resolutions),
        "agent_ratings": {
            "helpful": helpful,
            "not_helpful": len(ratings) - helpful,
            "helpful_share": share(helpful, len(ratings)),
        },
    }


def _answers(sessions: list[Session]) -> dict[str, Any]:
    answered = Counter(chain.from_iterable(session.answers for session in sessions))
    rated: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # helpful, not helpful
    for session in sessions:
        for article_id, helpful in session.ratings:
            rated[article_id][0 if helpful else 1] += 1

    def row(article_id: str) -> dict[str, Any]:
        helpful, not_helpful = rated.get(article_id, (0, 0))
        return {
            "article_id": article_id,
            "answers": answered[article_id],
            "helpful": helpful,
            "not_helpful": not_helpful,
            "helpful_rate": share(helpful, helpful + not_helpful),
        }

    helpful = sum(h for h, _ in rated.values())
    not_helpful = sum(n for _, n in rated.values())
    top = sorted(answered, key=lambda a: (-answered[a], a))[:TOP]
    enough = [a for a, (h, n) in rated.items() if h + n >= MIN_RATINGS]
    worst = sorted(enough, key=lambda a: (rated[a][0] / sum(rated[a]), -rated[a][1], a))[:TOP]
    return {
        "answers": sum(answered.values()),
        "helpful": helpful,
        "not_helpful": not_helpful,
        "helpful_rate": share(helpful, helpful + not_helpful),
        "top": [row(a) for a in top],
        "worst": [row(a) for a in worst],
        "min_ratings": MIN_RATINGS,
    }


def _breakdown(tally: Tally) -> dict[str, Any]:
    contained, rated = tally["confirmed"] + tally["assumed"], tally["helpful"] + tally["not_helpful"]
    return {
        "sessions": tally["sessions"],
        "answered": tally["answered"],
        "contained": contained,
        "contained_share": share(contained, tally["sessions"]),
        "handoffs": tally["handoffs"],
        "handoff_rate": share(tally["handoffs"], tally["sessions"]),
        "helpful": tally["helpful"],
        "not_helpful": tally["not_helpful"],
        "helpful_rate": share(tally["helpful"], rated),
    }

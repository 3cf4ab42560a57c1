"""The review list as a reviewer's browser gets it, on a full database: sign in through the login
form, then time GET /api/review/conversations with each filter, and a few transcripts.

    python tests/bench/bench_review.py --database-url URL [--requests 30] [--json OUT] [--explain]

The database is one that tests/bench/generate_conversations.py filled (its reviewer signs in).
The bench prints its row counts (and table sizes on PostgreSQL), picks the filters' values from
it (the busiest agent, the most answered article, an English word in about 1 % of the messages,
a Chinese word of three or more characters), starts the app as `touchpoint run` does
(`bot.processes.app_spec`, on a free port, with a build folder of its own), and asks for every
filter --requests times, the filters taking turns, one request at a time: a reviewer clicking.
It reports p50 / p95 / max per filter and overall, the transcripts', the analytics dashboard's
(its default 30 days, DASHBOARDS loads), and the app's memory.

With --explain, for each filter slower than the budget (p95 over 300 ms), the list's two
queries (the count and the page) as the store builds them, with PostgreSQL's EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.processes import ManagedProcess, app_spec, settings_env  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.models import Claim, Conversation, Message  # noqa: E402
from tests.bench.bench_publish import peak_rss_mib, percentile  # noqa: E402
from tests.bench.generate_conversations import PASSWORD, REVIEWER  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402

BUDGET_MS = 300.0  # the issue's p95 for a filtered page
LIST = "/api/review/conversations"
TABLES = (
    "conversations", "messages", "handoffs", "claims", "tickets", "feedback", "notes", "review_labels", "users",
)  # fmt: skip
SAMPLE = 20_000  # messages read to find words for the text search
WORD_SHARE = 0.01  # the search words are in about this share of the messages
CJK_WORD = re.compile(r"[\u4e00-\u9fff]{3,}")


# --- what the database holds ----------------------------------------------------------------------


async def survey(url: str, rng: random.Random, transcripts: int) -> dict:
    """Row counts and sizes, and the values the filters use."""
    store = Store.from_url(url)
    async with store.engine.connect() as connection:
        counts = {table: await connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in TABLES}
        sizes = {}
        if store.engine.dialect.name == "postgresql":
            for table in TABLES:
                total, heap = (
                    await connection.execute(
                        text(f"SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}')")
                    )
                ).one()
                sizes[table] = {"total_mib": round(total / 2**20), "table_mib": round(heap / 2**20)}
        last = await connection.scalar(select(func.max(Conversation.updated_at)))
        agent = (
            await connection.execute(
                select(Claim.agent_id, func.count()).group_by(Claim.agent_id).order_by(func.count().desc()).limit(1)
            )
        ).one()[0]
        article = (
            await connection.execute(
                select(Message.article_id, func.count())
                .where(Message.article_id.is_not(None))
                .group_by(Message.article_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()[0]
        highest = await connection.scalar(select(func.max(Message.id)))
        step = max(1, highest // SAMPLE)
        said = list(await connection.scalars(select(Message.text).where(Message.id % step == 0)))
        ids = list(await connection.scalars(select(Conversation.id).order_by(Conversation.id)))
    await store.close()
    return {
        "counts": counts,
        "sizes": sizes,
        "last_day": last.date(),
        "agent": agent,
        "article": article,
        "english": english_word(said),
        "chinese": chinese_word(said),
        "transcripts": rng.sample(ids, min(transcripts, len(ids))),
    }


def closest(frequencies: Counter[str], count: int) -> str:
    """The word found in the share WORD_SHARE of `count` messages, or nearest to it."""
    return min(sorted(frequencies), key=lambda word: abs(frequencies[word] / count - WORD_SHARE))


def english_word(said: list[str]) -> str:
    """A word of five letters or more, in about 1 % of the messages (as the search finds it: any
    message that contains it, in any case)."""
    lowered = [s.lower() for s in said]
    words = Counter(word for s in lowered for word in set(re.findall(r"[a-z]{5,}", s)))
    near = sorted(words, key=lambda word: abs(words[word] / len(said) - WORD_SHARE))[:40]
    return closest(Counter({word: sum(word in s for s in lowered) for word in near}), len(said))


def chinese_word(said: list[str]) -> str:
    """A Chinese word (jieba's) of three characters or more, in about 1 % of the messages."""
    import jieba

    jieba.setLogLevel(60)
    chinese = [s for s in said if CJK_WORD.search(s)]
    words = Counter(word for s in chinese for word in {w for w in jieba.lcut(s) if CJK_WORD.fullmatch(w)})
    near = sorted(words, key=lambda word: abs(words[word] / len(said) - WORD_SHARE))[:40]
    return closest(Counter({word: sum(word in s for s in said) for word in near}), len(said))


def filters(found: dict) -> dict[str, dict[str, str]]:
    """The filter combinations timed, by name: a reviewer's usual questions of the list."""
    last = found["last_day"]
    week = {"since": str(last - timedelta(days=13)), "until": str(last - timedelta(days=7))}  # 7 days
    return {
        "no filter": {},
        "page 50": {"page": "50"},
        "a week": week,
        "telegram, zh": {"channel": "telegram", "language": "zh"},
        "handed off, low confidence, zh": {"outcome": "handed_off", "reason": "low_confidence", "language": "zh"},
        "ticket": {"outcome": "ticket"},
        "abandoned": {"outcome": "abandoned"},
        "not helpful": {"rating": "not_helpful"},
        "agent": {"agent": str(found["agent"])},
        "article": {"article": found["article"]},
        "q, English": {"q": found["english"]},
        "q, Chinese": {"q": found["chinese"]},
        "not reviewed, handed off": {"reviewed": "no", "outcome": "handed_off"},
    }


# --- a reviewer's browser ---------------------------------------------------------------------------


def sign_in(http: httpx.Client, username: str, password: str) -> None:
    """Through the login form, as a browser does: its CSRF token, then the form."""
    page = http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post("/login", data={"username": username, "password": password, "csrf_token": csrf, "next": ""})
    if response.status_code != 303:
        raise SystemExit(f"signing in as {username!r} failed: {response.status_code} {response.text[:200]}")


def timed(http: httpx.Client, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = http.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def summary(values: list[float]) -> dict:
    return {
        "requests": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


DASHBOARDS = 5  # timed loads of the analytics dashboard, after an untimed one


def measure(base: str, combinations: dict[str, dict[str, str]], transcripts: list[str], requests: int) -> dict:
    """Every combination `requests` times, taking turns (after one untimed round), then transcripts."""
    latencies: dict[str, list[float]] = {name: [] for name in combinations}
    totals: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as http:
        sign_in(http, REVIEWER[0], PASSWORD)
        for round_number in range(requests + 1):
            for name, params in combinations.items():
                elapsed, body = timed(http, LIST + ("?" + urlencode(params) if params else ""))
                if round_number:
                    latencies[name].append(elapsed)
                totals[name] = body["total"]
        opened = [timed(http, f"{LIST}/{quote(cid, safe='/:')}")[0] for cid in transcripts]
        # The analytics dashboard over its default 30 days (its JSON: every figure and the groups).
        dashboard = [timed(http, "/api/analytics")[0] for _ in range(DASHBOARDS + 1)][1:]
    results = {
        name: {"params": combinations[name], "total": totals[name], **summary(values)}
        for name, values in latencies.items()
    }
    return {
        "filters": results,
        "overall": summary([v for values in latencies.values() for v in values]),
        "transcript": summary(opened),
        "analytics": summary(dashboard),
    }


# --- why a filter is slow ---------------------------------------------------------------------------


async def explain(url: str, params: dict[str, str]) -> list[tuple[str, str]]:
    """The list's count and page queries for `params`, as bot.store.review.Review.page builds
    them, each with PostgreSQL's EXPLAIN (ANALYZE, BUFFERS)."""
    from bot.exports import conversation_filter
    from bot.store.review import _conditions

    conditions = _conditions(conversation_filter(params))
    page = int(params.get("page", 1))
    queries = {
        "count": select(func.count()).select_from(Conversation).where(*conditions),
        "page": select(Conversation)
        .where(*conditions)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .offset((page - 1) * 50)
        .limit(50),
    }
    plans = []
    store = Store.from_url(url)
    try:
        async with store.engine.connect() as connection:
            for name, query in queries.items():
                sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
                plan = await connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))
                plans.append((f"{name}: {sql}", "\n".join(row[0] for row in plan)))
    finally:
        await store.close()
    return plans


# --- the report -------------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    keys = ("total", "requests", "p50_ms", "p95_ms", "max_ms")
    print("\n| filter | " + " | ".join(keys) + " |\n" + "|---" * (len(keys) + 1) + "|")
    for name, result in report["filters"].items():
        flag = " **over budget**" if result["p95_ms"] > BUDGET_MS else ""
        print(f"| {name}{flag} | " + " | ".join(f"{result[k]:,}" for k in keys) + " |")
    for name in ("overall", "transcript", "analytics"):
        result = report[name]
        print(f"| ({name}) | | " + " | ".join(f"{result[k]:,}" for k in keys[1:]) + " |")
    memory = report["app_memory_mib"]
    print(f"\napp RSS: {memory['rss']} MiB (peak {memory['peak_rss']} MiB)")
    slow = [name for name, result in report["filters"].items() if result["p95_ms"] > BUDGET_MS]
    print(f"over {BUDGET_MS:g} ms at p95: {', '.join(slow) or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a database generate_conversations.py filled")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per filter")
    parser.add_argument("--transcripts", type=int, default=50, help="random transcripts opened")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the filters over budget (PostgreSQL)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests: at least 1")
    # `kill` of the bench must stop the app too: SystemExit runs the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    found = asyncio.run(survey(args.database_url, random.Random(args.seed), args.transcripts))
    print("rows: " + ", ".join(f"{table} {count:,}" for table, count in found["counts"].items()))
    for table, size in found["sizes"].items():
        print(f"  {table}: {size['total_mib']:,} MiB with its indexes ({size['table_mib']:,} MiB of table)")
    combinations = filters(found)
    for name, params in combinations.items():
        print(f"  {name}: {LIST}?{urlencode(params)}")

    run_dir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-review-"))
    settings = load_settings().with_overrides(
        database_url=args.database_url, app_port=free_port(), build_dir=run_dir / "build"
    )
    spec = app_spec(settings, settings_env(settings), run_dir)
    # No Rasa here, so /healthz says "degraded" (503): the login page says the app is up.
    app = ManagedProcess(replace(spec, ready_url=spec.ready_url.replace("/healthz", "/login")))
    report: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "database": make_url(args.database_url).get_backend_name(),
        "rows": found["counts"],
        "sizes_mib": found["sizes"],
    }
    ok = False
    try:
        print(f"starting the app (log in {app.spec.log_path})...", flush=True)
        app.start()
        app.wait_ready()
        base = f"http://{settings.host}:{settings.app_port}"
        report.update(measure(base, combinations, found["transcripts"], args.requests))
        peak, now = peak_rss_mib(app.pid)
        report["app_memory_mib"] = {"peak_rss": round(peak), "rss": round(now)}
        ok = True
    finally:
        app.stop()
        if ok:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"failed; kept {run_dir} (the app's log is there)", file=sys.stderr)
    print_report(report)
    if args.explain:
        slow = {n: r["params"] for n, r in report["filters"].items() if r["p95_ms"] > BUDGET_MS}
        report["plans"] = {}
        for name, params in slow.items():
            plans = asyncio.run(explain(args.database_url, params))
            report["plans"][name] = [{"query": q, "plan": p} for q, p in plans]
            for query, plan in plans:
                print(f"\n--- {name}, {query}\n{plan}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

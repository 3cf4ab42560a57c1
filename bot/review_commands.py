"""The reviewers' and the data protection officer's commands:

    touchpoint review export [--format csv|jsonl] [--output FILE] [filters]   conversations, redacted
    touchpoint review export-queries [--output FILE]                          labelled questions as a query set
    touchpoint purge --conversation ID [...]                                  one user's data, everywhere
    touchpoint purge --older-than-retention                                   what TOUCHPOINT_RETENTION_DAYS allows

The export's filters are the review list's (`bot.exports.conversation_filter`).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from bot.errors import InvalidRequest
from bot.settings import Settings

FILTER_OPTIONS = {
    "since": "conversations active on or after this day (YYYY-MM-DD)",
    "until": "conversations started on or before this day (YYYY-MM-DD)",
    "channel": "telegram, widget, api or cli",
    "language": "en or zh",
    "outcome": "bot, handed_off, ticket or abandoned",
    "reason": "a handoff reason, e.g. low_confidence",
    "rating": "helpful, not_helpful, agent_helpful, agent_not_helpful or unrated",
    "agent": "an agent's user id",
    "article": "an article's id (answered or inserted by an agent)",
    "q": "text in a message or the conversation's id",
    "reviewed": "yes or no",
    "label": "bot_right, should_answer, missing_article, agent_issue or other",
}


def add_parsers(commands) -> None:
    review = commands.add_parser("review", help="export conversations (redacted) or the reviewers' labelled queries")
    actions = review.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="the filtered conversations as CSV (a row a message) or JSON Lines")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--output", "-o", help="write here (default: standard output)")
    for name, help_text in FILTER_OPTIONS.items():
        export.add_argument(f"--{name}", help=help_text)
    queries = actions.add_parser(
        "export-queries",
        help="labelled questions as a query set for `touchpoint eval` (YAML, or JSON Lines for .jsonl)",
    )
    queries.add_argument("--output", "-o", help="write here (default: standard output, YAML)")
    purge = commands.add_parser("purge", help="delete conversations everywhere they are stored (database, Rasa)")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", action="append", metavar="ID", help="a conversation's id (repeatable)")
    which.add_argument(
        "--older-than-retention", action="store_true", help="every conversation older than TOUCHPOINT_RETENTION_DAYS"
    )
    purge.add_argument(
        "--skip-rasa", action="store_true", help="Rasa is not running (its in-memory trackers hold nothing to clear)"
    )


def _with_store(settings: Settings, work):
    from bot.cli import with_store

    return with_store(settings, work)


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "export":
        return _export(settings, args)
    return _export_queries(settings, args)


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.exports import conversation_filter, csv_lines, jsonl_lines

    try:
        where = conversation_filter({name: getattr(args, name) or "" for name in FILTER_OPTIONS})
    except InvalidRequest as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    lines = csv_lines if args.format == "csv" else jsonl_lines

    async def work(store) -> int:
        count = 0
        with open(args.output, "w", encoding="utf-8", newline="") if args.output else nullcontext(sys.stdout) as out:
            async for line in lines(store.review, where):
                out.write(line)
                count += 1
        return count

    written = _with_store(settings, work)
    if args.output:
        unit = "rows (with the header)" if args.format == "csv" else "conversations"
        print(f"Wrote {written} {unit} to {args.output} (personal data redacted)", file=sys.stderr)
    return 0


def _export_queries(settings: Settings, args: argparse.Namespace) -> int:
    import yaml

    queries = _with_store(settings, lambda store: store.review.labelled_queries())
    items = [
        {
            "query": q.text,
            "language": q.language,
            "article": q.article_id,
            "label": q.label,
            "conversation": q.conversation_id,
        }
        for q in queries
    ]
    if args.output and Path(args.output).suffix in (".jsonl", ".ndjson"):
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    else:
        header = (
            "# Questions users asked, labelled by reviewers (touchpoint review export-queries).\n"
            "# article: the article that answers it; null: none does (a missing article).\n"
        )
        text = header + yaml.safe_dump({"queries": items}, allow_unicode=True, sort_keys=False, width=1000)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(
            f"Wrote {len(items)} labelled queries to {args.output}; score them: touchpoint eval --queries {args.output}"
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from bot.rasa_client import RasaClient, RasaUnavailable
    from bot.retention import PurgeFailed, purge, sweep

    if args.older_than_retention and not settings.retention_days:
        print("error: TOUCHPOINT_RETENTION_DAYS is not set: every conversation is kept", file=sys.stderr)
        return 2

    async def work(store) -> int:
        rasa = None if args.skip_rasa else RasaClient(settings.rasa_url, settings.actions_url, timeout=10)
        try:
            if args.older_than_retention:
                return await sweep(store, rasa, settings.retention_days)
            return await purge(store, rasa, args.conversation)
        finally:
            if rasa is not None:
                await rasa.close()

    try:
        deleted = _with_store(settings, work)
    except RasaUnavailable as exc:
        print(
            f"error: {exc}; nothing was deleted. Start Touchpoint (Rasa) and retry, or pass --skip-rasa if Rasa is "
            "not running (its in-memory trackers then hold nothing)",
            file=sys.stderr,
        )
        return 1
    except PurgeFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.conversation and deleted < len(args.conversation):
        print(f"Deleted {deleted} of {len(args.conversation)} conversations (the others were not found)")
        return 1 if deleted == 0 else 0
    print(f"Deleted {deleted} conversations and everything stored about them")
    return 0

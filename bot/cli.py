"""`touchpoint`: run the stack, talk to it, and manage the knowledge base from a terminal."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx

from bot import review_commands
from bot.settings import PROJECT_ROOT, ConfigError, Settings, load_settings


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge_base.articles import ArticleError, load_articles

    folder = Path(args.folder) if args.folder else settings.articles_dir
    try:
        articles = load_articles(folder, include_unpublished=True)
    except (ArticleError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    languages = sorted({a.language for a in articles})
    print(f"{len(articles)} articles OK ({', '.join(languages)}) in {folder}")
    return 0


def published_index(settings: Settings, *, rebuild: bool = False, build_into: Path | None = None):
    """The index of the published knowledge base in the database (the demo folder imported into
    a database that has no articles yet), built if no process built it before.

    With `build_into` (`touchpoint ask`), the running bot's index folder is only read: its build
    of these articles is loaded if it has one, else the index is built under `build_into`. No
    build and no clean-up of old builds then touches the folder the bot serves from, whatever
    the environment says about models or the database."""
    from knowledge_base.encoder import load_encoders
    from knowledge_base.index import KEY_CHARS, IndexSettings, KnowledgeIndex, build_key, cached_index, read_manifest
    from knowledge_base.text import Analyzer

    async def work(store):
        await store.library.seed(settings.articles_dir)
        return await store.library.live_articles()

    version, articles = with_store(settings, work)
    encoders = load_encoders(settings.embedding_models)
    models_on_one_thread()
    analyzer = Analyzer(settings.cache_dir)
    if build_into is not None:
        live = settings.index_dir / build_key(articles, encoders, IndexSettings())[:KEY_CHARS]
        if read_manifest(live) is not None:
            try:
                return version, KnowledgeIndex.load(live), encoders
            except (OSError, ValueError, KeyError):  # pruned or damaged meanwhile: build our own
                pass
        return version, cached_index(articles, build_into, encoders, analyzer), encoders
    if rebuild:
        shutil.rmtree(settings.index_dir, ignore_errors=True)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return version, cached_index(articles, settings.index_dir, encoders, analyzer), encoders


def cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge_base.articles import ArticleError

    try:
        version, index, _ = published_index(settings, rebuild=args.rebuild)
    except (ArticleError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = index.manifest
    print(
        f"index of knowledge-base version {version} at {settings.index_dir}: {manifest['articles']} articles, "
        f"units {manifest['units']}, models {manifest['models']}, built {manifest['built_at']}"
    )
    return 0


def cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    """`touchpoint kb import DIR`: the folder's articles into the database, all or nothing;
    `kb export DIR`: every article back out as files."""
    from knowledge_base.articles import ArticleError, read_article_files

    folder = Path(args.folder)
    if args.action == "import":
        try:
            files = read_article_files(folder)
        except (ArticleError, FileNotFoundError) as exc:
            print(f"error: {exc}; nothing was imported", file=sys.stderr)
            return 1
        report = with_store(settings, lambda store: store.library.import_articles(files))
        print(
            f"Imported {folder}: {report.added} new, {report.changed} changed, {report.unchanged} unchanged; "
            f"knowledge-base version {report.version} (running action servers follow within seconds)."
        )
        return 0
    if folder.exists() and any(folder.iterdir()) and not args.force:
        print(f"error: {folder} is not empty; export into a new folder or pass --force", file=sys.stderr)
        return 1
    articles = with_store(settings, lambda store: store.library.export_articles())
    for article, text in articles:
        path = folder / article.language / f"{article.id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    print(f"Exported {len(articles)} articles to {folder}")
    return 0


# The largest widget frame: a 4096-character message in any script fits; bigger is refused early.
WS_MAX_SIZE = 64 * 1024


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.app_port,
        log_level="info",
        ws_max_size=WS_MAX_SIZE,
    )
    return 0


def with_store(settings: Settings, work):
    """Run `await work(store)` on the app's database (schema created if new) and return its result."""
    import asyncio

    from bot.store import Store

    async def run():
        store = Store.from_url(settings.database_url)
        try:
            await store.upgrade()
            return await work(store)
        finally:
            await store.close()

    settings.build_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run())


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    """`touchpoint db upgrade`: migrate the database to the newest schema; `db revision`: say where it is."""
    import asyncio

    from bot.store import Store
    from bot.store.migrate import head, revision

    async def run() -> int:
        store = Store.from_url(settings.database_url)
        try:
            if args.action == "upgrade":
                before, after = await store.upgrade()
                if before == after:
                    print(f"The database is up to date (revision {after}).")
                else:
                    print(f"Upgraded the database from revision {before or 'none (new database)'} to {after}.")
            else:
                current = await revision(store.engine)
                print(f"revision {current or 'none'}; newest {head()}")
            return 0
        finally:
            await store.close()

    settings.build_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run())


def cmd_domain(settings: Settings, args: argparse.Namespace) -> int:
    """`touchpoint domain`: write Rasa's domain with its responses from bot/strings."""
    from bot.rasa_domain import write_domain

    out = write_domain(Path(args.out) if args.out else settings.build_dir / "domain.yml")
    print(f"Wrote {out}")
    return 0


DEMO_STAFF = (
    ("demo", "Demo Agent", "agent"),
    ("curator", "Demo Curator", "curator"),
    ("reviewer", "Demo Reviewer", "reviewer"),
)


def ensure_demo_staff(settings: Settings) -> str | None:
    """On a database with no staff at all, make an agent 'demo', a curator 'curator' and a
    reviewer 'reviewer' with one random password, so the desk, the curation and the review pages
    can be tried at once; returns that password (None if there were accounts)."""
    import secrets

    from bot.auth import hash_password

    async def work(store) -> str | None:
        if await store.users():
            return None
        password = secrets.token_urlsafe(12)
        for username, name, role in DEMO_STAFF:
            await store.add_user(username, name, role, hash_password(password))
        return password

    return with_store(settings, work)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.processes import Stack, StartupError

    # `kill` (SIGTERM) stops the stack as cleanly as Ctrl-C: the children run in their own sessions.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if cmd_db(settings, argparse.Namespace(action="upgrade")):
        return 1
    print("Starting Rasa, the action server and the app (first start takes about a minute)...", flush=True)
    try:
        stack = Stack(settings)
        stack.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    base = f"http://{settings.host}:{settings.app_port}"
    demo_password = ensure_demo_staff(settings)
    if demo_password:
        console = f"{base}/console  (made agent 'demo', password {demo_password}; `touchpoint users add` for real ones)"
        curation = f"{base}/curation  (made curator 'curator', the same password)"
        review = f"{base}/review  (made reviewer 'reviewer', the same password; analytics at /analytics)"
    else:
        console = f"{base}/console  (staff accounts: `touchpoint users list`)"
        curation = f"{base}/curation  (roles curator and admin)"
        review = f"{base}/review  (roles reviewer and admin; analytics at /analytics)"
    if not settings.telegram_token:
        telegram = "off (set TELEGRAM_TOKEN to start the bot)"
    elif settings.telegram_webhook_url:
        telegram = f"webhook at {settings.telegram_webhook_url}"
    else:
        telegram = "long polling"
    print(
        f"\nTouchpoint is running.\n"
        f'  Widget:   {base}/demo  (embed: <script src="{base}/widget.js" async></script>)\n'
        f"  Console:  {console}\n"
        f"  Curation: {curation}\n"
        f"  Review:   {review}\n"
        f"  Telegram: {telegram}\n"
        f"  API:      POST {base}/api/messages\n"
        f"  Health:   {base}/healthz\n"
        f"  Chat:     build/app-env/bin/touchpoint chat --url {base}\n"
        f"  Logs:     {stack.run_dir / 'logs'}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        while all(p.running for p in stack.processes):
            time.sleep(1)
        crashed = [p.spec.name for p in stack.processes if not p.running]
        print(f"error: {', '.join(crashed)} stopped; see {stack.run_dir / 'logs'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        stack.stop()


def render(reply: dict) -> str:
    lines = []
    for message in reply.get("messages", []):
        if message.get("title"):
            score = message.get("score")
            lines.append(f"[{message['title']}]" + (f" (score {score:.2f})" if score is not None else ""))
        lines.append(message["text"])
        for number, choice in enumerate(message.get("choices") or [], start=1):
            lines.append(f"  {number}. {choice['title']}")
    if reply.get("handoff"):
        lines.append(f"-- handed off to a person (reason: {reply['handoff']['reason']}) --")
    return "\n".join(lines)


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    url = (args.url or f"http://{settings.host}:{settings.app_port}").rstrip("/")
    conversation_id = args.conversation or f"cli-{uuid.uuid4().hex[:12]}"
    print(f"Chatting as {conversation_id} with {url}. Type a question; a number picks a choice; Ctrl-D quits.")
    choices: list[dict] = []
    with httpx.Client(timeout=60) as http:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if not text:
                continue
            if text.isdigit() and 1 <= int(text) <= len(choices):
                text = choices[int(text) - 1]["payload"]
            try:
                response = http.post(
                    f"{url}/api/messages", json={"conversation_id": conversation_id, "text": text, "channel": "cli"}
                )
            except httpx.HTTPError as exc:
                print(f"error: cannot reach {url} ({exc}); is `make run` running?", file=sys.stderr)
                return 1
            body = response.json()
            if response.status_code != 200:
                print(f"error: {body.get('error', {}).get('message', body)}", file=sys.stderr)
                continue
            choices = [c for m in body["messages"] for c in m.get("choices") or []]
            print("bot> " + render(body).replace("\n", "\n     "))


def models_on_one_thread() -> None:
    """torch, if a model brought it in, computes on one thread (see `main`); set here too for a
    process that imported torch before `main` set the environment."""
    if (torch := sys.modules.get("torch")) is not None:
        threads = os.environ.get("OMP_NUM_THREADS", "1")
        torch.set_num_threads(int(threads) if threads.isdigit() and int(threads) > 0 else 1)


def outside_live_index(settings: Settings, folder: Path) -> Path:
    """`folder`, unless it is, holds or lies in the running bot's index folder: a command that
    keeps an index of its own never writes or prunes the one the bot serves from."""
    folder, live = folder.resolve(), settings.index_dir.resolve()
    if folder == live or live in folder.parents or folder in live.parents:
        raise ConfigError(f"--index-dir {folder} would write into the running bot's index at {live}; choose another")
    return folder


def folder_searcher(settings: Settings, articles: str | None, index_dir: str | None):
    """The folder of articles (default: TOUCHPOINT_ARTICLES_DIR) and a searcher over it, its index
    kept in build/eval-index/<folder key> unless `index_dir` says where."""
    from knowledge_base.encoder import load_encoders
    from knowledge_base.evaluation import folder_key
    from knowledge_base.index import open_index
    from knowledge_base.search import HybridSearcher
    from knowledge_base.text import Analyzer

    articles_dir = Path(articles or settings.articles_dir).resolve()
    # Each folder keeps its own index (converted benchmarks all call their folder "articles").
    default = settings.build_dir / "eval-index" / folder_key(articles_dir)
    index_dir = outside_live_index(settings, Path(index_dir) if index_dir else default)
    encoders = load_encoders(settings.embedding_models)
    models_on_one_thread()  # before the index is built: building encodes every unit
    analyzer = Analyzer(settings.cache_dir)
    return articles_dir, HybridSearcher(open_index(articles_dir, index_dir, encoders, analyzer), encoders, analyzer)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Search the knowledge base directly, without Rasa: what would the bot answer? The published
    knowledge base (the running bot's index is only read), or with --articles a folder's."""
    from dataclasses import replace

    from actions.answer import decide
    from actions.server import answer_settings
    from knowledge_base.articles import ArticleError
    from knowledge_base.search import HybridSearcher
    from knowledge_base.text import Analyzer, detect_language

    try:
        if args.articles:
            articles_dir, searcher = folder_searcher(settings, args.articles, args.index_dir)
            source = str(articles_dir)
        else:
            own = outside_live_index(settings, Path(args.index_dir or settings.build_dir / "ask-index"))
            version, index, encoders = published_index(settings, build_into=own)
            searcher = HybridSearcher(index, encoders, Analyzer(settings.cache_dir))
            source = f"published, version {version}"
    except (ArticleError, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    answering = answer_settings(settings)
    if args.threshold is not None:
        answering = replace(answering, threshold=args.threshold)
    language = args.language or detect_language(args.question)
    hits = searcher.search(args.question, language, k=args.k)
    # As the bot decides when its NLU does not take the message for small talk (off-topic).
    verdict = decide(hits, answering, off_topic=False, language=language)
    print(json.dumps({"knowledge_base": source, "language": language, "threshold": verdict.threshold,
                      "decision": verdict.decision,
                      "hits": [{"article_id": h.article.id, "title": h.article.title, "score": round(h.score, 4),
                                "dense": round(h.dense, 4), "lexical": round(h.lexical, 4),
                                "probability": round(h.probability, 4)} for h in hits]},
                     ensure_ascii=False, indent=2))  # fmt: skip
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Score a knowledge base on a query set: retrieval, the handoff decision, a threshold sweep,
    figures per kind of query, and each query's result. Earlier results are never overwritten."""
    from tqdm import tqdm

    from knowledge_base.articles import ArticleError
    from knowledge_base.evaluation import (
        QuerySetError,
        folder_key,
        format_report,
        load_queries,
        plot_curve,
        report,
        reserve_paths,
        run,
        write_records,
    )

    try:
        queries = load_queries(args.queries)
        tuning = load_queries(args.choose_threshold_on) if args.choose_threshold_on else None
        articles_dir, searcher = folder_searcher(settings, args.articles, args.index_dir)
    except (QuerySetError, ArticleError, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    default = settings.answer_threshold if args.threshold is None else args.threshold
    threshold, at_default = default, None
    if tuning is not None:
        tuned = run(
            searcher,
            tqdm(tuning, disable=None, desc=f"choosing the threshold on {Path(args.choose_threshold_on).name}"),
        )
        threshold = report([r.outcome for r in tuned], default)["all"]["best_threshold"]["threshold"]
        at_default = default  # the figures at the default setting are reported beside the chosen one's
        print(f"threshold chosen on {args.choose_threshold_on}: {threshold:.2f} (default {default:.2f})")
    results = run(searcher, tqdm(queries, disable=None, desc=f"evaluating {Path(args.queries).name}"))
    result = report([r.outcome for r in results], threshold, default=at_default)
    print(format_report(result))

    name = Path(args.queries).stem
    json_path = (
        Path(args.json) if args.json else settings.build_dir / "eval" / folder_key(articles_dir) / f"{name}.json"
    )
    records = json_path.with_suffix(".jsonl" if json_path.suffix != ".jsonl" else ".queries.jsonl")
    if args.plot:
        json_path, records_path = reserve_paths(json_path, records)
        (plot_path,) = reserve_paths(Path(args.plot))
    else:
        json_path, records_path, plot_path = reserve_paths(json_path, records, json_path.with_suffix(".png"))
    summary = {
        "queries": str(args.queries),
        "articles": str(articles_dir),
        "threshold": threshold,
        "default_threshold": default,
        "threshold_chosen_on": args.choose_threshold_on,
        "per_query": str(records_path),
        "models": searcher.index.manifest["models"],
        "results": result,
    }
    json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_records(results, records_path, threshold, at_default)
    plot_curve(result, plot_path, title=f"{name}: answer or hand off")
    print(f"wrote {json_path}\n      {records_path} (one line per query)\n      {plot_path}")
    return 0


def cmd_convert(settings: Settings, args: argparse.Namespace) -> int:
    """Turn a team's FAQ data (CSV, TSV, Rasa, Dialogflow, Azure QnA) into articles for `touchpoint kb
    import`, or a public benchmark into a knowledge base and query sets for `touchpoint eval`."""
    from collections import Counter

    from knowledge_base.benchmarks import CONVERTERS, write_benchmark
    from knowledge_base.imports import IMPORTERS, SourceError, write_articles

    source, out = Path(args.source), Path(args.out)
    team_formats = tuple(IMPORTERS)
    applies_to = {
        "shots": ("banking77",),
        "articles": ("lcqmc",),
        "seed": ("clinc150-unseen",),
        "language": team_formats,
        "responses": ("rasa",),
        "force": team_formats,
    }
    options = {name: getattr(args, name) for name in applies_to if getattr(args, name) not in (None, False)}
    for name in options:
        if args.format not in applies_to[name]:
            print(f"error: --{name} applies to {', '.join(applies_to[name])} only", file=sys.stderr)
            return 2

    if args.format in IMPORTERS:
        replace = options.pop("force", False)
        if "responses" in options:
            options["responses"] = Path(options["responses"])
        try:
            imported = IMPORTERS[args.format](source, **options)
            if not imported.articles:
                raise SourceError(source, None, None, "has no questions to import")
            folder = write_articles(imported, out, replace=replace)
        except (SourceError, OSError) as exc:
            print(f"error: {exc}; nothing was written", file=sys.stderr)
            return 1
        languages = Counter(a.language for a in imported.articles)
        drafts = imported.drafts
        print(
            f"wrote {len(imported.articles)} article{'' if len(imported.articles) == 1 else 's'} to {folder} "
            f"({', '.join(f'{language} {n}' for language, n in sorted(languages.items()))}): "
            f"{len(imported.articles) - len(drafts)} published, {len(drafts)} "
            + ("draft that needs an answer" if len(drafts) == 1 else "drafts that need an answer")
        )
        for draft in drafts[:10]:
            print(f"  draft {draft.language}/{draft.id}.md: {draft.title}")
        if len(drafts) > 10:
            print(f"  ... and {len(drafts) - 10} more drafts")
        for note in imported.notes:
            print(f"note: {note}")
        print(f"next: touchpoint kb import {folder}  (drafts are never answered until a curator publishes them)")
        return 0

    try:
        benchmark = CONVERTERS[args.format](source, **options)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot read {args.format} from {source}: {exc!r}", file=sys.stderr)
        return 1
    counts = write_benchmark(benchmark, out)
    print(f"wrote {out}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    for split, queries in benchmark.splits.items():
        if kinds := Counter(q["kind"] for q in queries if "kind" in q):
            print(f"  {split}: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items()))
    if benchmark.about:
        print(f"  how it was made: {out / 'benchmark.json'}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from bot.auth import AccountError, check_role, check_username, hash_password

    async def work(store) -> int:
        if args.action == "list":
            for user in await store.users():
                state = "" if user.active else "  (disabled)"
                print(f"{user.username:<24} {user.role:<9} {user.name}{state}")
            return 0
        username = check_username(args.username.lower())
        if args.action == "add":
            role = check_role(args.role)
            await store.add_user(username, args.name or username, role, hash_password(_read_password(args)))
            print(f"added {username} ({role})")
        elif not await store.set_password(username, hash_password(_read_password(args))):
            raise AccountError(f"there is no user '{username}'")
        else:
            print(f"password changed for {username}; their open sessions are signed out")
        return 0

    try:
        return with_store(settings, work)
    except ValueError as exc:  # AccountError, a taken username, passwords that differ
        print(f"error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchpoint", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a folder of articles; report file, line and field")
    validate.add_argument("folder", nargs="?", help="default: TOUCHPOINT_ARTICLES_DIR, the demo knowledge base")
    index = commands.add_parser(
        "index",
        help="build the published knowledge base's index if no process built it (imports the demo into a new database)",
    )
    index.add_argument("--rebuild", action="store_true", help="discard every saved build and build again")
    kb = commands.add_parser("kb", help="the knowledge base in the database: import or export a folder of articles")
    kb.add_argument("action", choices=("import", "export"))
    kb.add_argument("folder", help="a folder of Markdown articles (<language>/<id>.md)")
    kb.add_argument("--force", action="store_true", help="export: write into a folder that is not empty")
    serve = commands.add_parser("serve", help="run the app alone (Rasa and actions must be running)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("run", help="start Rasa, the action server and the app")
    chat = commands.add_parser("chat", help="talk to a running Touchpoint in the terminal")
    chat.add_argument("--url", help="the app's base URL")
    chat.add_argument("--conversation", help="continue this conversation id")
    ask = commands.add_parser("ask", help="search the knowledge base for a question, without Rasa")
    ask.add_argument("question")
    ask.add_argument("--language", choices=["en", "zh"])
    ask.add_argument("-k", type=int, default=5)
    ask.add_argument("--articles", help="ask this folder's knowledge base (default: the published one)")
    ask.add_argument(
        "--index-dir",
        help="where ask keeps its own index (default: build/eval-index/KEY with --articles, else build/ask-index); "
        "never the running bot's",
    )
    ask.add_argument("--threshold", type=float, help="handoff threshold (default: TOUCHPOINT_ANSWER_THRESHOLD)")
    convert = commands.add_parser(
        "convert", help="turn a team's FAQ data into articles, or a public benchmark into articles and query sets"
    )
    convert.add_argument(
        "format",
        choices=["csv", "tsv", "rasa", "dialogflow", "azure", "clinc150", "clinc150-unseen", "banking77", "stackfaq",
                 "lcqmc"],
        help="csv, tsv (question,intent[,answer] or question,answer), rasa (NLU YAML), dialogflow (ES export), "
             "azure (QnA Maker / Language Studio TSV or JSON); or a public benchmark",
    )  # fmt: skip
    convert.add_argument("source", help="the file or folder to read, e.g. faq.csv or ../shared/benchmarks/clinc150")
    convert.add_argument("out", help="where to write articles/ (and a benchmark's *.jsonl query sets)")
    convert.add_argument(
        "--language", choices=["en", "zh"],
        help="every question is in this language (default: a language column, else detected); "
             "dialogflow: import this language only",
    )  # fmt: skip
    convert.add_argument("--responses", metavar="FILE", help="rasa: domain.yml or responses.yml (utter_<intent>)")
    convert.add_argument("--force", action="store_true", help="team formats: replace OUT/articles if it has files")
    convert.add_argument("--shots", type=int, help="banking77: keep this many training examples per intent")
    convert.add_argument("--articles", type=int, help="lcqmc: keep this many questions as articles, e.g. 10000")
    convert.add_argument("--seed", type=int, help="clinc150-unseen: which intents are left out (default 1)")
    domain = commands.add_parser("domain", help="write Rasa's domain, its responses from bot/strings (for training)")
    domain.add_argument("--out", help="where to write it (default: build/domain.yml)")
    database = commands.add_parser("db", help="the database: upgrade (run by `touchpoint run`), revision")
    database.add_argument("action", choices=("upgrade", "revision"))
    users = commands.add_parser("users", help="staff accounts: add, list, passwd")
    user_actions = users.add_subparsers(dest="action", required=True)
    add = user_actions.add_parser("add", help="add a member of staff")
    add.add_argument("username")
    add.add_argument("--role", required=True, help="agent, curator, reviewer or admin")
    add.add_argument("--name", help="the name agents and users see (default: the username)")
    user_actions.add_parser("list", help="list staff accounts")
    passwd = user_actions.add_parser("passwd", help="set a new password (signs out their sessions)")
    passwd.add_argument("username")
    for command in (add, passwd):
        command.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    evaluate = commands.add_parser("eval", help="score retrieval and handoff decisions on a query set")
    evaluate.add_argument(
        "--queries", default=str(PROJECT_ROOT / "knowledge_base" / "eval" / "heldout.yml"),
        help="YAML or JSON Lines query set (default: the demo knowledge base's held-out queries)",
    )  # fmt: skip
    evaluate.add_argument("--articles", help="the knowledge base (default: TOUCHPOINT_ARTICLES_DIR)")
    evaluate.add_argument("--index-dir", help="where its index is kept (default: build/eval-index/KEY)")
    evaluate.add_argument("--threshold", type=float, help="handoff threshold (default: TOUCHPOINT_ANSWER_THRESHOLD)")
    evaluate.add_argument("--choose-threshold-on", metavar="QUERIES", help="pick the threshold on this query set")
    evaluate.add_argument(
        "--json",
        help="write the totals here, each query's result beside it as .jsonl (default: build/eval/KEY/NAME.json)",
    )
    evaluate.add_argument("--plot", help="save the threshold curve here (default: beside the totals, .png)")
    review_commands.add_parsers(commands)
    return parser


COMMANDS = {
    "validate": cmd_validate,
    "index": cmd_index,
    "kb": cmd_kb,
    "serve": cmd_serve,
    "run": cmd_run,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "eval": cmd_eval,
    "convert": cmd_convert,
    "users": cmd_users,
    "db": cmd_db,
    "domain": cmd_domain,
    "review": review_commands.cmd_review,
    "purge": review_commands.cmd_purge,
}


def main(argv: list[str] | None = None) -> int:
    # One thread per model process, as the stack runs them (bot/processes.py): with torch's default
    # of a thread per core, `eval` ran 5-6 times slower while the stack was under load. Set before
    # any model library is imported; OMP_NUM_THREADS set by hand still wins.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())

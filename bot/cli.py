"""`touchpoint`: run the stack, talk to it, and manage the knowledge base from a terminal."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx

from bot import kb_commands, review_commands
from bot.kb_commands import models_on_one_thread
from bot.settings import ConfigError, Settings, load_settings


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
    from bot.processes import Scale, Stack, StartupError, Supervisor, ensure_database

    scale = Scale(args.apps, args.rasa, args.actions) if args.scaled else Scale()
    if scale.balanced and not (settings.redis_url and settings.rasa_tracker_url):
        print(
            "error: several instances share their state: set TOUCHPOINT_REDIS_URL and TOUCHPOINT_RASA_TRACKER_URL "
            "(and TOUCHPOINT_DATABASE_URL to PostgreSQL); `make run-scaled` sets them for this machine",
            file=sys.stderr,
        )
        return 2

    # `kill` (SIGTERM) stops the stack as cleanly as Ctrl-C: the children run in their own sessions.
    # The first signal interrupts; any further one is ignored, so that stopping is never cut short.
    stopping = []

    def interrupt(*_):
        if not stopping:
            stopping.append(True)
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    ensure_database(settings.database_url)
    if cmd_db(settings, argparse.Namespace(action="upgrade")):
        return 1
    if scale.balanced:
        print(
            f"Starting nginx, {scale.rasa} Rasa servers, {scale.actions} action servers and {scale.apps} apps "
            "(first start takes a few minutes)...",
            flush=True,
        )
    else:
        print("Starting Rasa, the action server and the app (first start takes about a minute)...", flush=True)
    try:
        stack = Stack(settings, scale=scale)
        stack.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # stopped while starting: `start` has stopped what it started
        print("\nStopped.", flush=True)
        return 0
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
    supervisor = Supervisor(stack)
    status = stack.run_dir / "processes.json"  # shown by the app's /healthz
    supervisor.write_status(status)
    try:
        while True:
            if events := supervisor.check():
                for event in events:
                    print(f"{time.strftime('%H:%M:%S')} {event}", file=sys.stderr, flush=True)
                supervisor.write_status(status)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        stopping.append(True)
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
    run = commands.add_parser("run", help="start Rasa, the action server and the app")
    run.add_argument(
        "--scaled", action="store_true", help="several of each behind nginx, sharing PostgreSQL and Redis (see README)"
    )
    for name in ("apps", "rasa", "actions"):
        run.add_argument(f"--{name}", type=int, default=2, metavar="N", help=f"with --scaled: how many {name} (2)")
    chat = commands.add_parser("chat", help="talk to a running Touchpoint in the terminal")
    chat.add_argument("--url", help="the app's base URL")
    chat.add_argument("--conversation", help="continue this conversation id")
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
    kb_commands.add_parsers(commands)
    review_commands.add_parsers(commands)
    return parser


COMMANDS = {
    "validate": cmd_validate,
    "index": cmd_index,
    "kb": cmd_kb,
    "serve": cmd_serve,
    "run": cmd_run,
    "chat": cmd_chat,
    "ask": kb_commands.cmd_ask,
    "eval": kb_commands.cmd_eval,
    "convert": kb_commands.cmd_convert,
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

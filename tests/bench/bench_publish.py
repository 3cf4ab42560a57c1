"""Publish-to-answer: how long after a curator publishes until every action server answers with
the change, and whether the reloads slow down the users' searches meanwhile.

    python tests/bench/bench_publish.py [--articles DIR | --lcqmc DIR [--size 10000]]
        [--publishes 5] [--database-url URL] [--concurrency 4] [--json OUT]

It imports the knowledge base into a fresh database (a SQLite file in a temporary folder, or with
--database-url a PostgreSQL database that it creates and drops: the name must not exist yet),
starts two action servers on free ports with an empty index root, so their first build is
measured too (the cold start), and waits until both serve the imported version. Then, --publishes
times, it adds a made-up alternate question to a random article, publishes it, and times until
every server's GET /search for that question puts the article first; then it unpublishes the last
one and times until no server returns it. Meanwhile --concurrency clients keep searching (the
knowledge base's own questions, spread over both servers). A search counts as "reload" if it
started between a publish and every server answering with it, and as "quiet" if it started in
the equally long stretch right after, with nothing to reload: interleaved like this, the two
windows see the same machine (other work on it comes and goes). Last, each server's peak memory.

--lcqmc takes the LCQMC folder of the shared benchmarks (e.g. ../shared/benchmarks/lcqmc_zh) and
converts its first --size questions into articles, as `touchpoint convert lcqmc --articles N`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.processes import ManagedProcess, actions_spec, settings_env  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from bot.store import Store  # noqa: E402
from knowledge_base.articles import Article, read_article_files  # noqa: E402
from knowledge_base.benchmarks import CONVERTERS, write_benchmark  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402

SERVERS = 2
PROBE_SECONDS = 0.1  # how often each server is asked whether it answers with the change yet
# Words no knowledge base here is about: four of them and a number make a question that only the
# edited article can match. Each publish takes words no earlier one used.
ODD_WORDS = {  # space-separated
    "en": "walrus trombone glacier marmalade origami lighthouse cactus submarine kazoo nebula pelican quartz "
    "harpsichord tundra yodel platypus zeppelin accordion meteorite flamingo periscope tapioca gondola "
    "narwhal xylophone igloo dandelion chameleon sundial lasso volcano pretzel",
    "zh": "斑马线 紫色雨伞 企鹅 火山口 萤火虫 潜水艇 仙人掌 望远镜 风筝 灯塔 蒲公英 章鱼 陀螺 琥珀 竹蜻蜓 鲸鱼 "
    "冰川 万花筒 热气球 独角兽 蜂鸟 指南针 沙漏 珊瑚礁 鹦鹉螺 风向标 蒸汽船 水母 松鼠 银河",
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """The process's peak and current resident memory (VmHWM, VmRSS), in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


# --- the knowledge base and the database --------------------------------------------------------


def knowledge_base(args: argparse.Namespace, scratch: Path) -> tuple[str, list[tuple[Article, str]]]:
    """A name for the knowledge base and its files (article, text), as `touchpoint kb import` reads them."""
    if args.lcqmc:
        folder = scratch / "lcqmc"
        write_benchmark(CONVERTERS["lcqmc"](Path(args.lcqmc), articles=args.size), folder)
        return f"LCQMC {args.size:,}", read_article_files(folder / "articles")
    folder = Path(args.articles)
    return str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder), read_article_files(folder)


async def postgres_admin(url: str, statement: str) -> None:
    """Run `statement` on the server of `url`, connected to its `postgres` database."""
    import asyncpg

    admin = make_url(url).set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(url: str) -> None:
    """A PostgreSQL database of our own; one that exists is refused, as it may be someone's."""
    name = make_url(url).database
    try:
        asyncio.run(postgres_admin(url, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise SystemExit(
            f"cannot create database {name!r} (it must not exist; the bench drops it after): {exc}"
        ) from None


def drop_database(url: str) -> None:
    asyncio.run(postgres_admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


# --- the action servers -------------------------------------------------------------------------


def action_servers(settings: Settings, run_dir: Path, start_timeout: float) -> list[ManagedProcess]:
    """Two action servers on free ports, each with its own log, as `touchpoint run` starts one."""
    servers = []
    for number in range(1, SERVERS + 1):
        own = settings.with_overrides(actions_url=f"http://127.0.0.1:{free_port()}")
        spec = actions_spec(own, settings_env(own), run_dir)
        name = f"actions-{number}"
        servers.append(
            ManagedProcess(
                replace(spec, name=name, log_path=run_dir / "logs" / f"{name}.log", ready_timeout=start_timeout)
            )
        )
    return servers


def base_url(server: ManagedProcess) -> str:
    return server.spec.ready_url.removesuffix("/health")


async def wait_until(condition, timeout: float, what: str, server: ManagedProcess) -> float:
    """Poll `condition()` about `server` until it is true; the seconds it took."""
    started = time.perf_counter()
    while not await condition():
        if not server.running:
            raise RuntimeError(f"{server.spec.name} exited; see {server.spec.log_path}")
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what} not after {timeout:g} s")
        await asyncio.sleep(PROBE_SECONDS)
    return time.perf_counter() - started


async def serves_version(http: httpx.AsyncClient, server: ManagedProcess, version: int) -> bool:
    try:
        response = await http.get(base_url(server) + "/knowledge")
        return response.status_code == 200 and response.json()["version"] >= version
    except httpx.HTTPError:
        return False  # not listening yet: the first index is still being built


async def top_results(http: httpx.AsyncClient, server: ManagedProcess, query: str, language: str) -> list[str]:
    response = await http.get(base_url(server) + "/search", params={"q": query, "language": language, "k": 5})
    response.raise_for_status()
    return [r["article_id"] for r in response.json()["results"]]


async def build_seconds(store: Store, servers: list[ManagedProcess], version: int) -> dict[str, float | None]:
    """Each server's build time of `version` as it reported it (`Library.report_index`), which it
    does just after it starts serving it."""
    for _ in range(50):
        rows = {int(row.worker.rsplit(":", 1)[1]): row for row in await store.library.index_status()}
        if all(s.pid in rows and rows[s.pid].version >= version for s in servers):
            break
        await asyncio.sleep(PROBE_SECONDS)
    return {s.spec.name: rows[s.pid].build_seconds if s.pid in rows else None for s in servers}


# --- users searching meanwhile -------------------------------------------------------------------


class Load:
    """`concurrency` clients searching back to back, spread over the servers, for as long as it
    runs. Each search counts towards the phase it started in ("reload", "quiet", ...)."""

    def __init__(
        self, servers: list[ManagedProcess], queries: list[tuple[str, str]], concurrency: int, rate: float = 0.0
    ):
        """With `rate`, searches arrive at that many a second whatever their latency (traffic as
        users make it, leaving the CPU some idle time), instead of `concurrency` back to back."""
        self._urls = [base_url(s) + "/search" for s in servers]
        self._queries = queries
        self._concurrency = concurrency
        self._rate = rate
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.phase = "warm-up"
        self._since = 0.0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    async def __aenter__(self) -> Load:
        self._http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=max(self._concurrency, 64)))
        self._since = time.perf_counter()
        if self._rate:
            self._tasks = [asyncio.create_task(self._arrivals())]
        else:
            self._tasks = [asyncio.create_task(self._client(i)) for i in range(self._concurrency)]
        return self

    async def __aexit__(self, *exc) -> None:
        self.switch("stopping")
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self._http.aclose()

    def switch(self, phase: str) -> float:
        """Start counting searches towards `phase`; how long the previous phase lasted."""
        now = time.perf_counter()
        lasted = now - self._since
        self.seconds[self.phase] += lasted
        self.phase, self._since = phase, now
        return lasted

    async def _arrivals(self) -> None:
        """One search every 1/rate seconds, alternating servers, each on its own."""
        feed = itertools.cycle(self._queries)
        pending: set[asyncio.Task] = set()
        start, sent = time.perf_counter(), 0
        while not self._stop.is_set():
            query, language = next(feed)
            task = asyncio.create_task(self._search(self._urls[sent % len(self._urls)], query, language))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / self._rate - time.perf_counter()))
        await asyncio.gather(*pending)

    async def _search(self, url: str, query: str, language: str) -> bool:
        """One search, its latency counted towards the phase it started in; False if it failed."""
        phase, started = self.phase, time.perf_counter()
        try:
            response = await self._http.get(url, params={"q": query, "language": language, "k": 5})
            response.raise_for_status()
        except httpx.HTTPError:
            self.errors[phase] += 1
            return False
        self.latencies[phase].append((time.perf_counter() - started) * 1000)
        return True

    async def _client(self, number: int) -> None:
        url = self._urls[number % len(self._urls)]
        feed = itertools.islice(itertools.cycle(self._queries), number * 7, None)
        while not self._stop.is_set():
            if not await self._search(url, *next(feed)):
                await asyncio.sleep(PROBE_SECONDS)  # a server that is down is not hammered

    def summary(self, phase: str) -> dict:
        values, seconds = self.latencies[phase] or [float("nan")], self.seconds[phase]
        return {
            "seconds": round(seconds, 1),
            "requests": len(self.latencies[phase]),
            "requests_per_s": round(len(self.latencies[phase]) / seconds, 1) if seconds else 0,
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
            "max_ms": round(max(values), 1),
            "errors": self.errors[phase],
        }


# --- publishing ---------------------------------------------------------------------------------


async def publish_edit(store: Store, article: Article, question: str) -> int:
    """A curator adds `question` to the article and publishes it; the knowledge base's new version."""
    state = await store.library.article(article.id, article.language)
    fields = {"id": article.id, "language": article.language, **state.head.content()}
    fields["questions"] = [*fields["questions"], question]
    await store.library.save(fields, base=state.head.number, author_id=None)
    return await store.library.publish(article.id, article.language, author_id=None)


async def time_change(http, servers, query, language, done, timeout) -> list[float]:
    """Seconds until each server's search for `query` satisfies `done(article ids)`."""

    async def one(server: ManagedProcess) -> float:
        async def changed() -> bool:
            return done(await top_results(http, server, query, language))

        return await wait_until(changed, timeout, f"{server.spec.name} answering {query!r}", server)

    return list(await asyncio.gather(*(one(s) for s in servers)))


async def cold_start(http, store, servers, version: int, timeout: float) -> list[dict]:
    """Start the servers; the seconds until each serves `version`, and its build's share."""
    for server in servers:
        server.start()
    seconds = await asyncio.gather(
        *(
            wait_until(lambda s=s: serves_version(http, s, version), timeout, f"{s.spec.name} serving {version}", s)
            for s in servers
        )
    )
    builds = await build_seconds(store, servers, version)
    return [
        {"server": s.spec.name, "seconds": round(t, 1), "build_seconds": builds[s.spec.name]}
        for s, t in zip(servers, seconds, strict=True)
    ]


async def reloads(args, http, store, servers, published: list[Article], rng: random.Random, load: Load):
    """Publish edits, then unpublish the last one; after each change, as long again without one."""
    words = {language: rng.sample(pool.split(), len(pool.split())) for language, pool in ODD_WORDS.items()}
    edits = []
    for number in range(args.publishes):
        article = rng.choice(published)
        chosen = [words[article.language].pop() for _ in range(4)]
        question = (" " if article.language == "en" else "").join(chosen) + f" {rng.randint(1000, 9999)}"
        load.switch("reload")
        version = await publish_edit(store, article, question)
        published_at = time.time()
        seconds = await time_change(
            http, servers, question, article.language, lambda ids, a=article: ids[:1] == [a.id], args.answer_timeout
        )
        await quiet(load, load.switch("quiet"))
        edit = {
            "article": article.id,
            "language": article.language,
            "question": question,
            "version": version,
            "published_at": round(published_at, 3),
            "seconds": round(max(seconds), 2),
            "per_server": [round(s, 2) for s in seconds],
            "build_seconds": await build_seconds(store, servers, version),
        }
        edits.append(edit)
        print(f"publish {number + 1}: {json.dumps(edit, ensure_ascii=False)}", flush=True)
    load.switch("reload")
    await store.library.unpublish(article.id, article.language, author_id=None)
    gone = await time_change(
        http, servers, question, article.language, lambda ids, a=article: a.id not in ids, args.answer_timeout
    )
    await quiet(load, load.switch("quiet"))
    print(f"unpublish {article.id}: gone from every server after {max(gone):.2f} s", flush=True)
    return edits, gone


async def quiet(load: Load, seconds: float) -> None:
    """Searches only, for `seconds` (the reload just measured), so both phases weigh the same."""
    await asyncio.sleep(seconds)
    load.switch("between")


async def measure(args: argparse.Namespace, settings: Settings, run_dir: Path, files, report: dict) -> None:
    store = Store.from_url(settings.database_url)
    servers: list[ManagedProcess] = []
    try:
        await store.upgrade()
        started = time.perf_counter()
        imported = await store.library.import_articles(files)
        report["import_s"] = round(time.perf_counter() - started, 2)
        print(f"imported {imported.added} articles in {report['import_s']} s: version {imported.version}", flush=True)

        servers = action_servers(settings, run_dir, args.start_timeout)
        print(f"starting {len(servers)} action servers (logs in {run_dir / 'logs'})...", flush=True)
        async with httpx.AsyncClient(timeout=60) as http:
            report["cold_start"] = await cold_start(http, store, servers, imported.version, args.start_timeout)
            print(f"cold start: {report['cold_start']}", flush=True)

            published = [a for a, _ in files if a.status == "published"]
            rng = random.Random(args.seed)
            queries = [(q, a.language) for a in rng.sample(published, min(300, len(published))) for q in a.questions]
            rng.shuffle(queries)
            async with Load(servers, queries, args.concurrency, args.rate) as load:
                await asyncio.sleep(args.warmup)  # the first searches pay one-off costs
                edits, gone = await reloads(args, http, store, servers, published, rng, load)

        times = [e["seconds"] for e in edits]
        report["publishes"] = edits
        report["publish_to_answer"] = {"p50_s": round(percentile(times, 50), 2), "max_s": round(max(times), 2)}
        report["unpublish_to_gone"] = {"seconds": round(max(gone), 2), "per_server": [round(s, 2) for s in gone]}
        report["search"] = {"quiet": load.summary("quiet"), "reload": load.summary("reload")}
        report["search"]["concurrency"] = args.concurrency
        report["search"]["rate"] = args.rate
        report["memory_mib"] = {}
        for server in servers:
            peak, now = peak_rss_mib(server.pid)
            report["memory_mib"][server.spec.name] = {"peak_rss": round(peak), "rss": round(now)}
    finally:
        for server in servers:
            server.stop()
        await store.close()


def print_report(report: dict) -> None:
    cold = ", ".join(f"{c['seconds']} (build {c['build_seconds']})" for c in report["cold_start"])
    answer, gone = report["publish_to_answer"], report["unpublish_to_gone"]
    print(
        "\n| knowledge base | articles | database | cold start s (build s) | publish-to-answer p50 / max s "
        "| unpublish-to-gone s |\n|---|---|---|---|---|---|"
    )
    print(
        f"| {report['knowledge_base']} | {report['articles']:,} | {report['database']} | {cold} "
        f"| {answer['p50_s']} / {answer['max_s']} | {gone['seconds']} |"
    )
    keys = ("seconds", "requests", "requests_per_s", "p50_ms", "p95_ms", "max_ms", "errors")
    load = report["search"]
    how = f"{load['rate']:g} a second" if load.get("rate") else f"concurrency {load['concurrency']}"
    print(f"\nsearches at {how}, over both servers:")
    print("| window | " + " | ".join(keys) + " |\n" + "|---" * (len(keys) + 1) + "|")
    for window in ("quiet", "reload"):
        print(f"| {window} | " + " | ".join(str(report["search"][window][k]) for k in keys) + " |")
    memory = ", ".join(f"{name} {m['peak_rss']} (now {m['rss']})" for name, m in report["memory_mib"].items())
    print(f"\npeak RSS, MiB: {memory}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--articles", default=str(ROOT / "knowledge_base" / "articles"), help="a folder of articles")
    source.add_argument("--lcqmc", metavar="DIR", help="LCQMC's folder: its first --size questions as articles")
    parser.add_argument("--size", type=int, default=10_000, help="with --lcqmc: articles (default 10000)")
    parser.add_argument("--database-url", help="a PostgreSQL database to create and drop (default: SQLite)")
    parser.add_argument("--publishes", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4, help="searching clients meanwhile")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="instead: searches arriving at this many a second (e.g. 20)"
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of searching before measuring")
    parser.add_argument("--start-timeout", type=float, default=1800.0, help="seconds for the first index")
    parser.add_argument("--answer-timeout", type=float, default=600.0, help="seconds for one publish to show")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, index, SQLite file)")
    args = parser.parse_args()
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url: a PostgreSQL URL (the default is a SQLite file of its own)")
    most = min(len(pool.split()) for pool in ODD_WORDS.values()) // 4
    if not 1 <= args.publishes <= most:
        parser.error(f"--publishes: 1 to {most}")
    # `kill` of the bench must stop its servers too: SystemExit runs the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    run_dir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-publish-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{run_dir / 'bench.db'}"
    settings = load_settings().with_overrides(database_url=database_url, index_dir=run_dir / "index")
    report: dict = {"date": time.strftime("%Y-%m-%d"), "database": make_url(database_url).get_backend_name()}
    created = ok = False
    try:
        label, files = knowledge_base(args, run_dir)
        report.update(knowledge_base=label, articles=len(files))
        if args.database_url:
            create_database(database_url)
            created = True
        asyncio.run(measure(args, settings, run_dir, files, report))
        ok = True
    finally:
        if created:
            drop_database(database_url)
        if ok and not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"{'kept' if ok else 'failed; kept'}: {run_dir} (logs in {run_dir / 'logs'})", file=sys.stderr)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

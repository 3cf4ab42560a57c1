"""The knowledge base as it is published, kept current in a running action server.

Every action-server process watches the knowledge base's version in the database (the newest
publication). When a curator publishes, unpublishes or restores an article the version moves; the
process reads the published articles, has their index built in a forked child (`IndexBuilder`:
encoding only the texts that changed, at a lower CPU priority), loads it and swaps the new searcher in with
one assignment, so a search runs on the old index or the new one, never on half of either, and
never waits for a build. A build that fails leaves the old index serving; the error is reported
to the database (`Library.report_index`) for the curation pages, and the build is tried again on
the next publication or after RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from bot.store import Store
from knowledge_base.articles import Article, articles_hash
from knowledge_base.encoder import Encoder
from knowledge_base.index import IndexSettings, KnowledgeIndex, build_directory, cached_index, read_features
from knowledge_base.search import Hit, HybridSearcher
from knowledge_base.text import Analyzer

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the version is read: one indexed query
REPORT_SECONDS = 30.0  # an idle process says it is still running this often
RETRY_SECONDS = 60.0  # a failed build is tried again after this, if nothing was published meanwhile
DRAFTS_KEPT = 4  # the test panel's what-if indexes kept for the next question
# A build runs below the searches' priority: nice 19 takes the CPU the searches leave idle and
# next to none of a busy core's (users first; a publication waits for a quiet moment when every
# core is busy). It is stopped after BUILD_TIMEOUT.
BUILD_NICENESS = 19
BUILD_TIMEOUT = 900.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LiveKnowledgeBase:
    """A `KnowledgeBase` whose searcher is replaced whenever the published articles change."""

    def __init__(
        self,
        store: Store,
        index_root,
        encoders: Mapping[str, Encoder],
        analyzer: Analyzer,
        settings: IndexSettings | None = None,
        *,
        worker: str | None = None,
        build_in_child: bool = False,
    ):
        """`build_in_child`: the indexes of later publications are built in a child process (the
        first, at start-up, is built here: nothing is being served yet)."""
        self._store = store
        self._index_root = index_root
        self._encoders = encoders
        self._analyzer = analyzer
        self._settings = settings or IndexSettings()
        self._builder = IndexBuilder(index_root, encoders, analyzer, self._settings) if build_in_child else None
        self._build = self._build_searcher
        self.worker = worker or worker_name()
        self.searcher: HybridSearcher | None = None
        self.version = -1
        self._drafts: dict[str, HybridSearcher] = {}  # the test panel's drafts, newest last
        self._failed: tuple[int, float, str] | None = None  # (version, when, why) of the last failed build

    # --- the KnowledgeBase protocol -------------------------------------------------------

    def search(self, query: str, language: str, k: int = 5) -> list[Hit]:
        searcher = self.searcher
        return searcher.search(query, language, k) if searcher else []

    def get(self, article_id: str, language: str) -> Article | None:
        searcher = self.searcher
        return searcher.get(article_id, language) if searcher else None

    @property
    def articles(self) -> int:
        return len(self.searcher.index.articles) if self.searcher else 0

    # --- keeping current ------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Rebuild if the published knowledge base moved on; True if a new index was swapped in."""
        version = await self._store.library.version()
        if version == self.version:
            return False
        if self._failed and self._failed[0] == version and time.monotonic() - self._failed[1] < RETRY_SECONDS:
            return False
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            if self.searcher is not None and self._builder is not None:  # the child reads the articles too
                version, searcher = await loop.run_in_executor(None, self._rebuild)
            else:
                version, articles = await self._store.library.live_articles()
                searcher = await loop.run_in_executor(None, self._build, articles, self.searcher)
        except Exception as exc:  # noqa: BLE001 - any failure must leave the old index serving
            logger.exception(
                "Building the index of knowledge-base version %d failed; still serving %d", version, self.version
            )
            self._failed = (version, time.monotonic(), f"{type(exc).__name__}: {exc}")
            await self._report()
            return False
        seconds = time.perf_counter() - started
        self.searcher, self.version, self._failed, self._drafts = searcher, version, None, {}
        logger.info("Serving knowledge-base version %d: %d articles (built in %.2f s)", version, self.articles, seconds)
        await self._report(build_seconds=round(seconds, 3))
        return True

    async def _report(self, build_seconds: float | None = None) -> None:
        await self._store.library.report_index(
            self.worker,
            version=max(self.version, 0),
            articles=self.articles,
            build_seconds=build_seconds,
            failed_version=self._failed[0] if self._failed else None,
            error=self._failed[2] if self._failed else None,
        )

    async def watch(self, poll: float = POLL_SECONDS) -> None:
        """Refresh forever; a database that is down for a while is waited out, not fatal."""
        last_report = time.monotonic()
        while True:
            await asyncio.sleep(poll)
            try:
                if await self.refresh() or self._failed:
                    last_report = time.monotonic()
                elif time.monotonic() - last_report > REPORT_SECONDS:
                    await self._report()  # "still running" for the curation pages
                    last_report = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                logger.exception("Checking the knowledge base's version failed; trying again")

    def what_if(self, draft: Article) -> HybridSearcher:
        """The searcher as it would be with `draft` published in place of its article's current
        version (built in memory, its embeddings reused, and kept for the next question)."""
        current = self.searcher
        articles = [a for a in (current.index.articles if current else []) if a.key != draft.key] + [draft]
        key = articles_hash(articles)
        if key in self._drafts:
            return self._drafts[key]
        index = KnowledgeIndex.build(
            articles, self._encoders, self._analyzer, self._settings, key, previous=current.index if current else None
        )
        searcher = HybridSearcher(index, self._encoders, self._analyzer)
        self._drafts = {**dict(list(self._drafts.items())[-(DRAFTS_KEPT - 1) :]), key: searcher}
        return searcher

    def _rebuild(self) -> tuple[int, HybridSearcher]:
        """The published knowledge base's version and its searcher, built by the builder's child
        (which reads the articles itself: 10,000 of them cost the serving process nothing)."""
        version, directory = self._builder.build(self._store.url, self.searcher.index)
        return version, HybridSearcher(KnowledgeIndex.load(directory), self._encoders, self._analyzer)

    def _build_searcher(self, articles: list[Article], previous: HybridSearcher | None) -> HybridSearcher:
        index = cached_index(
            articles,
            self._index_root,
            self._encoders,
            self._analyzer,
            self._settings,
            previous=previous.index if previous else None,
        )
        searcher = HybridSearcher(index, self._encoders, self._analyzer)
        if previous is None:  # the first query pays one-off costs (jieba, torch kernels); later ones share them
            for language in ("en", "zh"):
                searcher.search("warm up" if language == "en" else "预热", language)
        return searcher


class IndexBuilder:
    """Builds an index in a forked child, so that a rebuild never competes with the serving
    process's searches for Python's lock (in a thread it halved their throughput:
    tests/bench/bench_publish.py). The child starts at once with the models and the index being
    served already in its memory (shared with the parent until written), runs at a lower CPU
    priority than the searches, writes the build into the shared index folder and exits; the
    serving process then loads it."""

    def __init__(
        self,
        index_root,
        encoders: Mapping[str, Encoder],
        analyzer: Analyzer,
        settings: IndexSettings | None = None,
        *,
        niceness: int = BUILD_NICENESS,
        timeout: float = BUILD_TIMEOUT,
    ):
        self._index_root = Path(index_root)
        self._encoders = encoders
        self._analyzer = analyzer
        self._settings = settings or IndexSettings()
        self._niceness = niceness
        self._timeout = timeout

    def build(self, database_url: str, previous: KnowledgeIndex) -> tuple[int, Path]:
        """The published knowledge base's version at `database_url` and the folder of its index,
        built from `previous`'s embeddings and lexical features where it can (blocks: call it
        from a thread). Raises BuildFailed with the child's error."""
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=self._child, args=(send, database_url, previous), daemon=True)
        # Objects the collector leaves alone are not written to by it, so the pages the parent
        # shares with the child are not copied while the child lives (fewer copy-on-write faults).
        gc.freeze()
        child.start()
        send.close()
        try:
            if not receive.poll(self._timeout):
                child.kill()
                raise BuildFailed(f"the build took longer than {self._timeout:g} s and was stopped")
            try:
                done, result = receive.recv()
            except EOFError:
                child.join(5)
                raise BuildFailed(f"the build process died (exit code {child.exitcode})") from None
        finally:
            receive.close()
            child.join(5)
            gc.unfreeze()
        if not done:
            raise BuildFailed(result)
        version, directory = result
        return version, Path(directory)

    def _child(self, send, database_url: str, previous: KnowledgeIndex) -> None:
        try:
            os.nice(self._niceness)
            version, articles = asyncio.run(_published(database_url))
            if not previous.features:
                previous.features = read_features(build_directory(self._index_root, previous))
            index = cached_index(
                articles, self._index_root, self._encoders, self._analyzer, self._settings, previous=previous
            )
            send.send((True, (version, str(build_directory(self._index_root, index)))))
        except BaseException as exc:  # noqa: BLE001 - the parent reports it and keeps serving
            send.send((False, f"{type(exc).__name__}: {exc}"))
        finally:
            send.close()


class BuildFailed(RuntimeError):
    pass


async def _published(database_url: str) -> tuple[int, list[Article]]:
    """In the build's child: its own connection (the parent's belong to the parent's loop)."""
    store = Store.from_url(database_url)
    try:
        return await store.library.live_articles()
    finally:
        await store.close()

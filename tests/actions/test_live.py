"""An action server's knowledge base follows publications without a restart: a new index is
swapped in whole, only changed texts are encoded again, a failed build leaves the old index
serving and says why; and the curation endpoints (test panel with a draft, grouping)."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from actions.answer import AnswerSettings
from actions.curation import draft_article, group_questions
from actions.live import LiveKnowledgeBase
from bot.store import Store
from knowledge_base.articles import read_article_files
from knowledge_base.index import IndexSettings, KnowledgeIndex
from tests.helpers import HashingEncoder, write_articles


class CountingEncoder(HashingEncoder):
    """Records what it encoded, and in which process."""

    def __init__(self):
        self.encoded: list[str] = []
        self.pids: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        self.pids.append(os.getpid())
        return super().encode(texts)


def live_knowledge_base(tmp_path, analyzer, settings: IndexSettings | None = None):
    encoder = CountingEncoder()
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    live = LiveKnowledgeBase(
        store, tmp_path / "index", {"en": encoder, "zh": encoder}, analyzer, worker="test:1", settings=settings
    )
    folder = write_articles(tmp_path / "kb")
    return store, live, encoder, folder


@pytest.fixture
def setup(tmp_path, analyzer):
    return live_knowledge_base(tmp_path, analyzer)


def run(coroutine):
    return asyncio.run(coroutine)


async def serving(store: Store, live: LiveKnowledgeBase, folder) -> None:
    """The folder's articles imported and served by `live`."""
    await store.upgrade()
    await store.library.import_articles(read_article_files(folder))
    await live.refresh()
    await store.close()


def test_a_publication_is_served_after_one_refresh_and_only_the_edit_is_encoded(tmp_path, analyzer):
    """(Without the calibration, which a change of one in six articles makes again: it encodes
    its folds' pooled units and its off-topic questions; `test_confidence.py` checks it.)"""
    store, live, encoder, folder = live_knowledge_base(tmp_path, analyzer, IndexSettings(calibrate=False))

    async def scenario():
        await store.upgrade()
        await store.library.import_articles(read_article_files(folder))
        assert await live.refresh() is True
        first = live.searcher
        encoder.encoded.clear()

        state = await store.library.article("sim-puk", "en")
        fields = {"id": "sim-puk", "language": "en", **state.head.content()}
        fields["questions"] = [*fields["questions"], "zebra crossing purple umbrella"]
        await store.library.save(fields, base=1, author_id=None)
        assert await live.refresh() is False  # a draft changes nothing
        await store.library.publish("sim-puk", "en", author_id=None)
        assert await live.refresh() is True
        built = list(encoder.encoded)
        [status] = await store.library.index_status()
        await store.close()
        return first, status, built

    first, status, built = run(scenario())
    assert live.searcher is not first
    assert live.search("zebra crossing purple umbrella", "en", 1)[0].article.id == "sim-puk"
    # The new question, and the pooled unit that contains it; nothing else was encoded again
    # (besides the warm-up queries of a new searcher).
    indexed = [text for text in built if text not in ("warm up", "预热")]
    assert indexed[0] == "zebra crossing purple umbrella" and len(indexed) == 2
    assert "zebra crossing purple umbrella" in indexed[1]
    assert (status.worker, status.version, status.articles, status.error) == ("test:1", live.version, 6, None)


def test_a_failed_build_keeps_the_old_index_serving_and_says_why(setup):
    store, live, _, folder = setup

    def broken(articles, previous):
        raise MemoryError("out of memory while indexing")

    async def scenario():
        await store.upgrade()
        await store.library.import_articles(read_article_files(folder))
        await live.refresh()
        serving, version = live.searcher, live.version
        await store.library.unpublish("sim-puk", "en", author_id=None)
        live._build = broken
        assert await live.refresh() is False
        assert await live.refresh() is False  # not retried at once
        [status] = await store.library.index_status()
        await store.close()
        return serving, version, status

    serving, version, status = run(scenario())
    assert live.searcher is serving and live.version == version
    assert live.get("sim-puk", "en") is not None
    assert status.failed_version == version + 1 and "out of memory" in status.error


def test_the_test_panel_sees_a_draft_without_publishing_it(setup):
    store, live, _, folder = setup

    run(serving(store, live, folder))
    draft = draft_article(
        {
            "id": "sim-puk",
            "language": "en",
            "title": "SIM locked",
            "questions": ["flamingo lantern marmalade"],
            "body": "Find your PUK in the app.",
            "tags": [],
        }
    )
    what_if = live.what_if(draft)
    [with_draft] = what_if.search("flamingo lantern marmalade", "en", 1)
    published = live.search("flamingo lantern marmalade", "en", 1)
    assert with_draft.article.id == "sim-puk" and with_draft.article.title == "SIM locked"
    assert (published[0].score if published else 0.0) < with_draft.score - 0.2
    assert live.get("sim-puk", "en").title != "SIM locked"  # the draft is not served
    assert live.what_if(draft) is what_if  # kept for the next question
    with pytest.raises(ValueError, match="title"):
        draft_article({"id": "sim-puk", "language": "en", "title": "", "questions": ["q"], "body": "b"})


def test_questions_are_grouped_by_meaning(setup, analyzer):
    store, live, _, folder = setup

    run(serving(store, live, folder))
    questions = [
        ("how do I pay my bill", "en"),
        ("SIM card locked PUK", "en"),
        ("how do i pay my bill?", "en"),
        ("SIM card locked, PUK?", "en"),
    ]
    groups = group_questions(questions, live)
    assert sorted(g["members"] for g in groups) == [[0, 2], [1, 3]]
    best = {tuple(g["members"]): g["best"]["article_id"] for g in groups}
    assert best == {(0, 2): "billing-payment-methods", (1, 3): "sim-puk"}


def test_an_index_is_built_once_for_every_process_sharing_its_folder(tmp_path, analyzer):
    from knowledge_base.index import cached_index

    articles = [a for a, _ in read_article_files(write_articles(tmp_path / "kb"))]
    encoder = CountingEncoder()
    first = cached_index(articles, tmp_path / "index", {"en": encoder, "zh": encoder}, analyzer)
    encoded = len(encoder.encoded)
    second = cached_index(articles, tmp_path / "index", {"en": encoder, "zh": encoder}, analyzer)
    assert len(encoder.encoded) == encoded  # loaded, not built
    assert isinstance(second, KnowledgeIndex) and second.manifest["content_hash"] == first.manifest["content_hash"]
    builds = [p.name for p in (tmp_path / "index").iterdir() if not p.name.startswith(".")]
    assert builds == [first.manifest["content_hash"][:20]]


def test_answer_settings_decide_like_the_action(setup):
    """The test panel and the action share one decision (`actions.answer.decide`)."""
    from actions.answer import decide
    from knowledge_base.search import Hit

    store, live, _, folder = setup
    article = read_article_files(folder)[0][0]
    hits = [Hit(article, 0.8, 0.8, 0.02, 0.8, 0.8, 0.8), Hit(article, 0.3, 0.78, -0.02, 0, 0, 0)]
    settings = AnswerSettings(threshold=0.5, out_of_scope_threshold=0.9)
    assert decide(hits, settings, off_topic=False, language="en").decision == "choices"
    assert decide(hits[:1], settings, off_topic=False, language="en").decision == "answer"
    assert decide(hits, settings, off_topic=True, language="en").decision == "off_topic"
    assert decide([], settings, off_topic=False, language="en").decision == "hand_off"


class ChildEncoder(HashingEncoder):
    """Writes the process of every call to `log`, and fails in a child when told to."""

    def __init__(self, log):
        self.log = log
        self.parent = os.getpid()
        self.fail_in_child = False

    def encode(self, texts: list[str]) -> np.ndarray:
        with open(self.log, "a") as log:
            log.write(f"{os.getpid()}\n")
        if self.fail_in_child and os.getpid() != self.parent:
            raise MemoryError("no memory left for the build")
        return super().encode(texts)


def test_a_publication_is_built_in_a_child_process_and_loaded(tmp_path, analyzer):
    """After start-up the serving process never builds: a forked child does, and the server
    loads its build; a child that fails leaves the old index serving and says why."""
    encoder = ChildEncoder(tmp_path / "pids")
    encoders = {"en": encoder, "zh": encoder}
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    live = LiveKnowledgeBase(store, tmp_path / "index", encoders, analyzer, worker="t:2", build_in_child=True)
    folder = write_articles(tmp_path / "kb")

    async def publish(title: str) -> bool:
        state = await store.library.article("sim-puk", "en")
        fields = {"id": "sim-puk", "language": "en", **state.head.content(), "title": title}
        await store.library.save(fields, base=state.head.number, author_id=None)
        await store.library.publish("sim-puk", "en", author_id=None)
        return await live.refresh()

    async def scenario():
        await store.upgrade()
        await store.library.import_articles(read_article_files(folder))
        await live.refresh()  # start-up: built here
        (tmp_path / "pids").write_text("")
        assert await publish("Locked SIM: the PUK") is True
        built_by = {int(pid) for pid in (tmp_path / "pids").read_text().split()}
        encoder.fail_in_child = True
        assert await publish("Never served") is False
        [status] = await store.library.index_status()
        await store.close()
        return built_by, status

    built_by, status = run(scenario())
    children = built_by - {encoder.parent}
    assert len(children) == 1  # the new title was encoded in one child; the searches' warm-up here
    assert live.get("sim-puk", "en").title == "Locked SIM: the PUK"
    assert status.failed_version == live.version + 1 and "no memory left" in status.error

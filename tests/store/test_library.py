"""The knowledge base in the database: import and export, drafts and publishing, revisions and
restore, the conflict of two curators, the articles page's filters, and the suggestions inbox,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.library import ArticleFilter, Conflict, InvalidArticle
from bot.store.models import Feedback, Message
from knowledge_base.articles import read_article_files
from tests.databases import database_url
from tests.helpers import write_articles

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "knowledge_base" / "articles"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    return database_url(request) or f"sqlite+aiosqlite:///{tmp_path / 'touchpoint.db'}"


def run(url: str, work):
    """`await work(store)` on a migrated database at `url`."""

    async def go():
        store = Store.from_url(url)
        try:
            await store.upgrade()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


async def a_curator(store: Store, username: str = "cora") -> int:
    return (await store.add_user(username, username.title(), "curator", "x")).id


def edit(state, **changes) -> dict:
    return {"id": state.id, "language": state.language, **state.head.content(), **changes}


def test_import_then_export_gives_back_the_same_bytes(url, tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TOUCHPOINT_DATABASE_URL", url)
    assert cli.main(["kb", "import", str(DEMO)]) == 0
    assert "120 new" in capsys.readouterr().out
    out = tmp_path / "exported"
    assert cli.main(["kb", "export", str(out)]) == 0
    source = sorted(p.relative_to(DEMO) for p in DEMO.rglob("*.md"))
    exported = sorted(p.relative_to(out) for p in out.rglob("*.md"))
    assert exported == source
    assert all((out / p).read_bytes() == (DEMO / p).read_bytes() for p in source)
    assert cli.main(["kb", "import", str(DEMO)]) == 0  # again: nothing changes, no new version
    assert "0 new, 0 changed, 120 unchanged" in capsys.readouterr().out
    assert cli.main(["kb", "export", str(out)]) == 1  # never over a folder that has files
    assert "not empty" in capsys.readouterr().err


def test_a_bad_file_imports_nothing_and_says_where(url, tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TOUCHPOINT_DATABASE_URL", url)
    folder = write_articles(tmp_path / "kb")
    bad = folder / "en" / "sim-puk.md"
    bad.write_text(bad.read_text(encoding="utf-8").replace("status: published", "status: live"), encoding="utf-8")
    assert cli.main(["kb", "import", str(folder)]) == 1
    error = capsys.readouterr().err
    assert f"{bad}:" in error and "status" in error and "nothing was imported" in error
    assert run(url, lambda store: store.library.count()) == 0


def test_an_edit_of_an_exported_file_comes_back_rendered_from_its_fields(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        await store.library.import_articles(read_article_files(folder))
        state = await store.library.article("sim-puk", "en")
        await store.library.save(edit(state, title="SIM locked"), base=state.head.number, author_id=None)
        await store.library.publish("sim-puk", "en", author_id=None)
        return dict(await store.library.export_articles())

    exported = {article.key: text for article, text in run(url, work).items()}
    assert exported[("sim-puk", "en")].startswith("---\nid: sim-puk\nlanguage: en\ntitle: SIM locked\n")
    original = (folder / "zh" / "sim-puk.md").read_text(encoding="utf-8")
    assert exported[("sim-puk", "zh")] == original


def test_drafts_are_never_answered_and_publishing_moves_the_version(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        library = store.library
        curator = await a_curator(store)
        report = await library.import_articles(read_article_files(folder))
        assert (report.added, report.version) == (6, await library.version())
        state = await library.article("roaming-activate", "en")
        number = await library.save(edit(state, title="Roaming abroad"), base=state.head.number, author_id=curator)
        version, live = await library.live_articles()
        assert version == report.version  # a draft publishes nothing
        assert next(a for a in live if a.key == ("roaming-activate", "en")).title == "Turn on international roaming"
        assert (await library.article("roaming-activate", "en")).has_unpublished_changes

        published = await library.publish("roaming-activate", "en", author_id=curator)
        assert published > version
        _, live = await library.live_articles()
        assert next(a for a in live if a.key == ("roaming-activate", "en")).title == "Roaming abroad"

        await library.save(
            {"id": "esim", "language": "en", "title": "eSIM", "questions": ["Do you have eSIM?"], "body": "Yes."},
            base=None,
            author_id=curator,
        )
        assert ("esim", "en") not in {a.key for a in (await library.live_articles())[1]}  # a new draft

        await library.unpublish("roaming-activate", "en", author_id=curator)
        _, live = await library.live_articles()
        assert ("roaming-activate", "en") not in {a.key for a in live}
        await library.archive("sim-puk", "zh", author_id=curator)
        state = await library.article("sim-puk", "zh")
        assert (state.status, state.live) == ("archived", None)
        return number

    assert run(url, work) == 2


def test_the_second_of_two_curators_gets_a_conflict_and_loses_nothing(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        library = store.library
        cora, dan = await a_curator(store, "cora"), await a_curator(store, "dan")
        await library.import_articles(read_article_files(folder))
        opened = await library.article("sim-puk", "en")  # both open revision 1
        await library.save(edit(opened, body="Cora's answer."), base=opened.head.number, author_id=cora)
        with pytest.raises(Conflict) as conflict:
            await library.save(edit(opened, body="Dan's answer."), base=opened.head.number, author_id=dan)
        head = conflict.value.head
        assert (head.number, head.author, head.body) == (2, "Cora", "Cora's answer.")
        # Dan keeps his text by saving again on top of what he was shown
        await library.save(edit(opened, body="Dan's answer."), base=head.number, author_id=dan)
        bodies = [(r.number, r.author, r.body) for r in await library.revisions("sim-puk", "en")]
        assert bodies[:2] == [(3, "Dan", "Dan's answer."), (2, "Cora", "Cora's answer.")]

    run(url, work)


def test_saves_are_checked_like_files_field_by_field(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        await store.library.import_articles(read_article_files(folder))
        state = await store.library.article("sim-puk", "en")
        with pytest.raises(InvalidArticle) as invalid:
            await store.library.save(
                edit(state, title=" ", questions=["ok", ""], body=""), base=state.head.number, author_id=None
            )
        return {p.field for p in invalid.value.problems}, await store.library.article("sim-puk", "en")

    fields, state = run(url, work)
    assert fields == {"title", "questions", "body"}
    assert state.head.number == 1  # nothing saved


def test_restore_publishes_an_old_revision_as_the_newest(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        library = store.library
        cora = await a_curator(store)
        await library.import_articles(read_article_files(folder))
        state = await library.article("sim-puk", "en")
        await library.save(edit(state, body="A worse answer."), base=1, author_id=cora)
        await library.publish("sim-puk", "en", author_id=cora)
        number, version = await library.restore("sim-puk", "en", 1, author_id=cora)
        restored = await library.article("sim-puk", "en")
        _, live = await library.live_articles()
        history = await library.revisions("sim-puk", "en")
        events = [p.action for p, _ in await library.publications("sim-puk", "en")]
        return number, version, restored, live, history, events

    number, version, restored, live, history, events = run(url, work)
    assert (number, restored.live, restored.head.action) == (3, 3, "restore")
    assert next(a for a in live if a.key == ("sim-puk", "en")).body == history[-1].body
    assert [r.number for r in history] == [3, 2, 1]
    assert events == ["publish", "publish"]


def test_the_articles_page_filters(url, tmp_path):
    articles = read_article_files(write_articles(tmp_path / "kb"))
    only_english = [(a, text) for a, text in articles if not (a.id == "sim-puk" and a.language == "zh")]

    async def work(store):
        library = store.library
        cora = await a_curator(store)
        await library.import_articles(only_english)
        state = await library.article("billing-payment-methods", "zh")
        await library.save(edit(state, tags=["billing", "wechat"]), base=1, author_id=cora)
        async with store.transaction() as tx:
            conversation = await tx.add_conversation("c1", "api", "en")
            tx.add_messages(conversation, [Message(role="bot", channel="api", text="…", article_id="sim-puk")])
            tx.add_feedback("c1", "sim-puk", False)

        def keys(found):
            return sorted(f"{s.id}/{s.language}" for s in found)

        return {
            "untranslated": keys(await library.articles(ArticleFilter(untranslated=True))),
            "edited_by": keys(await library.articles(ArticleFilter(edited_by="cora"))),
            "zh": keys(await library.articles(ArticleFilter(language="zh"))),
            "text": keys(await library.articles(ArticleFilter(text="wechat pay"))),
            "question": keys(await library.articles(ArticleFilter(text="wrong PIN"))),
            "tag": keys(await library.articles(ArticleFilter(tag="wechat"))),
            "not_helpful": [
                (s.id, s.answered, s.helpful_rate) for s in await library.articles(ArticleFilter(not_helpful=True))
            ],
        }

    found = run(url, work)
    assert found["untranslated"] == ["sim-puk/en"]
    assert found["edited_by"] == ["billing-payment-methods/zh"]
    assert found["zh"] == ["billing-payment-methods/zh", "roaming-activate/zh"]
    assert found["text"] == ["billing-payment-methods/en"]
    assert found["question"] == ["sim-puk/en"]
    assert found["tag"] == ["billing-payment-methods/zh"]
    assert found["not_helpful"] == [("sim-puk", 1, 0.0)]


def test_seeding_imports_a_folder_into_an_empty_database_only(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        first = await store.library.seed(folder)
        shutil.rmtree(folder / "zh")
        second = await store.library.seed(folder)
        return first, second, await store.library.count()

    first, second, count = run(url, work)
    assert first.added == 6 and second is None and count == 6


def test_the_inbox_holds_what_the_bot_could_not_answer_well(url):
    async def work(store):
        async with store.transaction() as tx:
            for cid in ("low", "rated", "inserted", "fine"):
                await tx.add_conversation(cid, "api", "en")

        async def say(cid, role, text, article_id=None):
            async with store.transaction() as tx:
                conversation = await tx.conversation(cid)
                tx.add_messages(conversation, [Message(role=role, channel="api", text=text, article_id=article_id)])

        await say("low", "user", "can I keep my number when I leave?")
        async with store.transaction() as tx:
            await tx.start_handoff("low", "low_confidence")
        await say("rated", "user", "how do I pay with a foreign card?")
        await say("rated", "bot", "Pay in the app…", "billing-payment-methods")
        await say("rated", "user", "/deny")
        async with store.transaction() as tx:
            tx.session.add(Feedback(conversation_id="rated", article_id="billing-payment-methods", helpful=False))
        await say("inserted", "user", "my phone only says SOS abroad")
        async with store.transaction() as tx:
            await tx.start_handoff("inserted", "user_request")
        await say("inserted", "agent", "Turn on roaming: …", "roaming-activate")
        await say("fine", "user", "how do I activate roaming?")
        await say("fine", "bot", "Roaming is off by default…", "roaming-activate")

        asked = await store.suggestions.questions()
        dismissed = await store.suggestions.decide([asked[0].message_id], "dismissed", article_id=None, author_id=None)
        return asked, dismissed, await store.suggestions.questions()

    asked, dismissed, after = run(url, work)
    assert [(q.text, q.source, q.article_id) for q in asked] == [
        ("can I keep my number when I leave?", "low_confidence", None),
        ("how do I pay with a foreign card?", "not_helpful", "billing-payment-methods"),
        ("my phone only says SOS abroad", "agent_inserted", "roaming-activate"),
    ]
    assert dismissed == 1
    assert [q.text for q in after] == ["how do I pay with a foreign card?", "my phone only says SOS abroad"]


def test_an_accepted_suggestion_goes_live_without_taking_a_pending_draft_with_it(url, tmp_path):
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        library = store.library
        await library.import_articles(read_article_files(folder))
        state = await library.article("sim-puk", "en")
        await library.save(edit(state, body="An unreviewed draft."), base=1, author_id=None)
        version, head = await library.add_question("sim-puk", "en", "PUK locked, now what?", author_id=None)
        after = await library.article("sim-puk", "en")
        live = await library.revision("sim-puk", "en", after.live)
        await library.unpublish("billing-payment-methods", "zh", author_id=None)
        unpublished = await library.add_question("billing-payment-methods", "zh", "能用信用卡吗？", author_id=None)
        return version, head, after, live, unpublished, await library.article("billing-payment-methods", "zh")

    version, head, after, live, unpublished, draft = run(url, work)
    assert version is not None and (after.live, head, after.head.number) == (3, 4, 4)
    assert live.questions[-1] == "PUK locked, now what?" and live.body != "An unreviewed draft."
    assert after.head.questions[-1] == "PUK locked, now what?" and after.head.body == "An unreviewed draft."
    assert unpublished == (None, 2) and (draft.status, draft.live) == ("draft", None)
    assert draft.head.questions[-1] == "能用信用卡吗？"


def test_a_tag_is_found_past_the_first_rows(url, tmp_path):
    """The tag filter runs after the query; the row limit must not cut off what it would find."""
    folder = write_articles(tmp_path / "kb")

    async def work(store):
        await store.library.import_articles(read_article_files(folder))
        state = await store.library.article("sim-puk", "zh")  # last by id
        await store.library.save(edit(state, tags=["locked"]), base=1, author_id=None)
        return await store.library.articles(ArticleFilter(tag="locked"), limit=1)

    assert [(s.id, s.language) for s in run(url, work)] == [("sim-puk", "zh")]

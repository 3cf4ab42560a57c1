"""The curation API in the real app over SQLite and PostgreSQL: who may use it, CSRF, saving with
field errors and conflicts, publishing, revisions with diffs and restore, the test panel and the
suggestions inbox (the action server's part replaced at the transport; `tests/e2e` runs it for real)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from bot.auth import hash_password
from bot.store import Store
from knowledge_base.articles import read_article_files
from tests.channels.test_telegram import bot_reply
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.helpers import write_articles
from tests.staff import API_TOKEN, PASSWORD, Agent, send, sign_in

ARTICLE = "/api/kb/articles/sim-puk/en"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    return fake_settings(tmp_path, database_url(request), api_token=API_TOKEN)


@pytest.fixture
def rasa():
    return FakeRasa(respond=bot_reply)


@pytest.fixture
def client(settings, rasa, tmp_path):
    async def prepare():
        store = Store.from_url(settings.database_url)
        await store.upgrade()
        for username, role in (("cora", "curator"), ("dan", "curator"), ("alice", "agent"), ("rita", "reviewer")):
            await store.add_user(username, username.title(), role, hash_password(PASSWORD))
        await store.add_user("root", "Root", "admin", hash_password(PASSWORD))
        await store.library.import_articles(read_article_files(write_articles(tmp_path / "kb")))
        await store.close()

    asyncio.run(prepare())
    with TestClient(app_with(rasa, settings)) as client:
        yield client


def edit(article: dict, **changes) -> dict:
    head = article["head"]
    fields = {k: head[k] for k in ("title", "questions", "body", "tags")}
    return {**fields, "base": head["number"], **changes}


def test_only_curators_and_admins_may_curate(client):
    assert client.get("/api/kb/articles").status_code == 401
    assert client.get("/curation", follow_redirects=False).headers["location"] == "/login?next=/curation"
    for username in ("alice", "rita"):
        staff = Agent(client, username)
        assert staff.get("/api/kb/articles").status_code == 403
        assert staff.get("/curation").status_code == 403
        assert staff.request("PUT", ARTICLE, json={"title": "x"}).status_code == 403
    for username in ("cora", "root"):
        staff = Agent(client, username)
        assert staff.get("/api/kb/articles").status_code == 200
        page = staff.get("/curation")
        assert page.status_code == 200 and 'name="csrf-token"' in page.text


@pytest.mark.parametrize(("username", "landing"), [("cora", "/curation"), ("alice", "/console"), ("root", "/console")])
def test_signing_in_on_the_login_page_leads_to_the_roles_own_page(client, username, landing):
    assert sign_in(client, username, next="").headers["location"] == landing
    client.cookies.clear()
    assert sign_in(client, username, next="/curation/suggestions").headers["location"] == "/curation/suggestions"


def test_a_change_without_the_csrf_token_is_refused(client):
    cora = Agent(client, "cora")
    article = cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]
    response = cora.request("PUT", ARTICLE, json=edit(article, title="Hacked"), headers={"X-CSRF-Token": "wrong"})
    assert response.status_code == 403
    assert cora.post(ARTICLE + "/unpublish", headers={"X-CSRF-Token": ""}).status_code == 403
    assert cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]["head"]["number"] == 1


def test_saving_shows_each_error_next_to_its_field(client):
    cora = Agent(client, "cora")
    article = cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]
    response = cora.request("PUT", ARTICLE, json=edit(article, title="", questions=[], tags=["ok", " "]))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_article"
    assert set(error["fields"]) == {"title", "questions", "tags"}
    new = cora.request("PUT", "/api/kb/articles/Not_An_Id/en", json={"base": None, "title": "x"})
    assert new.status_code == 422 and "id" in new.json()["error"]["fields"]


def test_save_draft_then_publish_then_unpublish(client):
    cora = Agent(client, "cora")
    article = cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]
    saved = cora.request("PUT", ARTICLE, json=edit(article, title="SIM locked?")).json()
    assert saved["revision"] == 2 and saved["version"] is None
    assert saved["article"]["has_unpublished_changes"] and saved["article"]["live"] == 1
    found = cora.get("/api/kb/articles?q=locked").json()
    assert found["truncated"] is False
    listed = {(a["id"], a["language"]): a for a in found["articles"]}
    assert listed[("sim-puk", "en")]["has_unpublished_changes"]

    published = cora.post(ARTICLE + "/publish").json()
    assert published["article"]["live"] == 2 and published["version"] > 1
    assert cora.get("/api/kb/status").json()["version"] == published["version"]
    unpublished = cora.post(ARTICLE + "/unpublish").json()
    assert (unpublished["article"]["status"], unpublished["article"]["live"]) == ("draft", None)
    drafts = cora.get("/api/kb/articles?status=draft").json()["articles"]
    assert [(a["id"], a["language"]) for a in drafts] == [("sim-puk", "en")]

    created = cora.request(
        "PUT",
        "/api/kb/articles/esim/zh",
        json={"base": None, "title": "eSIM", "questions": ["支持eSIM吗？"], "body": "支持。", "publish": True},
    ).json()
    assert created["article"]["status"] == "published" and created["revision"] == 1
    assert cora.get("/api/kb/articles/esim").json()["versions"] == {"en": None, "zh": created["article"]}


def test_the_second_save_is_a_conflict_that_shows_what_changed(client):
    cora, dan = Agent(client, "cora"), Agent(client, "dan")
    opened = cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]
    assert cora.request("PUT", ARTICLE, json=edit(opened, body="Cora's answer.")).status_code == 200
    conflict = dan.request("PUT", ARTICLE, json=edit(opened, body="Dan's answer."))
    assert conflict.status_code == 409
    body = conflict.json()
    assert body["error"]["code"] == "conflict" and "Cora" in body["error"]["message"]
    assert (body["head"]["number"], body["head"]["author"], body["head"]["body"]) == (2, "Cora", "Cora's answer.")
    kept = dan.request("PUT", ARTICLE, json=edit(opened, body="Dan's answer.", base=body["head"]["number"]))
    assert kept.status_code == 200 and kept.json()["revision"] == 3


def test_revisions_diff_and_restore(client):
    cora = Agent(client, "cora")
    article = cora.get("/api/kb/articles/sim-puk").json()["versions"]["en"]
    changed = edit(article, body=article["head"]["body"] + "\nOr visit a store.", questions=["PUK code?"])
    cora.request("PUT", ARTICLE, json={**changed, "publish": True})
    history = cora.get(ARTICLE + "/revisions").json()
    assert [(r["number"], r["author"]) for r in history["revisions"]] == [(2, "Cora"), (1, "command line")]
    assert [(p["action"], p["revision"], p["author"]) for p in history["publications"]] == [("publish", 2, "Cora")]

    changes = cora.get(ARTICLE + "/diff?from=1&to=2").json()["changes"]
    assert ["added", "Or visit a store."] in changes["body"]
    assert ["added", "PUK code?"] in changes["questions"]
    assert ["removed", "I entered the wrong PIN three times"] in changes["questions"]
    assert all(op == "same" for op, _ in changes["title"])
    assert cora.get(ARTICLE + "/diff?from=1&to=9").status_code == 404

    restored = cora.post(ARTICLE + "/restore", json={"revision": 1}).json()
    assert restored["revision"] == 3 and restored["article"]["live"] == 3
    assert restored["article"]["head"]["body"] == article["head"]["body"]


def test_the_test_panel_asks_the_action_server_with_the_nlu_reading(client, rasa):
    sent = []
    rasa.action_server["/try"] = lambda body: sent.append(body) or {"published": {"decision": "hand_off"}}
    rasa.intent = {"name": "out_of_scope", "confidence": 0.8}
    cora = Agent(client, "cora")
    draft = {"id": "sim-puk", "language": "en", "title": "SIM", "questions": ["q"], "body": "b", "tags": []}
    response = cora.post("/api/kb/try", json={"query": "what is the weather", "language": "en", "draft": draft})
    assert response.status_code == 200
    assert response.json()["intent"]["name"] == "out_of_scope"
    assert sent == [{"query": "what is the weather", "language": "en", "draft": draft, "off_topic": True}]
    rasa.down = True
    assert cora.post("/api/kb/try", json={"query": "hello", "language": "en"}).status_code == 503


def test_a_suggestion_is_added_to_an_article_and_published(client, rasa):
    """A question handed off for low confidence is grouped; accepting it adds it to the article as
    an alternate question, publishes, and empties the inbox."""
    rasa.replies = [[{"custom": {"handoff": {"reason": "low_confidence"}, "text": "A person will help."}}]]
    send(client, "my sim says PUK locked what now, call me on 13812345678", "web-user")

    def group(body):
        return {
            "groups": [
                {
                    "members": list(range(len(body["questions"]))),
                    "best": {"article_id": "sim-puk", "language": "en", "title": "SIM locked", "score": 0.2},
                }
            ]
        }

    rasa.action_server["/group"] = group
    cora = Agent(client, "cora")
    [suggestion] = cora.get("/api/kb/suggestions").json()["groups"]
    assert suggestion["asked"] == 1 and suggestion["examples"] == [
        "my sim says PUK locked what now, call me on [phone]"
    ]
    assert suggestion["target"]["article_id"] == "sim-puk" and suggestion["target"]["why"] == "best_match"
    accepted = cora.post(
        "/api/kb/suggestions/accept",
        json={
            "message_ids": [q["message_id"] for q in suggestion["questions"]],
            "article_id": "sim-puk",
            "language": "en",
            "question": suggestion["examples"][0],
        },
    ).json()
    assert accepted["article"]["live"] == 2
    assert accepted["article"]["head"]["questions"][-1] == "my sim says PUK locked what now, call me on [phone]"
    assert accepted["article"]["head"]["action"] == "suggestion"
    assert cora.get("/api/kb/suggestions").json()["groups"] == []


def test_a_reviewers_should_have_answered_label_is_a_suggestion_with_its_article_chosen(client, rasa):
    """The bot answered a question with the wrong article; a reviewer labels it with the right
    one: curators find the question in the inbox with that article preselected."""
    rasa.replies = [[{"custom": {"text": "Roaming...", "article_id": "roaming-activate", "score": 0.6}}]]
    send(client, "the sim asks for a code I never set", "misread")
    rita = Agent(client, "rita")
    question = rita.get("/api/review/conversations/misread").json()["messages"][0]
    labelled = rita.post(
        "/api/review/conversations/misread/labels",
        json={"label": "should_answer", "message_id": question["id"], "article_id": "sim-puk"},
    )
    assert labelled.status_code == 201
    rasa.action_server["/group"] = lambda body: {
        "groups": [{"members": [0], "best": {"article_id": "roaming-activate", "language": "en", "score": 0.6}}]
    }
    [suggestion] = Agent(client, "cora").get("/api/kb/suggestions").json()["groups"]
    assert [(q["text"], q["source"]) for q in suggestion["questions"]] == [
        ("the sim asks for a code I never set", "reviewer")
    ]
    assert (suggestion["target"]["article_id"], suggestion["target"]["why"]) == ("sim-puk", "reviewer")


def test_a_large_knowledge_base_lists_its_first_rows_and_says_so(client, monkeypatch):
    from bot import curation

    monkeypatch.setattr(curation, "ARTICLES_SHOWN", 4)
    listed = Agent(client, "cora").get("/api/kb/articles").json()
    assert listed["truncated"] is True and len(listed["articles"]) == 4

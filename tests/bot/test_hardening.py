"""Every request and response through the real app: body size limits, malformed JSON, and the
security headers of the staff's pages (Rasa replaced at the transport)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from bot.hardening import CONTENT_SECURITY_POLICY
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import AUTHORIZATION

JSON = {"content-type": "application/json"}
LIMIT = 64 * 1024


@pytest.fixture
def rasa():
    return FakeRasa(respond=lambda sent: [{"recipient_id": sent["sender"], "text": "Hello!"}])


@pytest.fixture
def client(tmp_path, rasa):
    with TestClient(app_with(rasa, fake_settings(tmp_path, max_body_bytes=LIMIT)), headers=AUTHORIZATION) as client:
        yield client


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, rasa):
    body = json.dumps({"conversation_id": "c1", "text": "x" * LIMIT})
    response = client.post("/api/messages", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "too_large",
        "message": f"the request body is larger than {LIMIT} bytes",
    }
    assert rasa.sent == []


def test_a_streamed_body_without_a_length_is_counted_as_it_arrives(client, rasa):
    def chunks():
        yield b'{"conversation_id": "c1", "text": "'
        for _ in range(LIMIT // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/api/messages", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert rasa.sent == []


def test_a_body_under_the_limit_is_served(client, rasa):
    response = client.post("/api/messages", json={"conversation_id": "c1", "text": "hello"})
    assert response.status_code == 200
    assert len(rasa.sent) == 1


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,  # nested deeper than the parser's recursion
        '{"conversation_id": "c1", "text": "hi", "n": ' + "9" * 5000 + "}",  # a number too long to read
        b'{"conversation_id": "c1", "text": "\xff\xfe"}',  # not UTF-8
    ],
    ids=["deeply nested", "5000-digit number", "not UTF-8"],
)
def test_json_that_cannot_be_read_is_a_400_and_the_app_keeps_serving(client, rasa, body):
    response = client.post("/api/messages", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.post("/api/messages", json={"conversation_id": "c1", "text": "still there?"}).status_code == 200


def test_every_response_says_nosniff_and_a_same_origin_referrer(client):
    for response in (client.get("/healthz"), client.get("/static/widget.js"), client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/login", "/console", "/curation", "/review", "/analytics"])
def test_staff_pages_forbid_framing_and_foreign_scripts(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"


def test_the_widget_stays_embeddable(client):
    response = client.get("/static/widget.js")
    assert "x-frame-options" not in response.headers
    assert "content-security-policy" not in response.headers

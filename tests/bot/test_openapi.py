"""The OpenAPI document of the public API: valid, describing every public route and nothing else,
fitting what the app really answers; and schemathesis, generating requests from it, gets no server
error from the app (SQLite in a temporary folder, Rasa faked at the transport)."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.openapi import EXAMPLE_ID, PATH, document
from tests.bot.test_api import ANSWER
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import API_TOKEN, AUTHORIZATION, send

# The staff's JSON APIs (signed-in staff with a CSRF token): not part of the public API.
STAFF_APIS = ("/api/desk/", "/api/kb/", "/api/review/", "/api/analytics", "/api/staff/")
MESSAGES, CONVERSATION = "/api/messages", "/api/conversations/{conversation_id}"


def answer(sent: dict) -> list[dict]:
    """The fake Rasa's reply to any message: an answer from an article, with a choice."""
    return [{**ANSWER, "recipient_id": sent["sender"]}]


@pytest.fixture
def rasa():
    return FakeRasa(respond=answer)


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path, api_token=API_TOKEN)


@pytest.fixture
def app(rasa, settings):
    return app_with(rasa, settings)


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


def assert_described(response, path: str) -> None:
    """The response's status is described for its request's operation on `path`, with its
    required headers, and its JSON body fits the described schema, formats (date-time) included."""
    method = response.request.method.lower()
    described = document()["paths"][path][method]["responses"]
    assert str(response.status_code) in described, f"{method.upper()} {path} does not describe {response.status_code}"
    entry = described[str(response.status_code)]
    for name, header in entry.get("headers", {}).items():
        assert not header.get("required") or name in response.headers, f"no {name} header"
    schema = {**entry["content"]["application/json"]["schema"], "components": document()["components"]}
    jsonschema_rs.Draft202012Validator(schema, validate_formats=True).validate(response.json())


def test_the_document_is_valid_openapi_and_its_schemas_valid_json_schema():
    schemathesis.openapi.from_dict(document()).validate()  # against the OpenAPI 3.1 meta-schema
    for name, schema in document()["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_the_document_is_served_as_json(client):
    response = client.get(PATH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == document()


def test_every_public_route_is_described_and_every_described_operation_exists(app):
    public = {
        (re.sub(r":\w+}", "}", route.path), method.lower())  # {conversation_id:path} -> {conversation_id}
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith(("/api/", "/healthz"))
        and not route.path.startswith(STAFF_APIS)
        for method in route.methods - {"HEAD"}
    }
    described = {(path, method) for path, operations in document()["paths"].items() for method in operations}
    assert described == public


def test_replies_transcripts_and_health_fit_the_document(client):
    first = send(client, "how do I turn on roaming")
    assert "conversation_token" in first.json()
    assert_described(first, MESSAGES)
    assert_described(send(client, "/affirm"), MESSAGES)  # without a token this time

    transcript = client.get("/api/conversations/c1", headers=AUTHORIZATION)
    assert [m["role"] for m in transcript.json()["messages"]] == ["user", "bot", "user", "bot"]
    assert_described(transcript, CONVERSATION)
    assert_described(client.get("/healthz"), "/healthz")


def test_errors_fit_the_document(client, rasa):
    send(client, "roaming")
    send(client, "hi", "from-the-cli", channel="cli")
    not_json = client.post(MESSAGES, content=b"not json", headers={"content-type": "application/json"})
    too_large = client.post(MESSAGES, content=b"{}", headers={"content-length": str(10 << 20)})
    for response, status, path in [
        (not_json, 400, MESSAGES),
        (client.post(MESSAGES, json={"conversation_id": "c1", "text": "hi"}), 403, MESSAGES),
        (send(client, "hi", "from-the-cli"), 409, MESSAGES),
        (too_large, 413, MESSAGES),
        (client.get("/api/conversations/c1"), 401, CONVERSATION),
        (client.get("/api/conversations/nobody", headers=AUTHORIZATION), 404, CONVERSATION),
    ]:
        assert response.status_code == status, response.text
        assert_described(response, path)

    burst = [send(client, f"message {n}", "chatty") for n in range(21)]  # 60 a minute: 20 at once
    assert burst[-1].status_code == 429
    assert_described(burst[-1], MESSAGES)

    rasa.down = True
    degraded = client.get("/healthz")
    assert degraded.status_code == 503
    assert_described(degraded, "/healthz")


def test_reading_while_no_api_token_is_set_is_a_described_403(tmp_path, rasa):
    with TestClient(app_with(rasa, fake_settings(tmp_path))) as client:
        response = client.get("/api/conversations/c1")
    assert response.status_code == 403
    assert_described(response, CONVERSATION)


@pytest.fixture
def fuzzed_app(rasa, settings):
    """An app whose database holds the example conversation, so that reading it answers 200."""
    with TestClient(app_with(rasa, settings)) as client:
        send(client, "How do I turn on roaming?", EXAMPLE_ID)
    return app_with(rasa, settings)


# From the document itself (the app serves it unchanged, as tested above); one test per operation.
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@hypothesis_settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure is never a fluke, and always reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one app for an operation's examples, on purpose
)
def test_no_generated_request_makes_a_server_error(case, fuzzed_app):
    # Reading with the API token, so that conversations are read whole and checked against the document.
    case.call_and_validate(
        app=fuzzed_app,
        headers=AUTHORIZATION,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )

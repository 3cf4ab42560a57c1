"""Signing in and out through the real app, on SQLite and PostgreSQL: sign-out ends the session on
the server, and repeated wrong passwords lock an account, or an address, out for a while."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from bot.auth import FIRST_LOCK, LOCK_AFTER, hash_password
from bot.store import SignInFailure, utcnow
from tests.databases import database_url
from tests.fake_rasa import FakeRasa, app_with, fake_settings
from tests.staff import PASSWORD, sign_in


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def client(request, tmp_path):
    with TestClient(app_with(FakeRasa(), fake_settings(tmp_path, database_url(request)))) as client:
        for name in ("alice", "bob"):
            client.portal.call(client.app.state.store.add_user, name, name.title(), "agent", hash_password(PASSWORD))
        yield client


def log_out(client) -> int:
    me = client.get("/api/staff/me").json()
    return client.post("/logout", data={"csrf_token": me["csrf_token"]}, follow_redirects=False).status_code


def test_a_cookie_copied_before_sign_out_no_longer_works(client):
    assert sign_in(client, "alice").status_code == 303
    copied = client.cookies["touchpoint_staff"]
    assert client.get("/api/staff/me").status_code == 200
    assert log_out(client) == 303
    client.cookies.clear()
    client.cookies["touchpoint_staff"] = copied  # the cookie as it was before signing out
    assert client.get("/api/staff/me").status_code == 401
    assert client.get("/console", follow_redirects=False).headers["location"].startswith("/login")


def test_a_new_password_ends_every_session_of_the_user(client):
    assert sign_in(client, "alice").status_code == 303
    client.portal.call(client.app.state.store.set_password, "alice", hash_password("another password!"))
    assert client.get("/api/staff/me").status_code == 401


def test_an_account_is_locked_after_repeated_wrong_passwords_even_for_the_right_one(client):
    for _ in range(LOCK_AFTER["user"]):
        assert sign_in(client, "alice", "wrong password").status_code == 401
    locked = sign_in(client, "alice")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= FIRST_LOCK.total_seconds()
    assert "Too many wrong passwords" in locked.text and "Try again in 1 minute." in locked.text
    assert client.get("/api/staff/me").status_code == 401
    # Another account from the same address is not locked (the address has its own, higher limit).
    assert sign_in(client, "bob").status_code == 303


def test_each_wrong_password_after_a_lock_doubles_it(client):
    store = client.app.state.store
    for _ in range(LOCK_AFTER["user"]):
        sign_in(client, "alice", "wrong password")
    assert sign_in(client, "alice", "wrong password").status_code == 429  # not even checked while locked
    for doubled in (2, 4):
        _expire_locks(client)  # the lock has run out: one more wrong password locks for twice as long
        assert sign_in(client, "alice", "wrong password").status_code == 401
        left = client.portal.call(store.sign_in_locked_until, ["user:alice"]) - utcnow()
        assert FIRST_LOCK * doubled - timedelta(seconds=10) < left <= FIRST_LOCK * doubled


def test_the_right_password_before_the_lock_resets_the_count(client):
    for _ in range(LOCK_AFTER["user"] - 1):
        sign_in(client, "alice", "wrong password")
    assert sign_in(client, "alice").status_code == 303
    log_out(client)
    for _ in range(LOCK_AFTER["user"] - 1):
        sign_in(client, "alice", "wrong password")
    assert sign_in(client, "alice").status_code == 303


def test_an_address_trying_many_accounts_is_locked_out(client):
    names = [f"guess{n}" for n in range(LOCK_AFTER["address"])]
    for name in names:
        assert sign_in(client, name, "wrong password").status_code == 401
    response = sign_in(client, "bob")
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


def test_wrong_passwords_are_forgotten_after_an_hour(client):
    store = client.app.state.store
    for _ in range(LOCK_AFTER["user"] - 1):
        sign_in(client, "alice", "wrong password")
    _age_failures(client, timedelta(hours=2))
    sign_in(client, "alice", "wrong password")  # counts as the first again: no lock
    assert client.portal.call(store.sign_in_locked_until, ["user:alice"]) is None
    assert sign_in(client, "alice").status_code == 303


def _expire_locks(client) -> None:
    _update_failures(client, locked_until=utcnow() - timedelta(seconds=1))


def _age_failures(client, age: timedelta) -> None:
    _update_failures(client, last_at=utcnow() - age)


def _update_failures(client, **values) -> None:
    from sqlalchemy import update

    async def change():
        async with client.app.state.store.engine.begin() as connection:
            await connection.execute(update(SignInFailure).values(**values))

    client.portal.call(change)


def test_the_login_page_escapes_what_it_echoes(client):
    page = client.get("/login?next=/console%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in page.text
    assert re.search(r'name="csrf_token" value="[^"]+"', page.text)

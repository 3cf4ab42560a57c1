"""`touchpoint users`: staff accounts from the command line, in the database the app uses."""

from __future__ import annotations

import asyncio
import io

import pytest

from bot import cli
from bot.auth import verify_password
from bot.store import Store


@pytest.fixture
def environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path))
    return tmp_path


def users(*argv: str, password: str | None = None, monkeypatch=None) -> int:
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return cli.main(["users", *argv])


def stored(build_dir, username):
    async def read():
        store = Store.from_url(f"sqlite+aiosqlite:///{build_dir / 'touchpoint.db'}")
        try:
            return await store.user_by_name(username)
        finally:
            await store.close()

    return asyncio.run(read())


def test_add_list_and_change_a_password(environment, monkeypatch, capsys):
    assert users("add", "Alice", "--role", "agent", "--name", "Alice Wong", "--password-stdin",
                 password="a long enough password", monkeypatch=monkeypatch) == 0  # fmt: skip
    user = stored(environment, "alice")
    assert (user.username, user.name, user.role) == ("alice", "Alice Wong", "agent")
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "a long enough password")

    assert users("list") == 0
    assert "alice" in capsys.readouterr().out

    assert users("passwd", "alice", "--password-stdin", password="another long password", monkeypatch=monkeypatch) == 0
    assert verify_password(stored(environment, "alice").password_hash, "another long password")


@pytest.mark.parametrize(
    ("argv", "password", "message"),
    [
        (("add", "bob", "--role", "boss"), "a long enough password", "role must be one of"),
        (("add", "bob", "--role", "agent"), "short", "at least 10 characters"),
        (("add", "b o b", "--role", "agent"), "a long enough password", "a username is"),
        (("passwd", "nobody"), "a long enough password", "there is no user 'nobody'"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(environment, monkeypatch, capsys, argv, password, message):
    assert users(*argv, "--password-stdin", password=password, monkeypatch=monkeypatch) == 1
    assert message in capsys.readouterr().err


def test_a_taken_username_is_refused(environment, monkeypatch, capsys):
    users(
        "add",
        "alice",
        "--role",
        "agent",
        "--password-stdin",
        password="a long enough password",
        monkeypatch=monkeypatch,
    )
    assert users("add", "alice", "--role", "admin", "--password-stdin", password="a long enough password",
                 monkeypatch=monkeypatch) == 1  # fmt: skip
    assert "already a user 'alice'" in capsys.readouterr().err


def test_run_makes_a_demo_agent_and_curator_only_when_there_is_no_staff(environment):
    from bot.settings import load_settings

    settings = load_settings()
    password = cli.ensure_demo_staff(settings)
    for username, role in (("demo", "agent"), ("curator", "curator")):
        user = stored(environment, username)
        assert user.role == role and verify_password(user.password_hash, password)
    assert cli.ensure_demo_staff(settings) is None

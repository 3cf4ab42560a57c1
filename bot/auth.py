"""Staff accounts and access: argon2id passwords, a signed session cookie (HttpOnly, SameSite
strict) naming a session the server keeps (signing out ends it), a CSRF token on every form and
state-changing call, a role check on every staff page, API and socket, and a lock-out after
repeated wrong passwords for an account or from an address.

Roles: agent (the handoff desk), curator (knowledge-base articles), reviewer (transcripts and
analytics), admin (everything). Accounts are made on the command line: `touchpoint users add`.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.errors import Forbidden, Unauthorized
from bot.store import utcnow

ROLES = ("agent", "curator", "reviewer", "admin")
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD = 10
SESSION_COOKIE = "touchpoint_staff"
SESSION_HOURS = 12
CSRF_HEADER = "X-CSRF-Token"
# Wrong passwords in a row (forgotten after an hour without one) before a lock-out, per account and
# per address (an address may be an office behind one gateway); each further one doubles the lock.
LOCK_AFTER = {"user": 5, "address": 20}
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)
FORGET_FAILURES = timedelta(hours=1)

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Verified when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))  # autoescaped


class AccountError(ValueError):
    pass


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError(
            "a username is 2 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
        )
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def secret_key(settings) -> str:
    """TOUCHPOINT_SECRET_KEY, or a random key made once and kept in the build folder (0600), so
    sessions survive a restart without anyone choosing a key."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.build_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    name: str
    role: str

    def may(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


async def current_staff(connection: HTTPConnection) -> Staff | None:
    """The signed-in, still active member of staff, or None (signed out, disabled, the password
    changed or the session older than SESSION_HOURS)."""
    token = connection.session.get("session")
    if not isinstance(token, str):
        return None
    user = await connection.app.state.store.staff_session_user(token, timedelta(hours=SESSION_HOURS))
    return None if user is None else Staff(user.id, user.username, user.name, user.role)


def csrf_token(connection: HTTPConnection) -> str:
    token = connection.session.get("csrf")
    if not token:
        token = connection.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request, form: Any | None = None) -> None:
    sent = request.headers.get(CSRF_HEADER) or (form.get("csrf_token") if form is not None else None) or ""
    expected = request.session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent).encode(), expected.encode()):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


def require_bearer(request: Request, expected: str, variable: str) -> None:
    """A machine's call: `Authorization: Bearer <the token in `variable`>`. Raises Unauthorized for
    a missing or wrong token (compared in constant time); the caller refuses when none is set."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized(f"send 'Authorization: Bearer <{variable}>'")


class LoginRequired(Exception):
    """An HTML page asked for without signing in: sends the browser to the login page."""


def requires(*roles: str, page: bool = False):
    """Only signed-in staff with one of `roles` (or admin); state-changing methods also need the
    CSRF token. `page`: send a browser that is not signed in to the login page (else 401 JSON)."""

    def decorate(endpoint: Callable[..., Awaitable[Response]]):
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            staff = await current_staff(request)
            if staff is None:
                if page:
                    raise LoginRequired()
                raise Unauthorized("sign in first")
            if not staff.may(*roles):
                raise Forbidden(f"this needs the {' or '.join(roles)} role")
            if request.method not in ("GET", "HEAD"):
                await check_csrf(request, await request.form() if _is_form(request) else None)
            request.state.staff = staff
            return await endpoint(request)

        return guarded

    return decorate


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/"))


async def login_redirect(request: Request, exc: LoginRequired) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# Where a role starts when sign-in was not asked for by a page.
LANDING = {"curator": "/curation", "reviewer": "/review"}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //evil.example, no scheme); "" for anything else."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "login.html", {"csrf": csrf_token(request), "next": _safe_next(request.query_params.get("next"))}
    )


def _lock(kind: str) -> Callable[[int], timedelta | None]:
    """How long `kind`'s key is locked after its n-th wrong password in a row, if at all."""

    def lock(failures: int) -> timedelta | None:
        beyond = failures - LOCK_AFTER[kind]
        return None if beyond < 0 else min(FIRST_LOCK * 2**beyond, LONGEST_LOCK)

    return lock


async def login(request: Request) -> Response:
    form = await request.form()
    await check_csrf(request, form)
    store = request.app.state.store
    username, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
    keys = {"user": f"user:{username}", "address": f"address:{request.client.host if request.client else ''}"}
    context = {"csrf": csrf_token(request), "next": _safe_next(form.get("next"))}
    if (until := await store.sign_in_locked_until(list(keys.values()))) is not None:
        wait = max(1, int((until - utcnow()).total_seconds()))
        response = templates.TemplateResponse(
            request, "login.html", context | {"locked_minutes": -(-wait // 60)}, status_code=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = await store.user_by_name(username)
    if not verify_password(user.password_hash if user else None, password) or not user.active:
        for kind, key in keys.items():
            await store.record_sign_in_failure(key, _lock(kind), FORGET_FAILURES)
        return templates.TemplateResponse(request, "login.html", context | {"error": True}, status_code=401)
    await store.clear_sign_in_failures(list(keys.values()))
    request.session.clear()  # a fresh session on sign-in: no fixation
    request.session["session"] = await store.start_staff_session(user.id)
    csrf_token(request)
    return RedirectResponse(_safe_next(form.get("next")) or LANDING.get(user.role, "/console"), status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    await check_csrf(request, form)
    if isinstance(token := request.session.get("session"), str):
        await request.app.state.store.end_staff_session(token)  # a copy of the cookie is worth nothing now
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def whoami(request: Request) -> Response:
    staff = await current_staff(request)
    if staff is None:
        raise Unauthorized("sign in first")
    return JSONResponse(
        {"username": staff.username, "name": staff.name, "role": staff.role, "csrf_token": csrf_token(request)}
    )


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/api/staff/me", whoami, methods=["GET"]),
]

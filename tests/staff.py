"""Staff and API clients for the tests: the API token the tests' apps and stacks are configured
with, signing in, and sending messages as a channel would."""

import re

PASSWORD = "correct horse battery"

API_TOKEN = "test-api-token-0123456789"
AUTHORIZATION = {"Authorization": f"Bearer {API_TOKEN}"}

TOKEN_HEADER = "X-Conversation-Token"


def send(client, text: str, conversation_id: str = "c1", **extra):
    """POST a message as an API client would: the conversation token that came with the first
    reply (kept on the client) goes with every later message."""
    tokens = client.__dict__.setdefault("conversation_tokens", {})
    headers = {TOKEN_HEADER: tokens[conversation_id]} if conversation_id in tokens else {}
    response = client.post(
        "/api/messages", json={"conversation_id": conversation_id, "text": text, **extra}, headers=headers
    )
    if response.status_code == 200 and "conversation_token" in response.json():
        tokens[conversation_id] = response.json()["conversation_token"]
    return response


def someone_online(client, username: str = "online-agent") -> None:
    """An agent whose console is open (checked in just now), so that handoffs join the queue."""
    from bot.auth import hash_password

    store = client.app.state.store

    async def check_in():
        user = await store.user_by_name(username)
        if user is None:
            user = await store.add_user(username, username.title(), "agent", hash_password("x" * 16))
        await store.touch_user(user.id)

    client.portal.call(check_in)


def sign_in(client, username: str, password: str = PASSWORD, next: str = "/console"):
    """Sign in through the login form, as a browser would; `next` is the page asked for ("" when
    the login page was opened directly)."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf, "next": next},
        follow_redirects=False,
    )  # fmt: skip


class Agent:
    """A signed-in member of staff sharing the app's one TestClient (one event loop, as in
    production) but with their own session cookie and CSRF token."""

    def __init__(self, client, username: str):
        self.client = client
        assert sign_in(client, username).status_code == 303
        self.cookie = f"touchpoint_staff={client.cookies['touchpoint_staff']}"
        client.cookies.clear()
        self.csrf = ""
        self.csrf = self.get("/api/staff/me").json()["csrf_token"]

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs):
        headers = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, **(headers or {})}
        return self.client.request(method, path, headers=headers, follow_redirects=False, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

"""The API token the tests' apps and stacks are configured with, to read transcripts back."""

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

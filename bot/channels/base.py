"""The interface every channel implements, so that what an agent or the system says reaches a
user the same way in any channel, and nothing outside a channel knows it by name."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from bot.hub import Hub, conversation_topic
from bot.replies import message_json
from bot.store import Conversation, Message

logger = logging.getLogger(__name__)


class Channel(Protocol):
    name: str

    async def deliver(self, conversation: Conversation, messages: Sequence[Message]) -> None:
        """Show stored messages to the user now, if the channel can reach them."""


class StoredOnly:
    """A channel whose clients fetch what they are sent (the API, the terminal chat): the
    messages are stored, which is delivery enough."""

    def __init__(self, name: str):
        self.name = name

    async def deliver(self, conversation: Conversation, messages: Sequence[Message]) -> None:
        return None


class LiveTopic:
    """A channel whose clients subscribe to the conversation's topic on the hub (the widget)."""

    def __init__(self, name: str, hub: Hub):
        self.name = name
        self._hub = hub

    async def deliver(self, conversation: Conversation, messages: Sequence[Message]) -> None:
        frame = {"type": "push", "messages": [message_json(m) for m in messages], "state": conversation.state}
        await self._hub.publish(conversation_topic(conversation.id), frame)


class Channels:
    """The registered channels, by name."""

    def __init__(self, *channels: Channel):
        self._by_name: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        self._by_name[channel.name] = channel

    async def deliver(self, conversation: Conversation, messages: Sequence[Message]) -> None:
        channel = self._by_name.get(conversation.channel)
        if channel is None:
            logger.warning(
                "No channel %r to deliver to %s (the messages are stored)", conversation.channel, conversation.id
            )
            return
        await channel.deliver(conversation, messages)

"""The store: conversations, staff and the knowledge base's articles; models, queries and
migrations (SQLAlchemy, Alembic)."""

from bot.store.models import (
    Base,
    ChannelEvent,
    Claim,
    Conversation,
    Feedback,
    Handoff,
    Message,
    Note,
    Reveal,
    ReviewLabel,
    Ticket,
    User,
    utcnow,
)
from bot.store.queries import Attempt, HandoffAlreadyClaimed, OpenHandoff, QueueEntry, Store, Tx, aware

__all__ = [
    "Attempt",
    "Base",
    "ChannelEvent",
    "Claim",
    "Conversation",
    "Feedback",
    "Handoff",
    "HandoffAlreadyClaimed",
    "Message",
    "Note",
    "OpenHandoff",
    "Reveal",
    "ReviewLabel",
    "QueueEntry",
    "Store",
    "Ticket",
    "Tx",
    "User",
    "aware",
    "utcnow",
]

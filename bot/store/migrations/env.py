"""Alembic's entry point. Touchpoint runs migrations on a connection it opens itself
(`bot.store.migrate`), handed over in `config.attributes["connection"]`."""

from alembic import context

from bot.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

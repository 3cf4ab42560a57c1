"""Tickets for handoffs made while nobody was online, and agents' presence (release bce5e31).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "tickets",
        sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tickets")
    with op.batch_alter_table("users") as users:
        users.drop_column("last_seen")

"""Staff sessions kept on the server (sign-out ends them: a copied cookie stops working), wrong
passwords counted per account and per address for the sign-in lock-out, and when an inbound
channel event's handling finished (one claimed by a process that died is handled again).

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("channel_events") as table:
        table.add_column(sa.Column("done_at", TIME, nullable=True))
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.Column("locked_until", TIME, nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("channel_events") as table:
        table.drop_column("done_at")
    op.drop_table("sign_in_failures")
    op.drop_table("staff_sessions")

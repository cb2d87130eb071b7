"""ticket.updated_at indexed: the 联席会 agenda asks for tickets moved since a day, which otherwise
reads every ticket (bench/bench_desk.py at a million tickets)

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_updated_at", "ticket", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_updated_at", table_name="ticket")

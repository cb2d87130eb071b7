"""web desk logins (desk_user), Open311 API clients (api_client), and indexes for the desk's filters
and the weekly numbers

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_ticket_grid_status", "ticket", ["grid_id", "status"])
    op.create_index("ix_ticket_resolved_at", "ticket", ["resolved_at"])
    op.create_index("ix_ticket_due_fix", "ticket", ["due_fix_at"])
    op.create_index("ix_milestone_due", "ticket_milestone", ["due_at"])
    op.create_index("ix_milestone_met", "ticket_milestone", ["met_at"])
    op.create_index("ix_rating_rated_at", "ticket_rating", ["rated_at"])
    op.create_index("ix_ticket_party_party", "ticket_party", ["party", "ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_grid_status", table_name="ticket")
    op.drop_index("ix_ticket_resolved_at", table_name="ticket")
    op.drop_index("ix_ticket_due_fix", table_name="ticket")
    op.drop_index("ix_milestone_due", table_name="ticket_milestone")
    op.drop_index("ix_milestone_met", table_name="ticket_milestone")
    op.drop_index("ix_rating_rated_at", table_name="ticket_rating")
    op.drop_index("ix_ticket_party_party", table_name="ticket_party")
    op.drop_table("api_client")
    op.drop_table("desk_user")

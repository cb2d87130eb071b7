"""服务积分: the points ledger (point_entry, append-only; a reversal points at the entry it cancels)
and the name a resident agreed to show on the monthly ranking (resident.points_name)

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as b:
        b.add_column(sa.Column("points_name", sa.String(length=32), nullable=True))
    op.create_table(
        "point_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.ForeignKeyConstraint(["reverses_id"], ["point_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
        sa.CheckConstraint("kind IN ('award', 'redeem', 'reverse')", name="ck_point_entry_kind"),
        sa.CheckConstraint("(kind = 'award' AND amount > 0) OR (kind = 'redeem' AND amount < 0) "
                           "OR (kind = 'reverse' AND amount <> 0)", name="ck_point_entry_sign"),
        sa.CheckConstraint("(kind = 'reverse') = (reverses_id IS NOT NULL)", name="ck_point_entry_reverses"),
    )
    op.create_index("ix_point_entry_resident", "point_entry", ["resident_id", "id"])
    op.create_index("ix_point_entry_created", "point_entry", ["created_at"])
    op.create_index("ix_point_entry_ticket", "point_entry", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_point_entry_ticket", table_name="point_entry")
    op.drop_index("ix_point_entry_created", table_name="point_entry")
    op.drop_index("ix_point_entry_resident", table_name="point_entry")
    op.drop_table("point_entry")
    with op.batch_alter_table("resident") as b:
        b.drop_column("points_name")

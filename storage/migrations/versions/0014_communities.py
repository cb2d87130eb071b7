"""Several communities in one deployment: grid.community (a ticket's community is its grid's) and
resident.community (where the resident last reported, on an account several communities share);
poll.community and notice.community (the asker's)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grid") as b:
        b.add_column(sa.Column("community", sa.String(length=32), nullable=False, server_default="default"))
        b.create_index("ix_grid_community", ["community"])
    for table in ("resident", "poll", "notice"):
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column("community", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in ("notice", "poll", "resident"):
        with op.batch_alter_table(table) as b:
            b.drop_column("community")
    with op.batch_alter_table("grid") as b:
        b.drop_index("ix_grid_community")
        b.drop_column("community")

"""Indexes for a history that costs nothing (issue 14), PostgreSQL's covering ones included:

- ix_ticket_active_like, partial on the active tickets: (grid_id, category), with created_at and
  due_fix_at (included, not keys: as a key, created_at let PostgreSQL plan the agenda's "being
  worked or moved since" OR from this index and read every ticket moved since, 130 -> 220 ms): a report's "+1" candidates (open tickets of a grid and category, newest first) and the
  weekly review's still-open, overdue and long-standing counts read it alone, not the whole table
  (the "+1" query was a report's costliest statement at a million tickets, 0.8 ms);
- ix_ticket_active_order, partial on the active tickets: (priority DESC, created_at), the order of
  /list: the first 20 of the community's open tickets without sorting them all (142 ms at a million
  tickets, reading every open one). Its predicate also says priority IS NOT NULL (always true), which
  /list states and the agenda does not, so that the agenda's plan keeps away from it (as above);
- ix_ticket_created_at and ix_ticket_resolved_at carry the grid (and the category and building): the
  weekly review's counts, categories and heat map become index-only scans (81 -> 26 ms p95 for a
  community-wide review at a million tickets, bench/bench_desk.py).
- ix_ticket_grid_of (id, with the grid) and ix_rating_rated_at (with the ticket and score): a week's
  ratings of one grid are index-only lookups (11 -> 5 ms of a grid's review).
SQLite has no INCLUDE: there the indexes stay plain (and ix_ticket_grid_of is not made).

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('open', 'assigned', 'onsite', 'planned', 'referred')"   # domain.states.ACTIVE today
LISTED = ACTIVE + " AND priority IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_ticket_active_like", "ticket", ["grid_id", "category"],
                    postgresql_include=["created_at", "due_fix_at"], postgresql_where=sa.text(ACTIVE),
                    sqlite_where=sa.text(ACTIVE))
    op.create_index("ix_ticket_active_order", "ticket", [sa.text("priority DESC"), "created_at"],
                    postgresql_where=sa.text(LISTED), sqlite_where=sa.text(LISTED))
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_ticket_created_at", table_name="ticket")
        op.create_index("ix_ticket_created_at", "ticket", ["created_at"],
                        postgresql_include=["grid_id", "category", "building"])
        op.drop_index("ix_ticket_resolved_at", table_name="ticket")
        op.create_index("ix_ticket_resolved_at", "ticket", ["resolved_at"], postgresql_include=["grid_id"])
        op.create_index("ix_ticket_grid_of", "ticket", ["id"], postgresql_include=["grid_id"])
        op.drop_index("ix_rating_rated_at", table_name="ticket_rating")
        op.create_index("ix_rating_rated_at", "ticket_rating", ["rated_at"], postgresql_include=["ticket_id", "score"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_rating_rated_at", table_name="ticket_rating")
        op.create_index("ix_rating_rated_at", "ticket_rating", ["rated_at"])
        op.drop_index("ix_ticket_grid_of", table_name="ticket")
        op.drop_index("ix_ticket_resolved_at", table_name="ticket")
        op.create_index("ix_ticket_resolved_at", "ticket", ["resolved_at"])
        op.drop_index("ix_ticket_created_at", table_name="ticket")
        op.create_index("ix_ticket_created_at", "ticket", ["created_at"])
    op.drop_index("ix_ticket_active_order", table_name="ticket")
    op.drop_index("ix_ticket_active_like", table_name="ticket")

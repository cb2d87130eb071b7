"""ticket_milestone.round_started_at and .grid_id, and unmet milestones indexed by due time: the
54321 figures (handlers/stats.py on_time) read only the period's milestones, with no lookup of
each round's registration or ticket (bench/bench_desk.py at a million tickets). A trigger keeps
the grid copy following ticket.grid_id, whatever code moves a ticket.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The round's start as on_time defined it before: the round's registration, else the ticket's creation.
_START = ("COALESCE((SELECT r.met_at FROM ticket_milestone AS r WHERE r.ticket_id = ticket_milestone.ticket_id "
          "AND r.round = ticket_milestone.round AND r.name = 'register'), "
          "(SELECT t.created_at FROM ticket AS t WHERE t.id = ticket_milestone.ticket_id))")
_GRID = "(SELECT t.grid_id FROM ticket AS t WHERE t.id = ticket_milestone.ticket_id)"

_PG_TRIGGER = ("""CREATE FUNCTION ticket_milestone_follow_grid() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN
                      UPDATE ticket_milestone SET grid_id = NEW.grid_id WHERE ticket_id = NEW.id;
                      RETURN NULL;
                  END $$""",
               """CREATE TRIGGER ticket_milestone_grid AFTER UPDATE OF grid_id ON ticket FOR EACH ROW
                  WHEN (OLD.grid_id IS DISTINCT FROM NEW.grid_id) EXECUTE FUNCTION ticket_milestone_follow_grid()""")
_SQLITE_TRIGGER = """CREATE TRIGGER ticket_milestone_grid AFTER UPDATE OF grid_id ON ticket
                     WHEN old.grid_id IS NOT new.grid_id BEGIN
                         UPDATE ticket_milestone SET grid_id = new.grid_id WHERE ticket_id = new.id;
                     END"""


def upgrade() -> None:
    with op.batch_alter_table("ticket_milestone") as b:
        b.add_column(sa.Column("round_started_at", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # one set-wise join, each row written once: a lookup per row takes far longer at millions
        op.execute("""UPDATE ticket_milestone AS m SET round_started_at = s.start, grid_id = s.grid_id
                      FROM (SELECT x.id, COALESCE(r.met_at, t.created_at) AS start, t.grid_id
                            FROM ticket_milestone AS x JOIN ticket AS t ON t.id = x.ticket_id
                            LEFT JOIN ticket_milestone AS r ON r.ticket_id = x.ticket_id AND r.round = x.round
                                                           AND r.name = 'register') AS s
                      WHERE s.id = m.id""")
        for stmt in _PG_TRIGGER:
            op.execute(stmt)
    else:
        op.execute(f"UPDATE ticket_milestone SET round_started_at = {_START}, grid_id = {_GRID}")
        op.execute(_SQLITE_TRIGGER)
    op.create_index("ix_milestone_unmet_due", "ticket_milestone", ["due_at"],
                    postgresql_where=sa.text("met_at IS NULL"), sqlite_where=sa.text("met_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_milestone_unmet_due", table_name="ticket_milestone")
    op.execute("DROP TRIGGER ticket_milestone_grid" + (" ON ticket" if op.get_bind().dialect.name == "postgresql"
                                                       else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ticket_milestone_follow_grid()")
    with op.batch_alter_table("ticket_milestone") as b:
        b.drop_column("grid_id")
        b.drop_column("round_started_at")

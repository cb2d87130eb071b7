"""Staff corrections as training data: every ticket whose category a staff member changed (/recat)
or a resident chose from the menu, with the category it ended with.

    python -m storage.corrections [--config config.yaml] --out corrections.csv
    python -m nlp.train --extra corrections.csv          # retrain the shipped model with them
"""
from __future__ import annotations

import argparse
import csv
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Ticket, TicketEvent

KINDS = ("recategorised", "category_chosen")


def correction_rows(session: Session) -> list[tuple[str, str]]:
    """(text, final category) once per corrected ticket; tickets without text (photos only) skipped."""
    q = (select(Ticket.text, Ticket.category).where(Ticket.id.in_(
        select(TicketEvent.ticket_id).where(TicketEvent.kind.in_(KINDS)))).order_by(Ticket.id))
    return [(text, cat) for text, cat in session.execute(q) if text and text.strip()]


def write_csv(rows: list[tuple[str, str]], out) -> None:
    w = csv.writer(out)
    w.writerow(["text", "label"])
    w.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m storage.corrections", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--out", required=True, help="CSV file to write (text,label)")
    a = ap.parse_args(argv)
    from bot.config import ConfigError, load_config
    from storage.db import make_engine, make_session_factory
    try:
        cfg = load_config(a.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    with make_session_factory(make_engine(cfg.database.url))() as s:
        rows = correction_rows(s)
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        write_csv(rows, f)
    print(f"{len(rows)} corrections written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Staff corrections as training data: every ticket whose category a staff member changed (/recat)
or a resident chose from the menu, with the category it ended with; and every ticket a staff member
marked as an emergency (/emergency) or cleared (/notemergency), with the kind or "none".

    python -m storage.corrections [--config config.yaml] --out corrections.csv [--emergencies em.csv]
    python -m nlp.cli.train --extra corrections.csv --out nlp/model   # retrain the shipped model with them
    (em.csv has the columns of nlp/data/emergency/*.csv: text,emergency,kind; copy it there to ship it)
"""
from __future__ import annotations

import argparse
import csv
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Ticket, TicketEvent

KINDS = ("recategorised", "category_chosen")
EMERGENCY_MARKED, EMERGENCY_CLEARED = "emergency_marked", "emergency_cleared"
NO_EMERGENCY = "none"           # the label nlp/emergency.py trains for "not an emergency"


def correction_rows(session: Session) -> list[tuple[str, str]]:
    """(text, final category) once per corrected ticket; tickets without text (photos only) skipped."""
    q = (select(Ticket.text, Ticket.category).where(Ticket.id.in_(
        select(TicketEvent.ticket_id).where(TicketEvent.kind.in_(KINDS)))).order_by(Ticket.id))
    return [(text, cat) for text, cat in session.execute(q) if _usable(text)]


def emergency_rows(session: Session) -> list[tuple[str, str]]:
    """(text, kind or "none") once per ticket staff marked or cleared; the latest word stands."""
    q = (select(Ticket.id, Ticket.text, TicketEvent.kind, TicketEvent.data).join(Ticket, Ticket.id == TicketEvent.ticket_id)
         .where(TicketEvent.kind.in_((EMERGENCY_MARKED, EMERGENCY_CLEARED))).order_by(TicketEvent.id))
    last: dict[int, tuple[str, str]] = {}
    for tid, text, kind, data in session.execute(q):
        if _usable(text):
            last[tid] = (text, data.get("new") if kind == EMERGENCY_MARKED else NO_EMERGENCY)
    return [last[tid] for tid in sorted(last)]


def write_csv(rows: list[tuple[str, str]], out) -> None:
    w = csv.writer(out)
    w.writerow(["text", "label"])
    w.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m storage.corrections", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--out", required=True, help="CSV file to write (text,label)")
    ap.add_argument("--emergencies", help="CSV file to write the emergency labels to (text,emergency,kind)")
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
        em_rows = emergency_rows(s)
    if a.emergencies:
        with open(a.emergencies, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "emergency", "kind"])
            w.writerows((t, 0 if k == NO_EMERGENCY else 1, "" if k == NO_EMERGENCY else k) for t, k in em_rows)
        print(f"{len(em_rows)} emergency labels written to {a.emergencies}", file=sys.stderr)
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        write_csv(rows, f)
    print(f"{len(rows)} corrections written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _usable(text: str | None) -> bool:
    """A text to learn from: not empty, and not one a resident had erased (个人信息保护法)."""
    from storage.privacy import ERASED_TICKET_TEXT
    return bool(text and text.strip()) and text != ERASED_TICKET_TEXT

"""Full-text search in Chinese for the web desk, in both databases, with an index.

Chinese has no spaces, so a ticket's text and place are stored a second time as search terms
(`ticket.search`): every pair of adjacent Han characters ("3号楼门口垃圾" -> 号楼 楼门 门口 口垃 垃圾),
each run of letters or digits as a word, and a lone Han character as itself. A query is cut the same
way and every one of its terms must be present; the exact words are then checked with LIKE on the
few rows the index returned. PostgreSQL indexes the terms with GIN over to_tsvector('simple', …)
(migration 0009); SQLite with an FTS5 table kept in step by triggers. Single characters are in the
document too, for one-character searches. Bigrams rather than jieba
words: a resident's "垃圾桶" and a search for "垃圾" must meet, whatever the segmenter decides.
"""
from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, literal_column, or_, text

_RUN = re.compile(r"[\u3400-\u9fff]+|[0-9a-z]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
MAX_QUERY_TERMS = 16


def terms(*texts: str | None, singles: bool = False) -> list[str]:
    """The terms of `texts`: Han bigrams (a lone Han character as itself), letter and digit runs;
    `singles` adds every Han character alone too (a ticket's document: a one-character search, 灯,
    must find 路灯)."""
    out: list[str] = []
    for t in texts:
        for run in _RUN.findall((t or "").lower()):
            if not _HAN.match(run):
                out.append(run)
                continue
            out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
            if singles and len(run) > 1:
                out += list(run)
    return out


def document(text: str | None, place: str | None = None) -> str:
    """What `ticket.search` holds for a ticket with this text and place. Phone and ID numbers are
    masked first: the index must not keep what the retention purge takes out of the text."""
    from nlp import mask_pii
    return " ".join(dict.fromkeys(terms(mask_pii(text or ""), place, singles=True)))


def matches(dialect: str, query: str, columns) -> ColumnElement[bool] | None:
    """A condition on `ticket` for `query`, or None when the query has no term (then nothing
    matches). `columns`: the LIKE checks on the candidates (the text and place columns)."""
    wanted = list(dict.fromkeys(terms(query)))[:MAX_QUERY_TERMS]
    if not wanted:
        return None
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    exact = or_(*(c.ilike(like, escape="\\") for c in columns))
    if dialect == "postgresql":
        index = text("to_tsvector('simple', ticket.search) @@ to_tsquery('simple', :search_q)").bindparams(
            search_q=" & ".join(wanted))
    else:
        index = literal_column("ticket.id").in_(
            text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH :search_q").bindparams(
                search_q=" ".join(f'"{w}"' for w in wanted)))
    return and_(index, exact)

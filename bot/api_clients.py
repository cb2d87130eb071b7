"""Keys of the Open311 API's clients (bot/open311.py: POST requests needs one).

A key is shown once, when it is issued, and never kept: the api_client row holds only its SHA-256
(hex). A revoked client keeps its row (its name is not given out again) and its key stops working.

    python -m bot.api_clients add NAME        # prints the new key, once
    python -m bot.api_clients revoke NAME
    python -m bot.api_clients list
(each takes --config FILE, default config.yaml)
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ApiClient

NAME = re.compile(r"^[^\s\x00-\x1f]{1,64}$")


class ClientError(Exception):
    """A request about clients that cannot be done; the message says why, in one line."""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue(session: Session, name: str, now: datetime) -> str:
    """A new client `name` and its key (returned here only; the caller shows it once)."""
    if not NAME.match(name or ""):
        raise ClientError(f"bad client name {name!r}: 1-64 characters, no spaces")
    old = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if old is not None:
        raise ClientError(f"client {name!r} was revoked; names are not reused, choose another"
                          if old.revoked_at else f"client {name!r} already exists; to replace its key, revoke it and add one under a new name")
    key = secrets.token_urlsafe(32)
    session.add(ApiClient(name=name, key_hash=key_hash(key), created_at=now))
    session.flush()
    return key


def revoke(session: Session, name: str, now: datetime) -> None:
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise ClientError(f"no client named {name!r}")
    if client.revoked_at is not None:
        raise ClientError(f"client {name!r} is already revoked")
    client.revoked_at = now


def verify(session: Session, key: str | None) -> ApiClient | None:
    """The live client holding `key`, or None. Every live hash is compared in constant time (no
    early exit), so the answer's timing says nothing about how near a guess came."""
    if not key:
        return None
    digest = key_hash(key)
    found = None
    for client in session.scalars(select(ApiClient).where(ApiClient.revoked_at.is_(None))):
        if hmac.compare_digest(client.key_hash, digest):
            found = client
    return found


def all_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.name)))


# --- command line ------------------------------------------------------------------------------

class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        """A bad command is one line naming the problem (argparse would print the usage block first)."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    common = _OneLineParser(add_help=False)
    common.add_argument("--config", default="config.yaml", help="config file (default: config.yaml)")
    ap = _OneLineParser(prog="python -m bot.api_clients", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{add,revoke,list}")
    sub.add_parser("add", parents=[common], help="issue a key for a new client (printed once)").add_argument("name")
    sub.add_parser("revoke", parents=[common], help="stop a client's key working").add_argument("name")
    sub.add_parser("list", parents=[common], help="the clients and whether they are live")
    a = ap.parse_args(argv)

    from sqlalchemy.exc import SQLAlchemyError
    from bot.config import ConfigError, load_config
    from storage.db import make_engine, make_session_factory, transaction
    from storage.migrate import upgrade
    try:
        cfg = load_config(a.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    engine = None
    try:
        engine = make_engine(cfg.database.url, pool_size=1)
        upgrade(engine)                  # as serve does at start: the api_client table exists from 0008
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            if a.command == "add":
                key = issue(session, a.name, now)
            elif a.command == "revoke":
                revoke(session, a.name, now)
            else:
                rows = [(c.name, c.created_at, c.revoked_at) for c in all_clients(session)]
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SQLAlchemyError as e:
        print(f"database error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.dispose()
    if a.command == "add":
        print(f"client {a.name} added; its key follows, shown only now: keep it safe", file=sys.stderr)
        print(key)                       # alone on stdout: KEY=$(python -m bot.api_clients add NAME)
    elif a.command == "revoke":
        print(f"client {a.name} revoked")
    elif not rows:
        print("no clients")
    else:
        for name, created, revoked in rows:
            state = f"revoked {revoked:%Y-%m-%d %H:%M}Z" if revoked else "live"
            print(f"{name}\tadded {created:%Y-%m-%d %H:%M}Z\t{state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

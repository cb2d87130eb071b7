"""Web desk logins: argon2id password hashes, lock-out after repeated failures, and the command line.

    python -m bot.users add USERNAME --staff WECOM_USERID     (the password is read from stdin or asked)
    python -m bot.users passwd USERNAME | unlock USERNAME | signout USERNAME | list

A login acts as one staff member of config.yaml (`staff`, or a grid leader): the same role, grid
and party as in chat, so the desk offers exactly the moves chat would allow them.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import DeskUser

MAX_FAILURES = 5                      # wrong passwords in a row before the account locks
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 10
_hasher = PasswordHasher()            # argon2id with the library's current parameters
# verified when the username is unknown, so that a wrong name costs the same time as a wrong password
_DUMMY = _hasher.hash("jiesu-no-such-user")


class UserError(ValueError):
    """A refused account operation; the message is for the operator."""


@dataclass(frozen=True)
class LoginResult:
    user: DeskUser | None
    error: str | None = None          # shown to the person at the login form


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def add(session: Session, username: str, password: str, staff_userid: str, now: datetime) -> DeskUser:
    if session.scalar(select(DeskUser).where(DeskUser.username == username)) is not None:
        raise UserError(f"user {username!r} exists (use passwd to change the password)")
    user = DeskUser(username=username, password_hash=hash_password(password), staff_userid=staff_userid,
                    failed_logins=0, session_version=1, created_at=now)
    session.add(user)
    session.flush()
    return user


def login(session: Session, username: str, password: str, now: datetime) -> LoginResult:
    """Check a password; count failures and lock the account after MAX_FAILURES. The row is
    locked for update so that parallel guesses are all counted."""
    user = session.scalar(select(DeskUser).where(DeskUser.username == username).with_for_update())
    if user is None:
        try:
            _hasher.verify(_DUMMY, password)
        except VerificationError:
            pass
        return LoginResult(None, "用户名或密码不正确")
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return LoginResult(None, f"密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试或联系管理员解锁")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCK_FOR, 0
            return LoginResult(None, f"密码错误次数过多，账号已锁定 {int(LOCK_FOR.total_seconds() // 60)} 分钟")
        return LoginResult(None, "用户名或密码不正确")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return LoginResult(user)


def _get(session: Session, username: str) -> DeskUser:
    user = session.scalar(select(DeskUser).where(DeskUser.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _password(args) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.users", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config.yaml")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a_add = sub.add_parser("add")
    a_add.add_argument("username")
    a_add.add_argument("--staff", required=True, help="the WeCom userid of a staff member in config.yaml")
    for name in ("passwd", "unlock", "signout"):
        sub.add_parser(name).add_argument("username")
    sub.add_parser("list")
    a = ap.parse_args(argv)
    from bot.config import ConfigError, load_config
    from handlers.clock import SystemClock
    from handlers.directory import Directory
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade
    try:
        cfg = load_config(a.config)
        engine = make_engine(cfg.database.url)
        upgrade(engine)
        sessions = make_session_factory(engine)
        now = SystemClock().now()
        with sessions.begin() as s:
            if a.cmd == "add":
                if a.staff not in Directory.from_config(cfg).staff:
                    raise UserError(f"--staff {a.staff!r} is not a staff member or grid leader in {a.config}")
                add(s, a.username, _password(a), a.staff, now)
                print(f"added {a.username} (acts as {a.staff})")
            elif a.cmd == "passwd":
                user = _get(s, a.username)
                user.password_hash, user.session_version = hash_password(_password(a)), user.session_version + 1
                print(f"password changed for {a.username}; their sessions are signed out")
            elif a.cmd == "unlock":
                user = _get(s, a.username)
                user.locked_until, user.failed_logins = None, 0
                print(f"unlocked {a.username}")
            elif a.cmd == "signout":
                user = _get(s, a.username)
                user.session_version += 1
                print(f"signed out every session of {a.username}")
            else:
                for u in s.scalars(select(DeskUser).order_by(DeskUser.username)):
                    locked = " (locked)" if u.locked_until and u.locked_until > now else ""
                    print(f"{u.username}\t{u.staff_userid}{locked}")
    except (ConfigError, UserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

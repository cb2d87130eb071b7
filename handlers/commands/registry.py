"""Slash commands for staff, Errbot style: one decorated function per command, its docstring is
the help. To add a command: write a function in a module of handlers/commands/ and decorate it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from domain.states import STAFF_ROLES

ALL_ROLES = STAFF_ROLES


class CommandError(Exception):
    """Refused: the message says why, in words the staff member can act on."""


@dataclass(frozen=True)
class Command:
    name: str
    func: Callable
    usage: str
    roles: frozenset[str]
    aliases: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return (self.func.__doc__ or "").strip().splitlines()[0]


REGISTRY: dict[str, Command] = {}


def command(name: str, *, usage: str, roles=ALL_ROLES, aliases: tuple[str, ...] = ()):
    def register(func):
        cmd = Command(name, func, usage, frozenset(roles), aliases)
        for n in (name, *aliases):
            if n in REGISTRY:
                raise ValueError(f"command /{n} registered twice")
            REGISTRY[n] = cmd
        return func
    return register


@dataclass
class Parsed:
    name: str
    args: list[str] = field(default_factory=list)
    rest: str = ""


def parse(text: str) -> Parsed | None:
    """"/close 20261121-0007 已清理完毕" -> name close, args [...], rest = text after the first argument."""
    text = text.strip().replace("／", "/").replace("\u3000", " ")
    if not text.startswith("/"):
        return None
    head, _, tail = text[1:].partition(" ")
    args = tail.split()
    rest = tail.strip()[len(args[0]):].strip() if args else ""
    return Parsed(head.lower(), args, rest)


CODE = re.compile(r"#?(\d{8}-\d{1,4}|\d{1,4})$")


def ticket_code(token: str | None, now, tz: str) -> str | None:
    """"20261121-7", "#20261121-0007" -> 20261121-0007; "7" -> today's (community time) 0007."""
    from zoneinfo import ZoneInfo
    m = CODE.match((token or "").strip())
    if not m:
        return None
    code = m.group(1)
    if "-" not in code:
        return f"{now.astimezone(ZoneInfo(tz)):%Y%m%d}-{int(code):04d}"
    day, seq = code.split("-")
    return f"{day}-{int(seq):04d}"

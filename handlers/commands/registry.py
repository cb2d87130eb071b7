"""Slash commands for staff, Errbot style: one decorated function per command, its docstring is
the help. To add a command: write a function in a module of handlers/commands/ and decorate it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

ALL_ROLES = frozenset({"committee", "property", "grid_leader"})
ROLE_NAMES = {"committee": "居委会", "property": "物业", "grid_leader": "网格长"}


class CommandError(Exception):
    """Refused: the message says why, in words the staff member can act on."""


@dataclass(frozen=True)
class Staff:
    userid: str
    name: str
    role: str
    grid: str | None = None       # the grid a leader leads

    @property
    def actor(self) -> str:
        return f"staff:{self.userid}"


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
    text = text.strip().replace("／", "/")
    if not text.startswith("/"):
        return None
    head, _, tail = text[1:].partition(" ")
    args = tail.split()
    rest = tail.strip()[len(args[0]):].strip() if args else ""
    return Parsed(head.lower(), args, rest)


CODE = re.compile(r"#?(\d{8}-\d{1,4}|\d{1,4})$")

"""The emergency rules as data: nlp/data/emergency_rules/*.yaml, one file per kind and language.

Every rule has an `id` (shown to staff by /show when it fires), a one-line `purpose`, a `role`, a
`pattern` of at most MAX_PATTERN characters, and `match` / `no_match` examples that
tests/nlp/test_emergency_rules.py runs (as ESLint and Semgrep test their rules). Roles:

  trigger        reports the kind, unless its clause is past, hypothetical or negated
  weak           a trigger that does not count with the kind's `weak_unless` in its clause
  conditional    a trigger that counts only when the message also holds `requires`
  unless         the kind is not reported with this in the trigger's clause
  unless_message ... or anywhere in the message
  weak_unless    harmless sources (cooking, incense) that stop a `weak` trigger
  evidence       a danger word of the kind: the learned head may report or caution only with
                 one (and, for kinds marked `needs_person` in kinds.yaml, a `person` at risk)

`context.*.yaml` holds the rules every kind shares (roles false_alarm, senses, past, present,
before, after, prefix, person, question: nlp/emergency.py says what each does). `kinds.yaml` holds the kinds' order,
names, numbers and advice. lint() refuses a malformed rule with one line naming it.

A new miss goes into the learned head's training data first (nlp/data/emergency/*.csv); a new rule
needs a reason the head cannot learn it (a word it has never seen, a blocker it cannot read).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nlp.datafile import load_yaml

RULES_DIR = Path(__file__).with_name("data") / "emergency_rules"
MAX_PATTERN = 300           # a longer rule is two rules: each with its own purpose and examples
MAX_PURPOSE = 160
KIND_ROLES = ("trigger", "weak", "conditional", "unless", "unless_message", "weak_unless", "evidence")
FIRING_ROLES = ("trigger", "weak", "conditional")
CONTEXT_ROLES = ("false_alarm", "senses", "past", "present", "before", "after", "prefix", "person", "question")
_ID = re.compile(r"^[a-z]+\.(zh|en)\.[a-z0-9][a-z0-9_-]*$")
_LANGS = ("zh", "en")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str                   # an emergency kind, or "context"
    lang: str                   # zh | en
    role: str
    purpose: str
    pattern: str
    requires: str | None
    match: tuple[str, ...]
    no_match: tuple[str, ...]
    source: str                 # file name, for messages


@dataclass(frozen=True)
class RuleSet:
    order: tuple[str, ...]
    kinds: dict                 # kind -> {name, number, advice, elsewhere?}
    rules: tuple[Rule, ...]

    def of(self, kind: str, role: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind and r.role == role]

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}


def _compile(rule_id: str, where: str, pattern: str) -> re.Pattern:
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise RuleError(f"{where}: rule {rule_id}: bad regular expression: {e}") from None
    if rx.search("") is not None:          # a stray "|" would make it match every message
        raise RuleError(f"{where}: rule {rule_id}: pattern matches the empty string")
    return rx


def _rule(raw: dict, kind: str, lang: str, source: str) -> Rule:
    rid = str(raw.get("id") or "")
    where = source
    if not _ID.match(rid) or not rid.startswith(f"{kind}.{lang}."):
        raise RuleError(f"{where}: rule id {rid!r} must look like {kind}.{lang}.<name> "
                        "(lower case, digits, - and _)")
    role = raw.get("role")
    allowed = CONTEXT_ROLES if kind == "context" else KIND_ROLES
    if role not in allowed:
        raise RuleError(f"{where}: rule {rid}: role {role!r} is not one of {', '.join(allowed)}")
    purpose = str(raw.get("purpose") or "").strip()
    if not purpose or "\n" in purpose or len(purpose) > MAX_PURPOSE:
        raise RuleError(f"{where}: rule {rid}: purpose must be one line of 1..{MAX_PURPOSE} characters")
    pattern = str(raw.get("pattern") or "").strip()
    requires = raw.get("requires")
    requires = str(requires).strip() if requires is not None else None
    for name, p in (("pattern", pattern), ("requires", requires)):
        if p is None:
            continue
        if len(p) > MAX_PATTERN:
            raise RuleError(f"{where}: rule {rid}: {name} has {len(p)} characters, more than {MAX_PATTERN}: "
                            "split it into rules that each say what they are for")
        _compile(rid, where, p)
    if (role == "conditional") != (requires is not None):
        raise RuleError(f"{where}: rule {rid}: `requires` goes with role conditional, and only there")
    if lang == "en" and re.search(r"[\u3400-\u9fff]", pattern):
        raise RuleError(f"{where}: rule {rid}: Chinese in an English rule file (put it in {kind}.zh.yaml)")
    match, no_match = raw.get("match") or [], raw.get("no_match") or []
    if not match or not no_match:
        raise RuleError(f"{where}: rule {rid}: needs at least one `match` and one `no_match` example")
    return Rule(rid, kind, lang, role, purpose, pattern, requires,
                tuple(map(str, match)), tuple(map(str, no_match)), source)


def load(rules_dir: Path = RULES_DIR) -> RuleSet:
    """Every rule under `rules_dir`, checked (RuleError names the first bad one)."""
    meta = load_yaml(rules_dir / "kinds.yaml")
    order = tuple(meta["order"])
    rules: list[Rule] = []
    seen: set[str] = set()
    for f in sorted(rules_dir.glob("*.yaml")):
        if f.name == "kinds.yaml":
            continue
        stem = f.stem.split(".")
        if len(stem) != 2 or stem[1] not in _LANGS or (stem[0] not in order and stem[0] != "context"):
            raise RuleError(f"{f.name}: rule files are named <kind>.<zh|en>.yaml, kind one of "
                            f"{', '.join(order)} or context")
        data = load_yaml(f) or {}
        kind, lang = stem
        if data.get("kind") != kind or data.get("lang") != lang:
            raise RuleError(f"{f.name}: `kind` and `lang` must say {kind} and {lang}, as the file name does")
        for raw in data.get("rules") or []:
            r = _rule(raw, kind, lang, f.name)
            if r.id in seen:
                raise RuleError(f"{f.name}: rule id {r.id} is used twice")
            seen.add(r.id)
            rules.append(r)
    return RuleSet(order, dict(meta["kinds"]), tuple(rules))


def lint(rules_dir: Path = RULES_DIR) -> list[str]:
    """Problems with the rule files, one line each (empty when they are fine)."""
    try:
        load(rules_dir)
    except RuleError as e:
        return [str(e)]
    return []

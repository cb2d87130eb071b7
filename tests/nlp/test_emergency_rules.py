"""Every emergency rule says what it is for and proves it: its `match` examples fire it (or, for a
blocker, are matched by it) and its `no_match` examples do not (nlp/emergency_rules.py)."""
from __future__ import annotations

import shutil

import pytest

from nlp import emergency, emergency_rules as rf

RULES = rf.load().rules


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_examples(rule):
    assert emergency.example_failures(rule) == []


def test_every_kind_has_rules_in_both_languages_and_ids_are_unique():
    rs = rf.load()
    assert len({r.id for r in rs.rules}) == len(rs.rules)
    for kind in rs.order:
        for lang in ("zh", "en"):
            assert rs.of(kind, "trigger") and any(r.lang == lang for r in rs.rules if r.kind == kind), (kind, lang)


def test_detect_names_the_rules_that_fired():
    e = emergency.detect("3栋2单元着火了 快来人")
    assert e is not None and e.kind == "fire"
    assert e.rules and all(r.startswith("fire.zh.") for r in e.rules)
    by_id = rf.load().by_id()
    assert all(by_id[r].role in rf.FIRING_ROLES for r in e.rules)
    # equality ignores the reasons: the same kind is the same emergency
    assert e == emergency.of_kind("fire")


def _copy(tmp_path):
    d = tmp_path / "rules"
    shutil.copytree(rf.RULES_DIR, d)
    return d


def _append(path, text):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def test_lint_refuses_a_rule_over_the_length_limit(tmp_path):
    d = _copy(tmp_path)
    long = "|".join(f"着火{i}" for i in range(rf.MAX_PATTERN // 3))
    _append(d / "fire.zh.yaml", f"- id: fire.zh.too-long\n  role: trigger\n  purpose: too long\n"
                                f"  pattern: {long}\n  match: [x]\n  no_match: [y]\n")
    problems = rf.lint(d)
    assert len(problems) == 1 and "fire.zh.too-long" in problems[0] and "characters" in problems[0]


@pytest.mark.parametrize("rule, says", [
    ("- id: fire.zh.x\n  role: trigger\n  purpose: p\n  pattern: 着火\n  match: [着火了]\n", "no_match"),
    ("- id: fire.zh.x\n  role: trigger\n  pattern: 着火\n  match: [a]\n  no_match: [b]\n", "purpose"),
    ("- id: Fire-x\n  role: trigger\n  purpose: p\n  pattern: 着火\n  match: [a]\n  no_match: [b]\n", "id"),
    ("- id: fire.zh.x\n  role: shout\n  purpose: p\n  pattern: 着火\n  match: [a]\n  no_match: [b]\n", "role"),
    ("- id: fire.zh.x\n  role: trigger\n  purpose: p\n  pattern: '着火|'\n  match: [a]\n  no_match: [b]\n",
     "empty string"),                      # a stray "|" once made every message a fight
    ("- id: fire.zh.x\n  role: trigger\n  purpose: p\n  pattern: '着(火'\n  match: [a]\n  no_match: [b]\n",
     "bad regular expression"),
    ("- id: fire.zh.x\n  role: trigger\n  purpose: p\n  pattern: 着火\n  requires: 人\n  match: [a]\n"
     "  no_match: [b]\n", "requires"),
])
def test_lint_names_the_bad_rule_and_why(tmp_path, rule, says):
    d = _copy(tmp_path)
    _append(d / "fire.zh.yaml", rule)
    problems = rf.lint(d)
    assert len(problems) == 1 and "fire.zh.yaml" in problems[0] and says in problems[0]


def test_lint_refuses_chinese_in_an_english_file_and_duplicate_ids(tmp_path):
    d = _copy(tmp_path)
    first = next(r for r in rf.load(d).of("fire", "trigger") if r.lang == "zh")
    _append(d / "fire.en.yaml", "- id: fire.en.x\n  role: trigger\n  purpose: p\n  pattern: 着火\n"
                                "  match: [a]\n  no_match: [b]\n")
    assert "Chinese in an English rule file" in rf.lint(d)[0]
    d2 = _copy(tmp_path / "second")
    _append(d2 / "fire.zh.yaml", f"- id: {first.id}\n  role: trigger\n  purpose: p\n  pattern: 起火\n"
                                 "  match: [a]\n  no_match: [b]\n")
    assert "used twice" in rf.lint(d2)[0]


def test_a_failing_example_is_reported_with_the_rule_id():
    rule = next(r for r in rf.load().of("fire", "trigger") if r.lang == "zh" and "着火" in r.pattern)
    broken = rf.Rule(rule.id, rule.kind, rule.lang, rule.role, rule.purpose, rule.pattern, rule.requires,
                     ("今天天气不错",), ("3栋着火了 快来人",), rule.source)
    failures = emergency.example_failures(broken)
    assert len(failures) == 2 and all(rule.id in f for f in failures)

"""nlp.anchors: a message without any of a pattern's required characters cannot match it."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from nlp import anchors, emergency, extract
from nlp.normalize import normalize
from nlp.train import read_dir, SEED_DIR

EMERGENCY_CSV = Path(__file__).resolve().parents[2] / "nlp" / "data" / "emergency" / "first.csv"


@pytest.mark.parametrize("pattern, want", [
    ("困在电梯", {"困"}),                       # any single literal will do: the first smallest
    ("(被)?困", {"困"}),                        # an optional part requires nothing
    ("着火|起火", {"着", "起"}),                 # one of the branches' sets
    ("[0-9]号楼", {"号"}),
    ("(电梯|轿厢).{0,8}(出不来|困住)", {"出", "困"}),
    ("a*", None), (".", None), (r"\d+", None), ("[^a]", None), ("(?=x)", None),
    ("(?i)abc", None),
])
def test_required_chars(pattern, want):
    got = anchors.required_chars(pattern)
    if want is None:
        assert got is None
    else:
        assert got is not None and len(got) == len(want) and got <= set(pattern)


def test_cost_prefers_rare_characters():
    common = {"电": 100.0}
    assert anchors.required_chars("电.*困", cost=lambda c: common.get(c, 1.0)) == {"困"}
    assert anchors.union(["ab", "cd"]) is not None and anchors.union(["ab", ".*"]) is None


def _rule_patterns() -> list[re.Pattern]:
    after, anywhere = extract._area_patterns()
    return (list(emergency._load().patterns)
            + [extract._DASHED, extract._FULL, extract._UNIT_ROOM, anywhere, extract._ROOM_RE])


def _texts() -> list[str]:
    texts = [normalize(t) for t, _ in read_dir(SEED_DIR)]
    with open(EMERGENCY_CSV, encoding="utf-8") as f:
        texts += [normalize(r["text"]) for r in csv.DictReader(f)]
    return texts


def test_no_real_match_lacks_the_anchor():
    checked = 0
    for p in _rule_patterns():
        need = anchors.required_chars(p)
        for t in _texts():
            m = p.search(t)
            if m:
                checked += 1
                assert need is None or not need.isdisjoint(m.group(0)), (p.pattern, t)
    assert checked > 1000                         # the corpus exercises the rules


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="电梯困关锁人我老被里面出不来着火烟冒煤气漏打人血狗咬号楼栋单元室区门0123-#", max_size=25))
def test_no_generated_match_lacks_the_anchor(text):
    for p in _rule_patterns():
        need = anchors.required_chars(p)
        m = p.search(text)
        if m and need is not None:
            assert not need.isdisjoint(m.group(0)), (p.pattern, text)

"""nlp.homophones: sound-alike spellings of the emergency words, repaired only where safe."""
from __future__ import annotations

import json

import pytest

from nlp import homophones
from nlp.normalize import normalize


@pytest.fixture(scope="module")
def h():
    table = homophones.load()
    assert table is not None, "nlp/data/homophones.json is missing or stale: python -m nlp.homophones"
    return table


def test_committed_table_is_what_build_makes(tmp_path):
    out = homophones.build(tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text(encoding="utf-8")) == out
    assert out == json.loads(homophones.TABLE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("slip, meant", [
    ("6栋点提关人了", "6栋电梯关人了"),
    ("电梯坤人了 快来", "电梯困人了 快来"),
    ("楼道里没起泄露了", "楼道里煤气泄露了"),
    ("液化汽漏了", "液化气漏了"),
    ("天然汽管子破了", "天然气管子破了"),
    ("就护车来了没", "救护车来了没"),
    ("老人晕到了", "老人晕倒了"),
    ("着伙了", "着火了"),
])
def test_slips_repaired(h, slip, meant):
    assert h.repair(slip) == meant


@pytest.mark.parametrize("text", [
    "他还没起床",              # 起床 is a word across the window's edge
    "大家好",                  # 大家 (da jia) is a word of its own, not 打架
    "我儿子在国外留学",         # 留学 (liu xue), not 流血
    "手上划了个口子",           # 手上 (shou shang), not 受伤
    "3期和4期之间的路",          # 和 is read he, not huo
    "电梯又坏了",               # already right
])
def test_real_words_left_alone(h, text):
    assert h.repair(text) == text


def test_part_of_normalize():
    assert "电梯" in normalize("店梯一直在响")

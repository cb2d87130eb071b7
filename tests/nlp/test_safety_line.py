"""The safety line with the shipped model (issue 11): ordinary complaints that used to get "如有人身危险
请立即拨打…" stay quiet, real emergencies still get it, and the reason is recorded."""
from __future__ import annotations

import pytest

import nlp
from nlp import emergency


@pytest.mark.parametrize("text", [
    "26号楼地库的灯一直闪", "13号楼2单元的楼道灯不亮", "15号楼那边有点问题", "yyds 物业这次给力",
    "3号楼突然停电了", "打我电话", "5号楼3单元楼道灯不亮", "着火了该打什么电话",
    "高层着火了是往上跑还是往下跑？", "被蜜蜂蛰了要去医院吗", "我们小区上热搜了，火了火了",
])
def test_ordinary_messages_get_no_safety_line(text):
    c = nlp.classify(text)
    assert c.emergency is None and c.caution is None, (c.emergency, c.caution)


@pytest.mark.parametrize("text, kind", [
    ("3栋2单元着火了 快来人", "fire"), ("楼道里煤气味好大，熏得头晕", "gas"),
    ("电梯卡在两层中间了 我妈在里面", "trapped"), ("楼下有人拿刀追人 快报警", "violence"),
    ("被狗咬啦 伤口在淌血", "bite"), ("老人摔倒了起不来 头在流血", "injury"),
])
def test_real_emergencies_still_get_it_with_their_reasons(text, kind):
    c = nlp.classify(text)
    told = c.emergency or c.caution
    assert told is not None and told.kind == kind and told.rules


def test_the_head_overrules_a_rule_on_a_figure_of_speech():
    text = "快递柜超时收费，简直是抢劫"
    assert emergency.detect(text) is not None                 # the rule alone would call 110
    c = nlp.classify(text)
    assert c.emergency is None and c.caution is None
    assert emergency.vetoed(emergency.of_kind("violence"), emergency.VETO / 2)
    assert not emergency.vetoed(emergency.of_kind("violence"), emergency.VETO * 2)
    assert not emergency.vetoed(None, 0.0)
    # a long letter's P is its story's: no veto there (tests/nlp/test_long_messages.py)
    assert not emergency.vetoed(emergency.of_kind("fire"), 0.0, "着火了" + "字" * emergency.VETO_CHARS)

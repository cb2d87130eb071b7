"""The boundary cases of shared/spec/categories.md through nlp.classify with the shipped model
(the one test module that uses it)."""
import pytest

import nlp
from nlp import store

CASES = [
    ("楼上的狗天天叫，吵得睡不着", "pets"),
    ("邻居半夜还在装修，电钻响个不停", "noise"),
    ("天花板一直往下渗水", "repair"),
    ("楼上漏水到我家，楼上那户就是不开门不让物业进去查", "neighbor"),
    ("电瓶车停在楼道里充电", "flying_wire"),
    ("楼道里堆满了旧家具和纸箱", "hallway_fire"),
    ("有人从窗户往下扔垃圾", "high_throw"),
    ("大门口的垃圾堆成山了没人清", "garbage"),
    ("物业不来修灯，路灯坏了一个月", "facility"),
    ("物业天天不干活，收费还涨", "property_service"),
    ("消防通道停满了车", "hallway_fire"),
    ("有辆车把车库出口堵住了", "parking"),
    ("有人把公共绿地用围墙圈起来自己用", "illegal_build"),
    ("绿化带被人挖了种菜", "greenery"),
    ("邻居家搭了个违建阳光房，气死我了", "illegal_build"),
    ("小区旁边饭店的油烟太大了", "garbage"),
    ("旁边工地晚上施工太吵了", "noise"),
    ("希望小区能装几个电瓶车充电桩", "facility"),
    ("家里手机信号太差了", "utilities"),
    ("开发商延期交房一年了", "other"),
    ("接到诈骗电话，冒充社区让交钱", "security"),
]


@pytest.fixture(scope="module", autouse=True)
def shipped_model(tmp_path_factory):
    # Without a committed nlp/model/, the seed model is trained once into a temporary cache.
    if not store.is_model_dir(store.SHIPPED_DIR):
        from nlp.train import seed_rows, train
        store.CACHE_DIR = tmp_path_factory.mktemp("model_cache")
        train(seed_rows(), store.CACHE_DIR, tune=False)


@pytest.mark.parametrize("text, category", CASES)
def test_spec_boundaries(text, category):
    c = nlp.classify(text)
    assert c.category == category, (text, c.top, c.terms)


def test_past_lift_incident_is_elevator_not_emergency():
    c = nlp.classify("上个月电梯关过人，到现在也没人来检修")
    assert c.category == "elevator" and c.emergency is None


def test_emergency_and_place_come_with_the_category():
    c = nlp.classify("3号楼2单元电梯里关了个老人，快来")
    assert c.category == "elevator"
    assert c.emergency is not None and c.emergency.number == "96333"
    assert (c.location.building, c.location.unit) == ("3", "2")
    assert not c.low_confidence

"""nlp.similarity: the +1 matcher (same problem, same place)."""
from nlp.extract import find_location as loc
from nlp.similarity import SIMILAR_THRESHOLD, THRESHOLD, similar


def s(a, b):
    return similar(a, b, loc(a), loc(b))


def test_same_problem_same_building_joins():
    assert s("3号楼有人飞线充电", "3号楼又有人从窗户拉线充电") >= SIMILAR_THRESHOLD
    assert s("2栋502楼上漏水", "2栋502天花板漏水了") >= SIMILAR_THRESHOLD
    assert s("东门垃圾好多", "东门口垃圾没人清理") >= SIMILAR_THRESHOLD


def test_different_building_vetoes():
    assert s("3号楼有人飞线充电", "5号楼有人飞线充电") == 0.0


def test_same_building_boosts():
    a, b = "电梯又坏了", "电梯今天坏了一整天"
    assert similar(a, b, loc("3号楼"), loc("3号楼")) > similar(a, b, None, None)


def test_unrelated_problems_do_not_join():
    assert s("3号楼有人飞线充电", "3号楼楼道堆满了纸箱") < SIMILAR_THRESHOLD
    assert s("路灯不亮", "健身器材坏了") < SIMILAR_THRESHOLD


def test_empty_and_threshold_alias():
    assert similar("", "电梯坏了") == 0.0
    assert THRESHOLD == SIMILAR_THRESHOLD

from datetime import datetime, timedelta, timezone

import pytest

from handlers.routing import GridRule, parse_buildings, route
from domain.policy import Policy
from nlp.types import Location

RULES = [GridRule("一", parse_buildings("1-12"), ("东门",)), GridRule("二", parse_buildings("13-24, A3"), ("菜场",))]


def test_parse_buildings():
    assert parse_buildings("1-3, 7，A3、12号楼") == {"1", "2", "3", "7", "A3", "12"}
    assert parse_buildings("5-3") == {"3", "4", "5"}
    assert parse_buildings("") == frozenset()


@pytest.mark.parametrize("loc,expected", [
    (Location("3号楼", building="3"), ("一", True)),
    (Location("13栋", building="13"), ("二", True)),
    (Location("03号楼", building="03"), ("一", True)),
    (Location("a3", building="a3"), ("二", True)),
    (Location("99号楼", building="99"), ("一", False)),
    (Location("菜场门口", area="菜场门口"), ("二", True)),
    (Location("东门", area="东门"), ("一", True)),
    (None, ("一", False)),
])
def test_route(loc, expected):
    assert route(loc, RULES, "一") == expected


def test_deadlines_54321():
    t0 = datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc)
    deadlines = Policy().deadlines
    small = deadlines("garbage", "normal", None, t0)
    assert small.onsite == t0 + timedelta(minutes=40) and small.fix == t0 + timedelta(hours=3) and not small.fix_is_plan
    hard = deadlines("illegal_build", "normal", None, t0)
    assert hard.fix == t0 + timedelta(days=2) and hard.fix_is_plan

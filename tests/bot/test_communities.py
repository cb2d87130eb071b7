"""Several communities in one deployment (a 街道), on one shared official account: the words (or the
resident's last report) pick the community, then the building picks the grid, even where two
communities both have a 3号楼; staff of one community see and move only its tickets, in chat and on
the desk; the 街道 sees all and can filter by community; polls, the public board and Open311 keep
to a community. A config without `communities:` is unchanged (every other test runs one)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot import users
from bot.app import create_app
from bot.config import ConfigError
from storage.models import Grid, Resident, Ticket
from tests.bot.test_desk import PASSWORD, sign_in
from tests.conftest import WeChat, make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
COMMUNITIES = [{"code": "xingfuli", "name": "幸福里社区", "hotline": "0571-1111"},
               {"code": "heping", "name": "和平社区", "places": ["和平苑"], "hotline": "0571-2222"}]
GRIDS = [
    {"name": "幸福一网格", "community": "xingfuli", "buildings": "1-12", "leader": {"name": "王芳", "wecom_userid": "wangfang"},
     "robot_key": "local-robot-x1"},
    {"name": "幸福二网格", "community": "xingfuli", "buildings": "13-24", "leader": {"name": "李强", "wecom_userid": "liqiang"},
     "robot_key": "local-robot-x2"},
    {"name": "和平一网格", "community": "heping", "buildings": "1-10", "leader": {"name": "陈静", "wecom_userid": "chenjing"},
     "robot_key": "local-robot-h1"},
]
STAFF = [{"userid": "zhaomin", "name": "赵敏", "role": "committee", "community": "xingfuli"},
         {"userid": "hpzhou", "name": "周平", "role": "committee", "community": "heping"},
         {"userid": "jiedao01", "name": "吴科长", "role": "street"}]


def two_communities(tmp_path, db_url):
    return make_config(tmp_path, db_url, communities=COMMUNITIES, grids=GRIDS, staff=STAFF,
                       default_grid="幸福一网格", **{"promises.category_party": {}})


@pytest.fixture
def street(tmp_path, db_url, clock):
    app = create_app(two_communities(tmp_path, db_url), clock=clock)
    yield app
    app.extensions["jiesu"].engine.dispose()


def chat(app) -> WeChat:
    client = app.test_client()
    return WeChat(lambda path, params, body: (lambda r: (r.status_code, r.data))(
        client.post(path, query_string=params, data=body, content_type="text/xml")), app.extensions["jiesu"])


def grid_of(app, code: str) -> str:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Grid.name).join(Ticket, Ticket.grid_id == Grid.id).where(Ticket.code == code))


def test_the_words_then_the_building_pick_the_grid(street):
    w = chat(street)
    a, b = new_openid(), new_openid()
    x = CODE.search(w.text(a, "3号楼门口垃圾堆了好几天")).group(1)          # names no community: the first
    h = CODE.search(w.text(b, "和平苑3号楼门口垃圾堆了好几天")).group(1)     # 和平苑 is 和平社区's
    assert grid_of(street, x) == "幸福一网格" and grid_of(street, h) == "和平一网格"
    h2 = CODE.search(w.text(b, "5号楼电梯又坏了")).group(1)                  # remembered: still 和平
    assert grid_of(street, h2) == "和平一网格"
    with street.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(Resident.community).where(Resident.openid == b)) == "heping"
    x2 = CODE.search(w.text(new_openid(), "幸福里15号楼楼道灯坏了")).group(1)
    assert grid_of(street, x2) == "幸福二网格"


def test_staff_of_one_community_never_touch_anothers(street):
    from tests.bot.test_staff_races import staff_sender
    w, staff = chat(street), staff_sender(street)
    x = CODE.search(w.text(new_openid(), "幸福里3号楼门口垃圾没人清")).group(1)
    h = CODE.search(w.text(new_openid(), "和平社区3号楼门口垃圾没人清")).group(1)
    mine = staff("zhaomin", "/list 全部")
    assert f"#{x}" in mine and f"#{h}" not in mine
    assert "其他社区的工单" in staff("zhaomin", f"/show {h}")
    assert "其他社区的工单" in staff("zhaomin", f"/close {h} 已清理")
    assert f"#{h}" in staff("hpzhou", "/list 全部") and f"#{x}" not in staff("hpzhou", "/list 全部")
    every = staff("jiedao01", "/list 全部")
    assert f"#{x}" in every and f"#{h}" in every                              # the 街道 sees all

    svc = street.extensions["jiesu"]
    with svc.sessions.begin() as s:
        users.add(s, "zhao", PASSWORD, "zhaomin", svc.clock.now())
        users.add(s, "wu", PASSWORD, "jiedao01", svc.clock.now())
    desk = street.test_client()
    sign_in(desk, "zhao")
    page = desk.get("/desk/?status=all").data.decode()
    assert f"#{x}" in page and f"#{h}" not in page and "和平一网格" not in page
    assert desk.get(f"/desk/t/{h}").status_code == 404
    wu = street.test_client()
    sign_in(wu, "wu")
    both = wu.get("/desk/?status=all").data.decode()
    assert f"#{x}" in both and f"#{h}" in both and "全部社区" in both
    only = wu.get("/desk/?status=all&community=heping").data.decode()
    assert f"#{h}" in only and f"#{x}" not in only


def test_polls_board_and_open311_keep_to_a_community(street):
    from tests.bot.test_staff_races import staff_sender
    w, staff = chat(street), staff_sender(street)
    x_res, h_res = new_openid(), new_openid()
    w.text(x_res, "幸福里3号楼门口垃圾没人清")
    w.text(h_res, "和平苑3号楼门口垃圾没人清")
    sent = staff("zhaomin", "/poll 周末清理楼道？ 好/不好 对象:3号楼")
    assert "共 1 人" in sent, sent                                           # 和平's 3号楼 is not asked
    assert "问卷 1" not in staff("hpzhou", "/polls") and "不是问你负责" in staff("hpzhou", "/pollresult 1")
    board = street.test_client().get("/board?c=heping").data.decode()
    assert "和平社区" in board and "0571-2222" in board and "幸福一网格" not in board
    found = street.test_client().get("/open311/v2/requests.json?jurisdiction_id=heping").get_json()
    assert len(found) == 1
    assert street.test_client().get("/open311/v2/requests.json?jurisdiction_id=幸福里社区").get_json()
    assert street.test_client().get("/open311/v2/requests.json?jurisdiction_id=火星").status_code == 404


def test_bad_community_config_names_the_field(tmp_path):
    url = f"sqlite:///{tmp_path}/x.sqlite3"
    grids = [dict(g) for g in GRIDS]
    grids[2]["community"] = "nowhere"
    with pytest.raises(ConfigError, match=r"grids\[2\]\.community"):
        make_config(tmp_path, url, communities=COMMUNITIES, grids=grids, staff=STAFF, default_grid="幸福一网格")
    staff = [dict(s) for s in STAFF]
    del staff[0]["community"]
    with pytest.raises(ConfigError, match=r"staff\[0\]\.community: a committee member works in one community"):
        make_config(tmp_path, url, communities=COMMUNITIES, grids=GRIDS, staff=staff, default_grid="幸福一网格")
    overlapping = [dict(g) for g in GRIDS]
    overlapping[2]["buildings"] = "1-12"                                   # another community: allowed
    make_config(tmp_path, url, communities=COMMUNITIES, grids=overlapping, staff=STAFF, default_grid="幸福一网格")


def test_numbers_review_and_agenda_keep_to_a_community_and_the_street_compares(street):
    from tests.bot.test_staff_races import staff_sender
    w, staff = chat(street), staff_sender(street)
    x = CODE.search(w.text(new_openid(), "幸福里3号楼门口垃圾没人清")).group(1)
    h = CODE.search(w.text(new_openid(), "和平苑5号楼楼道灯坏了")).group(1)
    staff("wangfang", f"/close {x} 已清理")
    staff("chenjing", f"/close {h} 已修好")
    svc = street.extensions["jiesu"]
    with svc.sessions.begin() as s:
        users.add(s, "zhou", PASSWORD, "hpzhou", svc.clock.now())
        users.add(s, "wu", PASSWORD, "jiedao01", svc.clock.now())
    zhou, wu = street.test_client(), street.test_client()
    sign_in(zhou, "zhou")
    sign_in(wu, "wu")
    mine = zhou.get("/desk/numbers").data.decode()
    assert "和平一网格" in mine and "幸福一网格" not in mine and 'id="ontime-community"' not in mine
    every = wu.get("/desk/numbers").data.decode()
    assert 'id="ontime-community"' in every and "和平社区" in every and "幸福里社区" in every and "幸福一网格" in every
    review = zhou.get("/desk/review").data.decode()
    assert "幸福一网格" not in review
    assert zhou.get("/desk/review?grid=幸福一网格").status_code == 404          # not theirs to read
    stuck = CODE.search(w.text(new_openid(), "幸福里7号楼电梯坏了，老人下不了楼")).group(1)   # nobody acts on it
    svc.clock.advance(days=2)                            # past its deadlines: on the agenda as 超时
    assert f"#{stuck}" in wu.get("/desk/agenda").data.decode()        # the street sees every community's
    assert f"#{stuck}" not in zhou.get("/desk/agenda").data.decode()  # 和平苑's committee only its own

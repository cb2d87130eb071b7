"""Matters beyond the community's remit (issue 11): the resident is told where they go, the ticket
is recorded for the numbers, and no grid is paged."""
from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import func, select

from storage.models import Outbox, Ticket, TicketEvent
from tests.conftest import make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")


def _pushes(app) -> int:
    """Rows for staff: group robots and staff-app messages (not the resident's own replies)."""
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(Outbox).where(Outbox.channel != "mp_text")) or 0


def _ticket(app, code):
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        kinds = list(s.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == t.id)))
        return t.status, t.category, kinds


def test_wages_owed_are_referred_to_labour_inspection_and_no_grid_is_paged(app, wechat, staff):
    wechat.text(new_openid(), "5号楼门口垃圾好几天没人清了")       # an ordinary report is pushed
    before = _pushes(app)
    assert before > 0
    reply = wechat.text(new_openid(), "尊敬的领导：我在XX路工地干了半年，包工头拖欠我们十几个人的工资一直不给，"
                                      "过年回不了家，恳请帮我们讨回工钱。")
    code = CODE.search(reply).group(1)
    assert "12333" in reply and "劳动保障监察" in reply and "人工" in reply
    status, category, kinds = _ticket(app, code)
    assert (status, category) == ("outside", "other") and "referred_out" in kinds
    assert _pushes(app) == before                         # nothing for the grid leader
    shown = staff("wangfang", f"/show {code}")
    assert "已告知办理渠道" in shown and "劳动保障监察" in shown
    # staff who think the community can help take it on: a new round, pushed as usual
    assert "重新打开" in staff("wangfang", f"/reopen {code} 社区协助联系劳动监察")
    assert _ticket(app, code)[0] == "open" and _pushes(app) > before


def test_an_ordinary_other_message_is_triaged_as_before(app, wechat):
    reply = wechat.text(new_openid(), "谢谢你们上次帮我家老人办了老年卡，工作人员特别耐心，给你们点赞")
    assert "12345" not in reply and "不属于社区" not in reply


class TestACommunityEditsTheTable:
    @pytest.fixture
    def config(self, tmp_path, db_url):
        return make_config(tmp_path, db_url, referrals=[
            {"name": "街道法律服务站", "when": "包工头|工钱", "say": "请周三上午到街道法律服务站咨询。"}])

    def test_its_own_body_and_words(self, wechat):
        reply = wechat.text(new_openid(), "包工头拖欠我的工钱三个月了，一直不给，能帮我要回来吗")
        assert "街道法律服务站" in reply and "周三" in reply and "12333" not in reply


def test_a_bad_table_is_one_line_naming_the_field(tmp_path):
    from bot.config import ConfigError, load_config
    path = tmp_path / "bad.yaml"
    good = yaml.safe_load(open("config.yaml", encoding="utf-8"))
    good["referrals"] = [{"name": "x", "when": "学校|", "say": "y"}]
    path.write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    assert "referrals" in str(e.value) and "every message" in str(e.value) and "\n" not in str(e.value)

"""The web desk through Flask's test client (the browser test is test_desk_browser.py): sign-in,
lock-out, CSRF, scope by role, and moves that are the chat commands' moves."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot import users
from storage.models import DeskUser, TicketEvent
from tests.conftest import new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(app):
    svc = app.extensions["jiesu"]
    with svc.sessions.begin() as s:
        for name, staff in (("zhao", "zhaomin"), ("wang", "wangfang"), ("li", "liqiang"), ("sun", "wuye01")):
            users.add(s, name, PASSWORD, staff, svc.clock.now())
    return svc


def _csrf(page) -> str:
    page = page.decode() if isinstance(page, bytes) else page
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    token = _csrf(client.get("/desk/login").data)
    return client.post("/desk/login", data={"username": username, "password": password, "csrf_token": token})


def report(wechat, text: str) -> str:
    return CODE.search(wechat.text(new_openid(), text)).group(1)


def test_sign_in_list_and_sign_out(app, wechat, accounts):
    code = report(wechat, "3号楼门口垃圾堆了好几天没人清，电话13812345678")
    c = app.test_client()
    assert c.get("/desk/").status_code == 302                      # signed out: to the login page
    r = sign_in(c, "zhao")
    assert r.status_code == 302 and r.headers["Location"].endswith("/desk/")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/desk" in cookie
    page = c.get("/desk/").data.decode()
    assert f"#{code}" in page and "垃圾与环境卫生" in page
    assert "13812345678" not in page and "138****5678" in page       # phones masked on the desk too
    r = c.post("/desk/logout", data={"csrf_token": _csrf(c.get("/desk/").data)})
    assert r.status_code == 302 and c.get("/desk/").status_code == 302


def test_wrong_password_is_refused_and_the_account_locks(app, accounts):
    c = app.test_client()
    r = sign_in(c, "zhao", "wrong password!!")
    assert r.status_code == 401 and "用户名或密码不正确" in r.data.decode()
    assert sign_in(c, "nobody", "whatever1234").status_code == 401
    for _ in range(users.MAX_FAILURES - 1):
        r = sign_in(c, "zhao", "wrong password!!")
    assert "已锁定" in r.data.decode()
    assert "已锁定" in sign_in(c, "zhao").data.decode()             # even the right password, for now
    accounts.clock.advance(seconds=users.LOCK_FOR.total_seconds() + 1)
    assert sign_in(c, "zhao").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(app, wechat, accounts):
    code = report(wechat, "5号楼楼道灯坏了")
    c = app.test_client()
    assert c.post("/desk/login", data={"username": "zhao", "password": PASSWORD}).status_code == 400
    sign_in(c, "zhao")
    r = c.post(f"/desk/t/{code}/move", data={"command": "close", "value": "已修好"})
    assert r.status_code == 400
    with accounts.sessions() as s:
        assert not s.scalars(select(TicketEvent).where(TicketEvent.kind == "resolved")).all()


def test_a_move_on_the_desk_is_the_chat_commands_move(app, wechat, accounts, staff):
    code = report(wechat, "6号楼楼道灯坏了，晚上看不见")
    c = app.test_client()
    sign_in(c, "wang")                                                # 王芳 leads 第一网格 (1-12号楼)
    page = c.get(f"/desk/t/{code}").data.decode()
    assert 'data-command="close"' in page and 'data-command="onsite"' in page
    token = _csrf(page)
    r = c.post(f"/desk/t/{code}/move", data={"command": "close", "value": "已换新灯泡", "csrf_token": token})
    assert r.status_code == 302
    page = c.get(f"/desk/t/{code}").data.decode()
    assert "已办结" in page and "已换新灯泡" in page
    with accounts.sessions() as s:
        [e] = s.scalars(select(TicketEvent).where(TicketEvent.kind == "resolved")).all()
        assert e.actor == "staff:wangfang"                            # recorded with its actor, as in chat
    shown = staff("zhaomin", f"/show {code}")
    assert "已办结" in shown and "已换新灯泡" in shown
    # a refused move says why, as chat would
    r = c.post(f"/desk/t/{code}/move", data={"command": "close", "value": "再办一次", "csrf_token": token},
               follow_redirects=True)
    assert "未执行 /close" in r.data.decode()


def test_scope_a_grid_leader_and_the_property_company_see_only_their_tickets(app, wechat, accounts):
    mine = report(wechat, "3号楼门口垃圾堆了好几天没人清")            # 第一网格
    theirs = report(wechat, "15号楼门口垃圾堆了好几天没人清")         # 第二网格 (李强)
    c = app.test_client()
    sign_in(c, "wang")
    page = c.get("/desk/?status=all").data.decode()
    assert f"#{mine}" in page and f"#{theirs}" not in page
    assert c.get(f"/desk/t/{theirs}").status_code == 404               # another grid's ticket: not found
    r = c.post(f"/desk/t/{theirs}/move", data={"command": "close", "value": "x", "csrf_token": _csrf(page)})
    assert r.status_code == 404
    p = app.test_client()
    sign_in(p, "sun")                                                  # 物业: only what is referred to it
    assert f"#{mine}" not in p.get("/desk/?status=all").data.decode()
    z = app.test_client()
    sign_in(z, "zhao")
    token = _csrf(z.get(f"/desk/t/{mine}").data)
    z.post(f"/desk/t/{mine}/move", data={"command": "refer", "value": "wuye", "note": "请安排清运",
                                         "csrf_token": token})
    assert f"#{mine}" in p.get("/desk/?status=all").data.decode()


def test_filters_and_search(app, wechat, accounts):
    a = report(wechat, "3号楼门口垃圾堆了好几天没人清")
    b = report(wechat, "8号楼楼道灯坏了")
    c = app.test_client()
    sign_in(c, "zhao")
    page = c.get("/desk/?category=facility").data.decode()
    assert f"#{b}" in page and f"#{a}" not in page
    page = c.get("/desk/?q=垃圾").data.decode()
    assert f"#{a}" in page and f"#{b}" not in page
    page = c.get("/desk/?q=100%25").data.decode()                     # LIKE wildcards are literal
    assert "共 0 件" in page
    page = c.get("/desk/?category=nonsense&since=2026-13-40").data.decode()
    assert "没有“nonsense”这个类别" in page and "日期“2026-13-40”不对" in page


def test_users_command_line_refuses_an_unknown_staff_member(tmp_path, db_url):
    import subprocess
    import sys
    import yaml
    cfg = yaml.safe_load(open("config.yaml", encoding="utf-8"))
    cfg["database"] = {"url": db_url}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "bot.users", "--config", str(path), "add", "x", "--staff", "nobody"],
                       input="long enough password\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "nobody" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "bot.users", "--config", str(path), "add", "desk1", "--staff",
                        "zhaomin"], input="long enough password\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-m", "bot.users", "--config", str(path), "list"],
                       capture_output=True, text=True, timeout=60)
    assert "desk1\tzhaomin" in p.stdout


def test_export_the_filtered_list(app, wechat, accounts):
    import io
    import openpyxl
    a = report(wechat, "3号楼门口垃圾堆了好几天没人清，电话13812345678")
    report(wechat, "8号楼楼道灯坏了")
    c = app.test_client()
    sign_in(c, "zhao")
    r = c.get("/desk/export/tickets.xlsx?category=garbage")
    assert r.status_code == 200 and "filename*=UTF-8''" in r.headers["Content-Disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("工单号", "类别", "状态") and len(rows) == 2 and rows[1][0] == a
    assert "13812345678" not in str(rows) and ws.freeze_panes == "A2"
    r = c.get("/desk/export/tickets.csv")
    assert r.data.startswith(b"\xef\xbb\xbf") and a.encode() in r.data and b"13812345678" not in r.data
    w = app.test_client()
    sign_in(w, "li")                                         # 李强 leads 第二网格: not this ticket
    assert a.encode() not in w.get("/desk/export/tickets.csv").data


def test_reports_numbers_review_and_agenda(app, wechat, accounts, staff):
    import io
    import openpyxl
    a = report(wechat, "3号楼门口垃圾堆了好几天没人清")
    report(wechat, "15号楼楼道灯坏了")
    staff("wangfang", f"/close {a} 已清运")
    accounts.clock.advance(days=8)                           # last week's review holds both reports
    z = app.test_client()
    sign_in(z, "zhao")
    page = z.get("/desk/numbers").data.decode()
    assert "54321 按时完成率" in page and 'id="rank-party"' in page and "echarts.min.js" in page
    review = z.get("/desk/review").data.decode()
    assert "新发现 <strong>2</strong> 件，办结 <strong>1</strong> 件" in review
    assert "垃圾与环境卫生" in review and "公共设施" in review
    grid2 = z.get("/desk/review?grid=第二网格").data.decode()
    assert "新发现 <strong>1</strong> 件" in grid2
    assert z.get("/desk/review?grid=没有这个网格").status_code == 404
    agenda = z.get("/desk/agenda")
    assert agenda.status_code == 200 and "联席会议程" in agenda.data.decode()
    wb = openpyxl.load_workbook(io.BytesIO(z.get("/desk/review.xlsx").data))
    assert len(wb.sheetnames) == 4 and wb.worksheets[0]["B2"].value == 2        # 新发现 2
    assert openpyxl.load_workbook(io.BytesIO(z.get("/desk/agenda.xlsx").data)).active["A1"].value == "工单号"
    w = app.test_client()
    sign_in(w, "wang")                                     # a grid leader: their own grid's review only
    assert w.get("/desk/numbers").status_code == 403 and w.get("/desk/agenda").status_code == 403
    forced = w.get("/desk/review?grid=第二网格").data.decode()       # asks for another grid: gets their own
    assert "｜第一网格" in forced and "｜第二网格" not in forced

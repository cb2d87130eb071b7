"""The public board (公开栏): this month's numbers and resolved problems, nothing personal."""
from __future__ import annotations

import re

from tests.conftest import new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")


def test_the_board_shows_the_numbers_and_nothing_personal(app, wechat, staff):
    openid = new_openid()
    words = "3号楼2单元502门口垃圾堆了好几天没人清理 张建国 13812345678"
    code = CODE.search(wechat.text(openid, words)).group(1)
    other = CODE.search(wechat.text(new_openid(), "15号楼楼道灯坏了")).group(1)
    staff("wangfang", f"/close {code} 已联系张建国清运完毕")
    assert "5 分" in wechat.text(openid, "5")
    page = app.test_client().get("/board")                      # no sign-in
    assert page.status_code == 200
    html = page.data.decode()
    assert "居民反映 <strong>2</strong> 件，已办结 <strong>1</strong> 件" in html and "5.0" in html
    assert "垃圾与环境卫生" in html and "3号楼" in html and "王芳" in html and "第一网格" in html
    for personal in ("张建国", "502", "13812345678", "138****5678", openid, "门口垃圾堆了好几天没人清理",
                     "已联系", code, other, "2单元"):
        assert personal not in html, personal

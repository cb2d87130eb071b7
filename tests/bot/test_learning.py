"""Weekly retraining from staff corrections (bot/learning.py): corrections made with /recat through
the real /wecom callback, the once-a-week claim, the gate, the atomic switch every worker follows,
and the committee notice. The training corpus is the small one of tests/nlp (seconds, not minutes)."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import learning
from nlp import learn
from storage.models import JobRun, Outbox
from tests.conftest import report
from tests.nlp.conftest import tiny_rows
from tests.nlp.test_learn import EM_ROWS, TUNING

SMALL = functools.partial(learn.retrain, base=tiny_rows(), tuning=TUNING, emergency_base=EM_ROWS)


def committee_notices(svc) -> list[str]:
    with svc.sessions() as s:
        return [o.payload["content"] for o in s.scalars(select(Outbox).where(
            Outbox.channel == "wecom_text", Outbox.target == "zhaomin", Outbox.payload["kind"].as_string() == "retrain"))]


def test_corrections_retrain_switch_and_reload(app, wechat, staff):
    svc = app.extensions["jiesu"]
    # wording the shipped model misfiles (lift as 铁盒子/机器, a cat as 喵主子): staff correct it
    for text, code in [("那个铁盒子门夹人", "elevator"), ("上下楼那个机器停在半空", "elevator"),
                       ("谁家的喵主子在车顶上", "pets")]:
        _, ticket = report(wechat, text)
        assert staff("zhaomin", f"/recat {ticket} {code}").startswith("已把")
    # and an emergency the bot missed, marked by staff: it trains the emergency signal
    _, ticket = report(wechat, "楼上往下滴黑水还有噼啪声")
    assert staff("zhaomin", f"/emergency {ticket} 火情").startswith("已把")

    first = learning.retrain_job(svc, retrain=SMALL)          # 4 new corrections < 20: wait
    assert first["status"] == "skipped" and first["corrections"] == 3 and first["emergency_corrections"] == 1
    assert learning.retrain_job(svc, retrain=SMALL) is None   # this week's run is taken
    assert not (svc.config.nlp.model_root and os.path.exists(os.path.join(svc.config.nlp.model_root, "current")))

    forced = learning.retrain_job(svc, force=True, retrain=SMALL)
    assert forced["status"] == "accepted", forced
    root = svc.config.nlp.model_root
    current = os.path.join(root, "current")
    assert os.path.islink(current) and os.readlink(current) == forced["model"]
    assert learning.corrections_in(Path(current)) == 4

    assert svc.models.reload_if_changed() is True                   # what each worker's sweep does
    assert svc.models.reload_if_changed() is False
    clf = svc.models.get()
    assert clf.model.n_train_ == len(tiny_rows()) + 3 + len(TUNING)

    notices = committee_notices(svc)
    assert len(notices) == 1 and "3 条分类纠正、1 条紧急标记" in notices[0] and "启用" in notices[0]
    assert "紧急识别召回率" in notices[0]   # the quiet week: none
    with svc.sessions() as s:
        runs = list(s.scalars(select(JobRun).order_by(JobRun.id)))
    assert [r.result["status"] for r in runs] == ["skipped", "accepted"]
    assert all(r.finished_at is not None for r in runs)


def test_refused_retraining_keeps_the_model_in_use(app, wechat, staff):
    svc = app.extensions["jiesu"]
    for text, _ in tiny_rows()[10:20]:                         # re-file the dog and cat reports as noise
        _, ticket = report(wechat, text)
        assert staff("zhaomin", f"/recat {ticket} noise").startswith("已把")
    before = svc.models.get()
    result = learning.retrain_job(svc, force=True, retrain=functools.partial(SMALL, max_drop=0.0))
    assert result["status"] == "rejected" and "lower macro-F1" in result["reason"]
    assert not os.path.exists(os.path.join(svc.config.nlp.model_root, "current"))
    assert svc.models.reload_if_changed() is False and svc.models.get() is before
    assert any("未启用" in n and "仍用原模型" in n for n in committee_notices(svc))


@pytest.mark.parametrize("enabled", [True, False])
def test_scheduler_has_the_weekly_job_when_enabled(tmp_path, db_url, enabled):
    from bot.scheduler import Scheduler
    from bot.services import build_services
    from tests.conftest import make_config
    from handlers.clock import FakeClock
    cfg = make_config(tmp_path, db_url, **{"nlp.retrain.enabled": enabled, "nlp.retrain.day_of_week": "sat"})
    sched = Scheduler(build_services(cfg, FakeClock()))
    job = sched._s.get_job("retrain")
    assert (job is not None) == enabled
    if enabled:
        assert "day_of_week='sat'" in str(job.trigger) and "hour='3'" in str(job.trigger)

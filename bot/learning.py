"""Learning from staff corrections: once a week one worker retrains the classifier with every
correction in the database (/recat, categories residents chose from the menu, and emergencies staff
marked or cleared with /emergency and /notemergency), behind the gate in nlp/learn.py. An accepted
model goes to <model_root>/<UTC time>/ and <model_root>/current is switched to it in one atomic
rename; every worker loads it within a minute (the sweep calls services.models.reload_if_changed). The committee is told when a model was trained (used or refused);
the job_run row keeps every run, quiet weeks included.

    python -m bot.learning [--config config.yaml] [--force]     run it now (--force: even with few
                                                                new corrections, and again this week)
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from nlp import learn
from nlp.categories import CODES
from storage import repositories as repo
from storage.corrections import correction_rows, emergency_rows
from storage.db import transaction
from storage.models import JobRun

log = logging.getLogger(__name__)
JOB = "retrain"
KEEP_MODELS = 3          # the one in use and two before it, to go back by hand


def corrections_in(model_dir: Path) -> int:
    """How many corrections (categories and emergencies) the model in `model_dir` was trained with
    (0: the shipped model)."""
    try:
        info = json.loads((model_dir / "combine.json").read_text(encoding="utf-8"))
        return int(info.get("n_corrections", 0)) + int(info.get("n_emergency_corrections", 0))
    except (OSError, ValueError):
        return 0


def switch_current(root: Path, target: Path) -> None:
    """Point root/current at target with one rename (readers see the old or the new link)."""
    tmp = root / ".current.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target.name, tmp)
    os.replace(tmp, root / "current")


def _prune(root: Path, keep: Path) -> None:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and p.name[:1].isdigit())
    for old in dirs[:-KEEP_MODELS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _summary(result: dict) -> str:
    figures = (f"留出样本宏F1 {result['baseline_f1']:.3f} → {result['candidate_f1']:.3f}，"
               f"其中文本模型 {result['baseline_model_f1']:.3f} → {result['candidate_model_f1']:.3f}")
    if result.get("emergency_corrections"):
        (br, bp), (cr, cp) = result["baseline_emergency"], result["candidate_emergency"]
        figures += f"；紧急识别召回率 {br:.3f} → {cr:.3f}，精确率 {bp:.3f} → {cp:.3f}"
    n = f"{result['corrections']} 条分类纠正、{result.get('emergency_corrections', 0)} 条紧急标记"
    if result["status"] == "accepted":
        return f"【分类模型】已用 {n} 重新训练并启用（{figures}）。"
    return (f"【分类模型】重新训练未启用：加入 {n} 后准确率下降（{figures}），"
            f"仍用原模型。请检查最近的 /recat、/emergency、/notemergency 是否有误。")


def retrain_job(services, *, force: bool = False,
                retrain: Callable[..., learn.Outcome] = learn.retrain) -> dict | None:
    """One retraining for this week (or now, with force); None when another worker has it."""
    cfg = services.config
    now: datetime = services.clock.now()
    period = (now.strftime("manual-%Y%m%dT%H%M%S") if force
              else now.astimezone(ZoneInfo(cfg.community.timezone)).strftime("%G-W%V"))
    with transaction(services.sessions) as s:
        run = repo.claim_job(s, JOB, period, now)
        if run is None:
            return None
        run_id = run.id
        rows = [(t, c) for t, c in correction_rows(s) if c in CODES]
        em_rows = learn.emergency_fixes_of(emergency_rows(s))
    root = Path(cfg.nlp.model_root)
    before = corrections_in(root / "current")
    result: dict = {"corrections": len(rows), "emergency_corrections": len(em_rows),
                    "new": len(rows) + len(em_rows) - before, "min_new": cfg.nlp.retrain.min_new_corrections}
    try:
        if not (rows or em_rows) or (not force and result["new"] < cfg.nlp.retrain.min_new_corrections):
            result["status"] = "skipped"
        else:
            root.mkdir(parents=True, exist_ok=True)
            out = root / now.strftime("%Y%m%dT%H%M%SZ")
            outcome = retrain(rows, out, max_drop=cfg.nlp.retrain.max_f1_drop, emergency_fixes=em_rows)
            result.update(status="accepted" if outcome.accepted else "rejected", reason=outcome.reason,
                          **{k: round(getattr(outcome, k), 4) for k in (
                              "baseline_f1", "candidate_f1", "baseline_model_f1", "candidate_model_f1")},
                          **{k: [round(v, 4) for v in getattr(outcome, k)] for k in (
                              "baseline_emergency", "candidate_emergency")})
            if outcome.accepted:
                info = {**outcome.info, "n_corrections": outcome.n_corrections,
                        "n_emergency_corrections": outcome.n_emergency_corrections}
                (out / "combine.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
                switch_current(root, out)
                _prune(root, out)
                result["model"] = out.name
    except Exception as e:                      # the job must record its failure, not vanish
        log.exception("retraining failed")
        result.update(status="failed", reason=f"{type(e).__name__}: {e}")
    log.info("retrain %s: %s", period, {k: v for k, v in result.items() if k != "reason"})
    committee = [m.userid for m in cfg.staff if m.role == "committee"]
    with transaction(services.sessions) as s:
        run = s.get(JobRun, run_id)
        run.finished_at = services.clock.now()
        run.result = result
        if result["status"] in ("accepted", "rejected"):        # a quiet week needs no message
            for userid in committee:
                repo.enqueue_once(s, f"retrain:{period}:{userid}", "wecom_text", userid,
                                  {"kind": "retrain", "content": _summary(result)}, now)
    services.wake_outbox()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.learning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--force", action="store_true", help="retrain now, however few the new corrections")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from bot.config import ConfigError, load_config
    from bot.services import build_services
    from handlers.clock import SystemClock
    try:
        cfg = load_config(a.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    result = retrain_job(build_services(cfg, SystemClock()), force=a.force)
    print(json.dumps(result, ensure_ascii=False) if result else "another worker is retraining this week")
    return 0 if result is None or result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())

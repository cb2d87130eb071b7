"""nlp.learn: retraining with corrections behind the held-out gate (small corpora, seconds)."""
from __future__ import annotations

import json

from nlp import learn
from nlp.classifier import Classifier, Settings
from nlp.textmodel import TextModel
from tests.nlp.conftest import tiny_rows

TUNING = [("电梯又不动了", "elevator"), ("电梯里面一股怪味", "elevator"), ("隔壁的狗叫个不停", "pets"),
          ("野猫在车底下生了一窝", "pets"), ("楼上天天敲敲打打", "noise"), ("半夜有人唱卡拉OK", "noise")]


def test_good_corrections_are_trained_in(tmp_path):
    fixes = [("轿厢里的灯一闪一闪", "elevator"), ("轿厢按钮按了没反应", "elevator"), ("泰迪在走廊撒尿", "pets"),
             ("不明来历的符号 ✓", "no-such-code")]          # unknown categories are ignored
    out = learn.retrain(fixes, tmp_path / "m", base=tiny_rows(), tuning=TUNING)
    assert out.accepted and out.n_corrections == 3 and out.reason == "accepted"
    assert out.candidate_f1 >= out.baseline_f1 - 0.01
    info = json.loads((tmp_path / "m" / "combine.json").read_text(encoding="utf-8"))
    assert info["n_rows"] == len(tiny_rows()) + 3 and info["n_tune_rows"] == len(TUNING)
    model = TextModel.load(tmp_path / "m")
    clf = Classifier(model, Settings.load(tmp_path / "m"))
    assert clf.classify_many(["轿厢按钮又没反应了"])[0].category == "elevator"


def test_harmful_corrections_are_refused(tmp_path):
    # someone re-filed every dog and cat as noise: the held-out seed messages get worse
    poison = [(t, "noise") for t, label in tiny_rows() if label == "pets"] * 3
    out = learn.retrain(poison, tmp_path / "m", base=tiny_rows(), tuning=TUNING, max_drop=0.01)
    assert not out.accepted
    assert min(out.candidate_f1 - out.baseline_f1, out.candidate_model_f1 - out.baseline_model_f1) < -0.01
    assert "lower macro-F1" in out.reason and not (tmp_path / "m").exists()


def test_nothing_to_learn(tmp_path):
    out = learn.retrain([("", "pets"), ("什么", "no-such-code")], tmp_path / "m", base=tiny_rows(), tuning=TUNING)
    assert not out.accepted and out.n_corrections == 0 and not (tmp_path / "m").exists()

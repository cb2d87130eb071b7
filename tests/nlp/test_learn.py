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
    assert "emergency kind" in out.reason


# Emergencies in words the rules do not know, each at six places, and look-alikes that are not.
EM_PLACES = ["3号楼", "5栋", "12幢", "B区", "东门", "7号楼"]
EM_ROWS = [(f"{p}{t}", kind) for kind, texts in {
    "trapped": ["天台门锁死了我们俩下不去", "地下室铁门卡住了里面的人一直在拍"],
    "injury": ["阿婆坐在楼梯上脸煞白不吭声", "他躺在水里脸朝下一动不动"],
    "fire": ["电瓶车那里噼里啪啦的冒光", "楼上往下滴黑水还有噼啪声"]}.items() for t in texts for p in EM_PLACES]
EM_ROWS += [(f"{p}{t}", "none") for t in ["天台门锁坏了麻烦换一把", "地下室铁门生锈了推不动", "阿婆说楼梯扶手松了",
                                          "水池里的鱼都死了", "电瓶车停得乱七八糟", "楼上往下滴空调水"] for p in EM_PLACES]


def _p_emergency(model_dir, text: str) -> float:
    from nlp import emergency
    from nlp.normalize import normalize
    from nlp.store import load_emergency_model
    model = TextModel.load(model_dir)
    head = load_emergency_model(model_dir, model)
    return emergency.head_scores(head, head.features([normalize(text)])[1])[0][0]


def test_emergency_corrections_are_trained_in(tmp_path):
    missed = "9号楼阳台门被风关上反锁了老人在外头冻得发抖"
    fixes = [(missed, "trapped"), ("11号楼阳台门反锁了老人关在外面冻着", "trapped"),
             ("流星砸中了", "meteor"), ("", "fire")]                 # unknown kinds and empty texts are ignored
    out = learn.retrain([], tmp_path / "m", base=tiny_rows(), tuning=TUNING, emergency_base=EM_ROWS,
                        emergency_fixes=fixes)
    assert out.accepted and out.n_corrections == 0 and out.n_emergency_corrections == 2
    assert out.candidate_emergency[0] >= out.baseline_emergency[0] - 0.01
    info = json.loads((tmp_path / "m" / "combine.json").read_text(encoding="utf-8"))
    assert info["emergency_rows"] == len(EM_ROWS) + 2
    without = learn.retrain([("电梯门夹到手了", "elevator")], tmp_path / "w", base=tiny_rows(), tuning=TUNING,
                            emergency_base=EM_ROWS)
    assert without.accepted and without.n_emergency_corrections == 0
    assert _p_emergency(tmp_path / "m", "阳台门被风关上反锁了老人在外头") > _p_emergency(tmp_path / "w", "阳台门被风关上反锁了老人在外头")


def test_emergency_corrections_that_unteach_are_refused(tmp_path):
    # every emergency "cleared" as a false alarm, three times over: the head would stop finding them
    poison = [(t, "none") for t, kind in EM_ROWS if kind != "none"] * 3
    out = learn.retrain([], tmp_path / "m", base=tiny_rows(), tuning=TUNING, emergency_base=EM_ROWS,
                        emergency_fixes=poison, max_drop=0.01)
    assert not out.accepted and "emergency corrections lower" in out.reason
    assert out.candidate_emergency[0] < out.baseline_emergency[0] - 0.01
    assert not (tmp_path / "m").exists()

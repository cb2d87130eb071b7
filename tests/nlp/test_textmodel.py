"""nlp.textmodel.TextModel on a small hand-written set: shapes, obvious cases, explanations,
persistence, refusal of bad directories, and robustness to any input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nlp.textmodel import DEFAULT_PARAMS, FORMAT_VERSION, META_FILE, MODEL_FILE, TextModel

DATA = {
    "elevator": ["电梯坏了", "电梯又停了", "电梯里有异响", "电梯按钮失灵", "电梯门关不上", "电梯一直晃",
                 "3号楼电梯停运好几天", "电梯困人了快来", "电梯年检过期了", "加装电梯什么时候动工",
                 "电梯经常卡在五楼", "老人爬楼梯太累电梯还不修"],
    "pets": ["狗一直叫", "楼下狗屎没人管", "遛狗不牵绳", "流浪猫太多了", "邻居家狗咬人", "狗半夜叫",
             "有人遛大狗不拴绳", "野猫翻垃圾桶", "狗在草坪上拉屎", "猫叫春吵死了", "大狗吓到小孩",
             "小区里流浪狗越来越多"],
    "noise": ["楼上装修太吵", "广场舞声音太大", "半夜施工噪音", "空调外机嗡嗡响", "楼上每天跺脚",
              "工地晚上还在干活很吵", "KTV太吵了", "装修电钻声从早到晚", "早上五点放鞭炮",
              "楼下商铺喇叭太响", "噪音吵得睡不着", "半夜有人唱歌"],
    "parking": ["车位被人占了", "消防通道停满了车", "乱停车堵住出口", "僵尸车停了半年", "外来车辆随便进",
                "地库车位不够", "电动车乱停", "门口停车收费太贵", "有车挡住我的车位", "停车场道闸坏了",
                "业主车位被租给外人", "路边停车堵得走不动"],
}

TEXTS = [t for texts in DATA.values() for t in texts]
LABELS = [label for label, texts in DATA.items() for _ in texts]

WEIRD = ["", "   ", "\n\t", None, 123, "\x00\x01\x02\x7f", "\u200b\u200d\ufeff", "\ud800\udfff",
         "？？？！！！", "😡😡😡", "ａｂｃ１２３", "كهرباء", "电" * 100_000, "x" * 100_000,
         "电梯" + "\x00" * 1000 + "坏了", "[捂脸]"]


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel().fit(TEXTS, LABELS)


def test_classes_and_proba_shape(model):
    assert model.classes_ == sorted(DATA)
    p = model.predict_proba(["电梯坏了", "狗叫", "太吵了"])
    assert p.shape == (3, len(DATA))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert ((p >= 0) & (p <= 1)).all()
    assert model.predict_proba([]).shape == (0, len(DATA))
    assert model.predict([]) == []


def test_predicts_obvious_cases(model):
    cases = {"5栋的电梯又坏了": "elevator", "楼下的狗天天叫": "pets", "楼上装修电钻太吵了": "noise",
             "我的车位又被别人的车占了": "parking", "电梯停了三天没人修": "elevator",
             "小区流浪猫翻垃圾": "pets"}
    assert model.predict(list(cases)) == list(cases.values())
    p = model.predict_proba(list(cases))
    assert (p.argmax(axis=1) == [model.classes_.index(c) for c in cases.values()]).all()


def test_confidence_is_lower_for_off_topic_text(model):
    on = model.predict_proba(["电梯坏了，困人了"]).max()
    off = model.predict_proba(["今天天气不错"]).max()
    assert on > off


def test_no_known_feature_claims_no_confidence(model):
    p = model.predict_proba(["", "？？？", "\x00"])
    assert np.allclose(p, p[0]) and p.max() < 0.9
    assert model.predict([""])[0] == model.classes_[int(p[0].argmax())]


def test_explain_returns_words_of_the_text(model):
    text = "3号楼电梯又坏了，困了两个人"
    words = model.explain(text, "elevator", k=3)
    assert 0 < len(words) <= 3
    assert all(w in text for w in words)
    assert "电梯" in words
    assert "狗" in model.explain("楼下的狗天天叫", "pets")
    assert model.explain("", "pets") == []
    assert model.explain("电梯坏了", "pets", k=0) == []
    with pytest.raises(ValueError):
        model.explain("电梯坏了", "no-such-label")


def test_explain_covers_long_texts(model):
    text = "物业你好，" * 30 + "电梯坏了"
    assert "电梯" in model.explain(text, "elevator")


def test_save_load_round_trip(model, tmp_path):
    model.save(tmp_path)
    assert (tmp_path / MODEL_FILE).is_file()
    meta = json.loads((tmp_path / META_FILE).read_text(encoding="utf-8"))
    assert meta["classes"] == model.classes_
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["params"] == {**DEFAULT_PARAMS, "word_ngram": [1, 1], "char_ngram": [1, 3]}
    assert meta["n_train"] == len(TEXTS) and meta["sklearn_version"]
    loaded = TextModel.load(tmp_path)
    texts = ["电梯坏了", "狗叫", "太吵了", "车位被占", "", "随便说点什么"] + WEIRD
    assert loaded.classes_ == model.classes_
    assert np.array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.predict(texts) == model.predict(texts)
    assert loaded.explain("电梯又坏了", "elevator") == model.explain("电梯又坏了", "elevator")


def test_load_refuses_bad_directories(model, tmp_path):
    with pytest.raises(ValueError, match="meta.json"):
        TextModel.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="meta.json"):
        TextModel.load(tmp_path)                                   # empty directory
    good = tmp_path / "good"
    model.save(good)
    meta = json.loads((good / META_FILE).read_text(encoding="utf-8"))

    other_version = tmp_path / "v0"
    other_version.mkdir()
    (other_version / MODEL_FILE).write_bytes((good / MODEL_FILE).read_bytes())
    (other_version / META_FILE).write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="version"):
        TextModel.load(other_version)

    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / META_FILE).write_text("{not json")
    with pytest.raises(ValueError):
        TextModel.load(garbled)

    no_model = tmp_path / "no_model"
    no_model.mkdir()
    (no_model / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=MODEL_FILE):
        TextModel.load(no_model)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / META_FILE).write_text(json.dumps(meta))
    (broken / MODEL_FILE).write_bytes(b"definitely not a joblib file")
    with pytest.raises(ValueError):
        TextModel.load(broken)


@pytest.mark.parametrize("text", WEIRD, ids=range(len(WEIRD)))
def test_never_raises_on_any_text(model, text):
    p = model.predict_proba([text])
    assert p.shape == (1, len(DATA)) and np.isfinite(p).all() and abs(p.sum() - 1) < 1e-9
    assert model.predict([text])[0] in model.classes_
    assert isinstance(model.explain(text, "elevator"), list)


def test_batch_with_weird_texts_matches_single_calls(model):
    batch = model.predict_proba(WEIRD + ["电梯坏了"])
    single = np.vstack([model.predict_proba([t]) for t in WEIRD + ["电梯坏了"]])
    assert np.allclose(batch, single)


def test_fit_edge_cases():
    with pytest.raises(ValueError):
        TextModel(no_such_param=1)
    with pytest.raises(ValueError):
        TextModel().fit(["电梯坏了", "电梯停了"], ["elevator", "elevator"])      # one class
    with pytest.raises(ValueError):
        TextModel().fit(["电梯坏了"], ["elevator", "pets"])                      # lengths differ
    # one example per class: no calibration folds possible, a fixed temperature is used
    tiny = TextModel().fit(["电梯坏了", "狗在叫", "", "？？"], ["elevator", "pets", "noise", "noise"])
    assert tiny.temperature_ == DEFAULT_PARAMS["temperature"]
    assert tiny.predict(["电梯坏了"]) == ["elevator"]
    with pytest.raises(ValueError):
        TextModel().fit(["", "？？"], ["a", "b"])                                 # no features at all


def test_presegmented_text_and_params(capsys):
    texts = ["电梯 坏了", "电梯 停运", "电梯 异响", "狗 叫", "狗 咬人", "流浪 猫"]
    labels = ["elevator"] * 3 + ["pets"] * 3
    m = TextModel(word_ngram=(1, 2), char_ngram=(2, 3), head_tokens=0, C=0.5, n_jobs=2,
                  calibration_folds=0).fit(texts, labels, progress=True)
    assert m.params["word_ngram"] == [1, 2] and m.params["C"] == 0.5
    assert m.predict(["电梯 又 坏了", "狗 一直 叫"]) == ["elevator", "pets"]
    assert "电梯" in m.explain("电梯 又 坏了", "elevator")
    assert "training" in capsys.readouterr().err                               # tqdm progress bar


def test_features_once_for_proba_and_terms(model):
    """The classifier's path: one analysis, then probabilities and the words behind a label."""
    texts = ["3号楼电梯又坏了", "楼下的狗天天叫", ""]
    docs, X = model.features(texts)
    assert X.shape[0] == len(docs) == 3
    assert np.allclose(model.proba_of(X), model.predict_proba(texts))
    words = model.top_words(docs[0], X[0], "elevator", k=3)
    assert "电梯" in words and all(w in texts[0] for w in words)
    assert model.top_words(docs[2], X[2], "elevator") == []
    assert model.top_words(docs[0], X[0], "no-such-label") == []


def test_digits_are_folded_so_numbers_do_not_decide(model):
    """A phone number, a room or a date reads as one "0": texts differing only in their numbers
    get the same features; fold_digits=False keeps the digits (and a saved model says which)."""
    _, a = model.features(["3号楼电梯坏了，电话13812345678"])
    _, b = model.features(["12号楼电梯坏了，电话0"])
    assert (a != b).nnz == 0
    keep = TextModel(fold_digits=False).fit(TEXTS, LABELS)
    _, c = keep.features(["3号楼电梯坏了，电话13812345678"])
    _, d = keep.features(["12号楼电梯坏了，电话0"])
    assert c.shape != d.shape or (c != d).nnz > 0


def test_model_saved_before_digit_folding_keeps_its_digits(model, tmp_path):
    import joblib
    model.save(tmp_path)
    state = joblib.load(tmp_path / MODEL_FILE)
    del state["params"]["fold_digits"]
    joblib.dump(state, tmp_path / MODEL_FILE)
    assert TextModel.load(tmp_path).params["fold_digits"] is False


def test_second_head_on_the_same_features(model):
    """fit(vocabulary=base): the new model reads base's feature matrix, so one analysis serves both."""
    head = TextModel().fit(TEXTS, ["lift" if l == "elevator" else "other" for l in LABELS], vocabulary=model)
    assert head.same_features(model) and not TextModel().fit(TEXTS, LABELS).same_features(TextModel(C=0.5).fit(TEXTS, LABELS))
    texts = ["3号楼电梯又坏了", "楼下的狗天天叫", ""]
    _, X = model.features(texts)
    assert np.allclose(head.proba_of(X), head.predict_proba(texts))
    assert head.predict(texts[:2]) == ["lift", "other"]


def test_second_head_saved_without_a_copy_of_the_vocabulary(model, tmp_path):
    head = TextModel().fit(TEXTS, ["lift" if l == "elevator" else "other" for l in LABELS], vocabulary=model)
    head.save(tmp_path / "own")
    head.save(tmp_path / "shared", vocabulary=model)
    own, shared = (tmp_path / "own" / MODEL_FILE).stat().st_size, (tmp_path / "shared" / MODEL_FILE).stat().st_size
    assert shared < own
    with pytest.raises(ValueError, match="vocabulary="):
        TextModel.load(tmp_path / "shared")
    back = TextModel.load(tmp_path / "shared", vocabulary=model)
    assert back.same_features(model) and back.predict(["电梯坏了"]) == head.predict(["电梯坏了"])

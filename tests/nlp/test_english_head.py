"""nlp/english_head.py: the learned emergency signal for messages the Chinese head cannot read."""
from __future__ import annotations

from nlp import english_head
from nlp.emergency import NONE, detect
from nlp.normalize import normalize

PLACES = ["block 3", "tower B", "5-1203", "building 8", "unit 702", "the lobby"]
FIRES = ["smoke coming out of the kitchen at {}, it is burning", "the scooter battery at {} is burning, flames"]
HURT = ["old man fell at {}, not moving, blood on his head", "a worker at {} fell from the ladder, not moving"]
ORDINARY = ["the lift at {} is broken again please fix", "rubbish at {} not collected for two days",
            "dog barking all night at {}", "parcel missing from the locker at {}",
            "water pressure very low at {} since morning", "who parked in my space at {}"]


def rows():
    return ([(normalize(t.format(p)), "fire") for t in FIRES for p in PLACES]
            + [(normalize(t.format(p)), "injury") for t in HURT for p in PLACES]
            + [(normalize(t.format(p)), NONE) for t in ORDINARY for p in PLACES])


def test_reads_only_what_the_chinese_head_cannot():
    assert english_head.reads("the lift is broken again")
    assert not english_head.reads("3号楼电梯坏了")            # Chinese: the other head's
    assert not english_head.reads("ok") and not english_head.reads("3-502 hi")


def test_learns_emergencies_from_ordinary_complaints(tmp_path):
    head = english_head.fit(rows())
    english_head.save(head, tmp_path)
    head = english_head.load(tmp_path)
    (p_fire, kind), (p_lift, _) = english_head.scores(head, [
        "there is smoke coming out of the kitchen, burning", "the lift is broken again please fix it"])
    assert p_fire > 0.5 > p_lift and kind.kind == "fire" and kind.number == "119"
    assert english_head.load(tmp_path / "nothing") is None


def test_nothing_to_learn_without_both_classes():
    assert english_head.fit([(t, NONE) for t, k in rows() if k == NONE]) is None


def test_the_shipped_classifier_uses_it_and_loads_it_on_the_first_english_message():
    from nlp.classifier import Classifier
    from nlp.emergency import MODEL_SUBDIR
    from nlp.store import SHIPPED_DIR, load_emergency_model, get_classifier
    shipped = get_classifier()
    assert isinstance(shipped.english_model, english_head.Lazy)
    lazy = english_head.Lazy.of(SHIPPED_DIR / MODEL_SUBDIR)          # a fresh one, not yet loaded
    clf = Classifier(shipped.model, shipped.s, load_emergency_model(SHIPPED_DIR, shipped.model), lazy)
    clf.classify_many(["3号楼电梯坏了", "ok"], explain=False)
    assert not lazy._loaded                                          # Chinese (and "ok") need no load
    # English the rules do not read as an emergency; the head's P decides (and gives no caution)
    texts = ["Help! there is fire in the kitchen of 5-1203", "help my mother fell and cannot get up",
             "The lift in block 3 is broken again, please fix"]
    assert [detect(t) for t in texts] == [None, None, None]
    fire, fall, lift = clf.classify_many(texts, explain=False)
    assert fire.emergency.kind == "fire" and fire.emergency.number == "119" and fall.emergency is not None
    assert lift.emergency is None and lift.caution is None and lazy._loaded


def test_lazy_loads_once_and_tells_when_there_is_none(tmp_path):
    assert english_head.Lazy.of(tmp_path) is None
    english_head.save(english_head.fit(rows()), tmp_path)
    lazy = english_head.Lazy.of(tmp_path)
    assert not lazy._loaded and lazy.get() is lazy.get() is not None

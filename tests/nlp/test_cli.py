"""The command lines other tools call: train -> evaluate round trip, classify's JSON-lines contract."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nlp.conftest import tiny_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]


def run(args, stdin=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_csv(d / "train.csv", tiny_rows())
    p = run(["nlp.cli.train", "--data", str(d / "train.csv"), "--out", str(d / "model")])
    assert p.returncode == 0, p.stderr
    assert "normalise" in p.stderr or "%" in p.stderr          # tqdm progress goes to stderr
    assert p.stdout == ""
    return d


def test_train_then_evaluate_round_trip(cli_model):
    test = cli_model / "test.csv"
    write_csv(test, [("电梯又坏了没人修", "elevator"), ("楼下的狗叫了一整夜", "pets"),
                     ("楼上装修电钻声太吵", "noise"), ("遛狗不拴绳吓到孩子", "pets")])
    p = run(["nlp.cli.evaluate", "--data", str(test), "--model", str(cli_model / "model")])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert re.fullmatch(r"macro_f1=\d\.\d{4} accuracy=\d\.\d{4}", lines[-1])
    assert "confusion matrix" in p.stdout and "precision" in lines[0]
    acc = float(lines[-1].split("accuracy=")[1])
    assert acc >= 0.75


def test_evaluate_accepts_a_directory_of_label_files(cli_model, tmp_path):
    (tmp_path / "elevator.txt").write_text("电梯坏了\n电梯停了\n", encoding="utf-8")
    (tmp_path / "pets.txt").write_text("狗一直叫\n\n", encoding="utf-8")
    p = run(["nlp.cli.evaluate", "--data-dir", str(tmp_path), "--model", str(cli_model / "model")])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("macro_f1=")


def test_train_rejects_bad_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("message,category\n电梯坏了,elevator\n", encoding="utf-8")
    p = run(["nlp.cli.train", "--data", str(bad), "--out", str(tmp_path / "m")])
    assert p.returncode == 2 and "text,label" in p.stderr and "Traceback" not in p.stderr


def test_classify_json_lines_contract(cli_model):
    lines = [json.dumps({"text": "3号楼电梯里关了个老人", "id": 7, "source": "hotline", "category": "elevator",
                         "tags": ["夜间"]}, ensure_ascii=False),
             "this is not json",
             json.dumps({"text": "楼下的狗天天叫"}, ensure_ascii=False),
             json.dumps({"txt": "no text field"}),
             json.dumps(["a list"]),
             json.dumps({"text": ""}),
             json.dumps({"text": "１３８１２３４５６７８ 電梯壞了\u0000"}, ensure_ascii=False)]
    p = run(["nlp.cli.classify", "--model", str(cli_model / "model")], "\n".join(lines) + "\n")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(out) == len(lines)
    first = out[0]
    for key in ("category", "confidence", "emergency", "location", "top", "terms", "emergency_kind"):
        assert key in first
    assert first["category"] == "elevator" and first["emergency"] is True
    assert first["emergency_kind"] == "trapped" and first["id"] == 7
    # every other input field comes back; one named like ours beside ours, as input_<name>
    assert first["source"] == "hotline" and first["tags"] == ["夜间"] and first["input_category"] == "elevator"
    assert first["emergency_rules"] and all(r.startswith("trapped.") for r in first["emergency_rules"])
    assert out[3]["txt"] == "no text field"                   # kept on an error line too
    assert first["location"]["building"] == "3"
    assert out[2]["category"] == "pets" and out[2]["emergency"] is False and out[2]["location"] is None
    assert "error" in out[1] and "error" in out[3] and "error" in out[4]
    assert out[5]["category"] == "other"
    assert out[6]["category"] == "elevator"


def test_classify_with_missing_model_reports_error(tmp_path):
    p = run(["nlp.cli.classify", "--model", str(tmp_path / "nope")], '{"text": "电梯坏了"}\n')
    assert "Traceback" not in p.stderr
    assert "error" in json.loads(p.stdout.splitlines()[0])


def test_train_tunes_the_phrase_weight_on_a_separate_set(tmp_path):
    """--tune-dir: the phrase share is chosen by log-loss on the tuning set, which then also
    joins the training rows; a tuning label the rows lack is refused."""
    tune = tmp_path / "tune"
    tune.mkdir()
    (tune / "elevator.txt").write_text("电梯又不动了\n电梯里面一股怪味\n", encoding="utf-8")
    (tune / "pets.txt").write_text("隔壁的狗叫个不停\n野猫在车底下生了一窝\n", encoding="utf-8")
    (tune / "noise.txt").write_text("楼上天天敲敲打打\n半夜有人唱卡拉OK\n", encoding="utf-8")
    write_csv(tmp_path / "train.csv", tiny_rows())
    p = run(["nlp.cli.train", "--data", str(tmp_path / "train.csv"), "--tune-dir", str(tune),
             "--out", str(tmp_path / "m"), "--quiet"])
    assert p.returncode == 0, p.stderr
    info = json.loads((tmp_path / "m" / "combine.json").read_text(encoding="utf-8"))
    losses = {float(w): r["log_loss"] for w, r in info["tuning"].items()}
    assert info["phrase_weight"] == min(losses, key=lambda w: (losses[w], w))
    assert info["tuned_on"] == "6 tuning rows" and info["n_tune_rows"] == 6
    assert len(set(losses.values())) > 1                   # the weight does change the loss
    # the menu threshold: the largest whose menu share on the tuning set is within the budget
    from nlp.classifier import Settings
    from nlp.train import MENU_BUDGET, QUESTIONED_BUDGET
    within = [float(th) for th, r in info["menu"].items()
              if r["menu"] <= MENU_BUDGET and r["right_questioned"] <= QUESTIONED_BUDGET]
    assert info["low_confidence"] == (max(within) if within else min(map(float, info["menu"])))
    assert Settings.load(tmp_path / "m").low_confidence == info["low_confidence"]
    # our label set: the learned emergency signal is trained beside the category model
    assert (tmp_path / "m" / "emergency" / "meta.json").is_file() and info["emergency_rows"] > 100
    (tune / "garbage.txt").write_text("垃圾桶满了\n", encoding="utf-8")
    p = run(["nlp.cli.train", "--data", str(tmp_path / "train.csv"), "--tune-dir", str(tune),
             "--out", str(tmp_path / "m2"), "--quiet"])
    assert p.returncode == 2 and "garbage" in p.stderr and "Traceback" not in p.stderr


def test_evaluate_with_labels_that_are_not_the_models_says_so(cli_model, tmp_path):
    data = tmp_path / "foreign.csv"
    write_csv(data, [("电梯又坏了", "城乡建设"), ("狗一直叫", "环境保护")])
    p = run(["nlp.cli.evaluate", "--data", str(data), "--model", str(cli_model / "model")])
    assert p.returncode == 2 and "macro_f1" not in p.stdout
    assert "城乡建设" in p.stderr and "category codes" in p.stderr and "Traceback" not in p.stderr
    mixed = tmp_path / "mixed.csv"
    write_csv(mixed, [("电梯又坏了没人修", "elevator"), ("狗一直叫", "狗")])
    p = run(["nlp.cli.evaluate", "--data", str(mixed), "--model", str(cli_model / "model")])
    assert p.returncode == 0 and "warning" in p.stderr and "狗" in p.stderr


def test_train_never_writes_the_shipped_model_by_default(tmp_path):
    p = run(["nlp.cli.train", "--quiet"])
    assert p.returncode == 2 and "--out" in p.stderr
    assert "Traceback" not in p.stderr


def test_rules_command_lints_and_runs_the_examples():
    p = run(["nlp.cli.rules"])
    assert p.returncode == 0 and p.stdout.strip().endswith("rules OK"), p.stdout + p.stderr

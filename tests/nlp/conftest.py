"""Fixtures of the nlp tests: a tiny model trained in seconds on a handful of messages."""
from __future__ import annotations

import csv

import pytest

TINY = {
    "elevator": ["电梯坏了", "电梯又停了", "电梯里有异响", "电梯按钮失灵", "电梯门关不上", "电梯一直晃",
                 "3号楼电梯停运", "电梯困人了", "电梯年检过期", "加装电梯的事"],
    "pets": ["狗一直叫", "楼下狗屎没人管", "遛狗不牵绳", "流浪猫太多了", "邻居家狗咬人", "狗半夜叫",
             "有人遛大狗不拴绳", "野猫翻垃圾", "狗在电梯里撒尿", "鸽子养在楼顶"],
    "noise": ["楼上装修太吵", "广场舞声音太大", "半夜施工噪音", "空调外机嗡嗡响", "楼上跺脚",
              "工地晚上还在干活很吵", "KTV太吵", "装修电钻声", "早上五点放鞭炮", "楼下商铺喇叭太响"],
}


def tiny_rows() -> list[tuple[str, str]]:
    return [(t, label) for label, texts in TINY.items() for t in texts]


def write_csv(path, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from nlp.train import train
    out = tmp_path_factory.mktemp("tiny_model")
    train(tiny_rows(), out, tune=False)
    return out


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir):
    from nlp.store import get_classifier
    return get_classifier(tiny_model_dir)

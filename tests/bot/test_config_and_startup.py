"""Config validation (one line naming the field), local/production separation, and run_bot.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from bot.app import create_app
from bot.config import ConfigError, load_config
from tests.conftest import ROOT, make_config

SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def mutate(path: str, value):
    data = yaml.safe_load(yaml.safe_dump(SHIPPED))
    *parents, leaf = path.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return data


@pytest.mark.parametrize("path,value,expect", [
    ("wechat.token", KeyError, "wechat.token: missing"),
    ("server.port", "eighty", "server.port:"),
    ("wechat.encoding_aes_key", "short", "wechat.encoding_aes_key:"),
    ("wechat.message_mode", "loud", "wechat.message_mode:"),
    ("default_grid", "第九网格", "default_grid:"),
    ("grids.0.buildings", "1-12; 13", "grids[0].buildings:"),
    ("grids.1.robot_key", "", "grids[1].robot_key:"),
    ("wechat.colour", "blue", "wechat.colour: unknown setting"),
    ("wechat.app_secret", "3f0c1e2d9a8b7c6d5e4f", "wechat.app_secret: mode is local but this looks like a real credential"),
])
def test_bad_field_is_named_in_one_line(tmp_path, path, value, expect):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, mutate(path, value)), environ={})
    msg = str(e.value)
    assert expect in msg and "\n" not in msg


def test_production_refuses_local_placeholders_and_takes_env_secrets(tmp_path):
    data = mutate("mode", "production")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, data), environ={})
    assert "wechat.app_id: mode is production" in str(e.value)
    env = {"JIESU_WECHAT_APP_ID": "wx1234567890abcdef", "JIESU_WECHAT_APP_SECRET": "s" * 32,
           "JIESU_WECOM_CORP_ID": "ww1234567890abcdef", "JIESU_WECOM_APP_SECRET": "t" * 40}
    for g in data["grids"]:
        g["robot_key"] = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa" + g["name"]
    cfg = load_config(write(tmp_path, data), environ={**env, "DATABASE_URL": "postgresql://u@db/x"})
    assert cfg.wechat.app_secret == "s" * 32 and cfg.database.url == "postgresql://u@db/x"
    assert "s" * 32 not in repr(cfg.model_dump(include={"mode"}))


def test_fake_platform_and_simulator_only_in_local_mode(tmp_path, sqlite_url, clock):
    overrides = {"mode": "production", "wechat.app_id": "wx1234567890abcdef", "wechat.app_secret": "a" * 32,
                 "wecom.corp_id": "ww1234567890abcdef", "wecom.app_secret": "b" * 32}
    overrides["grids"] = [{**g, "robot_key": f"key-{i}-{g['name']}"} for i, g in enumerate(SHIPPED["grids"])]
    app = create_app(make_config(tmp_path, sqlite_url, **overrides), clock=clock)
    client = app.test_client()
    assert client.get("/simulator").status_code == 404
    assert client.get("/simulator/api/messages").status_code == 404
    assert client.post("/fake/qy/cgi-bin/webhook/send?key=x", json={}).status_code == 404
    assert app.extensions["jiesu"].transports.wecom_base.startswith("https://qyapi.weixin.qq.com/")
    local = create_app(make_config(tmp_path, sqlite_url), clock=clock)
    assert local.test_client().get("/simulator").status_code == 200


def test_run_bot_bad_config_prints_one_line(tmp_path):
    bad = write(tmp_path, mutate("server.port", "eighty"))
    r = subprocess.run([sys.executable, "run_bot.py", "--config", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "server.port" in lines[0] and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "run_bot.py", "--config", str(tmp_path / "missing.yaml")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0):
    """Poll a real server started by the test (readiness, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_run_bot_serves_local_mode_end_to_end(tmp_path):
    """The README's first command, minus the install: gunicorn, 2 workers, scheduler, fake platform."""
    port = free_port()
    data = mutate("database.url", f"sqlite:///{tmp_path}/bot.sqlite3")
    data["local"]["fake_store"] = str(tmp_path / "fake.sqlite3")
    cfg = write(tmp_path, data)
    proc = subprocess.Popen([sys.executable, "run_bot.py", "--config", str(cfg), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(base + "/healthz", timeout=2).ok)
        r = requests.post(base + "/simulator/api/send", json={"openid": "o-e2e", "type": "text",
                                                              "content": "3号楼楼道有人飞线充电"}, timeout=10)
        assert r.status_code == 200, r.text
        reply = r.json()["reply"]
        assert reply.startswith("已受理 #") and "飞线充电" in reply
        code = reply.split("#", 1)[1][:13]
        pushes = wait_for(lambda: [m for m in requests.get(base + "/simulator/api/messages", timeout=2).json()["messages"]
                                   if m["api"] == "robot" and code in m["body"]["markdown"]["content"]])
        assert len(pushes) == 1 and pushes[0]["target"] == "local-robot-grid-1"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out and "local-mp-secret" not in out and "local-robot-grid-1" not in out

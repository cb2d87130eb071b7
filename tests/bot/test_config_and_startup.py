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
    ("community.timezone", "Asia/Beijing", "community.timezone: unknown time zone 'Asia/Beijing'"),
    ("grids.1.buildings", "10-24", "grids[1].buildings: building 10 is also in grid '第一网格'"),
    ("grids.1.places", ["东门"], "grids[1].places: '东门' is also a place of grid"),
    ("grids.0.buildings", "1-120000", "grids[0].buildings: '1-120000' spans more than"),
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
    for i, g in enumerate(data["grids"]):
        g["robot_key"] = f"693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa{i}"
    cfg = load_config(write(tmp_path, data), environ={**env, "DATABASE_URL": "postgresql://u@db/x"})
    assert cfg.wechat.app_secret == "s" * 32 and cfg.database.url == "postgresql://u@db/x"
    assert "s" * 32 not in repr(cfg.model_dump(include={"mode"}))


def test_fake_platform_and_simulator_only_in_local_mode(tmp_path, sqlite_url, clock):
    overrides = {"mode": "production", "wechat.app_id": "wx1234567890abcdef", "wechat.app_secret": "a" * 32,
                 "wecom.corp_id": "ww1234567890abcdef", "wecom.app_secret": "b" * 32}
    overrides["grids"] = [{**g, "robot_key": f"693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa{i}"} for i, g in enumerate(SHIPPED["grids"])]
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


def test_production_robot_keys_must_look_like_robot_keys(tmp_path):
    data = mutate("mode", "production")
    env = {"JIESU_WECHAT_APP_ID": "wx1234567890abcdef", "JIESU_WECHAT_APP_SECRET": "s" * 32,
           "JIESU_WECOM_CORP_ID": "ww1234567890abcdef", "JIESU_WECOM_APP_SECRET": "t" * 40}
    for i, g in enumerate(data["grids"]):
        g["robot_key"] = f"693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa{i}"
    data["grids"][2]["robot_key"] = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa2"
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, data), environ=env)
    assert str(e.value).count("\n") == 0 and "grids[2].robot_key: not a WeCom group robot key" in str(e.value)


def _run_bot(*argv, timeout=60, **kw):
    return subprocess.run([sys.executable, "run_bot.py", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.mark.parametrize("argv,expect", [
    (["--port", "99999"], "run_bot.py: error: argument --port: 99999 is not a port"),
    (["--port", "eighty"], "run_bot.py: error: argument --port: 'eighty' is not a port number"),
    (["serve", "--colour"], "run_bot.py: error: unrecognized arguments: --colour"),
])
def test_a_bad_flag_is_one_line_naming_it(argv, expect):
    r = _run_bot(*argv)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [expect] or r.stderr.strip().startswith(expect)
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_busy_port_is_one_line_naming_the_flag_before_anything_starts(tmp_path):
    data = mutate("database.url", f"sqlite:///{tmp_path}/bot.sqlite3")
    cfg = write(tmp_path, data)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _run_bot("--config", str(cfg), "--port", str(port))
        data["server"]["port"] = port
        from_file = _run_bot("--config", str(write(tmp_path, data)))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: --port: 127.0.0.1:{port} is already in use (is 接诉 already "
                                             f"running?); stop it or choose another with --port"]
    assert from_file.returncode == 2 and from_file.stderr.startswith(f"error: server.port in {tmp_path}")
    assert not (tmp_path / "bot.sqlite3").exists()          # refused before touching the database


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
    """The README's first command, minus the install: gunicorn, 2 web workers, the background worker
    beside them (which alone sends the group push), fake platform. --port 0 takes a free port and the
    success line, printed once the server listens, names the real one."""
    import queue
    import re
    import threading
    data = mutate("database.url", f"sqlite:///{tmp_path}/bot.sqlite3")
    data["local"]["fake_store"] = str(tmp_path / "fake.sqlite3")
    data["inbound"]["spool"] = str(tmp_path / "spool.sqlite3")
    cfg = write(tmp_path, data)
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "run_bot.py", "--config", str(cfg), "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(home)})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    try:
        while not (m := re.search(r"接诉 running in local mode on (http://127\.0\.0\.1:(\d+)) — open \1/simulator", seen[-1] if seen else "")):
            seen.append(lines.get(timeout=60))
        base, port = m.group(1), int(m.group(2))
        assert port != 0
        assert requests.get(base + "/healthz", timeout=2).ok       # listening when it says so
        r = requests.post(base + "/simulator/api/send", json={"openid": "o-e2e", "type": "text",
                                                              "content": "3号楼楼道有人飞线充电"}, timeout=10)
        assert r.status_code == 200, r.text
        reply = r.json()["reply"]
        assert reply.startswith("已受理 #") and "飞线充电" in reply
        code = reply.split("#", 1)[1][:13]
        pushes = wait_for(lambda: [m for m in requests.get(base + "/simulator/api/messages", timeout=2).json()["messages"]
                                   if m["api"] == "robot" and code in m["body"]["markdown"]["content"]])
        assert len(pushes) == 1 and pushes[0]["target"] == "local-robot-grid-1"
    except Exception as e:
        proc.terminate()
        proc.wait(timeout=30)
        raise AssertionError("run_bot.py printed:\n" + "".join(seen) + "".join(list(lines.queue))) from e
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = "".join(seen) + "".join(list(lines.queue))
    assert "Traceback" not in out and "local-mp-secret" not in out and "local-robot-grid-1" not in out
    assert list(home.iterdir()) == []               # nothing written outside the project and data folders

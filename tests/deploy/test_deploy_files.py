"""The deployment guide's files work as shipped: nginx accepts the site (`nginx -t`) and, run for
real in front of the bot with a self-signed certificate, passes WeChat's signed callback over HTTPS
and nothing else; systemd accepts both units. Needs nginx and openssl (scripts/test installs nginx
as root); outside CI their absence skips, under CI it fails."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
import urllib3

from bot.wire import message_xml, open_reply, signed_request
from tests.conftest import REQUIRE_PG, ROOT

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")    # /usr/sbin: not on every PATH


def _need(tool: str | None, name: str) -> str:
    if tool:
        return tool
    if REQUIRE_PG:           # CI: the README's test command installs it
        pytest.fail(f"{name} is required under CI (scripts/test installs it as root)")
    pytest.skip(f"{name} not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _site(tmp_path, http_port: int, https_port: int, bot_port: int) -> str:
    """The shipped site with this test's ports and a self-signed certificate."""
    openssl = _need(shutil.which("openssl"), "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=jiesu.example.org",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    site = (DEPLOY / "nginx-jiesu.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/jiesu.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/jiesu.example.org/privkey.pem", str(key))
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{bot_port};")
    site = re.sub(r"listen (\[::\]:)?80;", lambda m: f"listen {m.group(1) or '127.0.0.1:'}{http_port};" if not m.group(1) else "", site)
    site = re.sub(r"listen (\[::\]:)?443 ssl http2;", lambda m: "" if m.group(1) else f"listen 127.0.0.1:{https_port} ssl http2;", site)
    site = site.replace("root /var/www/html;", f"root {tmp_path};")
    return site


def _nginx_conf(tmp_path, site: str) -> str:
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    for d in ("logs", "tmp"):
        (tmp_path / d).mkdir(exist_ok=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/logs/access.log;
    client_body_temp_path {tmp_path}/tmp/body;
    proxy_temp_path {tmp_path}/tmp/proxy;
    fastcgi_temp_path {tmp_path}/tmp/fastcgi;
    uwsgi_temp_path {tmp_path}/tmp/uwsgi;
    scgi_temp_path {tmp_path}/tmp/scgi;
    include {tmp_path}/site.conf;
}}
""", encoding="utf-8")
    return str(conf)


def test_nginx_accepts_the_shipped_site(tmp_path):
    nginx = _need(NGINX, "nginx")
    conf = _nginx_conf(tmp_path, _site(tmp_path, _free_port(), _free_port(), 8000))
    r = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", conf], capture_output=True, text=True)
    assert r.returncode == 0 and "test is successful" in r.stderr, r.stderr


def test_nginx_passes_wechat_over_https_to_the_bot_and_nothing_else(tmp_path, live):
    nginx = _need(NGINX, "nginx")
    http_port, https_port = _free_port(), _free_port()
    bot_port = int(live.url.rsplit(":", 1)[1])
    conf = _nginx_conf(tmp_path, _site(tmp_path, http_port, https_port, bot_port))
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    base = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 20
        while True:                                  # readiness of a real server, not a fixed sleep
            try:
                requests.get(base + "/healthz", verify=False, timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
                time.sleep(0.05)
        svc = live.services
        xml = message_xml(svc.config.wechat.app_id, "o-nginx-1", "text", int(svc.clock.now().timestamp()), 9_100_000,
                          Content="3号楼楼道有人飞线充电")
        params, body = signed_request(svc.crypto, xml, int(svc.clock.now().timestamp()), "safe")
        r = requests.post(base + "/wechat", params=params, data=body, verify=False, timeout=10,
                          headers={"Content-Type": "text/xml"})
        assert r.status_code == 200
        assert re.search(r"已受理 #\d{8}-\d{4}", open_reply(svc.crypto, r.content)["Content"])
        assert requests.get(base + "/healthz", verify=False, timeout=5).json() == {"ok": True}
        assert requests.get(base + "/simulator", verify=False, timeout=5).status_code == 404   # not passed on
        assert requests.post(base + "/wechat", params=params, data=b"x" * 200_000, verify=False, timeout=5).status_code == 413
        plain = requests.get(f"http://127.0.0.1:{http_port}/wechat", allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("unit", ["jiesu-web.service", "jiesu-worker.service"])
def test_systemd_accepts_the_units(tmp_path, unit):
    analyze = _need(shutil.which("systemd-analyze"), "systemd-analyze")
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    python = ROOT / ".venv" / "bin" / "python"
    text = text.replace("/opt/jiesu/.venv/bin/python", str(python)).replace("/opt/jiesu", str(ROOT))
    text = text.replace("User=jiesu", "User=root").replace("Group=jiesu", "Group=root")
    (tmp_path / unit).write_text(text, encoding="utf-8")
    r = subprocess.run([analyze, "verify", str(tmp_path / unit)], capture_output=True, text=True)
    complaints = [line for line in r.stderr.splitlines() if unit in line or "Failed" in line]
    assert r.returncode == 0 and complaints == [], r.stderr
    assert "run_bot.py " + ("serve --web-only" if "web" in unit else "worker") in text

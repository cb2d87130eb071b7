"""New connections reach every gunicorn web worker (issue 14).

gthread keeps a keep-alive connection on the worker that accepted it, and with one listening socket
shared by all workers whichever wakes first accepts: the bench saw 8 connections on one worker of
two. run_bot.py sets reuse_port, so each worker listens on a socket of its own and the kernel
spreads new connections over them (without it this test fails at the listening sockets), and closes
a connection after its 50th request, so that a bad deal does not last."""
from __future__ import annotations

import http.client
import os
import queue
import subprocess
import sys
import threading

import yaml

from bench.webhook_support import children, connections_per_worker, listeners_per_process
from tests.conftest import ROOT, make_config

CONNECTIONS = 16       # all on one of 2 workers by chance: 2 in 2**16


def _ready(lines: queue.Queue, seen: list[str], workers: int) -> None:
    """Until the first worker announces the server and every worker has booted (it makes its socket
    right after saying so, long before the first one has loaded the app)."""
    while not (any("接诉 running" in s for s in seen) and sum("Booting worker" in s for s in seen) >= workers):
        seen.append(lines.get(timeout=90))


def test_each_web_worker_listens_on_its_own_socket_and_new_connections_reach_both(tmp_path):
    port = _free_port()
    cfg = make_config(tmp_path, f"sqlite:///{tmp_path}/bot.sqlite3", **{"server.workers": 2, "server.threads": 8})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "run_bot.py", "serve", "--web-only", "--config", str(path), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen: list[str] = []
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(CONNECTIONS)]
    try:
        _ready(lines, seen, 2)
        workers = children(proc.pid)
        assert len(workers) == 2
        assert listeners_per_process(port, [proc.pid, *workers]) == {proc.pid: 0, **{w: 1 for w in workers}}
        for c in conns:                      # a request on each: accepted, and kept alive
            c.request("GET", "/healthz", headers={"Connection": "keep-alive"})
            assert c.getresponse().read() == b'{"ok":true}\n'
        spread = connections_per_worker(port, workers)
        assert sum(spread.values()) == CONNECTIONS and min(spread.values()) > 0, spread
        closes = []                          # requests 2-50 on one connection: the 50th closes it
        for _ in range(49):
            conns[0].request("GET", "/healthz", headers={"Connection": "keep-alive"})
            r = conns[0].getresponse()
            r.read()
            closes.append(r.getheader("Connection"))
        assert closes == ["keep-alive"] * 48 + ["close"]
    except Exception as e:
        raise AssertionError("run_bot.py printed:\n" + "".join(seen) + "".join(list(lines.queue))) from e
    finally:
        for c in conns:
            c.close()
        proc.terminate()
        proc.wait(timeout=30)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""Soak check (issue 10): thousands of residents' messages through the production server while its
processes are killed and its database goes away, then proof that nothing was lost, doubled or left
unanswered.

    .venv/bin/python bench/soak.py [--messages 10000] [--db postgresql|sqlite] [--quick] [--keep]
                                   [--spare-outage] [--seed N] [--no-chaos] (--help for the rest)

What it does, and why:

 1. Starts the bot as production does, `run_bot.py serve` (gunicorn web workers + the background worker
    child that serve restarts when it dies), in local mode (the fake WeChat platform records every
    outbound call), with a temporary config: config.yaml with database.url, local.fake_store,
    inbound.spool, media.folder and nlp.model_root moved to a temp dir, server.workers 2, a free port.
    PostgreSQL (127.0.0.1:5432, database test) is reached THROUGH a TCP proxy (bench/tcp_proxy.py, run
    in a child process of its own so that its pumping threads do not compete with the senders for this
    process's GIL), in a fresh schema of its own, so that the proxy can play a database outage. With
    --db sqlite the outage is an exclusive lock held on the SQLite file instead.
    One deliberate change besides those: limits.group_pushes_per_minute is raised (default 600;
    --group-pushes-per-minute). The fake robot does not enforce WeCom's 20 a minute, and at the
    shipped pacing the few thousand new-ticket pushes of a soak need tens of minutes to drain, far
    past the settle bound. The pacing itself is not what this check is about.
 2. Every resident follows the account first (a subscribe event each, as on WeChat, where one can only
    message an account one follows); playing WeChat's servers, the script tells the fake platform of
    that interaction, which opens the 48-hour customer-service window the late answers need.
 3. Sends N distinct messages (MsgIds) from about N/6 residents, each sending several distinct short
    complaints (templates with building numbers: clutter, flying wires, lights, lifts, noise, rubbish,
    leaks...; a few "进度"/"谢谢" and a rare real emergency), each delivered 1-3 times with the same MsgId
    (WeChat's retries), by a pool of 16 senders over keep-alive connections, encrypted ("safe" mode as
    shipped). A delivery that fails at the HTTP level (connection dropped because its worker was killed,
    timeout after WeChat's 5 s, any non-200) is retried as WeChat does, until one delivery is answered
    or three have failed ("WeChat gave up").
    Meanwhile a chaos thread SIGKILLs, every 3-5 s, alternately a random gunicorn web worker and the
    background worker, and once, half-way, the database is cut for --outage seconds. (--spare-outage
    kills no web worker from 5 s before the cut to its end: a web worker booting while the database is
    down makes gunicorn halt the whole server, and this lets a run look at everything else.)
 4. Waits (at most --settle seconds) until the system settles: spool empty, no inbound_message left
    received/failed, no outbox row pending/sending (pushes deliberately held for a resident's category
    menu apart).
 5. Checks, from the database and the fake platform's record, and prints:
      - deliveries and HTTP answers by status (no 5xx), connection errors and timeouts separately;
      - one inbound_message row per MsgId answered with HTTP 200 (none missing, none doubled);
      - no ticket opened twice, no message opening two tickets ("+1" and neighbours' duplicates counted
        apart, they are not errors);
      - every ticket whose new-ticket notice is due pushed to its group exactly once (0 pushes and >1
        pushes both 0), emergency pages likewise;
      - every message answered: a passive reply (a ticket code or another real answer), or the holding
        reply ("已收到您的消息…") and later a customer-service message recorded by the fake platform;
      - duration, throughput, kills and outage seconds.
    Exit status: 0 all invariants hold, 1 one failed, 2 the run itself could not be made.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.config import ENV_OVERRIDES, load_config  # noqa: E402
from bot.wxcrypto import Crypto  # noqa: E402

from tcp_proxy import TcpProxy  # noqa: E402,F401  (bench/ is on sys.path when run as a script)
from webhook_support import drop_pg_schema, free_port, new_pg_schema, stop_server, wait_ready  # noqa: E402

# the soak's parts, re-exported: scripts import them from here (from soak import ProxyProcess, ...)
from soak_chaos import (  # noqa: E402,F401
    Chaos, Outage, Progress, ProxyProcess, SqliteOutage, server_children,
)
from soak_checks import CODE, HOLDING_PREFIX, Record, is_holding, push_code, reply_kind, report  # noqa: E402,F401
from soak_traffic import (  # noqa: E402,F401
    BUILDINGS, CHATTER, COMPLAINTS, EMERGENCY, HOST, SUFFIXES, WECHAT_ATTEMPTS, Msg, Plan, Sender, make_messages,
    send_all, subscribe_all,
)

PG_BASE = os.environ.get("JIESU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

# -- the run --------------------------------------------------------------------------------------

def start_server(cfg_path: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}     # the temp config rules
    with open(log, "ab") as logf:
        return subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "serve", "--config", str(cfg_path)],
                                cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)


def healthy(port: int) -> bool:
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=5)
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=None, help="distinct messages (default 10000; --quick 1000)")
    ap.add_argument("--quick", action="store_true", help="1,000 messages and a 5 s outage")
    ap.add_argument("--residents", type=int, default=None, help="residents (default messages/6: each sends several)")
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--pg", default=PG_BASE, help=f"PostgreSQL database for the fresh schema (default {PG_BASE})")
    ap.add_argument("--senders", type=int, default=16, help="concurrent keep-alive senders (default 16)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds WeChat waits for an answer (default 5)")
    ap.add_argument("--outage", type=float, default=None, help="seconds the database is cut (default 10; --quick 5)")
    ap.add_argument("--kill-every", type=float, nargs=2, default=(3.0, 5.0), metavar=("MIN", "MAX"),
                    help="seconds between kills (default 3 5)")
    ap.add_argument("--no-chaos", action="store_true", help="no kills (the outage still happens)")
    ap.add_argument("--spare-outage", action="store_true",
                    help="kill no web worker from 5 s before the outage to its end (a web worker that boots while "
                         "the database is down stops the whole server: this looks past that known failure)")
    ap.add_argument("--settle", type=float, default=180.0, help="seconds to wait for the system to settle (default 180)")
    ap.add_argument("--group-pushes-per-minute", type=int, default=600,
                    help="limits.group_pushes_per_minute of the soak config (shipped: 20; see the docstring)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server.log, config, stores) and the schema")
    a = ap.parse_args(argv)
    n = a.messages or (1000 if a.quick else 10000)
    outage_s = a.outage if a.outage is not None else (5.0 if a.quick else 10.0)
    residents = a.residents or max(1, n // 6)
    seed = a.seed if a.seed is not None else random.randrange(10 ** 9)
    rng = random.Random(seed)

    tmp = Path(tempfile.mkdtemp(prefix="jiesu-soak-"))
    schema = proc = rec = switch = None
    try:
        # -- 1. the database, behind its switch, and the server on a temp config --------------------
        if a.db == "postgresql":
            try:
                schema, direct_url = new_pg_schema(a.pg)
            except Exception as e:  # noqa: BLE001
                print(f"PostgreSQL unreachable at {a.pg} ({type(e).__name__}: {e}); try --db sqlite", file=sys.stderr)
                return 2
            from sqlalchemy.engine import make_url
            u = make_url(a.pg)
            switch = ProxyProcess((u.host or HOST, u.port or 5432))
            bot_url = direct_url.replace(f"@{u.host}:{u.port}/", f"@{HOST}:{switch.port}/", 1) if u.port else \
                direct_url.replace(f"@{u.host}/", f"@{HOST}:{switch.port}/", 1)
            if bot_url == direct_url:
                print(f"cannot route {a.pg} through the proxy (expected …@host[:port]/db)", file=sys.stderr)
                return 2
            where = f"PostgreSQL schema {schema} through a TCP proxy on :{switch.port}"
        else:
            db_file = tmp / "jiesu.sqlite3"
            direct_url = bot_url = f"sqlite:///{db_file}"
            switch = SqliteOutage(str(db_file))
            where = f"SQLite {db_file} (outage: an exclusive lock on the file)"
        port = free_port()
        fake_store = str(tmp / "fake_wechat.sqlite3")
        spool = str(tmp / "spool.sqlite3")
        overrides = {"database.url": bot_url, "local.fake_store": fake_store, "inbound.spool": spool,
                     "media.folder": str(tmp / "media"), "nlp.model_root": str(tmp / "models"),
                     "server.host": HOST, "server.port": port, "server.workers": 2, "wechat.message_mode": "safe",
                     "limits.group_pushes_per_minute": a.group_pushes_per_minute}
        cfg = load_config(ROOT / "config.yaml", environ={}, overrides=overrides)
        cfg_path = tmp / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
        log = tmp / "server.log"
        proc = start_server(cfg_path, log)
        try:
            wait_ready(proc, port, log)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        crypto = Crypto(cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id)
        app_id = cfg.wechat.app_id
        from bot.fake_store import FakeStore
        store = FakeStore(fake_store)          # tables exist by now: the workers created them at start
        rec = Record(direct_url, fake_store, spool)

        msgs = make_messages(n, residents, rng)
        openids = sorted({m.openid for m in msgs})
        web, bg = server_children(proc.pid)
        print(f"接诉 soak: run_bot.py serve (gunicorn master {proc.pid}, web workers {web}, background worker {bg}) "
              f"on {HOST}:{port}, {where}")
        print(f"{n} messages from {len(openids)} residents ({sum(m.planned for m in msgs)} deliveries planned), "
              f"{a.senders} senders, WeChat timeout {a.timeout:g} s; kills every {a.kill_every[0]:g}-{a.kill_every[1]:g} s"
              f"{' (off)' if a.no_chaos else ''}, one {outage_s:g} s database outage; seed {seed}", flush=True)

        # -- 2. residents follow the account (no chaos yet) -----------------------------------------
        t_sub = time.monotonic()
        unsubscribed = subscribe_all(openids, port, crypto, app_id, store, a.senders)
        print(f"{len(openids)} residents subscribed in {time.monotonic() - t_sub:.1f} s"
              f"{f' ({unsubscribed} subscribe events unanswered)' if unsubscribed else ''}", flush=True)

        # -- 3. the messages, under chaos and one outage ----------------------------------------------
        plan = Plan(msgs, rng, retry_delay=(0.5, 1.5))
        t0 = time.monotonic()
        outage = Outage(plan, switch, outage_s, t0, spare=a.spare_outage)
        chaos = Chaos(proc.pid, random.Random(seed + 1), tuple(a.kill_every), t0,
                      spare_web=outage.sparing if a.spare_outage else None)
        progress = Progress(plan, chaos, t0)
        if not a.no_chaos:
            chaos.start()
        outage.start()
        progress.start()
        send_all(plan, a.senders, port, crypto, app_id, a.timeout)
        sent_s = time.monotonic() - t0
        chaos.stop.set()
        progress.stop.set()
        outage.join()          # (long over unless the run was shorter than half an outage)
        if chaos.is_alive():
            chaos.join()
        print(f"sending done in {sent_s:.1f} s; waiting for the system to settle (at most {a.settle:g} s)", flush=True)

        # -- 4. settle ----------------------------------------------------------------------------------
        t_settle = time.monotonic()
        busy = ("spool", "received", "failed", "outbox_pending", "outbox_sending")
        last_print = 0.0
        while True:
            try:
                state = rec.unsettled()
            except Exception as e:  # noqa: BLE001 - keep waiting; report it if it persists
                state = {"error": f"{type(e).__name__}: {e}"}
            settled = "error" not in state and not any(state[k] for k in busy)
            # (a server that died settles nothing more: no point waiting for it)
            if settled or time.monotonic() - t_settle >= a.settle or proc.poll() is not None:
                break
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                print(f"  [settle {time.monotonic() - t_settle:5.1f} s] {state}", flush=True)
            time.sleep(1.0)
        settle_s = time.monotonic() - t_settle
        server_up = proc.poll() is None and healthy(port)
        final_web, final_bg = server_children(proc.pid) if proc.poll() is None else ([], [])

        # -- 5. the checks -------------------------------------------------------------------------------
        snap = rec.snapshot()
        ok = report(a, n, msgs, plan, chaos, outage, sent_s, settle_s, settled, state, snap, server_up,
                    (final_web, final_bg), log)
        if a.keep:
            print(f"kept: {tmp} (server.log, config.yaml, fake_wechat.sqlite3, spool){f'; schema {schema}' if schema else ''}")
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if rec is not None:
            rec.close()
        if switch is not None:
            switch.close()
        if schema and not a.keep:
            try:
                drop_pg_schema(a.pg, schema)
            except Exception as e:  # noqa: BLE001
                print(f"warning: schema {schema} not dropped ({type(e).__name__})", file=sys.stderr)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)



if __name__ == "__main__":
    sys.exit(main())

"""Where a message's CPU goes, stage by stage, beside the floor in the same run.

    .venv/bin/python bench/bench_stages.py [--messages 400] [--pg postgresql://…/test]

bench_webhook.py measures the whole server; this names the stages. In one process (no HTTP, no
gunicorn, no outbox drain: those are bench_webhook's), on a fresh PostgreSQL schema and the shipped
config (safe mode, limits lifted as bench_webhook lifts them), it posts --messages signed, AES-
encrypted complaints through the Flask app (test client) and adds up the CPU time (time.thread_time,
in whichever thread the stage runs) of:

  verify + decrypt      bot.wxcrypto.Crypto.decrypt
  classify              Intake.classify (nlp: one message, fast_score)
  SQL                   every SQLAlchemy Connection.execute on the app's engine (building the
                        statement's parameters, the driver, reading results; not the time waiting
                        for PostgreSQL, which is the server's CPU, below)
  other handling        the rest of storing and handling the message (handlers/receive.py:
                        _store_and_handle, minus classify and SQL): the domain, rendering, effects
  encrypt reply         Crypto.encrypt
  Flask and the rest    the whole request minus all of the above

and PostgreSQL's CPU over the run (every postgres process, from /proc), per message, with the
statements per message by kind. The same is measured for the floor (bench/floor_server.py's app:
verify, decrypt, one INSERT + COMMIT, encrypt) in the same run, and each figure is printed in ms per
message and as a multiple of the floor's whole cost.

Nothing is asserted; exit status 0 unless something crashes.
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bench_webhook import PG_BASE, complaint  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.wire import message_xml, signed_request  # noqa: E402
from bot.wxcrypto import Crypto  # noqa: E402
from webhook_support import _postgres_pids, _proc_cpu, drop_pg_schema, new_pg_schema  # noqa: E402

STAGES = ("verify + decrypt", "classify", "SQL", "other handling", "encrypt reply", "Flask and the rest")


class Meter:
    """Thread CPU per stage; a stage entered inside another (SQL inside handling) is not counted twice:
    the outer stage's own figure is computed from the inner ones afterwards."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = collections.defaultdict(float)
        self._depth = threading.local()

    @contextmanager
    def stage(self, name: str):
        busy = getattr(self._depth, name, 0)
        setattr(self._depth, name, busy + 1)
        t0 = time.thread_time()
        try:
            yield
        finally:
            setattr(self._depth, name, busy)
            if not busy:                       # only the outermost call of a stage counts
                self.cpu[name] += time.thread_time() - t0

    def wrap(self, obj, attr: str, name: str) -> None:
        inner = getattr(obj, attr)

        def wrapped(*args, **kwargs):
            with self.stage(name):
                return inner(*args, **kwargs)
        setattr(obj, attr, wrapped)


def _config(tmp: Path, url: str):
    return load_config(ROOT / "config.yaml", environ={}, overrides={
        "database.url": url, "local.fake_store": str(tmp / "fake.sqlite3"), "wechat.message_mode": "safe",
        "inbound.spool": str(tmp / "spool.sqlite3"), "media.folder": str(tmp / "media"),
        "nlp.model_root": str(tmp / "models"),
        "limits.resident_tickets_per_hour": 10 ** 6, "limits.resident_tickets_per_day": 10 ** 6,
        "limits.resident_messages_per_minute": 10 ** 6})


def _post(client, cfg, crypto: Crypto, rng: random.Random, msg_id: int) -> None:
    building, text = complaint(rng)
    now = int(time.time())
    xml = message_xml(cfg.wechat.app_id, f"o-stage-b{building:02d}", "text", now, msg_id, Content=text)
    params, body = signed_request(crypto, xml, now, "safe")
    r = client.post("/wechat?" + urlencode(params), data=body, content_type="text/xml")
    if r.status_code != 200:
        raise RuntimeError(f"/wechat answered {r.status_code}: {r.data[:200]!r}")


def _pg_cpu() -> float:
    return sum(_proc_cpu(p) for p in _postgres_pids())


def measure(app, engine, cfg, n: int, meter: Meter, seed: int, classify_owner=None) -> dict:
    """Post n messages (after 30 to warm up); returns per-message ms by stage, PG ms, statements."""
    client = app.test_client()
    crypto = Crypto(cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id)
    rng = random.Random(seed)
    base = rng.randrange(10 ** 12)
    for i in range(30):
        _post(client, cfg, crypto, rng, base + i)
    meter.cpu.clear()
    kinds: collections.Counter = collections.Counter()

    def seen(conn, cursor, statement, params, context, executemany):
        kinds[" ".join(statement.split()[:3])[:40]] += 1
    event.listen(engine, "before_cursor_execute", seen)
    pg0 = _pg_cpu()
    whole = 0.0
    for i in range(30, 30 + n):
        t0 = time.thread_time()
        _post(client, cfg, crypto, rng, base + i)
        whole += time.thread_time() - t0
    pg = _pg_cpu() - pg0
    event.remove(engine, "before_cursor_execute", seen)
    cpu = meter.cpu
    handling = cpu.pop("handling", 0.0)
    out = {"verify + decrypt": cpu["verify + decrypt"], "classify": cpu["classify"], "SQL": cpu["SQL"],
           "other handling": max(0.0, handling - cpu["classify"] - cpu["SQL"]) if handling else 0.0,
           "encrypt reply": cpu["encrypt reply"]}
    # the request thread's own time (handling runs in the receiver's pool thread, counted apart)
    request_side = whole - out["verify + decrypt"] - out["encrypt reply"]
    if not handling:                          # the floor: no pool thread, its SQL is in the request
        request_side -= out["SQL"]
    out["Flask and the rest"] = max(0.0, request_side)
    return {"stages": {k: v / n * 1000 for k, v in out.items()}, "pg": pg / n * 1000,
            "statements": {k: v / n for k, v in kinds.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--pg", default=PG_BASE)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args(argv)

    from bot.app import create_app
    from bot.wxcrypto import Crypto as CryptoClass
    from floor_server import floor_app
    from handlers.receive import Receiver

    tmp = Path(tempfile.mkdtemp(prefix="jiesu-stages-"))
    schema, url = new_pg_schema(a.pg)
    meter = Meter()
    try:
        cfg = _config(tmp, url)
        meter.wrap(CryptoClass, "decrypt", "verify + decrypt")
        meter.wrap(CryptoClass, "encrypt", "encrypt reply")
        inner_execute = Connection.execute

        def execute(self, *args, **kwargs):
            with meter.stage("SQL"):
                return inner_execute(self, *args, **kwargs)
        Connection.execute = execute
        meter.wrap(Receiver, "_store_and_handle", "handling")

        app = create_app(cfg, migrate=True)
        svc = app.extensions["jiesu"]
        meter.wrap(svc.intake, "classify", "classify")
        product = measure(app, svc.engine, cfg, a.messages, meter, a.seed)
        svc.engine.dispose()

        floor = floor_app(cfg)       # the same schema: its inbound_message table
        floor_engine = floor.extensions["floor_engine"]
        base = measure(floor, floor_engine, cfg, a.messages, meter, a.seed + 1)
        floor_engine.dispose()
    finally:
        drop_pg_schema(a.pg, schema)

    floor_total = sum(base["stages"].values())
    print(f"接诉 /wechat stages, in process, PostgreSQL (fresh schema), safe mode, {a.messages} messages each; "
          f"CPU ms per message (thread time), and as a multiple of the floor's whole web-side cost "
          f"({floor_total:.3f} ms)")
    print(f"{'stage':<22}{'product':>10}{'x floor':>9}{'floor':>10}")
    for name in STAGES:
        p, f = product["stages"].get(name, 0.0), base["stages"].get(name, 0.0)
        print(f"{name:<22}{p:>10.3f}{p / floor_total:>9.2f}{f:>10.3f}")
    total = sum(product["stages"].values())
    print(f"{'web side, total':<22}{total:>10.3f}{total / floor_total:>9.2f}{floor_total:>10.3f}")
    print(f"{'PostgreSQL (server)':<22}{product['pg']:>10.3f}{product['pg'] / max(base['pg'], 1e-9):>9.2f}{base['pg']:>10.3f}"
          f"   (x the floor's PostgreSQL CPU)")
    print(f"statements per message: product {sum(product['statements'].values()):.1f}, floor "
          f"{sum(base['statements'].values()):.1f}")
    for kind, per in sorted(product["statements"].items(), key=lambda kv: -kv[1]):
        print(f"  {per:5.2f}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

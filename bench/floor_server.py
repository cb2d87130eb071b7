"""The floor for bench/bench_webhook.py: the same gunicorn server as run_bot.py (same workers,
threads, reuse_port, keep-alive handling), serving a /wechat that does only what any webhook must:
check the signature and timestamp, decrypt (AES), store the message (one INSERT + COMMIT into
inbound_message, dedupe key included), and answer with an encrypted text. No intake, no ticket,
no outbox. The distance between this and the real /wechat is what the product's own work costs.

    .venv/bin/python bench/floor_server.py --config CONFIG --web-only   (run_bot.py's options)
"""
from __future__ import annotations

import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import run_bot  # noqa: E402


def floor_app(cfg):
    from flask import Flask, Response, jsonify, request

    from bot.wxcrypto import CallbackError, Crypto, check_timestamp, message_fields, text_reply, xml_fields
    from storage import inbound as rows
    from storage.db import make_engine

    app = Flask("floor")
    crypto = Crypto(cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id)
    engine = make_engine(cfg.database.url, pool_size=cfg.server.threads)
    app.extensions["floor_engine"] = engine

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.post("/wechat")
    def wechat():
        q = request.args
        try:
            check_timestamp(q.get("timestamp"), int(time.time()), 300)
            xml = crypto.decrypt(xml_fields(request.get_data()).get("Encrypt", ""), q.get("msg_signature"),
                                 q.get("timestamp", ""), q.get("nonce", ""))
        except CallbackError as e:
            return e.reason, e.status
        msg = message_fields(xml)
        with engine.begin() as conn:
            row_id = rows.store(conn, dedupe_key=f"msg:{msg.get('MsgId')}", openid=msg.get("FromUserName", ""),
                                msg_type=msg.get("MsgType", ""), raw=xml, source="mp",
                                inbound={"content": msg.get("Content")}, now=datetime.now(timezone.utc),
                                lease_until=None, outcome={"status": "handled"})
        reply = text_reply(msg.get("FromUserName", ""), msg.get("ToUserName", ""), int(time.time()),
                           f"已收到 #{row_id}")
        nonce = secrets.token_hex(8)
        return Response(crypto.encrypt(reply, nonce, str(int(time.time()))), mimetype="application/xml")

    return app


if __name__ == "__main__":
    run_bot.build_app = floor_app
    sys.exit(run_bot.main())

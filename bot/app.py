"""The Flask app factory."""
from __future__ import annotations

import logging

from flask import Flask, jsonify

from bot import board, desk, desk_auth, logs, media, open311, webhook, wecom_webhook
from bot import desk_reports  # noqa: F401 - adds the numbers, review and agenda pages to desk.bp
from bot import desk_polls  # noqa: F401 - adds 问卷与表决 (/desk/polls) to desk.bp
from bot import wecom_login  # noqa: F401 - adds 企业微信登录 (/desk/wecom) to desk.bp
from bot import resident_oauth, resident_pages, resident_polls
from bot.config import Config
from bot.services import build_services
from handlers.clock import Clock, SystemClock


def create_app(cfg: Config, *, clock: Clock | None = None, migrate: bool = True, background: bool = False, upkeep: bool = False,
               base_url: str | None = None) -> Flask:
    """background=True also runs the background worker's jobs in this process (tests, embedded use);
    upkeep=True starts a web worker's own chores (spool replay, classifier reload)."""
    logs.install()       # phone and ID numbers masked in every log line (idempotent)
    _quiet_http_logs()
    webhook.warn_about_config(cfg)      # unsigned /wechat bodies allowed (or all refused): say so at start
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = cfg.server.max_body_bytes
    services = build_services(cfg, clock or SystemClock(), migrate=migrate, base_url=base_url)
    services.intake.classify("预热")   # load the model now, not inside a resident's 5-second window
    app.extensions["jiesu"] = services

    app.register_blueprint(webhook.bp)
    app.register_blueprint(wecom_webhook.bp)
    app.register_blueprint(media.bp)        # /media/<id>?sig=…: residents' photos, signed links only
    desk_auth.configure(app, cfg)
    app.register_blueprint(desk.bp)         # /desk: the committee's web desk (sign-in required)
    app.register_blueprint(board.bp)        # /board: the public board (公开栏), nothing personal
    app.register_blueprint(resident_oauth.bp)   # /oauth/resident: 公众号网页授权 for residents' pages
    app.register_blueprint(resident_pages.bp)   # /me: 我的反映, the resident's own reports
    app.register_blueprint(resident_polls.bp)   # /r/poll/<id>: a questionnaire or vote answered on a page
    app.register_blueprint(open311.bp)      # /open311/v2: Open311 GeoReport v2 (POST needs an API key)
    if cfg.local_mode:       # the fake platform and the simulator exist only in local mode
        from bot import fake_platform, simulator
        app.register_blueprint(fake_platform.bp)
        app.register_blueprint(simulator.bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.errorhandler(413)
    def _too_large(_e):
        return "request body too large", 413

    @app.errorhandler(500)
    def _internal(_e):
        return "internal error", 500

    if background or upkeep:
        from bot.scheduler import Scheduler, WebUpkeep
        # a web worker's is not started: the simulator's clock control runs its sweep in place
        services.scheduler = Scheduler(services)
        if background:
            services.scheduler.start()
        if upkeep:
            WebUpkeep(services).start()
    return app


def _quiet_http_logs() -> None:
    # urllib3 logs full URLs at DEBUG, and robot URLs carry their key: keep those out of the logs.
    for name in ("urllib3", "requests", "wechatpy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is the normal case for a woken drain
    logging.getLogger("apscheduler").setLevel(logging.ERROR)

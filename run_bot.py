"""Start 接诉: python run_bot.py [--config FILE] [--host H] [--port P] [--workers N]

Migrates the database once, then serves the app with gunicorn (workers fork after migration; each
worker runs its own outbox drain, which is safe because deliveries are claimed atomically).
"""
from __future__ import annotations

import argparse
import logging
import sys

from bot.config import ConfigError, load_config


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="接诉: residents' grievances from WeChat to a fix")
    p.add_argument("--config", default="config.yaml", help="config file (default: config.yaml)")
    p.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: server.port, 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    return p.parse_args(argv)


def make_clock(cfg):
    """The running bot's clock: in local mode the simulator's clock (system time plus an offset shared
    by every worker, moved forward from /simulator), otherwise the system's."""
    if cfg.local_mode:
        from bot.sim_clock import SimClock
        return SimClock.for_config(cfg)
    from handlers.clock import SystemClock
    return SystemClock()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = {k: v for k, v in {"server.host": args.host, "server.port": args.port,
                                   "server.workers": args.workers}.items() if v is not None}
    try:
        cfg = load_config(args.config, overrides=overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from sqlalchemy.exc import SQLAlchemyError
    from storage.db import make_engine
    from storage.migrate import upgrade
    try:
        engine = make_engine(cfg.database.url)
        upgrade(engine)
        engine.dispose()
    except SQLAlchemyError as e:
        print(f"config error: database.url: cannot open the database ({type(e.orig or e).__name__}); "
              f"check the URL or set DATABASE_URL", file=sys.stderr)
        return 2

    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            s = cfg.server
            self.cfg.set("bind", f"{s.host}:{s.port}")
            self.cfg.set("workers", s.workers)
            self.cfg.set("threads", s.threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", None)

        def load(self):
            from bot.app import create_app
            return create_app(cfg, clock=make_clock(cfg), migrate=False, background=True)

    where = f"http://{cfg.server.host}:{cfg.server.port}"
    print(f"接诉 running in {cfg.mode} mode on {where}" +
          (f" — open {where}/simulator to try it" if cfg.local_mode else ""), flush=True)
    if cfg.local_mode and (ahead := make_clock(cfg).offset()):
        print(f"the simulated clock is {ahead} ahead of real time (the simulator's 回到现在 resets it)", flush=True)
    Server().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

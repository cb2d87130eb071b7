"""Start 接诉: python run_bot.py [serve|worker] [--config FILE] [--host H] [--port P] [--workers N] [--web-only]

serve (the default) migrates the database once, then serves the app with gunicorn (web workers fork
after migration and only answer requests) and starts the background worker beside it as a child
process, so one command runs everything. In production run `serve --web-only` and `worker` as two
services (see README): the worker sends the outbox, keeps the 54321 promises, retries messages left
behind, retrains and purges; several workers may run (every job is claimed).
"""
from __future__ import annotations

import argparse
import logging
import sys

from bot.config import ConfigError, load_config


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        """A bad flag is one line naming it (argparse would print the usage block first)."""
        self.exit(2, f"run_bot.py: error: {message}\n")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535, or 0 for any free port)")
    return port


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _OneLineParser(description="接诉: residents' grievances from WeChat to a fix")
    p.add_argument("command", nargs="?", choices=["serve", "worker"], default="serve",
                   help="serve: the web server (and a worker unless --web-only); worker: background work only")
    p.add_argument("--web-only", action="store_true", help="serve without starting a background worker")
    p.add_argument("--parent", type=int, help=argparse.SUPPRESS)   # worker started by serve: exit with it
    p.add_argument("--config", default="config.yaml", help="config file (default: config.yaml)")
    p.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="listen port (default: server.port, 8000; 0: any free port)")
    p.add_argument("--workers", type=int, help="web worker processes (default: server.workers)")
    return p.parse_args(argv)


def make_clock(cfg):
    """The running bot's clock: in local mode the simulator's clock (system time plus an offset shared
    by every worker, moved forward from /simulator), otherwise the system's."""
    if cfg.local_mode:
        from bot.sim_clock import SimClock
        return SimClock.for_config(cfg)
    from handlers.clock import SystemClock
    return SystemClock()


def build_app(cfg):
    """The WSGI app each web worker serves (bench/floor_server.py serves another on the same server)."""
    from bot.app import create_app
    return create_app(cfg, clock=make_clock(cfg), migrate=False, upkeep=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.port == 0 and args.command == "serve":
        args.port = _free_port(args.host or "127.0.0.1")   # chosen now, so every part knows the real one
    overrides = {k: v for k, v in {"server.host": args.host, "server.port": args.port,
                                   "server.workers": args.workers}.items() if v is not None}
    try:
        cfg = load_config(args.config, overrides=overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    if args.command == "serve" and (problem := _port_taken(cfg.server.host, cfg.server.port)):
        flag = "--port" if args.port is not None else f"server.port in {args.config}"
        print(f"error: {flag}: {cfg.server.host}:{cfg.server.port} {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)   # a line per plugin and revision at every start
    from bot import logs
    logs.install()          # phone and ID numbers masked in every log line

    if args.command == "worker":
        # no migrations here (serve runs them): a worker (re)started during a database outage must
        # come up and wait for it, not exit with a config error and be restarted in a loop
        return run_worker(cfg, args.config, args.parent)

    from sqlalchemy.exc import SQLAlchemyError
    from storage.db import make_engine
    from storage.migrate import upgrade
    try:
        engine = make_engine(cfg.database.url)
        upgrade(engine)
        engine.dispose()
        if cfg.local_mode:
            from bot.fake_store import FakeStore
            FakeStore(cfg.local.fake_store).engine.dispose()   # its schema made once, before the fork
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
            # A socket per worker (SO_REUSEPORT): the kernel spreads new connections over the
            # workers. With one shared socket whichever worker woke first took them, and gthread
            # keeps a keep-alive connection (nginx's upstream pool) on the worker that accepted it:
            # 7/1 and 8/0 splits left a core idle (issue 14). Port 0 would give each its own port.
            self.cfg.set("reuse_port", s.port != 0)
            # The kernel deals by a hash, so 7/1 still happens: closing a connection after every
            # 50th request on it (Connection: close) deals it again, and a bad split passes.
            def redeal(worker, req) -> None:
                if req.req_number % 50 == 0:
                    req.must_close = True
            self.cfg.set("pre_request", redeal)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", None)
            self.cfg.set("control_socket_disable", True)    # else a shared one in ~/.gunicorn is taken over
            # once the first web worker has loaded the app and can answer, not when the socket binds
            self.cfg.set("post_worker_init", lambda worker: announce() if worker.age == 1 else None)

        def load(self):
            return build_app(cfg)

    def announce() -> None:
        """Printed once the server answers (the first web worker is ready), never before."""
        where = f"http://{cfg.server.host}:{cfg.server.port}"
        print(f"接诉 running in {cfg.mode} mode on {where}" +
              (f" — open {where}/simulator to try it" if cfg.local_mode else ""), flush=True)
        if cfg.local_mode and (ahead := make_clock(cfg).offset()):
            print(f"the simulated clock is {ahead} ahead of real time (the simulator's 回到现在 resets it)", flush=True)
    worker = None if args.web_only else WorkerProcess(args.config, overrides)
    try:
        Server().run()
    finally:
        if worker is not None:
            worker.stop()
    return 0


def _free_port(host: str) -> int:
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_taken(host: str, port: int) -> str | None:
    """Why the server could not listen there (gunicorn would retry for 5 s, then exit with a
    traceback-like log), or None."""
    import errno
    import socket
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as gunicorn binds
            s.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return "is already in use (is 接诉 already running?); stop it or choose another with --port"
        if e.errno == errno.EACCES:
            return "needs privileges (ports below 1024); choose a port above 1024 with --port"
        return f"cannot be used: {e.strerror}"
    return None


class WorkerProcess:
    """The background worker as a child of the server (one command starts everything), restarted
    if it dies, as gunicorn restarts its web workers."""

    def __init__(self, config: str, overrides: dict):
        import threading
        self.argv = _worker_argv(config, overrides)
        self._stop = threading.Event()
        self.proc = self._start()
        threading.Thread(target=self._watch, name="worker-watch", daemon=True).start()

    def _start(self):
        import subprocess
        return subprocess.Popen(self.argv)

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            if self.proc.poll() is not None and not self._stop.is_set():
                # (no exit status: gunicorn's master may have reaped the child before Popen could)
                logging.getLogger("jiesu").warning("background worker exited; starting a new one")
                self.proc = self._start()

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - it would not stop: make it
            self.proc.kill()


def _worker_argv(config: str, overrides: dict) -> list[str]:
    import os
    argv = [sys.executable, __file__, "worker", "--config", config, "--parent", str(os.getpid())]
    if "server.host" in overrides:
        argv += ["--host", str(overrides["server.host"])]
    if "server.port" in overrides:
        argv += ["--port", str(overrides["server.port"])]
    return argv


def run_worker(cfg, config_path: str, parent: int | None = None) -> int:
    """Background work only, until SIGTERM or SIGINT (or, started by serve, until serve is gone:
    even a server killed with -9 must not leave an orphan sending its outbox)."""
    import os
    import signal
    import threading
    from bot.scheduler import Scheduler
    from bot.services import build_services
    services = build_services(cfg, make_clock(cfg), migrate=False)
    scheduler = Scheduler(services)
    services.scheduler = scheduler
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    logging.getLogger("jiesu.worker").info("background worker running (%s)", config_path)
    while not stop.wait(2.0):
        if parent is not None and os.getppid() != parent:
            break
    scheduler.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Everything a running bot holds, built once per process from the config."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.fake_store import FakeStore
from bot.outbox_worker import OutboxWorker
from bot.spool import Spool
from bot.wakeup import Wakeup
from bot.token_store import DbSessionStorage
from bot.transports import Transports
from bot.wxcrypto import Crypto
from domain.states import Role
from nlp.store import Models
from handlers.clock import Clock
from handlers.commands import StaffDesk
from handlers.directory import Directory
from handlers.inbound import Inbound
from handlers.intake import Intake, IntakeSettings
from handlers.receive import Receiver
from storage import repositories as repo
from storage.db import make_engine, make_session_factory, transaction
from storage.migrate import upgrade

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    intake: Intake
    directory: Directory
    crypto: Crypto
    staff_crypto: Crypto
    staff_desk: StaffDesk
    transports: Transports
    outbox: OutboxWorker
    base_url: str
    receiver: Receiver
    spool: Spool
    wakeup: Wakeup
    models: Models = field(default_factory=Models)     # the classifier(s) this bot uses
    fake_store: FakeStore | None = None
    scheduler: object | None = field(default=None)

    def receive(self, source: str, msg: Inbound, raw: str) -> str:
        """A message from the official account ("mp") or the staff app ("wecom"): the reply to give."""
        text, first = self.receiver.receive(source, msg, raw)
        if first:
            self.wake_outbox()
        return text

    def wake_outbox(self) -> None:
        """Send what was just queued now rather than at the next poll, when this process runs the
        drain. The background worker's is woken by the database itself (bot/wakeup.py)."""
        if self.scheduler is not None and getattr(self.scheduler, "running", False):
            self.scheduler.wake()


def build_services(cfg: Config, clock: Clock, *, migrate: bool = True, base_url: str | None = None) -> Services:
    engine = make_engine(cfg.database.url, pool_size=cfg.server.threads + 2)
    if migrate:
        upgrade(engine)
    sessions = make_session_factory(engine)
    try:
        with transaction(sessions) as s:
            grids = repo.sync_grids(s, cfg.grids, cfg.community_of_grid)
    except SQLAlchemyError as e:
        # a web worker restarted during a database outage must still boot, answer and spool (else
        # gunicorn halts the whole server): the grids are synced with the first message instead
        log.warning("database unreachable at start (%s); grids are synced once it is back", type(e).__name__)
        grids = None
    base = (base_url or cfg.server.public_url or f"http://{cfg.server.host}:{cfg.server.port}").rstrip("/")
    transports = Transports.from_config(cfg, base if cfg.local_mode else None,
                                        token_storage=DbSessionStorage(sessions, clock))
    directory = Directory.from_config(cfg)
    year = clock.now().year
    missing = [y for y in (year, year + 1) if not directory.policy.calendar.covers(y)]
    if missing:     # working-day clocks would count that year's holidays as working days
        log.warning("holiday calendar does not know %s: fill promises.extra_holidays/extra_workdays "
                    "from the State Council's notice (or pin a newer chinesecalendar)", "、".join(map(str, missing)))
    models = Models(cfg.nlp.model_root)      # a model retrained from corrections wins, once there is one
    intake = Intake(IntakeSettings.from_config(cfg), clock, classify=models.classify, grids=grids,
                    directory=directory, sync_grids=lambda session: repo.sync_grids(session, cfg.grids, cfg.community_of_grid))
    staff_desk = StaffDesk(directory, clock, intake, photo_link=_photo_links(cfg, base), base_url=base)
    spool = Spool(cfg.inbound.spool)
    committee = directory.with_role(Role.COMMITTEE)
    receiver = Receiver(sessions, {"mp": intake, "wecom": staff_desk}, clock, cfg.inbound, spool=spool,
                        committee=lambda: committee, threads=cfg.server.threads)
    return Services(
        config=cfg, clock=clock, engine=engine, sessions=sessions, directory=directory,
        intake=intake, models=models,
        crypto=Crypto(cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id),
        staff_crypto=Crypto(cfg.wecom.callback_token, cfg.wecom.callback_aes_key, cfg.wecom.corp_id),
        staff_desk=staff_desk, receiver=receiver, spool=spool, wakeup=Wakeup(engine),
        transports=transports,
        outbox=OutboxWorker(sessions, transports, clock, cfg.outbox,
                            group_pushes_per_minute=cfg.limits.group_pushes_per_minute, committee=committee),
        base_url=base,
        fake_store=FakeStore(cfg.local.fake_store) if cfg.local_mode else None,
    )


def _photo_links(cfg, base: str):
    """attachment id -> a signed link to the photo the bot keeps (bot/media.py)."""
    try:
        from bot.media import link_secret
        from handlers.links import photo_link
    except ImportError:             # media serving not installed in this build
        return None
    secret = link_secret(cfg)
    return lambda attachment_id: photo_link(base, secret, attachment_id)

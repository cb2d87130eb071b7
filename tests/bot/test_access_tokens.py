"""Access tokens over real HTTP to the fake platform, which follows WeChat's rules: every official-
account token fetch revokes the previous token 5 minutes later; WeCom hands out the same token while
it is valid. Two Transports stand for two worker processes."""
from __future__ import annotations

import pytest

from bot.token_store import DbSessionStorage
from bot.transports import Transports

def two_workers(live, shared: bool) -> list[Transports]:
    svc = live.services
    return [Transports.from_config(svc.config, live.url,
                                   token_storage=DbSessionStorage(svc.sessions, svc.clock) if shared else None)
            for _ in range(2)]

def send_round(workers, clock, minutes: int = 6) -> None:
    for w in workers:
        w.send("mp_text", "o-resident", {"content": "您的工单已办结"})
        w.send("wecom_text", "wangfang", {"content": "新工单"})
    clock.advance(minutes=minutes)

def test_workers_share_one_token(live, clock):
    workers = two_workers(live, shared=True)
    for _ in range(4):
        send_round(workers, clock)
    store = live.services.fake_store
    assert store.tokens_issued("mp") == 1 and store.tokens_issued("qy") == 1
    assert sum(c["api"] == "mp_custom_send" for c in store.all_calls()) == 8

def test_token_is_refreshed_before_it_expires(live, clock):
    [worker] = two_workers(live, shared=True)[:1]
    send_round([worker], clock, minutes=119)              # 7200 s tokens, refreshed in the last minute
    send_round([worker], clock, minutes=1)
    assert live.services.fake_store.tokens_issued("mp") == 2

@pytest.mark.parametrize("rounds", [4])
def test_without_shared_storage_workers_revoke_each_other(live, clock, rounds):
    """What the shared storage prevents: each worker's fetch ends the other's token, and every
    failed call fetches again (the sends still succeed, through wechatpy's retry)."""
    workers = two_workers(live, shared=False)
    for _ in range(rounds):
        send_round(workers, clock)
    assert live.services.fake_store.tokens_issued("mp") > rounds


def test_storage_expiry_and_delete(app, clock):
    svc = app.extensions["jiesu"]
    a, b = DbSessionStorage(svc.sessions, svc.clock), DbSessionStorage(svc.sessions, svc.clock)
    a.set("k", "v1", 100)                 # usable for 100 - min(60, 100 / 2) = 50 s
    a.set("short", "v2", 10)              # usable for half its 10 s
    a.set("none", None, 100)              # wechatpy's "nothing to store"
    assert b.get("k") == "v1" and b.get("short") == "v2" and b.get("none", "-") == "-"
    clock.advance(seconds=6)
    assert b.get("short") is None and b.get("k") == "v1"
    clock.advance(seconds=45)
    assert b.get("k", "gone") == "gone"
    a.set("k", "v3")                      # no ttl: kept until replaced or deleted
    clock.advance(days=30)
    assert b.get("k") == "v3"
    b.delete("k")
    assert a.get("k") is None

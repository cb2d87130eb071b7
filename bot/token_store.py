"""wechatpy's session storage in our database, so that every worker shares one access token.

The official account revokes the previous access token five minutes after a new one is fetched. With
wechatpy's default in-process storage each worker would fetch its own and revoke the others' (each
failed call then fetches again: a ping-pong that also burns the daily quota of 2,000 fetches).
Values expire by the services clock, a minute early (half the lifetime for a token that has less
left: WeCom hands out its current token with what remains of its 2 hours), so a token is never used
in its last moments.
"""
from __future__ import annotations

from datetime import timedelta

from wechatpy.session import SessionStorage

from storage import repositories as repo
from storage.db import transaction

_EARLY = 60            # seconds


class DbSessionStorage(SessionStorage):
    def __init__(self, sessions, clock, prefix: str = "wechatpy:") -> None:
        self.sessions = sessions
        self.clock = clock
        self.prefix = prefix

    def get(self, key, default=None):
        with transaction(self.sessions) as s:
            value = repo.kv_get(s, self.prefix + key, self.clock.now())
        return default if value is None else value

    def set(self, key, value, ttl=None):
        if value is None:
            return
        expires = None
        if ttl:
            ttl = int(ttl)
            expires = self.clock.now() + timedelta(seconds=ttl - min(_EARLY, ttl // 2))
        with transaction(self.sessions) as s:
            repo.kv_set(s, self.prefix + key, str(value), expires)

    def delete(self, key):
        with transaction(self.sessions) as s:
            repo.kv_delete(s, self.prefix + key)

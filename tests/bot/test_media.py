"""Photos residents send, over real HTTP on loopback: the outbox worker downloads them from the fake
platform's media API, keeps them under media.folder, records them on the attachment, pushes them to
the grid's group, and the bot serves them on signed links only."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest
import requests
from sqlalchemy import select, update

from bot.fake_platform import sample_png
from bot.fake_store import media as media_table
from bot.media import link_secret
from handlers.links import check_sig, photo_link
from storage import repositories as repo
from storage import ticket_numbers
from storage.models import Attachment, Grid, Outbox
from tests.conftest import LiveServer, WeChat, make_config, new_openid

MAX_BYTES = 3 * 1024 * 1024
ROBOT = "local-robot-grid-1"


@pytest.fixture
def server(tmp_path, db_url, clock):
    s = LiveServer(make_config(tmp_path, db_url, **{"media.folder": str(tmp_path / "media"), "media.max_bytes": MAX_BYTES}),
                   clock)
    yield s
    s.stop()


def folder(server) -> str:
    return server.services.config.media.folder


def new_photo(server, clock, media_id: str, robot_key: str | None = ROBOT) -> int:
    """A ticket with an image attachment and its mp_media row, as the intake writes them; returns the attachment id."""
    now = clock.now()
    with server.services.sessions() as s, s.begin():
        grid_id = s.scalar(select(Grid.id).where(Grid.robot_key == ROBOT))
        code = ticket_numbers.next_ticket_code(s, now, "Asia/Shanghai")
        ticket_id = repo.insert_ticket(s, code=code, category="垃圾", priority="normal", status="open", grid_id=grid_id,
                                       text="随手拍", created_at=now, updated_at=now)
        a = Attachment(ticket_id=ticket_id, kind="image", media_id=media_id, url=f"http://mmbiz.example/{media_id}.jpg",
                       created_at=now)
        s.add(a)
        s.flush()
        repo.enqueue(s, "mp_media", media_id, {"kind": "fetch_media", "attachment_id": a.id, "ticket_id": ticket_id,
                                               "robot_key": robot_key}, now, ticket_id=ticket_id)
        return a.id


def attachment(server, attachment_id: int) -> Attachment:
    with server.services.sessions() as s:
        return s.get(Attachment, attachment_id)


def outbox(server, channel: str | None = None) -> list[Outbox]:
    with server.services.sessions() as s:
        return [r for r in s.scalars(select(Outbox).order_by(Outbox.id)) if channel is None or r.channel == channel]


def calls(server, api: str) -> list[dict]:
    return [c for c in server.services.fake_store.all_calls() if c["api"] == api]


def files(server) -> list[str]:
    return sorted(os.listdir(folder(server))) if os.path.isdir(folder(server)) else []


def link(server, attachment_id: int) -> str:
    return photo_link(server.url, link_secret(server.services.config), attachment_id)


def test_a_photo_is_fetched_kept_pushed_to_the_group_and_served_on_a_signed_link(server, clock):
    png = sample_png(40, 30, (10, 160, 90))
    server.services.fake_store.put_media("img-001", png, "image/png")
    aid = new_photo(server, clock, "img-001")
    assert server.services.outbox.run_once() == 2               # the download, then the push it queued

    path = os.path.join(folder(server), f"photo-{aid}.png")
    assert files(server) == [f"photo-{aid}.png"]                # no temporary file left behind
    with open(path, "rb") as f:
        assert f.read() == png
    a = attachment(server, aid)
    assert (a.path, a.content_type, a.size, a.fetched_at) == (f"photo-{aid}.png", "image/png", len(png), clock.now())

    [push] = calls(server, "robot")
    assert push["target"] == ROBOT and push["body"]["msgtype"] == "image"
    assert push["body"]["image"]["md5"] == hashlib.md5(png).hexdigest()
    assert base64.b64decode(push["body"]["image"]["base64"]) == png
    [fetch] = outbox(server, "mp_media")
    [robot] = outbox(server, "robot")
    assert fetch.status == "sent" and robot.status == "sent" and robot.dedupe_key == f"a{aid}:photo"
    assert robot.payload["kind"] == "photo_push" and robot.ticket_id == fetch.ticket_id

    r = requests.get(link(server, aid), timeout=5)
    assert r.status_code == 200 and r.content == png
    assert r.headers["Content-Type"] == "image/png" and r.headers["Cache-Control"].startswith("private")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    sig = link(server, aid).split("sig=")[1]
    forged = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert requests.get(f"{server.url}/media/{aid}?sig={forged}", timeout=5).status_code == 403
    assert requests.get(f"{server.url}/media/{aid}", timeout=5).status_code == 403
    assert requests.get(f"{server.url}/media/{aid + 1}?sig={sig}", timeout=5).status_code == 403   # another photo's link
    assert requests.get(link(server, aid + 1), timeout=5).status_code == 404                    # no such attachment


def test_a_rerun_after_a_crash_does_not_push_twice(server, clock):
    png = sample_png()
    server.services.fake_store.put_media("img-002", png, "image/png")
    aid = new_photo(server, clock, "img-002")
    assert server.services.outbox.run_once() == 2
    with server.services.sessions() as s, s.begin():           # as if the worker died before recording "sent"
        s.execute(update(Outbox).where(Outbox.channel == "mp_media").values(status="pending", next_attempt_at=clock.now()))
    assert server.services.outbox.run_once() == 1
    assert len(calls(server, "robot")) == 1 and len(calls(server, "mp_media_get")) == 2
    assert files(server) == [f"photo-{aid}.png"] and attachment(server, aid).size == len(png)


def test_an_unfetched_photo_is_not_found(server, clock):
    aid = new_photo(server, clock, "img-not-yet")
    assert requests.get(link(server, aid), timeout=5).status_code == 404


@pytest.mark.parametrize("body, declared", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    (b"<!DOCTYPE html><html><body>not a photo</body></html>", "image/jpeg"),       # lying about its type
    (b"GIF89a" + bytes(100), "image/gif"),       # a GIF, but this deployment only takes JPEG and PNG
])
def test_what_is_not_an_allowed_image_is_refused_for_good_and_nothing_is_written(tmp_path, db_url, clock, body, declared):
    cfg = make_config(tmp_path, db_url, **{"media.folder": str(tmp_path / "media"), "media.types": ["image/jpeg", "image/png"]})
    server = LiveServer(cfg, clock)
    try:
        server.services.fake_store.put_media("img-bad", body, declared)
        aid = new_photo(server, clock, "img-bad")
        assert server.services.outbox.run_once() == 0
        [row] = outbox(server)
        assert row.status == "failed" and row.attempts == 1 and "not an allowed image" in row.last_error
        assert files(server) == [] and attachment(server, aid).path is None and calls(server, "robot") == []
    finally:
        server.stop()


def test_an_oversize_photo_is_refused_for_good(server, clock):
    server.services.fake_store.put_media("img-huge", b"\xff\xd8\xff\xe0" + os.urandom(MAX_BYTES), "image/jpeg")
    aid = new_photo(server, clock, "img-huge")
    assert server.services.outbox.run_once() == 0
    [row] = outbox(server)
    assert row.status == "failed" and "media.max_bytes" in row.last_error
    assert files(server) == [] and attachment(server, aid).path is None


def test_an_invalid_media_id_fails_for_good(server, clock):
    aid = new_photo(server, clock, "img-unknown")
    assert server.services.outbox.run_once() == 0
    [row] = outbox(server)
    assert row.status == "failed" and row.attempts == 1 and "40007" in row.last_error
    assert attachment(server, aid).path is None


def test_a_photo_over_2_mb_or_not_jpeg_png_is_kept_but_not_pushed(tmp_path, db_url, clock):
    server = LiveServer(make_config(tmp_path, db_url, **{"media.folder": str(tmp_path / "media"), "media.max_bytes": MAX_BYTES}), clock)
    try:
        big = b"\xff\xd8\xff\xe0" + os.urandom(2 * 1024 * 1024)
        webp = b"RIFF" + (100).to_bytes(4, "little") + b"WEBPVP8 " + bytes(92)
        server.services.fake_store.put_media("img-big", big, "image/jpeg")
        server.services.fake_store.put_media("img-webp", webp, "image/webp")
        a_big, a_webp = new_photo(server, clock, "img-big"), new_photo(server, clock, "img-webp")
        assert server.services.outbox.run_once() == 2
        assert files(server) == [f"photo-{a_big}.jpg", f"photo-{a_webp}.webp"]
        assert attachment(server, a_webp).content_type == "image/webp"
        assert outbox(server, "robot") == [] and calls(server, "robot") == []
        assert requests.get(link(server, a_big), timeout=5).content == big
    finally:
        server.stop()


def test_without_a_robot_key_the_photo_is_only_kept(server, clock):
    server.services.fake_store.put_media("img-003", sample_png(), "image/png")
    aid = new_photo(server, clock, "img-003", robot_key=None)
    assert server.services.outbox.run_once() == 1
    assert attachment(server, aid).path == f"photo-{aid}.png" and outbox(server, "robot") == []


def test_passing_failures_are_retried_and_an_expired_token_is_renewed(server, clock):
    svc = server.services
    png = sample_png()
    svc.fake_store.put_media("img-004", png, "image/png")
    aid = new_photo(server, clock, "img-004")
    requests.post(server.url + "/fake/_control/faults", json={"api": "mp_media_get", "count": 1, "http_status": 502}, timeout=5)
    worker = svc.outbox
    assert worker.run_once() == 0
    [row] = outbox(server)
    assert row.status == "pending" and "HTTP 502" in row.last_error and files(server) == []
    mp = svc.transports.mp
    mp.session.set(mp.access_token_key, "fake-mp-revoked-long-ago", 7200)    # a token WeChat no longer knows
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() == 2
    assert attachment(server, aid).size == len(png) and mp.access_token != "fake-mp-revoked-long-ago"


def test_the_missing_attachment_fails_and_leaves_no_file(server, clock):
    server.services.fake_store.put_media("img-005", sample_png(), "image/png")
    with server.services.sessions() as s, s.begin():
        repo.enqueue(s, "mp_media", "img-005", {"kind": "fetch_media", "attachment_id": 999_999, "ticket_id": None,
                                                "robot_key": ROBOT}, clock.now())
    assert server.services.outbox.run_once() == 0
    [row] = outbox(server)
    assert row.status == "failed" and "999999 does not exist" in row.last_error and files(server) == []


def test_the_group_robot_checks_images_like_wecom(server):
    url = server.url + "/fake/qy/cgi-bin/webhook/send"
    png = sample_png()

    def push(raw: bytes, md5: str | None = None, b64: str | None = None) -> int:
        body = {"msgtype": "image", "image": {"base64": b64 if b64 is not None else base64.b64encode(raw).decode(),
                                              "md5": md5 or hashlib.md5(raw).hexdigest()}}
        return requests.post(url, params={"key": ROBOT}, json=body, timeout=5).json()["errcode"]

    assert push(png, md5="0" * 32) == 40058
    assert push(png, b64="@@not base64@@") == 40058
    assert push(b"GIF89a" + bytes(10)) == 40058
    assert push(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)) == 40009
    assert calls(server, "robot") == []
    assert push(png) == 0 and len(calls(server, "robot")) == 1


def test_the_fake_media_api_serves_what_the_account_received(server):
    token = server.services.transports.mp.access_token
    url = server.url + "/fake/mp/cgi-bin/media/get"
    assert requests.get(url, params={"access_token": token, "media_id": "nope"}, timeout=5).json()["errcode"] == 40007
    assert requests.get(url, params={"media_id": "nope"}, timeout=5).json()["errcode"] == 41001
    server.services.fake_store.put_media("img-006", b"\x89PNG\r\n\x1a\n", "image/png")
    r = requests.get(url, params={"access_token": token, "media_id": "img-006"}, timeout=5)
    assert r.content == b"\x89PNG\r\n\x1a\n" and r.headers["Content-Type"] == "image/png"


def test_links_are_signed_per_photo_and_per_deployment():
    secret, other = b"k" * 32, b"j" * 32
    url = photo_link("https://bot.example/", secret, 42)
    assert url.startswith("https://bot.example/media/42?sig=")
    sig = url.split("sig=")[1]
    assert check_sig(secret, 42, sig)
    assert not check_sig(secret, 43, sig) and not check_sig(other, 42, sig)
    assert not check_sig(secret, 42, sig[:-2]) and not check_sig(secret, 42, None) and not check_sig(secret, 42, "é" * 32)


def test_the_simulators_photo_is_a_real_image_on_the_fake_platform(server):
    r = requests.post(server.url + "/simulator/api/send", json={"openid": new_openid(), "type": "image"}, timeout=10)
    assert r.status_code == 200, r.text
    with server.services.fake_store.engine.connect() as c:
        [(media_id, content, ctype)] = c.execute(select(media_table.c.media_id, media_table.c.content,
                                                        media_table.c.content_type)).all()
    assert media_id.startswith("img-") and ctype == "image/png" and bytes(content).startswith(b"\x89PNG\r\n\x1a\n")


def test_end_to_end_a_residents_photo_reaches_the_group_and_the_ticket(server, clock):
    """Through the intake: the photo message queues the mp_media row itself."""
    def post(path, params, body):
        r = requests.post(server.url + path, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
        return r.status_code, r.content

    wechat = WeChat(post, server.services)
    openid = new_openid()
    assert "#" in wechat.text(openid, "3号楼楼道里堆满了纸箱和旧家具")
    server.services.outbox.run_once()
    png = sample_png(32, 32, (250, 250, 0))
    status, _ = wechat.image(openid, png)
    assert status == 200
    server.services.outbox.run_once()
    with server.services.sessions() as s:
        [a] = s.scalars(select(Attachment).where(Attachment.kind == "image")).all()
    assert a.size == len(png) and a.content_type == "image/png"
    with open(os.path.join(folder(server), a.path), "rb") as f:
        assert f.read() == png
    images = [c for c in calls(server, "robot") if c["body"]["msgtype"] == "image"]
    assert [c["body"]["image"]["md5"] for c in images] == [hashlib.md5(png).hexdigest()]
    assert requests.get(link(server, a.id), timeout=5).content == png

"""Statuses and channels through a real bridge, Redis and the simulator: a status posted through the send queue
with its look, contacts' statuses stored and told, channels listed, looked up, followed, and posted to."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, sent_by, wait_message
from wagate.config import Settings
from wagate.db.enums import ActorType, MessageStatus, MessageType
from wagate.errors import Invalid, NotFound, OtherTenant
from wagate.services.channels import newsletters, statuses
from wagate.services.messaging import sending
from wagate.services.messaging.drafts import SendRequest
from wagate.services.sessions.lifecycle import Actor

ADMIN = Actor(ActorType.SYSTEM, "test")
DONE = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


async def test_a_text_status_goes_out_with_its_background_and_font(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1")
    queued = await statuses.post(db, arq_redis, settings, "s1", kind=MessageType.TEXT, text="Promo hari ini",
                                 background_color="#1E88E5", font_name="fb_script", tenant_id=None)
    row = await wait_message(db, queued.message.id, *DONE)
    assert row.recipient == "status@broadcast" and row.content == {"status": {"background_argb": 0xFF1E88E5,
                                                                              "font": 2}}
    [post] = running.sim.status_posts
    assert post | {"message_id": None} == {"session_id": "s1", "message_id": None, "text": "Promo hari ini",
                                           "background_argb": 0xFF1E88E5, "font": 2}
    assert post["message_id"] == row.wa_message_id
    [sent] = sent_by(running.sim, "s1")
    assert sent.to == "status@broadcast"


@pytest.mark.parametrize(("fields", "named"), [
    ({"kind": "text", "text": "x", "background_color": "blue"}, "background_color"),
    ({"kind": "text", "text": "x", "font_name": "comic_sans"}, "font"),
    ({"kind": "document", "text": "x"}, "type"),
    ({"kind": "text", "text": None}, "text"),
])
async def test_a_bad_status_is_refused_naming_the_field_and_nothing_is_queued(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, fields: dict[str, object],
    named: str,
) -> None:
    from sqlalchemy import func, select

    from wagate.db.enums import SessionStatus
    from wagate.db.models_whatsapp import Message

    await add_session(db, "s1", status=SessionStatus.WORKING)
    with pytest.raises(Invalid) as refused:
        await statuses.post(db, arq_redis, settings, "s1", tenant_id=None, **fields)  # type: ignore[arg-type]
    assert named in (refused.value.details or {}), refused.value.details
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 0


async def test_contacts_statuses_are_stored_listed_and_told(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
    event_log: EventLog,
) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1")
    await running.sim.inject_message("s1", "6285711112222", "Lagi di Bandung", group="status@broadcast",
                                     push_name="Sari")
    await running.sim.inject_message("s1", "6285711112222", "bukan status")
    told = await event_log.wait_for(lambda e: e["event"] == "status.received")
    assert told["data"] | {"messageId": None} == {
        "messageId": None, "from": "6285711112222@s.whatsapp.net", "pushName": "Sari", "type": "text",
        "text": "Lagi di Bandung", "caption": None}
    await event_log.wait_for(lambda e: e["event"] == "message.received" and "bukan status" in str(e["data"]))
    listed = await statuses.received(db, "s1", tenant_id=None)
    assert [(m.body, m.sender_jid) for m in listed] == [("Lagi di Bandung", "6285711112222@s.whatsapp.net")]
    assert event_log.names().count("status.received") == 1
    # A keyword auto-reply never answers a status: it would post a status of its own.
    assert not sent_by(running.sim, "s1")


async def test_channels_are_listed_looked_up_followed_and_an_owned_one_is_posted_to(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    from tests.bridge.conftest import add_tenant

    tenant = await add_tenant(db)
    await add_session(db, "s1", tenant=tenant)
    await link_session(running, db, arq_redis, settings, "s1")
    owned = running.sim.add_channel("Info Toko", owner="s1", subscribers=120)
    news = running.sim.add_channel("Berita Kota", description="Kabar harian", subscribers=5000)

    followed = await newsletters.followed(db, arq_redis, settings, "s1", tenant_id=tenant)
    assert [(c["jid"], c["role"]) for c in followed] == [(owned.jid, "owner")]
    found = await newsletters.info(db, arq_redis, settings, "s1", tenant_id=tenant,
                                   invite=f"https://whatsapp.com/channel/{news.invite_code}")
    assert (found["jid"], found["name"], found["role"], found["subscribers"]) == (news.jid, "Berita Kota", "guest",
                                                                                  5000)
    assert await newsletters.follow(db, arq_redis, settings, "s1", news.jid, True, tenant_id=tenant,
                                    actor=ADMIN) == {"jid": news.jid, "following": True}
    followed = await newsletters.followed(db, arq_redis, settings, "s1", tenant_id=tenant)
    assert sorted((c["jid"], c["role"]) for c in followed) == sorted([(owned.jid, "owner"), (news.jid, "subscriber")])
    await newsletters.follow(db, arq_redis, settings, "s1", news.jid, False, tenant_id=tenant, actor=ADMIN)
    assert [c["jid"] for c in await newsletters.followed(db, arq_redis, settings, "s1", tenant_id=tenant)] == [
        owned.jid]
    with pytest.raises(NotFound):
        await newsletters.info(db, arq_redis, settings, "s1", tenant_id=tenant, jid="999999999@newsletter")
    with pytest.raises(OtherTenant):
        await newsletters.followed(db, arq_redis, settings, "s1", tenant_id=tenant + 1)

    queued = await sending.queue_message(db, arq_redis, settings, SendRequest(session_id="s1", to=owned.jid,
                                                                              text="Buka jam 9"), tenant_id=tenant)
    await wait_message(db, queued.message.id, *DONE)
    assert [(m.to, m.text) for m in sent_by(running.sim, "s1")] == [(owned.jid, "Buka jam 9")]



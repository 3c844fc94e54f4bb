"""Every kind of message received through the real bridge and worker, with its webhook; changes to messages
(reactions, edits, revokes, poll votes) applied to the original; presence; the phone's history at link time."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from openapi_schema_validator import OAS31Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, until
from tests.bridge.test_receiving import FROM, FROM_JID, inbound
from tests.services.webhook_receiver import ADMIN, FAST, DummyReceiver, listening, running_worker
from wagate.config import Settings
from wagate.db.models_whatsapp import Message, WaSession
from wagate.schemas.received import EVENT_DATA
from wagate.services.webhooks import endpoints
from wagate.web.openapi import document

OTHER = "6285699990000"
VIDEO = 10 * 1024 * 1024  # a 10 MB video, as WhatsApp lets a phone send


@pytest.fixture
def bridge_env() -> dict[str, str]:
    return FAST  # the worker's webhook settings: loopback receivers allowed, short retries


@pytest.fixture
async def receiver() -> AsyncIterator[DummyReceiver]:
    async with listening() as server:
        yield server


def documented(*bodies: dict[str, Any]) -> None:
    """Each event body fits what the OpenAPI document's `webhooks` says of its event."""
    doc = document()
    for body in bodies:
        schema = doc["webhooks"][body["event"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
        OAS31Validator({**schema, "components": doc["components"]}).validate(body)


async def hooked(receiver: DummyReceiver, count: int, event: str) -> list[dict[str, Any]]:
    """The bodies of the first `count` webhooks of `event` the receiver got (waiting for them)."""
    bodies: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal bodies
        bodies = [json.loads(r.body) for r in receiver.requests]
        bodies = [b for b in bodies if b["event"] == event]
        return len(bodies) >= count

    await until(arrived, timeout=20, what=f"{count} {event} webhooks")
    return bodies


async def row_of(db: async_sessionmaker[AsyncSession], session_id: str, wa_message_id: str) -> Message:
    async with db() as session:
        row = await session.scalar(select(Message).where(Message.session_id == session_id,
                                                         Message.wa_message_id == wa_message_id))
    assert row is not None, wa_message_id
    return row


async def test_every_kind_is_received_with_its_webhook(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    receiver: DummyReceiver,
) -> None:
    await endpoints.create_webhook(db, settings, ADMIN, {"url": receiver.url, "events": ["message.received"]})
    await add_session(db, "k1")
    await link_session(running, db, arq_redis, settings, "k1")
    sim = running.sim
    photo = b"\xff\xd8\xff\xe0 a small jpeg"
    async with running_worker(settings):
        sent = [
            await sim.contact_sends("k1", FROM, "text", text="lihat https://example.org @6285699990000",
                                    mentions=[OTHER], forwarded=True, push_name="Budi",
                                    link={"url": "https://example.org", "title": "Example"}),
            await sim.contact_sends("k1", FROM, "image", text="foto", data=photo, width=640, height=480),
            await sim.contact_sends("k1", FROM, "video", text="klip", size=VIDEO, width=1280, height=720,
                                    seconds=30),
            await sim.contact_sends("k1", FROM, "audio", size=4000, seconds=5, ptt=True),
            await sim.contact_sends("k1", FROM, "document", size=3000, filename="faktur.pdf", text="faktur"),
            await sim.contact_sends("k1", FROM, "sticker", size=800),
            await sim.contact_sends("k1", FROM, "location", latitude=-6.175, longitude=106.827, name="Monas",
                                    address="Jakarta Pusat"),
            await sim.contact_sends("k1", FROM, "live_location", latitude=-6.2, longitude=106.8, text="otw"),
            await sim.contact_sends("k1", FROM, "contact", contacts=[{"name": "Siti", "phones": [OTHER]}]),
            await sim.contact_sends("k1", FROM, "poll", question="Makan siang?", options=["Nasi", "Mie"]),
            await sim.contact_sends("k1", FROM, "unknown"),
            await sim.contact_sends("k1", FROM, "text", text="setuju", group="120363000000000001@g.us"),
        ]
        bodies = await hooked(receiver, len(sent), "message.received")
    documented(*bodies)
    by_id = {b["data"]["messageId"]: b["data"] for b in bodies}
    assert set(by_id) == {m.message_id for m in sent}
    text, image, video, voice, document, sticker, place, live, card, poll, unknown, group = (
        by_id[m.message_id] for m in sent)

    # The WA-Gate v2 fields stay as they were, beside what each kind adds.
    assert (text["from"], text["type"], text["message"], text["text"], text["pushName"]) == (
        FROM_JID, "text", "lihat https://example.org @6285699990000", "lihat https://example.org @6285699990000",
        "Budi")
    assert text["mentions"] == [f"{OTHER}@s.whatsapp.net"] and text["forwarded"] is True
    assert text["linkPreview"] == {"url": "https://example.org", "title": "Example", "description": None,
                                   "hasThumbnail": True}
    assert (image["type"], image["caption"], image["message"], image["text"]) == ("image", "foto", "foto", None)
    assert image["media"].pop("url").startswith("/api/media/")  # a signed link to the medium, never its handle
    assert image["media"] == {"kind": "image", "mimetype": "image/jpeg", "filename": None, "size": len(photo),
                              "caption": "foto", "sha256": hashlib.sha256(photo).hexdigest(), "width": 640,
                              "height": 480, "seconds": None, "ptt": False, "hasThumbnail": True}
    assert (video["media"]["size"], video["media"]["seconds"], video["media"]["width"]) == (VIDEO, 30, 1280)
    assert (voice["type"], voice["media"]["ptt"], voice["media"]["seconds"]) == ("audio", True, 5)
    assert (document["media"]["filename"], document["caption"]) == ("faktur.pdf", "faktur")
    assert (sticker["type"], sticker["media"]["mimetype"]) == ("sticker", "image/webp")
    assert place["location"] == {"latitude": -6.175, "longitude": 106.827, "name": "Monas",
                                 "address": "Jakarta Pusat", "url": None, "live": False, "accuracy": None,
                                 "caption": None}
    assert (live["type"], live["location"]["live"], live["location"]["caption"]) == ("live_location", True, "otw")
    assert [(c["name"], c["phones"]) for c in card["contacts"]] == [("Siti", [OTHER])]
    assert card["contacts"][0]["vcard"].startswith("BEGIN:VCARD")
    assert poll["poll"] == {"question": "Makan siang?", "options": ["Nasi", "Mie"], "selectableCount": 1}
    assert (unknown["type"], unknown["unknown"]) == ("unknown", ["futureMessage"])
    assert (group["isGroup"], group["chat"], group["from"]) == (True, "120363000000000001@g.us", FROM_JID)
    # The download handle stays on the server: in the row, never in a webhook.
    assert all("mediaKey" not in json.dumps(b) and '"simulator"' not in json.dumps(b) for b in bodies)
    stored = {r.wa_message_id: r for r in await inbound(db, "k1")}
    assert [stored[m.message_id].type for m in sent] == [
        "text", "image", "video", "audio", "document", "sticker", "location", "live_location", "contact", "poll",
        "unknown", "text"]
    image_row = stored[sent[1].message_id]
    handle = image_row.media_source
    assert handle is not None and handle == sent[1].media.download  # type: ignore[union-attr]
    assert b"".join([chunk async for chunk in sim.download_media("k1", handle)]) == photo
    assert stored[sent[9].message_id].content["poll"]["tally"] == {"Nasi": 0, "Mie": 0}  # type: ignore[index]


async def test_reactions_edits_revokes_and_votes_change_the_original(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    receiver: DummyReceiver, event_log: EventLog,
) -> None:
    # A webhook subscribed under the old name of poll.vote still gets poll votes.
    await endpoints.create_webhook(db, settings, ADMIN, {"url": receiver.url, "events": ["message.poll_vote"]})
    await add_session(db, "k2")
    await link_session(running, db, arq_redis, settings, "k2")
    sim = running.sim
    text = await sim.contact_sends("k2", FROM, "text", text="rapat jam 9")
    poll = await sim.contact_sends("k2", FROM, "poll", question="Hari?", options=["Senin", "Selasa", "Rabu"],
                                   selectable_count=2)
    await until(lambda: _stored(db, "k2", 2), what="two messages stored")

    await sim.contact_reacts("k2", FROM, text.message_id, "👍")
    await sim.contact_reacts("k2", OTHER, text.message_id, "❤")
    await sim.contact_reacts("k2", FROM, text.message_id, "")  # taken back
    await sim.contact_edits("k2", FROM, text.message_id, "rapat jam 10")
    async with running_worker(settings):
        cast = [await sim.contact_votes("k2", FROM, poll.message_id, ["Senin", "Rabu"]),
                await sim.contact_votes("k2", OTHER, poll.message_id, ["Rabu"]),
                await sim.contact_votes("k2", FROM, poll.message_id, ["Selasa"])]  # a changed vote replaces the first
        hooks = await hooked(receiver, 3, "poll.vote")
    by_change = {v["data"]["changeId"]: v for v in hooks}  # deliveries run in parallel: any order
    votes = [by_change[c.change_id] for c in cast]
    await sim.contact_revokes("k2", FROM, text.message_id)
    revoked = await event_log.wait_for(lambda e: e["event"] == "message.revoked")

    documented(*votes, *[e for e in event_log.items if e["session"] == "k2" and e["event"] in EVENT_DATA])
    assert [v["data"]["options"] for v in votes] == [["Senin", "Rabu"], ["Rabu"], ["Selasa"]]
    assert votes[-1]["data"]["tally"] == {"Senin": 0, "Selasa": 1, "Rabu": 1}
    assert (votes[-1]["data"]["question"], votes[-1]["data"]["messageId"]) == ("Hari?", poll.message_id)
    assert not [r for r in receiver.requests if json.loads(r.body)["event"] != "poll.vote"]
    assert revoked["data"]["messageId"] == text.message_id

    row = await row_of(db, "k2", text.message_id)
    assert row.body == "rapat jam 10" and row.content is not None
    assert row.content["reactions"] == {f"{OTHER}@s.whatsapp.net": "❤"}
    assert row.content["edits"][0]["text"] == "rapat jam 9" and row.content["revokedAt"]
    poll_row = await row_of(db, "k2", poll.message_id)
    assert poll_row.content is not None
    assert poll_row.content["poll"]["votes"] == {FROM_JID: ["Selasa"], f"{OTHER}@s.whatsapp.net": ["Rabu"]}
    names = [e["event"] for e in event_log.items if e["session"] == "k2"]
    assert names.count("message.reaction") == 3 and names.count("message.edited") == 1
    assert "message.poll_vote" not in names  # the old name is never emitted
    edited = next(e for e in event_log.items if e["event"] == "message.edited")
    assert (edited["data"]["message"], edited["data"]["previousMessage"]) == ("rapat jam 10", "rapat jam 9")
    # Changes are not messages of their own.
    assert len(await inbound(db, "k2")) == 2


async def _stored(db: async_sessionmaker[AsyncSession], session_id: str, count: int) -> bool:
    return len(await inbound(db, session_id)) >= count


async def test_presence_and_typing_are_presence_updates(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "k3")
    await link_session(running, db, arq_redis, settings, "k3")
    for state in ("available", "composing", "recording", "paused", "unavailable"):
        await running.sim.contact_presence("k3", FROM, state, last_seen=1_722_000_000.0)
    await event_log.wait_for(lambda e: e["event"] == "presence.update" and e["data"]["state"] == "unavailable")
    documented(*[e for e in event_log.items if e["event"] == "presence.update"])
    updates = [e["data"] for e in event_log.items if e["event"] == "presence.update"]
    assert [u["state"] for u in updates] == ["available", "composing", "recording", "paused", "unavailable"]
    assert {(u["chat"], u["from"]) for u in updates} == {(FROM_JID, FROM_JID)}
    assert updates[-1]["lastSeen"] == 1_722_000_000 and updates[0]["lastSeen"] is None


async def set_history(db: async_sessionmaker[AsyncSession], session_id: str, mode: str) -> None:
    async with db() as session, session.begin():
        row = await session.get(WaSession, session_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "history_sync": mode}


@pytest.mark.parametrize(("mode", "kept"), [("recent", {"2 days", "mine"}), ("full", {"2 days", "mine", "40 days"}),
                                            ("none", set())])
async def test_history_is_stored_without_received_events(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog, mode: str, kept: set[str],
) -> None:
    await add_session(db, "k4")
    if mode != "recent":  # recent is the default
        await set_history(db, "k4", mode)
    await link_session(running, db, arq_redis, settings, "k4")
    live = await running.sim.contact_sends("k4", FROM, "text", text="baru")
    await until(lambda: _stored(db, "k4", 1), what="the live message stored")
    synced = await running.sim.phone_sends_history("k4", [
        {"from_phone": FROM, "text": "2 days", "days_ago": 2},
        {"from_phone": FROM, "text": "40 days", "days_ago": 40},
        {"from_phone": OTHER, "text": "mine", "days_ago": 1, "from_me": True},
        {"from_phone": FROM, "kind": "image", "size": 100, "text": "2 days", "days_ago": 2.5},
    ])
    # WhatsApp also sends the live message again in the history: it is not stored twice.
    await running.sim._deliver(running.sim._session("k4"), type(synced)(
        session_id="k4", messages=(live,), sync_type="recent", progress=100))
    summaries = []

    async def two_summaries() -> bool:
        nonlocal summaries
        summaries = [e["data"] for e in event_log.items if e["event"] == "history.synced"]
        return len(summaries) == 2

    await until(two_summaries, what="two history.synced events")
    documented(*[e for e in event_log.items if e["event"] == "history.synced"])
    rows = [r for r in await inbound(db, "k4") if r.wa_message_id != live.message_id]
    assert {r.body or r.caption for r in rows} == kept
    assert all(r.content and r.content.get("history") for r in rows)
    mine = [r for r in rows if r.body == "mine"]
    assert all(r.content and r.content["fromMe"] for r in mine)
    received = [e for e in event_log.items if e["event"] == "message.received" and e["session"] == "k4"]
    assert [e["data"]["messageId"] for e in received] == [live.message_id]
    assert summaries[0]["mode"] == mode and summaries[0]["received"] == 4
    assert summaries[0]["stored"] == {"recent": 3, "full": 4, "none": 0}[mode]
    assert summaries[1]["stored"] == 0 and summaries[1]["duplicates"] == (0 if mode == "none" else 1)
    async with db() as session:
        row = await session.get(WaSession, "k4")
        assert row is not None and row.messages_received == 1  # old messages are not counted as received now

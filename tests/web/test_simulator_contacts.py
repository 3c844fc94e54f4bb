"""The simulated contacts over real HTTP and a real bridge: a medium and a poll arrive, a vote and a reaction
change them, the phone's history is stored, and a refusal of the phone is 409 with its reason."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.api_rows import Rows
from tests.web.spec import documented_call
from tests.web.test_simulator_routes import until
from tests.workers import start_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType, Direction, Role, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.services.sessions import lifecycle
from wagate.web.app import create_app
from wagate.web.keys import REDIS
from workers.bridge import create_bridge

Db = async_sessionmaker[AsyncSession]
CONTACT = "6282222222222"


async def rows(db: Db, session_id: str) -> list[Message]:
    async with db() as s:
        return list(await s.scalars(select(Message).where(
            Message.session_id == session_id, Message.direction == Direction.INBOUND).order_by(Message.id)))


async def test_contacts_play_every_change_through_a_real_bridge(aiohttp_client: Any, settings: Settings,
                                                                db: Db) -> None:
    fast = settings.replace(simulator_speed=20.0)
    client: TestClient = await aiohttp_client(create_app(fast))
    bridge = await start_in_loop(create_bridge(fast, 0, handle_signals=False), lambda w: "bridge" in w.ctx)
    try:
        await lifecycle.create_session(db, client.app[REDIS], fast, tenant_id=None, session_id="c1", name="C1",
                                      actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
        await until(lambda: lifecycle.current_qr(client.app[REDIS], "c1"))
        assert (await client.post("/simulator/sessions/c1/scan", json={})).status == 202

        async def working() -> bool:
            return (await lifecycle.get_session(db, "c1")).status == SessionStatus.WORKING

        await until(working)
        photo = b"\xff\xd8\xff\xe0 a photo from the phone"
        encoded = base64.b64encode(photo).decode()
        for body in ({"from": CONTACT, "type": "image", "text": "foto", "data_base64": encoded},
                     {"from": CONTACT, "type": "poll", "question": "Hari?", "options": ["Senin", "Selasa"]}):
            response = await client.post("/simulator/sessions/c1/receive", json=body)
            assert response.status == 202 and (await response.json())["data"]["done"] is True

        async def two() -> list[Message] | None:
            found = await rows(db, "c1")
            return found if len(found) == 2 else None

        image, poll = await until(two)
        assert image.content is not None and image.content["media"]["sha256"] == hashlib.sha256(photo).hexdigest()
        assert (image.caption, image.media_mime) == ("foto", "image/jpeg")
        plays: list[tuple[str, dict[str, Any]]] = [
            ("vote", {"from": CONTACT, "message_id": poll.wa_message_id, "options": ["Selasa"]}),
            ("react", {"from": CONTACT, "message_id": image.wa_message_id, "emoji": "🔥"}),
            ("presence", {"from": CONTACT, "state": "recording"}),
            ("history", {"messages": [{"from": CONTACT, "text": "kemarin", "days_ago": 1}]})]
        for path, body in plays:
            response = await client.post(f"/simulator/sessions/c1/{path}", json=body)
            assert response.status == 202, (path, await response.text())

        async def changed() -> list[Message] | None:
            found = await rows(db, "c1")
            done = len(found) == 3 and (found[1].content or {}).get("poll", {}).get("tally", {}).get("Selasa") == 1
            return found if done and (found[0].content or {}).get("reactions") else None

        image, poll, old = await until(changed)
        assert image.content is not None and image.content["reactions"] == {f"{CONTACT}@s.whatsapp.net": "🔥"}
        assert old.body == "kemarin" and old.content is not None and old.content["history"] is True
        # The API shows what the message carries, but not the medium's download handle (its key among it).
        assert image.media_source
        listed = await documented_call(client, "GET", "/api/messages?session=c1&direction=in",
                                       await Rows(db).key(Role.ADMIN), 200)
        shown = {m["wa_message_id"]: m for m in listed["data"]["items"]}[image.wa_message_id]
        assert shown["content"]["media"]["sha256"] == hashlib.sha256(photo).hexdigest()
        assert "media_source" not in shown and '"simulator"' not in json.dumps(listed)

        # The phone refuses what WhatsApp would: a group presence of online is not a thing.
        response = await client.post("/simulator/sessions/c1/presence", json={
            "from": CONTACT, "state": "available", "group": "120363000000000001@g.us"})
        assert response.status == 409
        assert "group" in (await response.json())["message"]
    finally:
        await bridge.stop()

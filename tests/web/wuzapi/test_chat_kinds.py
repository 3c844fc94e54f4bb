"""wuzapi's sticker, contact, poll, edit, delete and react under /wa, called as API.md and wuzapi's handlers take
them, queued on the gateway's own send path; an `Id` naming no message of the session is refused, nothing queued."""

from __future__ import annotations

import json
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from tests import media_samples
from tests.web.tenancy import Db, session, tenant
from tests.web.wuzapi import test_chat
from tests.web.wuzapi.calls import PHONE, wz
from tests.web.wuzapi.test_chat import data_uri, stored
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow

settings = test_chat.settings  # the fixture: a reseller install
CHAT = f"{PHONE}@s.whatsapp.net"


async def _linked(db: Db) -> str:
    """A session with one text it sent a minute ago (3EB0MINE) and one it received (ACDCIN)."""
    token = await session(db, "s1", (await tenant(db))[0], jid="5491155553934@s.whatsapp.net")
    async with db() as s, s.begin():
        for wa_id, direction in (("3EB0MINE", Direction.OUTBOUND), ("ACDCIN", Direction.INBOUND)):
            s.add(Message(session_id="s1", direction=direction, wa_message_id=wa_id, chat_jid=CHAT,
                          recipient=PHONE if direction == Direction.OUTBOUND else None, type=MessageType.TEXT,
                          body="Hola", status=MessageStatus.SENT, sent_at=utcnow() - timedelta(minutes=1)))
    return token


async def test_sticker_contact_and_poll(client: TestClient, db: Db) -> None:
    token = await _linked(db)
    body = json.dumps({"Phone": PHONE, "PngThumbnail": "VBORgoAANSU=",
                       "Sticker": data_uri("image/png", media_samples.png())})
    sticker = await stored(db, (await wz(client, "POST", "/wa/chat/send/sticker", token, 200, data=body))["data"]["Id"])
    assert sticker.type == MessageType.STICKER and sticker.media_mime == "image/webp"
    vcard = "BEGIN:VCARD\\nVERSION:3.0\\nN:Doe;John;;;\\nFN:John Doe\\nTEL;type=CELL:+1 781 555 1212\\nEND:VCARD"
    contact = await wz(client, "POST", "/wa/chat/send/contact", token, 200,
                       data=f'{{"Phone":"{PHONE}","Name":"Casa","Vcard":"{vcard}"}}')
    card = (await stored(db, contact["data"]["Id"])).content
    assert card is not None and card["contacts"][0]["name"] == "Casa" and "FN:John Doe" in card["contacts"][0]["vcard"]
    poll = await wz(client, "POST", "/wa/chat/send/poll", token, 200,
                    data='{"Group":"120362023605733675@g.us","Header":"Lunch?","Options":["Yes","No"]}')
    row = await stored(db, poll["data"]["Id"])
    assert (row.type, row.chat_jid, row.content) == (MessageType.POLL, "120362023605733675@g.us", {
        "question": "Lunch?", "options": ["Yes", "No"], "selectable": 1})


async def test_edit_delete_and_react_name_the_message_they_act_on(client: TestClient, db: Db) -> None:
    token = await _linked(db)
    edit = await wz(client, "POST", "/wa/chat/send/edit", token, 200,
                    data=f'{{"Phone":"{PHONE}","Body":"Fixed","Id":"3EB0MINE"}}')
    row = await stored(db, edit["data"]["Id"])
    assert edit["data"]["Id"] != "3EB0MINE" and (row.type, row.body) == (MessageType.EDIT, "Fixed")
    assert (row.content or {})["target"] == "3EB0MINE"
    react = await wz(client, "POST", "/wa/chat/react", token, 200,
                     data=f'{{"Phone":"{PHONE}","Body":"❤️","Id":"me:3EB0MINE"}}')
    reaction = await stored(db, react["data"]["Id"])
    assert reaction.content is not None and (reaction.content["target"], reaction.content["emoji"]) == (
        "3EB0MINE", "❤️")
    deleted = await wz(client, "POST", "/wa/chat/delete", token, 200, data=f'{{"Phone":"{PHONE}","Id":"3EB0MINE"}}')
    assert (await stored(db, deleted["data"]["Id"])).type == MessageType.REVOKE


async def test_refusals_queue_nothing(client: TestClient, db: Db) -> None:
    token = await _linked(db)
    await wz(client, "POST", "/wa/chat/delete", token, 404, data=f'{{"Phone":"{PHONE}","Id":"AABBCCDD112233"}}')
    await wz(client, "POST", "/wa/chat/send/edit", token, 422, data=f'{{"Phone":"{PHONE}","Body":"x","Id":"ACDCIN"}}')
    await wz(client, "POST", "/wa/chat/react", token, 400, data=f'{{"Phone":"{PHONE}","Id":"ACDCIN"}}')
    await wz(client, "POST", "/wa/chat/send/poll", token, 400,
             data='{"Group":"120362023605733675@g.us","Header":"Lunch?","Options":["Yes"]}')
    await wz(client, "POST", "/wa/chat/send/contact", token, 400, data=f'{{"Phone":"{PHONE}","Name":"Casa"}}')
    await wz(client, "POST", "/wa/chat/send/sticker", token, 415,
             data=json.dumps({"Phone": PHONE, "Sticker": data_uri("application/pdf", b"%PDF-1.4\n%%EOF")}))
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 2  # the arranged two only

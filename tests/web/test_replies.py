"""`replies.dump`: the fast one-object dump answers exactly what the schema's own `dump` answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from wagate.db.enums import Direction, MessageStatus, MessageType, Priority
from wagate.db.models_whatsapp import Message
from wagate.schemas.messages import MessageSchema
from wagate.web.replies import dump, schema_of

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


def _messages() -> list[Message]:
    plain = Message(id=7, session_id="s1", direction=Direction.OUTBOUND, chat_jid="6281@s.whatsapp.net",
                    sender_jid="6289:2@s.whatsapp.net", recipient="6281", type=MessageType.TEXT, body="Halo",
                    status=MessageStatus.QUEUED, priority=Priority.NORMAL, attempts=0, created_at=NOW,
                    updated_at=NOW, wa_message_id="3EB0ABC")
    full = Message(id=8, session_id=None, direction=Direction.INBOUND, chat_jid=None, sender_jid=None,
                   recipient=None, type=MessageType.LOCATION, body=None, caption="c", media_mime="image/png",
                   media_name="a.png", content={"latitude": -6.2, "longitude": 106.8, "name": None},
                   reply_to="3EB0DEF", status=MessageStatus.READ, priority=Priority.BULK, error="late", attempts=3,
                   wa_message_id="3EB0XYZ", broadcast_id=4, send_at=NOW + timedelta(hours=1), created_at=NOW,
                   updated_at=NOW, sent_at=NOW, delivered_at=NOW, read_at=NOW, failed_at=None)
    return [plain, full]


@pytest.mark.parametrize("message", _messages(), ids=["queued", "every-field"])
def test_dump_of_a_message_is_the_schemas_dump(message: Message) -> None:
    fast = dump(MessageSchema, message)
    assert fast == schema_of(MessageSchema).dump(message)
    assert list(fast) == list(schema_of(MessageSchema).dump(message))  # the same key order, too


class _Hooked(Schema):
    name = fields.String()

    @post_dump
    def _upper(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"name": data["name"].upper()}


class _Plain(Schema):
    name = fields.String()
    shown = fields.String(data_key="label", attribute="title", dump_only=True)
    missing = fields.String()


class _Thing:
    name = "ani"
    title = "Bu"


def test_what_the_fast_dump_does_not_cover_goes_through_the_schema() -> None:
    assert dump(_Hooked, _Thing()) == {"name": "ANI"}  # dump hooks
    assert dump(_Plain, {"name": "ani", "title": "Bu"}) == {"name": "ani", "label": "Bu"}  # a mapping
    assert dump(_Plain, _Thing()) == {"name": "ani", "label": "Bu"}  # an attribute the object lacks is left out

"""Statuses (stories): the session posts text on a coloured background, an image or a video to `status@broadcast`
through the send queue like any message; contacts' statuses arrive as messages of that chat and are listed here."""

from __future__ import annotations

import re
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Direction, MessageType
from wagate.db.models_whatsapp import Message
from wagate.errors import Invalid
from wagate.services.messaging import sending
from wagate.services.messaging.drafts import SendRequest
from wagate.services.messaging.phones import STATUS
from wagate.services.sessions import lifecycle

# WhatsApp's status fonts (ExtendedTextMessage.FontType), by the names its apps use.
FONTS = {"system": 0, "system_text": 1, "fb_script": 2, "system_bold": 6, "morningbreeze_regular": 7,
         "calistoga_regular": 8, "exo2_extrabold": 9, "courierprime_bold": 10}
KINDS = (MessageType.TEXT, MessageType.IMAGE, MessageType.VIDEO)
_COLOUR = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
MAX_LISTED = 200


def background(value: Any) -> int | None:
    """"#RRGGBB" (opaque) or "#AARRGGBB" as the ARGB integer WhatsApp takes."""
    if value is None:
        return None
    match = _COLOUR.match(value) if isinstance(value, str) else None
    if match is None:
        raise Invalid("Invalid status", {"background_color": ["expects #RRGGBB or #AARRGGBB"]})
    digits = match.group(1)
    return int(digits if len(digits) == 8 else "FF" + digits, 16)


def font(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in FONTS:
        return FONTS[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in FONTS.values():
        return value
    raise Invalid("Invalid status", {"font": [f"expects one of {', '.join(FONTS)} (or its number)"]})


async def post(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, session_id: str, *,
               kind: MessageType | str, text: str | None = None, caption: str | None = None,
               media: bytes | None = None, file_name: str | None = None, background_color: Any = None,
               font_name: Any = None, idempotency_key: str | None = None,
               tenant_id: int | None) -> sending.QueuedMessage:
    """Queue a status; text takes its background colour and font, image and video a caption."""
    if kind not in KINDS:
        raise Invalid("Invalid status", {"type": ["expects text, image or video"]})
    look = {"background_argb": background(background_color), "font": font(font_name)}
    if kind != MessageType.TEXT and any(v is not None for v in look.values()):
        raise Invalid("Invalid status", {"background_color": ["is for text statuses only"]})
    request = SendRequest(session_id=session_id, to=STATUS.jid, status=True, type=kind, text=text, caption=caption,
                          media=media, file_name=file_name, idempotency_key=idempotency_key)
    content = {"status": look} if kind == MessageType.TEXT else None
    return await sending.queue_message(db, redis, settings, request, tenant_id=tenant_id, content=content)


async def received(db: async_sessionmaker[AsyncSession], session_id: str, *, tenant_id: int | None,
                   limit: int = 50) -> list[Message]:
    """Contacts' statuses the session received, newest first."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    async with db() as s:
        return list(await s.scalars(
            select(Message).where(Message.session_id == session_id, Message.direction == Direction.INBOUND,
                                  Message.chat_jid == STATUS.jid)
            .order_by(Message.id.desc()).limit(min(max(limit, 1), MAX_LISTED))))

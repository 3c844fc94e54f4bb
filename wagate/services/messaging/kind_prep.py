"""A send made ready for its row, once every field is valid: what needs the database, a fetch or a conversion.

- a reaction, edit, revoke or forward finds its target among the session's own stored messages (another
  session's or tenant's message is not found), and an edit or revoke is checked against WhatsApp's rules;
- a reply quotes the stored message it names, so WhatsApp shows the quote even after a bridge restart;
- media comes from the upload, a URL (SSRF guard, size limit, timeout) or a stored message of the tenant, is
  sniffed, converted where WhatsApp needs another form (voice note → Opus/Ogg, sticker → WebP) and measured
  (thumbnail, dimensions, duration, pages);
- a link preview asked for is fetched.
Nothing is written here: a refusal leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Invalid, NotFound, ServiceUnavailable, Unprocessable, UnsupportedMediaType
from wagate.services.media.store import MediumMissing, StoreUnavailable, key_of, media_stores
from wagate.services.messaging import link_preview, media_convert, media_fetch
from wagate.services.messaging import media as media_files
from wagate.services.messaging.drafts import Draft, SendRequest
from wagate.services.messaging.phones import normalize_recipient

log = structlog.get_logger("wagate.messaging")

EDIT_WINDOW = timedelta(minutes=15)  # WhatsApp refuses edits of a message older than this
_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
_NOT_FORWARDABLE = (MessageType.REACTION, MessageType.EDIT, MessageType.REVOKE, MessageType.OTHER)


@dataclass(frozen=True, slots=True)
class Prepared:
    draft: Draft
    media: bytes | None = None
    kind: media_files.MediaKind | None = None
    file_name: str | None = None


async def prepare(db: AsyncSession, settings: Settings, session: WaSession, request: SendRequest, draft: Draft,
                  tenant_id: int | None) -> Prepared:
    content = dict(draft.content or {})
    if draft.kind in ("reaction", "edit", "revoke", "forward"):
        target = await _target(db, session.id, content["target"])
        if draft.kind == "forward":
            return await _forward(db, settings, draft, target)
        _check_target(draft.kind, target)
        content |= {"target_chat": target.chat_jid or target.recipient, "target_from_me":
                    target.direction == Direction.OUTBOUND, "target_sender": target.sender_jid,
                    "target_row": target.id}
        draft = _to_chat(draft, target, request, settings)
    if draft.reply_to is not None:
        quoted = await _stored(db, session.id, draft.reply_to)
        if quoted is not None:
            content["quote"] = {"sender": quoted.sender_jid, "from_me": quoted.direction == Direction.OUTBOUND,
                                "text": quoted.body or quoted.caption}
    preview = content.get("preview")
    if isinstance(preview, dict):
        content["preview"] = await _preview(preview, settings)
    data, file_name = await _media_source(db, request, settings, tenant_id)
    if data is None:
        return Prepared(dataclasses.replace(draft, content=content or None))
    data, kind, facts = await prepare_media(draft.kind, draft.type, data, file_name, settings)
    return Prepared(dataclasses.replace(draft, content=with_facts(content, facts) or None), data, kind, file_name)


def with_facts(content: dict[str, Any], facts: media_convert.Facts) -> dict[str, Any]:
    """`content` with what the message shows of its medium: sizes, duration, pages, the thumbnail (base64)."""
    content = content | {k: v for k, v in (("width", facts.width), ("height", facts.height),
                                           ("seconds", facts.seconds), ("page_count", facts.page_count)) if v}
    if facts.thumbnail:
        content["thumbnail"] = base64.b64encode(facts.thumbnail).decode()
    return content


async def _stored(db: AsyncSession, session_id: str, wa_id: str) -> Message | None:
    return await db.scalar(select(Message).where(Message.session_id == session_id, Message.wa_message_id == wa_id)
                           .order_by(Message.id.desc()).limit(1))


async def _target(db: AsyncSession, session_id: str, wa_id: str) -> Message:
    target = await _stored(db, session_id, wa_id)
    if target is None or target.type in (MessageType.REACTION, MessageType.EDIT, MessageType.REVOKE):
        raise NotFound(f"Message {wa_id} not found among this session's messages",
                       details={"target": ["names no message of this session"]})
    return target


def _check_target(kind: str, target: Message) -> None:
    mine = target.direction == Direction.OUTBOUND
    if kind == "reaction":
        if mine and target.status not in _SENT:
            raise Conflict(f"Message {target.wa_message_id} is {target.status}, not sent yet: it cannot be reacted to",
                           details={"target": ["is not sent yet"]})
        return
    if not mine and (kind == "edit" or not (target.chat_jid or "").endswith("@g.us")):
        what = "edited" if kind == "edit" else "deleted for everyone"
        raise Unprocessable(f"Message {target.wa_message_id} was received, not sent by this session: only the "
                            f"session's own messages can be {what}", details={"target": ["is an incoming message"]})
    if mine and target.status not in _SENT:
        raise Conflict(f"Message {target.wa_message_id} is {target.status}, not sent yet",
                       details={"target": ["is not sent yet"]})
    if kind == "edit":
        if target.type != MessageType.TEXT:
            raise Unprocessable("Only a text message can be edited", details={"target": [f"is a {target.type}"]})
        sent_at = target.sent_at or target.created_at
        if sent_at is not None and utcnow() - sent_at > EDIT_WINDOW:
            minutes = int((utcnow() - sent_at).total_seconds() // 60)
            raise Conflict(f"Message {target.wa_message_id} was sent {minutes} minutes ago: WhatsApp allows edits "
                           f"within {int(EDIT_WINDOW.total_seconds() // 60)} minutes of sending",
                           details={"target": ["is past WhatsApp's edit window"]})


def _to_chat(draft: Draft, target: Message, request: SendRequest, settings: Settings) -> Draft:
    """A reaction, edit or revoke goes to the target's chat; a `to` that names another chat is a mistake."""
    chat = normalize_recipient(target.chat_jid or target.recipient or "", settings.default_region, field="target")
    if request.to and draft.recipient.jid not in (chat.jid, target.chat_lid):
        raise Invalid("Invalid message", details={"to": "is not the chat of the target message (leave it out)"})
    return dataclasses.replace(draft, recipient=chat)


async def _forward(db: AsyncSession, settings: Settings, draft: Draft, target: Message) -> Prepared:
    if target.type in _NOT_FORWARDABLE:
        raise Unprocessable(f"A {target.type} message cannot be forwarded", details={"target": [str(target.type)]})
    content = {k: v for k, v in (target.content or {}).items() if k not in ("quote", "target")} | {"forwarded": True}
    draft = dataclasses.replace(draft, type=target.type, body=target.body, caption=target.caption, content=content,
                                kind=str(target.type))
    if not target.media_path and target.media_id is None:
        if target.media_source:  # received, and not downloaded yet (the session downloads on request)
            raise Conflict("The medium of that message is not downloaded yet: fetch it once (GET /api/media/"
                           f"{target.id}), then forward it", details={"target": ["medium not downloaded yet"]})
        return Prepared(draft)
    data = await _stored_bytes(db, settings, target)
    kind = media_files.sniff(data, target.media_name)  # stored once already: checked when it came in
    return Prepared(draft, data, kind, target.media_name)


async def _stored_bytes(db: AsyncSession, settings: Settings, message: Message) -> bytes:
    """The bytes of a stored message's medium: from the media store, or the file of a message kept before it."""
    gone = NotFound("The stored media of that message is gone", details={"media_id": ["is no longer kept"]})
    if message.media_id is None:
        try:
            return await asyncio.to_thread(Path(message.media_path or "").read_bytes)
        except OSError as exc:
            raise gone from exc
    medium = await db.get(Medium, message.media_id)
    if medium is None:
        raise gone
    try:
        return b"".join([chunk async for chunk in media_stores(settings).at(medium.location).read(
            key_of(medium.sha256))])
    except MediumMissing as exc:
        raise gone from exc
    except StoreUnavailable as exc:
        raise ServiceUnavailable(f"The media store cannot be reached ({exc.reason}); try again shortly") from exc


async def _media_source(db: AsyncSession, request: SendRequest, settings: Settings, tenant_id: int | None
                        ) -> tuple[bytes | None, str | None]:
    if request.media:
        return request.media, request.file_name
    if request.media_url:
        fetched = await media_fetch.fetch(request.media_url, settings, "media_url")
        return fetched.data, request.file_name or fetched.file_name
    if request.media_id is not None:
        query = select(Message).where(Message.id == request.media_id,
                                      Message.media_path.is_not(None) | Message.media_id.is_not(None))
        if tenant_id is not None:
            query = query.join(WaSession, WaSession.id == Message.session_id).where(WaSession.tenant_id == tenant_id)
        stored = await db.scalar(query)
        if stored is None:
            raise NotFound(f"No stored media with id {request.media_id}",
                           details={"media_id": ["names no message with media of this tenant"]})
        return await _stored_bytes(db, settings, stored), request.file_name or stored.media_name
    return None, None


async def prepare_media(kind: str, row_type: MessageType, data: bytes, file_name: str | None, settings: Settings
                        ) -> tuple[bytes, media_files.MediaKind, media_convert.Facts]:
    """The bytes to send (converted where needed), what they are, and what the message shows of them."""
    if kind in ("voice", "sticker"):
        sniffed = media_files.check_upload(data, file_name, MessageType.DOCUMENT, settings)  # size and safety
        wanted = ("audio", "video") if kind == "voice" else ("image",)
        if sniffed.category not in wanted:
            raise UnsupportedMediaType(f"A {sniffed.label} cannot be sent as a {kind}; send "
                                       f"{'audio' if kind == 'voice' else 'a PNG, JPEG or WebP image'}",
                                       details={"type": f"does not fit the file, which is a {sniffed.label}"})
        if kind == "voice" and sniffed.mimetype == "audio/ogg; codecs=opus":
            return data, sniffed, await _facts(sniffed, MessageType.AUDIO, data)  # already what WhatsApp records
        if kind == "voice":
            data, facts = await media_convert.voice_note(data)
        else:
            data, facts = await asyncio.to_thread(media_convert.sticker, data)
        return data, media_files.sniff(data), facts
    sniffed = media_files.check_upload(data, file_name, row_type, settings)
    return data, sniffed, await _facts(sniffed, row_type, data)


async def _facts(sniffed: media_files.MediaKind, row_type: MessageType, data: bytes) -> media_convert.Facts:
    """What the message shows of a medium sent as it is; a medium that cannot be measured goes without (its kind
    is sure from its bytes: only the thumbnail and sizes are missing)."""
    try:
        if sniffed.category == "image" and row_type == MessageType.IMAGE:
            return await asyncio.to_thread(media_convert.image_facts, data)
        if sniffed.category == "video" and row_type == MessageType.VIDEO:
            return await media_convert.video_facts(data)
        if sniffed.category == "audio" and row_type == MessageType.AUDIO:
            return await media_convert.audio_facts(data)
    except (UnsupportedMediaType, ServiceUnavailable) as exc:
        log.info("media sent without its thumbnail or sizes", reason=exc.message, kind=sniffed.label)
        return media_convert.Facts()
    if sniffed.mimetype == "application/pdf":
        return media_convert.Facts(page_count=media_convert.pdf_pages(data))
    return media_convert.Facts()


async def _preview(preview: dict[str, Any], settings: Settings) -> dict[str, Any]:
    if not preview.get("fetch"):
        given = {k: v for k, v in preview.items() if k != "fetch"}
        if "thumbnail" in given:
            try:
                base64.b64decode(given["thumbnail"], validate=True)
            except ValueError as exc:
                raise Invalid("link_preview.thumbnail is not base64", {"link_preview": ["thumbnail: bad base64"]}) \
                    from exc
        return given
    return await link_preview.fetch_preview(preview["url"], settings)

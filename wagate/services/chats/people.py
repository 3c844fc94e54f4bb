"""The people behind numbers, asked of WhatsApp through the session's connection: who is on WhatsApp (and the JID
to send to), their about text, picture, business profile; the block list; LID ↔ phone number; and the session's
own push name, about text and picture. Reads need no audit; blocks and profile changes are audited."""

from __future__ import annotations

import base64
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_whatsapp import WaSession
from wagate.errors import Invalid
from wagate.services.chats.state import chat_jid
from wagate.services.operations import audit
from wagate.services.sessions import calls, lifecycle
from wagate.services.sessions.lifecycle import PHONE_RULE, Actor, phone_digits

Db = async_sessionmaker[AsyncSession]

MAX_CHECKED_NUMBERS = 50  # numbers one check asks WhatsApp about
MAX_PICTURE_BYTES = 5 * 2**20  # WhatsApp scales a profile picture down to 640 px; a bigger upload is a mistake


def checked_numbers(phones: Any, field: str = "phones") -> list[str]:
    """1 to MAX_CHECKED_NUMBERS international numbers as digits; `Invalid` naming the bad ones."""
    if not isinstance(phones, list) or not 1 <= len(phones) <= MAX_CHECKED_NUMBERS:
        raise Invalid(f"Invalid {field}", {field: [f"expects a list of 1 to {MAX_CHECKED_NUMBERS} numbers"]})
    digits = [phone_digits(p) if isinstance(p, str) else None for p in phones]
    bad = [str(p) for p, d in zip(phones, digits, strict=True) if d is None]
    if bad:
        raise Invalid("Invalid phone", {field: [f"{', '.join(bad[:5])}: {PHONE_RULE}"]})
    return [d for d in digits if d is not None]


async def _ask(db: Db, redis: ArqRedis, settings: Settings, session_id: str, tenant_id: int | None, name: str,
               params: dict[str, Any]) -> Any:
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    return await calls.call(db, redis, settings, session_id, name, params)


async def on_whatsapp(db: Db, redis: ArqRedis, settings: Settings, session_id: str, phones: list[str], *,
                      tenant_id: int | None) -> dict[str, str | None]:
    """Each number (as digits) → the JID WhatsApp answered (send there: it may differ from the digits), or None."""
    found: dict[str, str | None] = await _ask(db, redis, settings, session_id, tenant_id, "contacts.on_whatsapp",
                                              {"phones": phones})
    return found


async def info(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, *,
               tenant_id: int | None) -> dict[str, Any] | None:
    """What WhatsApp shows of the account: about text, picture id, verified business name, devices; None when the
    number is not on WhatsApp."""
    jid = chat_jid(chat, settings)
    found: dict[str, Any] = await _ask(db, redis, settings, session_id, tenant_id, "contacts.info", {"jids": [jid]})
    return found.get(jid)


async def picture(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, *, preview: bool,
                  tenant_id: int | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await _ask(db, redis, settings, session_id, tenant_id, "contacts.picture",
                                              {"jid": chat_jid(chat, settings), "preview": preview})
    return found


async def business(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, *,
                   tenant_id: int | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await _ask(db, redis, settings, session_id, tenant_id, "contacts.business",
                                              {"jid": chat_jid(chat, settings)})
    return found


async def blocklist(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *,
                    tenant_id: int | None) -> list[str]:
    found: list[str] = await _ask(db, redis, settings, session_id, tenant_id, "contacts.blocklist", {})
    return found


async def set_blocked(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, blocked: bool, *,
                      tenant_id: int | None, actor: Actor) -> list[str]:
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    jid = chat_jid(chat, settings)
    found: list[str] = await calls.call(db, redis, settings, session_id, "contacts.block",
                                        {"jid": jid, "blocked": blocked})
    async with db() as s, s.begin():
        audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip,
                     action="contact.block" if blocked else "contact.unblock", target_type="chat",
                     target_id=f"{session_id}/{jid}", tenant_id=row.tenant_id)
    return found


async def lid_lookup(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *, phone: str | None,
                     lid: str | None, tenant_id: int | None) -> dict[str, str | None]:
    """The LID of a phone number, or the phone-number JID of a LID (exactly one of them given)."""
    if (phone is None) == (lid is None):
        raise Invalid("Give a phone or a lid", {"phone": ["or lid is required, not both"]})
    params: dict[str, Any] = {"phone": chat_jid(phone, settings)} if phone is not None else {"lid": _lid(lid or "")}
    found: dict[str, str | None] = await _ask(db, redis, settings, session_id, tenant_id, "contacts.lid", params)
    return found


def _lid(value: str) -> str:
    user, at, server = value.strip().partition("@")
    user = user.split(":", 1)[0]
    if not user.isdigit() or (at and server != "lid"):
        raise Invalid("Invalid lid", {"lid": ["expects a LID, e.g. 123456789012345@lid"]})
    return f"{user}@lid"


async def update_profile(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *, tenant_id: int | None,
                         actor: Actor, push_name: str | None = None, about: str | None = None,
                         picture: bytes | None = None) -> dict[str, Any]:
    """Change the session's own push name, about text and/or picture (JPEG); what changed."""
    if push_name is None and about is None and picture is None:
        raise Invalid("Nothing to change", {"_schema": ["expects push_name, about or picture"]})
    if picture is not None and not picture.startswith(b"\xff\xd8\xff"):
        raise Invalid("The picture must be a JPEG", {"picture": ["expects a JPEG image"]})
    if picture is not None and len(picture) > MAX_PICTURE_BYTES:
        raise Invalid("The picture is too large", {"picture": [f"expects at most {MAX_PICTURE_BYTES // 2**20} MB"]})
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    params = {"push_name": push_name, "about": about,
              "picture": base64.b64encode(picture).decode() if picture is not None else None}
    changed: dict[str, Any] = await calls.call(db, redis, settings, session_id, "profile.update", params)
    async with db() as s, s.begin():
        if "push_name" in changed:  # shown with the session, as the bridge writes it on connect
            await s.execute(update(WaSession).where(WaSession.id == session_id).values(push_name=changed["push_name"]))
        audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action="session.profile",
                     target_type="session", target_id=session_id, tenant_id=row.tenant_id,
                     details={k: v for k, v in changed.items() if k != "picture"})
    return changed

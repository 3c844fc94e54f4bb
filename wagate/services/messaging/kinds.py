"""The message kinds a send may ask for, and the plain field checks of each (no database, no file, no network).

A kind is what the caller asks for (`voice`, `gif`, `live_location`, `forward` …); the stored row has one of the
gateway's message types, with the kind's own fields in its `content` (a voice note is an `audio` row with
`ptt`, a GIF a `video` row with `gif_playback`). What needs the database, a fetch or a conversion is done
afterwards by `kind_prep`, once every field here is valid.
"""

from __future__ import annotations

import re
from typing import Any

from wagate.db.enums import MessageType

TEXT_KINDS = ("text",)
MEDIA_KINDS = ("image", "video", "audio", "document", "voice", "sticker", "gif")
# The kinds that act on a message already in the chat, named by its WhatsApp id in `target`.
TARGET_KINDS = ("reaction", "edit", "revoke", "forward")
IN_TARGET_CHAT = ("reaction", "edit", "revoke")  # sent to the chat of their target: `to` may be left out
SEND_KINDS = (*TEXT_KINDS, *MEDIA_KINDS, "location", "live_location", "contact", "poll", *TARGET_KINDS)

ROW_TYPES: dict[str, MessageType] = {
    "text": MessageType.TEXT, "image": MessageType.IMAGE, "video": MessageType.VIDEO, "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT, "voice": MessageType.AUDIO, "sticker": MessageType.STICKER,
    "gif": MessageType.VIDEO, "location": MessageType.LOCATION, "live_location": MessageType.LOCATION,
    "contact": MessageType.CONTACT, "poll": MessageType.POLL, "reaction": MessageType.REACTION,
    "edit": MessageType.EDIT, "revoke": MessageType.REVOKE,
    "forward": MessageType.TEXT,  # until the forwarded message is read: it takes that message's type
}

MAX_POLL_QUESTION = 255  # WhatsApp's limits for a poll
MIN_POLL_OPTIONS, MAX_POLL_OPTIONS = 2, 12
MAX_POLL_OPTION = 100
MAX_CONTACTS = 20
MAX_CONTACT_NAME = 128
MAX_VCARD = 8192
MAX_EMOJI = 16  # one emoji, however many code points its sequence takes
MAX_TARGET = 128
MAX_PREVIEW_TITLE = 256
MAX_PREVIEW_DESCRIPTION = 1024
MAX_PREVIEW_THUMBNAIL = 96 * 1024  # base64 characters of a given JPEG thumbnail
_MENTION = re.compile(r"(?<![\w@])@(\d{5,16})\b")
_URL = re.compile(r"https?://[^\s<>\"']+", re.I)
_PHONE = re.compile(r"^\+?[\d ()-]{5,24}$")


def mentions_in(text: str | None) -> list[str]:
    """The phone-number JIDs `@<digits>` in `text` names, first mention first, each once."""
    found: list[str] = []
    for match in _MENTION.finditer(text or ""):
        jid = f"{match.group(1)}@s.whatsapp.net"
        if jid not in found:
            found.append(jid)
    return found


def first_link(text: str | None) -> str | None:
    match = _URL.search(text or "")
    return match.group(0).rstrip(".,;:!?)") if match else None


def check_kind_fields(kind: str, fields: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The `content` of a kind from the request's fields; each bad field named in `errors`."""
    if kind == "poll":
        return _poll(fields, errors)
    if kind == "contact":
        return {"contacts": _contacts(fields.get("contacts"), errors)}
    if kind in TARGET_KINDS:
        target = fields.get("target")
        if not isinstance(target, str) or not target.strip() or len(target) > MAX_TARGET:
            errors["target"] = f"is required for a {kind}: the WhatsApp id of a message of this session's chats"
        content: dict[str, Any] = {"target": target}
        if kind == "reaction":
            emoji = fields.get("emoji")
            if emoji is None:
                errors["emoji"] = 'is required for a reaction ("" takes a reaction back)'
            elif not isinstance(emoji, str) or len(emoji) > MAX_EMOJI or emoji.strip() != emoji:
                errors["emoji"] = "must be one emoji (or empty to take the reaction back)"
            content["emoji"] = emoji
        return content
    if kind == "live_location":
        return {"live": True}
    if kind == "voice":
        return {"ptt": True}
    if kind == "gif":
        return {"gif_playback": True}
    return {}


def check_link_preview(value: Any, text: str | None, errors: dict[str, str]) -> dict[str, Any] | None:
    """`link_preview`: true (fetched from the text's first link), or the preview itself; None: no preview."""
    if value is None or value is False:
        return None
    url = first_link(text)
    if url is None:
        errors["link_preview"] = "needs a link (http:// or https://) in the text"
        return None
    if value is True:
        return {"url": url, "fetch": True}
    if not isinstance(value, dict):
        errors["link_preview"] = "must be true, or an object with title, description and thumbnail (base64 JPEG)"
        return None
    preview: dict[str, Any] = {"url": url, "fetch": False}
    for name, longest in (("title", MAX_PREVIEW_TITLE), ("description", MAX_PREVIEW_DESCRIPTION),
                          ("thumbnail", MAX_PREVIEW_THUMBNAIL)):
        item = value.get(name)
        if item is None:
            continue
        if not isinstance(item, str) or len(item) > longest:
            errors["link_preview"] = f"{name} must be text of at most {longest} characters"
        else:
            preview[name] = item
    unknown = set(value) - {"title", "description", "thumbnail"}
    if unknown:
        errors["link_preview"] = f"has unknown fields: {', '.join(sorted(map(str, unknown)))}"
    return preview


def _poll(fields: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    question, options, selectable = fields.get("question"), fields.get("options"), fields.get("selectable")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_POLL_QUESTION:
        errors["question"] = f"is required for a poll: text of 1 to {MAX_POLL_QUESTION} characters"
    if (not isinstance(options, list) or not MIN_POLL_OPTIONS <= len(options) <= MAX_POLL_OPTIONS
            or not all(isinstance(o, str) and o.strip() and len(o) <= MAX_POLL_OPTION for o in options)):
        errors["options"] = (f"is required for a poll: {MIN_POLL_OPTIONS} to {MAX_POLL_OPTIONS} options of 1 to "
                             f"{MAX_POLL_OPTION} characters")
    elif len({o.strip().casefold() for o in options}) != len(options):
        errors["options"] = "must all differ (WhatsApp counts votes by the option's text)"
    count = len(options) if isinstance(options, list) else MAX_POLL_OPTIONS
    if selectable is None:
        selectable = 1
    if isinstance(selectable, bool) or not isinstance(selectable, int) or not 0 <= selectable <= count:
        errors["selectable"] = f"must be from 0 (any number) to the number of options ({count})"
    return {"question": question, "options": options, "selectable": selectable}


def _contacts(value: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    """Cards as `{name, phone}` (a vCard is made) or `{name, vcard}`."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CONTACTS:
        errors["contacts"] = (f"is required for a contact message: 1 to {MAX_CONTACTS} cards of name and phone "
                              "(or vcard)")
        return []
    cards: list[dict[str, str]] = []
    for index, card in enumerate(value):
        name = card.get("name") if isinstance(card, dict) else None
        phone = card.get("phone") if isinstance(card, dict) else None
        vcard = card.get("vcard") if isinstance(card, dict) else None
        where = f"contacts[{index}]"
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_CONTACT_NAME:
            errors[where] = f"needs a name of 1 to {MAX_CONTACT_NAME} characters"
        elif vcard is not None:
            if not isinstance(vcard, str) or len(vcard) > MAX_VCARD or not vcard.lstrip().upper().startswith(
                    "BEGIN:VCARD"):
                errors[where] = f"vcard must be a vCard (BEGIN:VCARD …) of at most {MAX_VCARD} characters"
            else:
                cards.append({"name": name, "vcard": vcard})
        elif not isinstance(phone, str) or not _PHONE.match(phone):
            errors[where] = "needs a phone number (or a vcard)"
        else:
            cards.append({"name": name, "vcard": vcard_of(name, phone)})
    return cards


def vcard_of(name: str, phone: str) -> str:
    """A vCard 3.0 as WhatsApp's own clients write one: the `waid` lets the card open a chat with the number."""
    digits = re.sub(r"\D", "", phone)
    clean = re.sub(r"[\r\n;]", " ", name).strip()
    return (f"BEGIN:VCARD\nVERSION:3.0\nN:;{clean};;;\nFN:{clean}\n"
            f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}\nEND:VCARD")

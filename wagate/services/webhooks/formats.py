"""The body a webhook receives for an event: the gateway's envelope as it is, or wuzapi's `{"type", "event"}`.

A wuzapi receiver (or genfity-wa's, a fork of it) parses `{"type": "Message", "event": {"Info": …, "Message": …}}`,
with the event as wuzapi serialises whatsmeow's: `Info` holds the message source (`Chat`, `Sender`, `IsFromMe`,
`IsGroup`) and `ID`, `PushName`, `Timestamp`, `Type`, `MediaType`; `Message` is the protobuf message in Go's JSON
(`conversation`, `imageMessage`…). wuzapi posts it as the form field `jsonData`; the gateway posts the same object
as the JSON body (wuzapi's JSON webhook mode), so the body is signed and logged like every other delivery.

Events wuzapi has no name for (a send accepted, failed or finished broadcast) make no wuzapi delivery: `render`
answers None for them, and fan-out writes no row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from wagate.db.enums import WebhookFormat

# Gateway event → the wuzapi event type a subscription names (`Message`, `ReadReceipt`, …).
WUZAPI_TYPES = {
    "message.received": "Message",
    "message.delivered": "ReadReceipt",
    "message.read": "ReadReceipt",
    "connection.open": "Connected",
    "connection.close": "Disconnected",
    "qr.generated": "QR",
    "presence.update": "Presence",  # ChatPresence for typing, recording and paused (wuzapi_body)
    "history.synced": "HistorySync",
}
# wuzapi's subscribable types, and the gateway events each one stands for.
WUZAPI_EVENTS: dict[str, tuple[str, ...]] = {
    "Message": ("message.received",),
    "ReadReceipt": ("message.delivered", "message.read"),
    "Connected": ("connection.open",),
    "Disconnected": ("connection.close",),
    "QR": ("qr.generated",),
    "LoggedOut": ("connection.close",),
    "Presence": ("presence.update",),
    "ChatPresence": ("presence.update",),
    "HistorySync": ("history.synced",),
    "All": ("*",),
}
# A received message's type → the key of whatsmeow's protobuf message and wuzapi's `MediaType`.
_PROTO_KEYS = {"image": "imageMessage", "video": "videoMessage", "audio": "audioMessage",
               "document": "documentMessage", "sticker": "stickerMessage", "location": "locationMessage",
               "live_location": "liveLocationMessage", "contact": "contactMessage", "reaction": "reactionMessage",
               "poll": "pollCreationMessageV3"}
_MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})
# The received shape's media fields → whatsmeow's field names.
_MEDIA_FIELDS = (("width", "width"), ("height", "height"), ("seconds", "seconds"))


def gateway_events(wuzapi_names: list[str]) -> list[str]:
    """The gateway events a wuzapi subscription stands for (`["*"]` for `All`); unknown names are dropped, as
    wuzapi drops them."""
    found: list[str] = []
    for name in wuzapi_names:
        for event in WUZAPI_EVENTS.get(name, ()):
            if event not in found:
                found.append(event)
    return ["*"] if "*" in found else found


def wuzapi_names(gateway: list[str] | str | None) -> list[str]:
    """The wuzapi types a stored subscription covers (`["All"]` for every event)."""
    if gateway is None or gateway == "*" or "*" in gateway:
        return ["All"]
    names = []
    for event in gateway:
        name = WUZAPI_TYPES.get(event)
        if name is not None and name not in names:
            names.append(name)
    return names


def _rfc3339(seconds: Any) -> str:
    return datetime.fromtimestamp(float(seconds or 0), UTC).isoformat().replace("+00:00", "Z")


def _context(data: dict[str, Any]) -> dict[str, Any]:
    """whatsmeow's contextInfo: the quote, the mentions and the forwarded flag, as far as the event carries them."""
    context: dict[str, Any] = {}
    quoted = data.get("quoted") or {}
    if quoted.get("id"):
        context["stanzaID"] = quoted["id"]
        if quoted.get("sender"):
            context["participant"] = quoted["sender"]
        if quoted.get("text"):
            context["quotedMessage"] = {"conversation": quoted["text"]}
    if data.get("mentions"):
        context["mentionedJID"] = data["mentions"]
    if data.get("forwarded"):
        context["isForwarded"] = True
    return context


def _kind_fields(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a location, contact card or poll carries, in whatsmeow's field names."""
    place, poll, cards = data.get("location") or {}, data.get("poll") or {}, data.get("contacts") or []
    if kind in ("location", "live_location") and place:
        fields = {"degreesLatitude": place.get("latitude"), "degreesLongitude": place.get("longitude")}
        extra = {"name": place.get("name"), "address": place.get("address"), "URL": place.get("url")} \
            if kind == "location" else {"caption": place.get("caption")}
        return {**fields, **{k: v for k, v in extra.items() if v}}
    if kind == "contact" and cards:
        return {"displayName": cards[0].get("name") or "", "vcard": cards[0].get("vcard") or ""}
    if kind == "poll" and poll:
        return {"name": poll.get("question"), "options": [{"optionName": o} for o in poll.get("options", [])],
                "selectableOptionsCount": poll.get("selectableCount", 0)}
    return {}


def _message(data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("type") or "text"
    text = data.get("message")
    media = data.get("media") or {}
    context = _context(data)
    if kind == "contact" and len(data.get("contacts") or []) > 1:
        cards = [{"displayName": c.get("name") or "", "vcard": c.get("vcard") or ""} for c in data["contacts"]]
        return {"contactsArrayMessage": {"displayName": f"{len(cards)} contacts", "contacts": cards}}
    key = _PROTO_KEYS.get(kind)
    if key is None:  # text, or a kind whatsmeow would carry as plain text for a client that only reads text
        preview = data.get("linkPreview") or {}
        if not context and not preview:
            return {"conversation": text or ""}
        extended: dict[str, Any] = {"text": text or ""}
        if preview:
            extended.update({k: v for k, v in (("matchedText", preview.get("url")), ("title", preview.get("title")),
                                               ("description", preview.get("description"))) if v})
        if context:
            extended["contextInfo"] = context
        return {"extendedTextMessage": extended}
    body: dict[str, Any] = _kind_fields(kind, data)
    if media.get("mimetype"):
        body["mimetype"] = media["mimetype"]
    if media.get("caption") or (kind in _MEDIA_KINDS and text):
        body["caption"] = media.get("caption") or text
    if media.get("filename"):
        body["fileName"] = media["filename"]
    if media.get("size") is not None:
        body["fileLength"] = media["size"]
    body.update({name: media[field] for field, name in _MEDIA_FIELDS if media.get(field)})
    if media.get("ptt"):
        body["PTT"] = True
    if context:
        body["contextInfo"] = context
    return {key: body}


def _received(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    kind = data.get("type") or "text"
    return {
        "Info": {
            "Chat": data.get("chat"), "Sender": data.get("from"), "SenderAlt": data.get("senderLid") or "",
            "IsFromMe": bool(data.get("fromMe")), "IsGroup": bool(data.get("isGroup")),
            "ID": data.get("messageId"), "Type": "text" if kind == "text" else "media",
            "MediaType": "" if kind == "text" else kind, "PushName": data.get("pushName") or "",
            "Timestamp": _rfc3339(data.get("timestamp") or event.get("timestamp")),
        },
        "Message": _message(data),
        "IsEphemeral": False, "IsViewOnce": False, "IsEdit": False,
        "QuotedMessageID": data.get("quotedMessageId"),
    }


def _presence(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """wuzapi's Presence (online, offline) or ChatPresence (typing, recording, paused in a chat)."""
    state = data.get("state")
    if state in ("available", "unavailable"):
        seen = data.get("lastSeen")
        return "Presence", {"From": data.get("from"), "Unavailable": state == "unavailable",
                            "LastSeen": _rfc3339(seen) if seen else ""}
    chat = str(data.get("chat") or "")
    return "ChatPresence", {"Chat": chat, "Sender": data.get("from"), "IsFromMe": False,
                            "IsGroup": chat.endswith("@g.us"), "State": "paused" if state == "paused" else "composing",
                            "Media": "audio" if state == "recording" else ""}


def _receipt(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    return {"Chat": data.get("to"), "Sender": data.get("to"), "IsFromMe": True, "IsGroup": False,
            "MessageIDs": [data.get("messageId")], "Timestamp": _rfc3339(data.get("timestamp") or event["timestamp"]),
            "Type": "read" if event["event"] == "message.read" else ""}


def wuzapi_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """wuzapi's webhook object for a gateway event, or None when wuzapi has no such event."""
    name = event.get("event")
    kind = WUZAPI_TYPES.get(str(name))
    if kind is None:
        return None
    data = event.get("data") or {}
    body: dict[str, Any] = {"type": kind}
    if name == "message.received":
        body["event"] = _received(event)
    elif kind == "ReadReceipt":
        body["state"] = "Read" if name == "message.read" else "Delivered"
        body["event"] = _receipt(event)
    elif name == "presence.update":
        body["type"], body["event"] = _presence(data)
    elif name == "history.synced":
        body["event"] = {"Data": {"syncType": str(data.get("syncType") or "").upper(), "progress": data.get("progress"),
                                  "stored": data.get("stored")}}
    elif name == "qr.generated":
        body["event"] = {"Codes": [data["qr"]]} if data.get("qr") else {"PairingCode": data.get("pairingCode")}
    elif name == "connection.close" and data.get("loggedOut"):
        body["type"] = "LoggedOut"
        body["event"] = {"Reason": data.get("reason"), "OnConnect": False}
    elif name == "connection.open":
        body["event"] = {"JID": data.get("jid"), "PushName": data.get("pushName")}
    else:
        body["event"] = {"Reason": data.get("reason")}
    # What the gateway adds, as genfity-wa adds its own fields: the session and the event id receivers dedupe on.
    body["session"] = event.get("session")
    body["eventId"] = event.get("id")
    return body


def render(webhook_format: WebhookFormat | str, raw: str) -> str | None:
    """The exact body to sign and send for the event `raw` (its stream JSON); None: nothing to send."""
    if webhook_format != WebhookFormat.WUZAPI:
        return raw
    body = wuzapi_body(json.loads(raw))
    return None if body is None else json.dumps(body, separators=(",", ":"))


def names_wuzapi(events: str | list[str] | None) -> bool:
    """Whether a subscription is written in wuzapi's names ("Message,Connected", as genfity-wa's clients give it):
    such a session's webhook receives wuzapi's body."""
    if events is None:
        return False
    names = [n.strip() for n in events.split(",")] if isinstance(events, str) else events
    names = [n for n in names if n]
    return bool(names) and all(n in WUZAPI_EVENTS for n in names)

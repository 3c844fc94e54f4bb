"""The wuzapi body of each gateway event (what a wuzapi-format webhook is sent), and the events it has no body for."""

from __future__ import annotations

import json
from unittest.mock import ANY

from wagate.services import events
from wagate.services.webhooks.formats import gateway_events, names_wuzapi, render, wuzapi_names


def _render(event: dict[str, object]) -> dict[str, object] | None:
    body = render("wuzapi", events.encode(event))
    return None if body is None else json.loads(body)


def test_a_received_image_reads_as_whatsmeows_message() -> None:
    event = events.message_envelope("message.received", "s1", 3, {
        "from": "6281200000001@s.whatsapp.net", "message": "Lihat", "messageId": "ABC", "pushName": None,
        "type": "image", "chat": "120363000000000001@g.us", "isGroup": True, "fromMe": False,
        "senderLid": "12345@lid", "quotedMessageId": "XYZ", "timestamp": 0,
        "media": {"kind": "image", "mimetype": "image/jpeg", "filename": None, "size": 2039, "caption": "Lihat"}},
        timestamp=1765000000)
    body = _render(event)
    assert body is not None and body["type"] == "Message" and body["eventId"] == event["id"]
    info = body["event"]["Info"]  # type: ignore[index]
    assert (info["Chat"], info["IsGroup"], info["SenderAlt"], info["Type"], info["MediaType"], info["PushName"]) == (
        "120363000000000001@g.us", True, "12345@lid", "media", "image", "")
    assert info["Timestamp"] == "2025-12-06T05:46:40Z"  # the event's time when the message carries none
    assert body["event"]["Message"] == {"imageMessage": {"mimetype": "image/jpeg", "caption": "Lihat",  # type: ignore[index]
                                                         "fileLength": 2039}}
    assert body["event"]["QuotedMessageID"] == "XYZ"  # type: ignore[index]


def test_session_events_and_those_wuzapi_has_no_name_for() -> None:
    qr = _render(events.envelope("qr.generated", "s1", {"qr": "2@abc", "expiresAt": 1, "expiresIn": 20}))
    assert qr is not None and qr["type"] == "QR" and qr["event"] == {"Codes": ["2@abc"]}
    out = _render(events.envelope("connection.close", "s1", {"reason": "unlinked", "loggedOut": True}))
    assert out is not None and out["type"] == "LoggedOut" and out["event"] == {"Reason": "unlinked", "OnConnect": False}
    dropped = _render(events.envelope("connection.close", "s1", {"reason": "network", "reconnecting": True}))
    assert dropped is not None and dropped["type"] == "Disconnected"
    for name in ("message.sent", "message.failed", "session.status", "broadcast.completed"):
        assert _render(events.envelope(name, "s1", {})) is None, name
    raw = events.encode(events.envelope("message.sent", "s1", {}))
    assert render("wagate", raw) == raw  # the gateway's own format is the stream's JSON, untouched


def test_subscriptions_in_wuzapi_names() -> None:
    assert gateway_events(["Message", "ReadReceipt", "Bogus"]) == ["message.received", "message.delivered",
                                                                  "message.read"]
    assert gateway_events(["Message", "All"]) == ["*"] and gateway_events(["Presence"]) == ["presence.update"]
    assert wuzapi_names(["message.read", "message.delivered", "qr.generated"]) == ["ReadReceipt", "QR"]
    assert wuzapi_names(None) == wuzapi_names("*") == ["All"]
    assert names_wuzapi("Message,Connected,Disconnected,QR") and names_wuzapi(["ReadReceipt"])
    assert not names_wuzapi("message.received") and not names_wuzapi("Message,message.read")
    assert not names_wuzapi(None) and not names_wuzapi("")


def _received(**data: object) -> dict[str, object]:
    body = _render(events.message_envelope("message.received", "s1", 4, {
        "from": "6281200000001@s.whatsapp.net", "messageId": "ABC", "chat": "6281200000001@s.whatsapp.net",
        "isGroup": False, "fromMe": False, "timestamp": 1765000000, "message": None, "media": None, **data}))
    assert body is not None
    message: dict[str, object] = body["event"]["Message"]  # type: ignore[index]
    return message


def test_every_received_kind_reads_as_whatsmeows_message() -> None:
    voice = {"kind": "audio", "mimetype": "audio/ogg; codecs=opus", "filename": None, "size": 4000, "caption": None,
             "seconds": 5, "ptt": True}
    assert _received(type="audio", media=voice) == {"audioMessage": {
        "mimetype": "audio/ogg; codecs=opus", "fileLength": 4000, "seconds": 5, "PTT": True}}
    assert _received(type="location", location={"latitude": -6.2, "longitude": 106.8, "name": "Monas",
                                                "address": None, "url": None, "live": False}) == {
        "locationMessage": {"degreesLatitude": -6.2, "degreesLongitude": 106.8, "name": "Monas"}}
    assert _received(type="poll", poll={"question": "Hari?", "options": ["Senin", "Selasa"], "selectableCount": 1}
                     ) == {"pollCreationMessageV3": {"name": "Hari?", "selectableOptionsCount": 1, "options": [
                         {"optionName": "Senin"}, {"optionName": "Selasa"}]}}
    cards = [{"name": "Siti", "vcard": "BEGIN:VCARD", "phones": []}, {"name": "Andi", "vcard": "V2", "phones": []}]
    assert _received(type="contact", contacts=cards) == {"contactsArrayMessage": {"displayName": "2 contacts",
        "contacts": [{"displayName": "Siti", "vcard": "BEGIN:VCARD"}, {"displayName": "Andi", "vcard": "V2"}]}}
    assert _received(type="text", message="lihat @62811", quoted={"id": "Q1", "sender": "62811@s.whatsapp.net",
                                                                  "text": "apa?"},
                     mentions=["62811@s.whatsapp.net"], forwarded=True,
                     linkPreview={"url": "https://example.org", "title": "Ex", "description": None}) == {
        "extendedTextMessage": {"text": "lihat @62811", "matchedText": "https://example.org", "title": "Ex",
                                "contextInfo": {"stanzaID": "Q1", "participant": "62811@s.whatsapp.net",
                                                "quotedMessage": {"conversation": "apa?"},
                                                "mentionedJID": ["62811@s.whatsapp.net"], "isForwarded": True}}}
    assert _received(type="text", message="biasa") == {"conversation": "biasa"}


def test_presence_and_history_read_as_wuzapis_events() -> None:
    def presence(state: str, **more: object) -> dict[str, object] | None:
        return _render(events.envelope("presence.update", "s1", {
            "chat": "62811@s.whatsapp.net", "from": "62811@s.whatsapp.net", "state": state, "lastSeen": None,
            **more}))

    assert presence("recording") == {"type": "ChatPresence", "session": "s1", "eventId": ANY, "event": {
        "Chat": "62811@s.whatsapp.net", "Sender": "62811@s.whatsapp.net", "IsFromMe": False, "IsGroup": False,
        "State": "composing", "Media": "audio"}}
    offline = presence("unavailable", lastSeen=1765000000)
    assert offline is not None and offline["type"] == "Presence"
    assert offline["event"] == {"From": "62811@s.whatsapp.net", "Unavailable": True, "LastSeen": "2025-12-06T05:46:40Z"}
    synced = _render(events.envelope("history.synced", "s1", {"syncType": "recent", "progress": 40, "stored": 3}))
    assert synced is not None and synced["type"] == "HistorySync"
    assert synced["event"] == {"Data": {"syncType": "RECENT", "progress": 40, "stored": 3}}
    assert gateway_events(["ChatPresence", "HistorySync"]) == ["presence.update", "history.synced"]

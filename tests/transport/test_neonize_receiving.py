"""NeonizeTransport receiving through neonize's real client and event dispatch, whatsmeow played by the double:
every kind reaches the sink, poll votes come decrypted, writers' presence is followed, history comes as one event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon import WACommon_pb2 as common
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.proto.waHistorySync import WAWebProtobufsHistorySync_pb2 as hs
from neonize.proto.waWeb import WAWebProtobufsWeb_pb2 as web

from tests.transport.test_neonize import Events
from tests.transport.test_neonize_core import LID, PHONE, TO, events, linked, until_true
from tests.transport.whatsmeow_double import WhatsmeowDouble, jid
from wagate.transport.base import (
    ContactUpdated,
    HistorySynced,
    MessageChanged,
    MessageReceived,
    PresenceUpdated,
    poll_option_hash,
)
from wagate.transport.neonize import NeonizeTransport


@pytest.fixture
async def transport(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path, reconnect_backoff=(0.05,), stop_timeout_s=0.5)
    yield transport
    await transport.close()


def complete(message: Message) -> Message:
    """The message with every required field set, as the Go core's events have them (neonize serialises an event
    again, strictly, to hand it back to Go, as `decrypt_poll_vote` does)."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None:
            if field.is_required and not message.HasField(field.name):
                setattr(message, field.name, field.default_value)
        elif not field.is_repeated and (field.is_required or message.HasField(field.name)):
            complete(getattr(message, field.name))
    return message


def incoming(content: e2e.Message, message_id: str, sender: pb.JID | None = None) -> pb.Message:
    source = pb.MessageSource(Chat=sender or jid(TO), Sender=sender or jid(TO), IsFromMe=False, IsGroup=False)
    info = pb.MessageInfo(MessageSource=source, ID=message_id, Pushname="Ani", Timestamp=1_722_000_000_500, Type="")
    return complete(pb.Message(Info=info, Message=content))


async def test_kinds_votes_and_presence_reach_the_sink(transport: NeonizeTransport,
                                                      whatsmeow: WhatsmeowDouble) -> None:
    uuid = await linked(transport, whatsmeow)
    whatsmeow.poll_options["3EB0POLL"] = ["Nasi", "Mie"]
    whatsmeow.votes["3EB0VOTE"] = ["Mie"]
    vote = e2e.Message(pollUpdateMessage=e2e.PollUpdateMessage(
        pollCreationMessageKey=common.MessageKey(ID="3EB0POLL")))
    stranger_vote = e2e.Message(pollUpdateMessage=e2e.PollUpdateMessage(
        pollCreationMessageKey=common.MessageKey(ID="3EB0ELSEWHERE")))
    whatsmeow.deliver(uuid, incoming(e2e.Message(audioMessage=e2e.AudioMessage(
        mimetype="audio/ogg; codecs=opus", PTT=True, seconds=4, directPath="/v/a", mediaKey=b"k" * 32)), "3EB0VN"))
    whatsmeow.deliver(uuid, incoming(e2e.Message(eventMessage=e2e.EventMessage(name="Rapat")), "3EB0ODD"))
    whatsmeow.deliver(uuid, incoming(vote, "3EB0VOTE"), incoming(stranger_vote, "3EB0VOTE2"))

    received = await events(transport).wait_for(MessageReceived, 2)
    voice, odd = sorted(received, key=lambda m: m.message_id != "3EB0VN")
    assert voice.media is not None and (voice.type, voice.media.ptt, voice.media.download["directPath"]) == (  # type: ignore[index]
        "audio", True, "/v/a")
    assert (odd.type, odd.unknown) == ("unknown", ("eventMessage",))  # kept, not dropped
    changes = {c.change_id: c for c in await events(transport).wait_for(MessageChanged, 2)}
    assert changes["3EB0VOTE"].option_hashes == (poll_option_hash("Mie"),)
    assert changes["3EB0VOTE2"].option_hashes is None  # a poll this device never saw: not decryptable
    # Whoever writes is followed, once, so their online / offline comes as presence events.
    await until_true(lambda: whatsmeow.presence_subscriptions == [f"{TO}@s.whatsapp.net"])

    source = pb.MessageSource(Chat=jid(LID, "lid"), Sender=jid(LID, "lid"), IsFromMe=False, IsGroup=False)
    source.SenderAlt.CopyFrom(jid(TO))
    whatsmeow.lid_map[f"{LID}@lid"] = f"{TO}@s.whatsapp.net"
    whatsmeow.deliver(uuid, pb.Presence(From=jid(LID, "lid"), Unavailable=True, LastSeen=1_722_000_000))
    whatsmeow.deliver(uuid, pb.ChatPresence(MessageSource=source, State=pb.ChatPresence.COMPOSING,
                                            Media=pb.ChatPresence.AUDIO))
    offline, recording = await events(transport).wait_for(PresenceUpdated, 2)
    assert (offline.state, offline.sender, offline.chat, offline.last_seen) == (
        "unavailable", f"{TO}@s.whatsapp.net", f"{TO}@s.whatsapp.net", 1_722_000_000.0)
    assert (recording.state, recording.sender) == ("recording", f"{TO}@s.whatsapp.net")


async def test_history_comes_as_one_event_not_as_messages(transport: NeonizeTransport,
                                                          whatsmeow: WhatsmeowDouble) -> None:
    uuid = await linked(transport, whatsmeow)
    old = web.WebMessageInfo(key=common.MessageKey(remoteJID=f"{TO}@s.whatsapp.net", fromMe=True, ID="OLD1"),
                             messageTimestamp=1_700_000_000, message=e2e.Message(conversation="dulu"))
    whatsmeow.deliver(uuid, pb.HistorySync(Data=hs.HistorySync(
        syncType=hs.HistorySync.INITIAL_BOOTSTRAP, pushnames=[hs.Pushname(ID=f"{TO}@s.whatsapp.net", pushname="Ani")],
        conversations=[hs.Conversation(
            ID=f"{TO}@s.whatsapp.net", messages=[hs.HistorySyncMsg(message=old, msgOrderID=1)])])))

    [synced] = await events(transport).wait_for(HistorySynced)
    [message] = synced.messages
    assert (synced.sync_type, message.message_id, message.text, message.from_me, message.sender) == (
        "initial_bootstrap", "OLD1", "dulu", True, f"{PHONE}@s.whatsapp.net")
    assert not [e for e in events(transport).seen if isinstance(e, MessageReceived)]
    [contact] = await events(transport).wait_for(ContactUpdated)
    assert (contact.contact.jid, contact.contact.push_name) == (f"{TO}@s.whatsapp.net", "Ani")

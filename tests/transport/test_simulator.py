"""Tests of the simulated WhatsApp transport: it must look to the bridge exactly like neonize does."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from wagate.errors import InvalidRecipient, RecipientNotOnWhatsApp, SessionNotConnected, TransportError
from wagate.transport.base import (
    Account,
    Connected,
    ConnectFailed,
    ContactUpdated,
    Disconnected,
    LoggedOut,
    MessageReceived,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
    ReceiptReceived,
    SendResult,
    TransportEvent,
)
from wagate.transport.simulator import PhoneActionError, SimulatorTransport
from wagate.transport.simulator.wire import SentLog, read_sent_log, sent_log_file

E = TypeVar("E", bound=TransportEvent)

QR = re.compile(r"2@[A-Za-z0-9+/=]+,([A-Za-z0-9+/]{43}=),([A-Za-z0-9+/]{43}=),([A-Za-z0-9+/]{43}=)")
PAIR_CODE = re.compile(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}")
OUTGOING_ID = re.compile(r"3EB0[0-9A-F]{16,20}")
PHONE = "6281234567890"


class Recorder:
    """An event sink that keeps every event with its arrival time and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[TransportEvent] = []
        self.times: list[float] = []
        self._arrived = asyncio.Event()

    async def __call__(self, event: TransportEvent) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())
        self._arrived.set()

    def of(self, kind: type[E], session_id: str | None = None) -> list[E]:
        return [e for e in self.events if isinstance(e, kind) and session_id in (None, e.session_id)]

    def pos(self, event: TransportEvent) -> int:
        """Where this very event arrived (events of equal value, like two Connected, are told apart)."""
        return next(i for i, e in enumerate(self.events) if e is event)

    def time_of(self, event: TransportEvent) -> float:
        return self.times[self.pos(event)]

    async def wait_for(
        self, kind: type[E], count: int = 1, within: float = 3.0, session_id: str | None = None
    ) -> list[E]:
        async with asyncio.timeout(within):
            while len(self.of(kind, session_id)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(kind, session_id)


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
async def sim(events: Recorder, tmp_path: Path) -> AsyncIterator[SimulatorTransport]:
    transport = SimulatorTransport(
        events,
        state_dir=tmp_path,
        qr_first_ttl=0.2,
        qr_next_ttl=0.05,
        receipt_delays=(0.05, 0.15),
        connect_delay=0.01,
        reconnect_delay=0.05,
    )
    yield transport
    await transport.close()


async def linked(sim: SimulatorTransport, events: Recorder, session_id: str = "s1", **scan: str) -> Account:
    """Connect an unlinked session, scan its first QR code and wait until it is connected."""
    await sim.connect(session_id)
    await events.wait_for(QRCodeIssued, session_id=session_id)
    account = await sim.scan(session_id, scan.pop("phone", PHONE), **scan)
    await events.wait_for(Connected, session_id=session_id)
    return account


async def test_qr_codes_rotate_on_whatsapps_schedule_then_run_out(sim: SimulatorTransport, events: Recorder) -> None:
    await sim.connect("s1")
    await sim.connect("s1")  # already connecting: left alone, no second rotation
    await events.wait_for(QRCodesExhausted)

    codes = events.of(QRCodeIssued)
    assert [c.expires_in for c in codes] == [0.2, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert isinstance(events.events[-1], QRCodesExhausted)
    assert len({c.code for c in codes}) == 6
    keys = set()
    for c in codes:
        match = QR.fullmatch(c.code)
        assert match, c.code
        assert all(len(base64.b64decode(key)) == 32 for key in match.groups())
        keys.add(match.groups())
    assert len(keys) == 1  # only the server's ref rotates; the device keys are the same in every code
    gaps = [b - a for a, b in zip(events.times, events.times[1:], strict=False)]
    assert gaps[0] >= 0.19 and all(gap >= 0.045 for gap in gaps[1:])
    assert not await sim.is_connected("s1")
    with pytest.raises(PhoneActionError):
        await sim.scan("s1")


async def test_speed_divides_every_delay(events: Recorder) -> None:
    sim = SimulatorTransport(events, qr_codes=2, speed=1000.0)  # WhatsApp's real 60 s + 20 s in 80 ms
    try:
        await sim.connect("s1")
        await events.wait_for(QRCodesExhausted)
        assert [c.expires_in for c in events.of(QRCodeIssued)] == [0.06, 0.02]
    finally:
        await sim.close()


async def test_scan_pairs_then_connects_with_the_account(sim: SimulatorTransport, events: Recorder) -> None:
    account = await linked(sim, events, phone="+62 812-3456-7890", push_name="Toko Budi", platform="ios")

    paired, connected = events.of(Paired)[0], events.of(Connected)[0]
    assert events.pos(paired) < events.pos(connected)
    assert connected.account == account == await sim.account("s1")
    # as whatsmeow's pair-success: the device and platform only, the LID and push name come with Connected
    assert paired.account == Account(jid=account.jid, phone=account.phone, platform="ios")
    assert re.fullmatch(r"6281234567890:\d+@s\.whatsapp\.net", account.jid)
    assert re.fullmatch(r"\d{15}@lid", account.lid or "")
    assert (account.phone, account.push_name, account.platform) == ("6281234567890", "Toko Budi", "ios")
    assert await sim.is_connected("s1")
    await asyncio.sleep(0.3)  # longer than any QR code lives: no rotation goes on behind the link
    assert len(events.of(QRCodeIssued)) == 1 and not events.of(QRCodesExhausted)


async def test_scanning_an_expired_code_is_refused(sim: SimulatorTransport, events: Recorder) -> None:
    await sim.connect("s1")
    first = (await events.wait_for(QRCodeIssued))[0]
    await events.wait_for(QRCodeIssued, count=2)
    with pytest.raises(PhoneActionError, match="expired"):
        await sim.scan("s1", code=first.code)
    await sim.scan("s1", code=events.of(QRCodeIssued)[-1].code)
    await events.wait_for(Connected)


async def test_link_survives_a_restart_and_stop(events: Recorder, tmp_path: Path) -> None:
    first = SimulatorTransport(events, state_dir=tmp_path, connect_delay=0.01)
    try:
        account = await linked(first, events)
        await first.stop("s1")
        assert not await first.is_connected("s1")
    finally:
        await first.close()
    assert (tmp_path / "s1.simulator.json").is_file()

    after_restart = Recorder()
    second = SimulatorTransport(after_restart, state_dir=tmp_path, connect_delay=0.01)
    try:
        assert await second.account("s1") == account
        await second.connect("s1")
        connected = await after_restart.wait_for(Connected)
        assert connected[0].account == account
        assert [type(e) for e in after_restart.events] == [Connected]  # no QR code, no pairing
    finally:
        await second.close()


async def test_an_unreadable_link_file_means_unlinked(events: Recorder, tmp_path: Path) -> None:
    (tmp_path / "s1.simulator.json").write_text("{not json")
    sim = SimulatorTransport(events, state_dir=tmp_path, qr_first_ttl=5)
    try:
        assert await sim.account("s1") is None
        await sim.connect("s1")
        await events.wait_for(QRCodeIssued)
    finally:
        await sim.close()


async def test_pairing_code_flow(sim: SimulatorTransport, events: Recorder) -> None:
    with pytest.raises(PhoneActionError):
        await sim.enter_pair_code("s1", "ABCD-EFGH")  # nothing asked for a code yet
    code = await sim.pair_phone("s1", "+62 812-0000-1111")  # connects first: the code needs the login websocket
    assert PAIR_CODE.fullmatch(code), code
    assert len(events.of(QRCodeIssued)) == 1  # the QR codes keep rotating beside the code, as in whatsmeow

    with pytest.raises(PhoneActionError, match="wrong"):
        await sim.enter_pair_code("s1", "AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB")
    account = await sim.enter_pair_code("s1", code.replace("-", "").lower(), push_name="Siti")
    assert account.phone == "6281200001111" and account.push_name == "Siti"
    assert (await events.wait_for(Paired))[0].account.jid == account.jid
    assert (await events.wait_for(Connected))[0].account == account
    with pytest.raises(TransportError, match="already linked"):
        await sim.pair_phone("s1", "6281200001111")


async def test_incoming_messages_by_phone_lid_and_group(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    direct = await sim.inject_message("s1", "6285711112222", "pinjam ruang", push_name="Andi")
    by_lid = await sim.inject_message("s1", "6285711112222", "lagi", via_lid=True)
    in_group = await sim.inject_message("s1", "6285733334444", "rapat jam 3", is_group=True, via_lid=True)
    received = await events.wait_for(MessageReceived, count=3)

    assert received == [direct, by_lid, in_group]
    assert (direct.chat, direct.sender, direct.sender_lid) == ("6285711112222@s.whatsapp.net",) * 2 + (None,)
    assert (direct.text, direct.type, direct.push_name, direct.is_group) == ("pinjam ruang", "text", "Andi", False)
    assert re.fullmatch(r"[0-9A-F]{32}", direct.message_id)
    assert by_lid.sender == "6285711112222@s.whatsapp.net"  # the phone-number JID even when addressed by LID
    assert re.fullmatch(r"\d{15}@lid", by_lid.sender_lid or "") and by_lid.chat == by_lid.sender_lid
    second_lid = (await sim.inject_message("s1", "6285711112222", "x", via_lid=True)).sender_lid
    assert second_lid == by_lid.sender_lid  # a phone's LID never changes
    assert in_group.is_group and in_group.chat.endswith("@g.us")
    assert in_group.sender == "6285733334444@s.whatsapp.net" and in_group.sender_lid != by_lid.sender_lid

    [update] = events.of(ContactUpdated)  # once, for the new push name, just ahead of its message
    assert update.contact.push_name == "Andi" and events.pos(update) == events.pos(direct) - 1
    contacts = {c.jid: c for c in await sim.contacts("s1")}
    assert contacts["6285711112222@s.whatsapp.net"].push_name == "Andi"
    assert "6285733334444@s.whatsapp.net" in contacts and len(contacts) == 7


async def test_messages_while_offline_arrive_after_reconnect(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    await sim.stop("s1")
    held = await sim.inject_message("s1", "6285711112222", "are you there?")
    await asyncio.sleep(0.05)
    assert not events.of(MessageReceived)
    await sim.connect("s1")
    assert (await events.wait_for(MessageReceived))[0] == held
    assert events.pos(events.of(Connected)[1]) < events.pos(held)


async def test_send_answers_then_delivered_then_read(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    before = time.time()
    sent_at = time.monotonic()
    result = await sim.send_text("s1", "+62 857-1111-2222", "Halo, ruang A tersedia", reply_to="ABC")
    assert OUTGOING_ID.fullmatch(result.message_id)
    assert before - 1 <= result.timestamp <= time.time()

    receipts = await events.wait_for(ReceiptReceived, count=2)
    assert [r.kind for r in receipts] == ["delivered", "read"]
    assert all(r.message_ids == (result.message_id,) and r.chat == "6285711112222@s.whatsapp.net" for r in receipts)
    assert events.time_of(receipts[0]) - sent_at >= 0.05
    assert events.time_of(receipts[1]) - sent_at >= 0.15
    [record] = sim.sent
    assert (record.session_id, record.to, record.kind, record.text, record.message_id, record.reply_to) == (
        "s1",
        "6285711112222@s.whatsapp.net",
        "text",
        "Halo, ruang A tersedia",
        result.message_id,
        "ABC",
    )


async def test_media_and_location_are_recorded(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    sim.set_receipts(None, None)
    await sim.send_media("s1", PHONE, "image", b"\x89PNG...", mimetype="image/png", caption="denah")
    await sim.send_location("s1", PHONE, -6.2, 106.8, name="Kantor")
    image, place = sim.sent
    assert image.kind == "image" and image.text == "denah" and image.media and image.media.size == 7
    assert place.kind == "location" and place.location == (-6.2, 106.8) and place.text == "Kantor"
    await asyncio.sleep(0.2)
    assert not events.of(ReceiptReceived)  # receipts turned off
    await sim.read_by_recipient("s1", [image.message_id])
    [read] = events.of(ReceiptReceived)
    assert read.kind == "read" and read.message_ids == (image.message_id,)


async def test_send_errors(sim: SimulatorTransport, events: Recorder) -> None:
    with pytest.raises(SessionNotConnected):
        await sim.send_text("s1", PHONE, "hi")
    await linked(sim, events)
    sim.set_not_on_whatsapp("6285799990000")
    with pytest.raises(RecipientNotOnWhatsApp) as not_on:
        await sim.send_text("s1", "6285799990000@s.whatsapp.net", "hi")
    assert not_on.value.permanent
    with pytest.raises(RecipientNotOnWhatsApp):
        await sim.send_text("s1", "0812345678901", "hi")  # a national number: WhatsApp knows no such account
    for bad in ("hello", "123", "6281@example.com", "abc@s.whatsapp.net", ""):
        with pytest.raises(InvalidRecipient):
            await sim.send_text("s1", bad, "hi")
    assert await sim.on_whatsapp("s1", ["6285799990000", PHONE, "nope", "0812345678901"]) == {
        "6285799990000": None,
        PHONE: f"{PHONE}@s.whatsapp.net",
        "nope": None,
        "0812345678901": None,
    }
    assert sim.sent == []
    await sim.send_text("s1", "120363012345678901@g.us", "to the group")
    assert sim.sent[0].to == "120363012345678901@g.us"


async def test_injected_send_failures_then_success(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    sim.set_send_failure("s1", TransportError("timed out waiting for WhatsApp"), times=2)
    for _ in range(2):
        with pytest.raises(TransportError, match="timed out") as failure:
            await sim.send_text("s1", PHONE, "once")
        assert not failure.value.permanent
    result = await sim.send_text("s1", PHONE, "once")
    assert [m.message_id for m in sim.sent] == [result.message_id]  # failed attempts never count as sent


async def test_a_send_under_an_id_already_sent_answers_the_same_and_goes_nowhere(
    sim: SimulatorTransport, events: Recorder, tmp_path: Path
) -> None:
    await linked(sim, events)
    await linked(sim, events, "s2", phone="6281234567891")
    first = await sim.send_text("s1", PHONE, "once", message_id="3EB0AAAAAAAAAAAAAAAAAA")
    assert first.message_id == "3EB0AAAAAAAAAAAAAAAAAA"
    await events.wait_for(ReceiptReceived, count=2)
    again = await sim.send_text("s1", "+62 812-3456-7890", "once", message_id="3EB0AAAAAAAAAAAAAAAAAA")
    assert again == first
    await asyncio.sleep(0.3)  # receipts come 0.05 s and 0.15 s after a send
    assert [m.text for m in sim.sent] == ["once"]
    assert len(events.of(ReceiptReceived)) == 2  # one delivered, one read: none for the copy
    assert [line["message_id"] for line in read_sent_log(sent_log_file(tmp_path))] == [first.message_id]
    # The id is the sending device's: another session sending under it sends a message of its own.
    other = await sim.send_text("s2", PHONE, "mine", message_id="3EB0AAAAAAAAAAAAAAAAAA")
    assert [m.session_id for m in sim.sent] == ["s1", "s2"] and other.message_id == first.message_id


async def test_a_send_that_failed_does_not_take_its_id(sim: SimulatorTransport, events: Recorder) -> None:
    later = "3EB0BBBBBBBBBBBBBBBBBB"
    with pytest.raises(SessionNotConnected):
        await sim.send_text("s1", PHONE, "later", message_id=later)
    await linked(sim, events)
    sim.set_send_failure("s1", TransportError("timed out waiting for WhatsApp"))
    with pytest.raises(TransportError, match="timed out"):
        await sim.send_text("s1", PHONE, "later", message_id=later)
    sim.set_not_on_whatsapp("6285799990000")
    with pytest.raises(RecipientNotOnWhatsApp):
        await sim.send_text("s1", "6285799990000", "later", message_id=later)
    assert sim.sent == []
    result = await sim.send_text("s1", PHONE, "later", message_id=later)
    assert result.message_id == later and [(m.text, m.message_id) for m in sim.sent] == [("later", later)]
    await events.wait_for(ReceiptReceived, count=2)


async def test_the_ids_sent_before_a_restart_are_still_known(events: Recorder, tmp_path: Path) -> None:
    first = SimulatorTransport(events, state_dir=tmp_path, connect_delay=0.01, receipt_delays=(None, None))
    try:
        await linked(first, events)
        before = await first.send_text("s1", PHONE, "before the crash", message_id="3EB0CCCCCCCCCCCCCCCCCC")
    finally:
        await first.close()

    after_restart = Recorder()
    second = SimulatorTransport(after_restart, state_dir=tmp_path, connect_delay=0.01, receipt_delays=(0.01, 0.02))
    try:
        await second.connect("s1")
        await after_restart.wait_for(Connected)
        assert await second.send_text("s1", PHONE, "before the crash", message_id=before.message_id) == before
        new = await second.send_text("s1", PHONE, "after the restart", message_id="3EB0DDDDDDDDDDDDDDDDDD")
        receipts = await after_restart.wait_for(ReceiptReceived, count=2)
        await asyncio.sleep(0.1)
        assert [r.message_ids for r in after_restart.of(ReceiptReceived)] == [(new.message_id,)] * 2 == [
            r.message_ids for r in receipts]
        assert [m.text for m in second.sent] == ["after the restart"]
        assert [line["text"] for line in read_sent_log(sent_log_file(tmp_path))] == [
            "before the crash", "after the restart"]
    finally:
        await second.close()


async def test_ids_another_process_sent_are_known_from_its_next_connect(events: Recorder, tmp_path: Path) -> None:
    # Two transports on one state_dir: the bridge that held the session and the one that takes it over.
    old = SimulatorTransport(events, state_dir=tmp_path, connect_delay=0.01, reconnect_delay=0.01)
    taking_over = Recorder()
    new = SimulatorTransport(taking_over, state_dir=tmp_path, connect_delay=0.01, reconnect_delay=0.01)
    try:
        await linked(old, events)
        await new.connect("s1")
        await taking_over.wait_for(Connected)
        sent = await old.send_text("s1", PHONE, "from the old bridge", message_id="3EB0EEEEEEEEEEEEEEEEEE")
        await new.drop_connection("s1")
        await taking_over.wait_for(Connected, count=2)
        assert await new.send_text("s1", PHONE, "from the old bridge", message_id=sent.message_id) == sent
        assert new.sent == []
    finally:
        await old.close()
        await new.close()


def test_a_sent_log_from_before_timestamps_were_logged_answers_with_the_second_it_was_sent(tmp_path: Path) -> None:
    log = sent_log_file(tmp_path)
    log.write_text('{"seq": 1, "session_id": "s1", "to": "x", "kind": "text", "text": "hi", '
                   '"message_id": "3EB0FFFFFFFFFFFFFFFFFF", "at": 1700000000.25, "pid": 1}\n'
                   '{"seq": 2, "session_id": "s1", "message_id": "3EB0')  # a line still being written
    reader = SentLog(log)
    assert reader.new_results() == {("s1", "3EB0FFFFFFFFFFFFFFFFFF"): SendResult("3EB0FFFFFFFFFFFFFFFFFF", 1.7e9)}
    assert reader.new_results() == {}


async def test_typing_and_read_marks_are_recorded_in_order(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    await sim.set_typing("s1", PHONE, True)
    await sim.send_text("s1", PHONE, "hi")
    await sim.mark_read("s1", f"{PHONE}@s.whatsapp.net", f"{PHONE}@s.whatsapp.net", ["A1"])
    [typing], [sent], [read] = sim.typing, sim.sent, sim.read_marks
    assert typing.typing and typing.chat == sent.to
    assert typing.seq < sent.seq < read.seq and read.message_ids == ("A1",)


async def test_dropped_connection_reconnects_and_flushes_held_receipts(
    sim: SimulatorTransport, events: Recorder
) -> None:
    await linked(sim, events)
    await sim.drop_connection("s1")
    [dropped] = events.of(Disconnected)
    assert dropped.will_reconnect and dropped.reason == "connection lost"
    with pytest.raises(SessionNotConnected):
        await sim.send_text("s1", PHONE, "while offline")
    reconnected = (await events.wait_for(Connected, count=2))[1]
    assert events.pos(dropped) < events.pos(reconnected) and await sim.is_connected("s1")

    sim.set_receipts(0.01, None)
    result = await sim.send_text("s1", PHONE, "hi")
    await sim.drop_connection("s1", reconnect=False)
    await asyncio.sleep(0.1)
    assert not events.of(Disconnected)[1].will_reconnect and len(events.of(Connected)) == 2
    assert not events.of(ReceiptReceived)  # WhatsApp holds it while the device is offline
    await sim.connect("s1")
    [receipt] = await events.wait_for(ReceiptReceived)
    assert receipt.message_ids == (result.message_id,)
    assert events.pos(events.of(Connected)[2]) < events.pos(receipt)


async def test_connect_failures_can_be_injected(sim: SimulatorTransport, events: Recorder) -> None:
    await linked(sim, events)
    await sim.stop("s1")
    sim.set_connect_failure("s1", "temporarily banned", permanent=True)
    await sim.connect("s1")
    [failed] = await events.wait_for(ConnectFailed)
    assert failed.permanent and failed.reason == "temporarily banned"
    assert not await sim.is_connected("s1")
    await sim.connect("s1")
    await events.wait_for(Connected, count=2)


async def test_logout_removes_the_link(sim: SimulatorTransport, events: Recorder, tmp_path: Path) -> None:
    await linked(sim, events)
    assert (tmp_path / "s1.simulator.json").is_file()
    await sim.stop("s1")
    with pytest.raises(SessionNotConnected):
        await sim.logout("s1")  # WhatsApp must be told, so a linked session has to be connected
    await sim.connect("s1")
    await events.wait_for(Connected, count=2)
    await sim.logout("s1")
    assert [type(e) for e in events.events][-1] is LoggedOut
    assert not (tmp_path / "s1.simulator.json").exists()
    assert await sim.account("s1") is None and not await sim.is_connected("s1")
    with pytest.raises(SessionNotConnected):
        await sim.contacts("s1")
    await sim.connect("s1")
    await events.wait_for(QRCodeIssued, count=2)  # linking again needs a new QR code


async def test_unlink_from_phone_online_and_offline(sim: SimulatorTransport, events: Recorder, tmp_path: Path) -> None:
    await linked(sim, events)
    await sim.unlink_from_phone("s1")
    [logged_out] = events.of(LoggedOut)
    assert "phone" in logged_out.reason and not (tmp_path / "s1.simulator.json").exists()

    await linked(sim, events, "s2")
    await sim.stop("s2")
    await sim.unlink_from_phone("s2")  # offline: WhatsApp tells the device on its next connect
    assert (tmp_path / "s2.simulator.json").exists()
    await sim.connect("s2")
    await events.wait_for(LoggedOut, count=2)
    assert not (tmp_path / "s2.simulator.json").exists() and len(events.of(Connected)) == 2


async def test_a_failing_sink_does_not_stop_the_timers() -> None:
    seen: list[TransportEvent] = []
    exhausted = asyncio.Event()

    async def flaky(event: TransportEvent) -> None:
        seen.append(event)
        if isinstance(event, QRCodesExhausted):
            exhausted.set()
        if len(seen) == 1:
            raise RuntimeError("the bridge broke on the first QR code")

    sim = SimulatorTransport(flaky, qr_first_ttl=0.02, qr_next_ttl=0.01, qr_codes=3)
    try:
        await sim.connect("s1")
        async with asyncio.timeout(2):
            await exhausted.wait()
        assert [type(e) for e in seen] == [QRCodeIssued] * 3 + [QRCodesExhausted]
    finally:
        await sim.close()


async def test_the_sink_may_scan_from_inside_a_qr_event(tmp_path: Path) -> None:
    sim: SimulatorTransport
    seen: list[TransportEvent] = []
    connected = asyncio.Event()

    async def auto_scan(event: TransportEvent) -> None:  # a demo that links itself
        seen.append(event)
        if isinstance(event, QRCodeIssued):
            await sim.scan(event.session_id)
        elif isinstance(event, Connected):
            connected.set()

    sim = SimulatorTransport(auto_scan, qr_first_ttl=0.05, qr_next_ttl=0.05, connect_delay=0.01)
    try:
        await sim.connect("s1")
        async with asyncio.timeout(3):
            await connected.wait()
        await asyncio.sleep(0.15)  # three QR lifetimes: a rotation still running would have shown more codes
        assert [type(e) for e in seen] == [QRCodeIssued, Paired, Connected]
    finally:
        await sim.close()


async def test_close_cancels_every_timer(events: Recorder) -> None:
    sim = SimulatorTransport(events, qr_first_ttl=30, connect_delay=0.01, receipt_delays=(30, 60), reconnect_delay=30)
    await sim.connect("pairing")
    await linked(sim, events, "linked")
    await sim.send_text("linked", PHONE, "hi")
    await linked(sim, events, "dropped")
    await sim.drop_connection("dropped")
    assert len(sim._tasks) == 3  # the rotation, the receipts, the reconnect
    others = asyncio.all_tasks() - {asyncio.current_task()}
    count = len(events.events)

    await sim.close()
    assert not sim._tasks and all(task.done() for task in others)
    assert not await sim.is_connected("linked")
    with pytest.raises(TransportError):
        await sim.connect("linked")
    await asyncio.sleep(0.05)
    assert len(events.events) == count

"""A double of neonize's Go core: the `gocode` functions neonize's Python calls, playing whatsmeow's behaviours.

Installed in place of the loaded `.so` (`neonize.aioze.client.gocode`), so everything above it is neonize's own
code: `NewAClient`, its `to_thread` calls, its ctypes callbacks and `Event.execute`. What it reproduces, with the
place in neonize 0.5.2's `goneonize/main.go` or whatsmeow it comes from:

- `Neonize` is the blocking call behind `client.connect()`; each call opens a new store and never closes it
  (main.go:58-63, 623): `stores_opened` counts them.
- An unlinked store shows QR codes through the QR callback from the Go thread. `Stop` during the QR phase marks
  the disconnect expected and the QR emitter returns without closing the channel (qrchan.go:112), so `Neonize`
  never returns; a pairing error closes the channel and the core then waits for a device id forever. Either way
  the thread is held until `release_all()` (the end of the test).
- A linked store connects, emits `Connected` and holds the call until `Stop` cancels it (main.go:1170-1176).
- Events reach Python from Go threads, one thread each, in whatever order a test asks (`deliver`).
- Sends answer whatsmeow's error texts (`send_errors`), e.g. 463 and the send-response timeout.
- A connection gone half-dead (`unanswered`): still "connected", but an IQ such as `GetBlocklist` gets no
  answer (whatsmeow's "info query timed out"); a new `Neonize` call for that client connects afresh.
- LID ↔ phone-number mapping (`lid_map`), `IsOnWhatsApp` answers (`on_whatsapp`), presence and read receipts.
- User info (`users`), profile pictures (`pictures`, none: whatsmeow's ErrProfilePictureNotSet), the block list
  (`blocked`) and the own profile (`own`).
- Media downloads by direct path and media key from a media server (`media_server`), 404 for a path it lacks.
"""

from __future__ import annotations

import ctypes
import hashlib
import queue
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import neonize.aioze.client as neonize_client
import pytest
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

NO_NETWORK = "dial tcp: lookup web.whatsapp.com: no such host"


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> pb.JID:
    return pb.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def jid_str(j: pb.JID) -> str:
    return f"{j.User}@{j.Server}"


@dataclass
class GoClient:
    """One entry of the Go core's `clients` map: a whatsmeow client and the blocked `Neonize` call behind it."""

    uuid: bytes
    store: str
    qr_cb: Any
    event_cb: Any
    commands: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    connected: bool = False
    stopped: bool = False
    thread: threading.Thread | None = None


class WhatsmeowDouble:
    def __init__(self) -> None:
        self.clients: dict[bytes, GoClient] = {}
        self.linked: dict[str, str] = {}  # store path → phone of the linked account
        self.network = True
        self.stores_opened = 0
        self.connect_times: list[float] = []  # monotonic time each Neonize call began
        self.stuck = 0  # Neonize calls that will never return
        self.sent: list[tuple[str, e2e.Message]] = []
        self.send_errors: list[str] = []  # answered by the next sends, one each
        self.on_whatsapp: dict[str, str | None] = {}  # "+digits" → JID string, or None: not on WhatsApp
        self.on_whatsapp_queries: list[str] = []
        self.lid_map: dict[str, str] = {}  # "lid@lid" → "digits@s.whatsapp.net"
        self.presences: list[tuple[bytes, bytes]] = []
        self.get_me_delay_s = 0.0  # a slow store read, as under load
        self.read_marks: list[tuple[tuple[str, ...], str, str]] = []
        # Polls whose secret this device holds (whatsmeow keeps it from the poll's creation), and each vote's choice.
        self.poll_options: dict[str, list[str]] = {}  # poll message id → its options
        self.votes: dict[str, list[str]] = {}  # vote message id → the options chosen
        self.presence_subscriptions: list[str] = []
        self.chat_presences: list[tuple[str, int, int]] = []  # (chat, ChatPresence, ChatPresenceMedia)
        self.users: dict[str, pb.UserInfo] = {}  # JID string → what GetUserInfo answers for it
        self.pictures: dict[str, str] = {}  # JID string → picture id (none: ErrProfilePictureNotSet)
        self.blocked: list[str] = []
        self.own: dict[str, Any] = {}  # what SetPushName, SetStatusMessage and SetProfilePhoto were given
        self.media_server: dict[str, tuple[bytes, bytes]] = {}  # direct path → (media key, the file's bytes)
        self.downloads: list[tuple[str, int, str]] = []  # (direct path, neonize media type, MMS type) asked for
        self.unanswered: set[bytes] = set()  # uuids whose live connection no longer carries anything
        self.pings = 0
        self._release = threading.Event()
        self._lock = threading.Lock()

    # --- test controls -----------------------------------------------------------------------------------

    def client(self, uuid: str | bytes) -> GoClient:
        return self.clients[uuid.encode() if isinstance(uuid, str) else uuid]

    def scan(self, uuid: str | bytes, phone: str) -> None:
        """The phone scans the QR code shown by `uuid`'s client."""
        self.client(uuid).commands.put(("scan", phone))

    def pair_error(self, uuid: str | bytes) -> None:
        self.client(uuid).commands.put(("pair_error", None))

    def qr(self, uuid: str | bytes, code: str) -> None:
        self.client(uuid).commands.put(("qr", code))

    def deliver(self, uuid: str | bytes, *events: Any, gap_s: float = 0.0) -> None:
        """Hand events to Python as the Go core does: each from a Go thread of its own, started in this order."""
        c = self.client(uuid)
        threads = []
        for n, event in enumerate(events):
            threads.append(threading.Thread(target=self._emit, args=(c, event, gap_s * n)))
            threads[-1].start()
        for thread in threads:
            thread.join(5)

    def release_all(self) -> None:
        """The end of the test: let every held Go call return, so its thread ends."""
        self._release.set()
        for c in list(self.clients.values()):
            c.commands.put(("release", None))

    # --- the Go functions neonize calls ------------------------------------------------------------------

    def Neonize(self, db: bytes, uuid: bytes, jidbuf: bytes, jidlen: int, new_device: int, level: Any,  # noqa: N802
                qr_cb: Any, login_cb: Any, event_cb: Any, log_cb: Any, *rest: Any) -> bytes:
        with self._lock:
            self.stores_opened += 1  # sqlstore.New on every call, never closed
            self.connect_times.append(time.monotonic())
            c = GoClient(uuid=uuid, store=db.decode(), qr_cb=qr_cb, event_cb=event_cb,
                         thread=threading.current_thread())
            self.clients[uuid] = c
            self.unanswered.discard(uuid)  # a fresh websocket
        if not self.network:
            return NO_NETWORK.encode()
        if c.store in self.linked:
            return self._run_linked(c)
        return self._run_qr(c)

    def _run_linked(self, c: GoClient) -> bytes:
        c.connected = True
        self._emit(c, pb.Connected(status=True))
        while True:  # CallbackFunction until Stop cancels its context
            command, _ = c.commands.get()
            if command in ("stop", "release"):
                return b""

    def _run_qr(self, c: GoClient) -> bytes:
        self._show_qr(c, "2@first")
        while True:
            command, arg = c.commands.get()
            if command == "qr":
                self._show_qr(c, arg)
            elif command == "scan":
                self.linked[c.store] = arg
                device = jid(arg, device=7)
                self._emit(c, pb.PairStatus(ID=device, BusinessName="", Platform="android", Status=2, Error=""))
                return self._run_linked(c)
            elif command in ("stop", "pair_error"):
                # qrchan.go: an expected disconnect returns without closing the channel; a pair error closes it
                # and main.go then waits for a device id. The call never returns either way.
                if command == "pair_error":
                    self._emit(c, pb.PairStatus(ID=jid(""), Status=1, Error="pairing failed"))
                with self._lock:
                    self.stuck += 1
                self._release.wait()
                with self._lock:
                    self.stuck -= 1
                return b""
            elif command == "release":
                return b""

    def _show_qr(self, c: GoClient, code: str) -> None:
        buffer = ctypes.create_string_buffer(code.encode())
        c.qr_cb(None, ctypes.addressof(buffer))

    def _emit(self, c: GoClient, event: Any, delay: float = 0.0) -> None:
        if delay:
            threading.Event().wait(delay)
        data = event.SerializePartialToString()
        buffer = ctypes.create_string_buffer(data, len(data))
        c.event_cb(c.uuid, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)])

    def Stop(self, uuid: bytes) -> None:  # noqa: N802
        with self._lock:
            c = self.clients.pop(uuid, None)
        if c is not None:
            c.stopped, c.connected = True, False
            c.commands.put(("stop", None))

    def StopAll(self) -> None:  # noqa: N802
        for uuid in list(self.clients):
            self.Stop(uuid)

    def Disconnect(self, uuid: bytes) -> None:  # noqa: N802
        c = self.clients.get(uuid)
        if c is not None:
            c.connected = False

    def IsConnected(self, uuid: bytes) -> bool:  # noqa: N802
        c = self.clients.get(uuid)
        return c is not None and c.connected

    def IsLoggedIn(self, uuid: bytes) -> bool:  # noqa: N802
        c = self.clients.get(uuid)
        return c is not None and c.connected and c.store in self.linked

    def GetMe(self, uuid: bytes) -> bytes:  # noqa: N802
        c = self.clients[uuid]  # a nil client here is a Go panic in the real core
        if self.get_me_delay_s:
            threading.Event().wait(self.get_me_delay_s)
        phone = self.linked[c.store]
        return pb.Device(JID=jid(phone, device=7), LID=jid("99" + phone, "lid"), PushName="Toko",
                         Platform="android").SerializePartialToString()

    def Logout(self, uuid: bytes) -> bytes:  # noqa: N802
        c = self.clients[uuid]
        self.linked.pop(c.store, None)
        return b""

    def SendMessage(self, uuid: bytes, to: bytes, to_len: int, message: bytes, message_len: int) -> bytes:  # noqa: N802
        c = self.clients.get(uuid)
        if c is None or not c.connected:
            return pb.SendMessageReturnFunction(Error="websocket not connected").SerializePartialToString()
        recipient = pb.JID.FromString(to[:to_len])
        error = self.send_errors.pop(0) if self.send_errors else ""
        if error and not error.startswith("timed out"):  # refused before it left, or by the server
            return pb.SendMessageReturnFunction(Error=error).SerializePartialToString()
        self.sent.append((jid_str(recipient), e2e.Message.FromString(message[:message_len])))
        if error:  # send.go: the node went out and its answer did not come back in time
            return pb.SendMessageReturnFunction(Error=error).SerializePartialToString()
        response = pb.SendResponse(ID=f"3EB0GO{len(self.sent):04d}", Timestamp=1_722_000_100)
        return pb.SendMessageReturnFunction(SendResponse=response).SerializePartialToString()

    def IsOnWhatsApp(self, uuid: bytes, numbers: bytes, length: int) -> bytes:  # noqa: N802
        answers = []
        for number in numbers.decode().split(" "):
            self.on_whatsapp_queries.append(number)
            found = self.on_whatsapp.get(number, number.lstrip("+") + "@s.whatsapp.net")
            user, _, server = (found or number.lstrip("+") + "@s.whatsapp.net").partition("@")
            answers.append(pb.IsOnWhatsAppResponse(Query=number, JID=jid(user, server), IsIn=found is not None))
        return pb.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=answers).SerializePartialToString()

    def GetPNFromLID(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        lid = pb.JID.FromString(data[:length])
        phone = self.lid_map.get(jid_str(lid))
        if phone is None:
            return pb.GetJIDFromStoreReturnFunction(Jid=jid(""), Error="").SerializePartialToString()
        user, _, server = phone.partition("@")
        return pb.GetJIDFromStoreReturnFunction(Jid=jid(user, server)).SerializePartialToString()

    def SendPresence(self, uuid: bytes, presence: bytes) -> bytes:  # noqa: N802
        self.presences.append((uuid, presence))
        return b""

    def MarkRead(self, uuid: bytes, ids: bytes, timestamp: int, chat: bytes, chat_len: int, sender: bytes,  # noqa: N802
                 sender_len: int, receipt: bytes, *rest: Any) -> bytes:
        self.read_marks.append((tuple(ids.decode().split(" ")), jid_str(pb.JID.FromString(chat[:chat_len])),
                                jid_str(pb.JID.FromString(sender[:sender_len]))))
        return b""

    def SendChatPresence(self, uuid: bytes, chat: bytes, chat_len: int, state: int, media: int) -> bytes:  # noqa: N802
        self.chat_presences.append((jid_str(pb.JID.FromString(chat[:chat_len])), state, media))
        return b""

    def DecryptPollVote(self, uuid: bytes, message: bytes, length: int) -> bytes:  # noqa: N802
        """whatsmeow's DecryptPollVote: the choices as SHA-256 hashes of the option names, or the error it gives
        for a poll whose secret this device never stored."""
        ev = pb.Message.FromString(message[:length])
        poll_id = ev.Message.pollUpdateMessage.pollCreationMessageKey.ID
        if poll_id not in self.poll_options:
            return pb.ReturnFunctionWithError(Error="failed to get message secret: original message secret key "
                                                    "not found").SerializePartialToString()
        chosen = [hashlib.sha256(o.encode()).digest() for o in self.votes.get(ev.Info.ID, [])]
        return pb.ReturnFunctionWithError(
            PollVoteMessage=e2e.PollVoteMessage(selectedOptions=chosen)).SerializePartialToString()

    def SubscribePresence(self, uuid: bytes, jid_bytes: bytes, length: int) -> bytes:  # noqa: N802
        self.presence_subscriptions.append(jid_str(pb.JID.FromString(jid_bytes[:length])))
        return b""

    # --- contacts (whatsmeow's user info, pictures, blocks, own profile) ---------------------------------

    def GetUserInfo(self, uuid: bytes, jids: bytes, length: int) -> bytes:  # noqa: N802
        answers = [pb.GetUserInfoSingleReturnFunction(JID=j, UserInfo=self.users[jid_str(j)])
                   for j in pb.JIDArray.FromString(jids[:length]).JIDS if jid_str(j) in self.users]
        return pb.GetUserInfoReturnFunction(UsersInfo=answers).SerializePartialToString()

    def GetProfilePicture(self, uuid: bytes, target: bytes, length: int, extra: bytes,  # noqa: N802
                          extra_len: int) -> bytes:
        who = jid_str(pb.JID.FromString(target[:length]))
        preview = pb.GetProfilePictureParams.FromString(extra[:extra_len]).Preview
        picture = self.pictures.get(who)
        if picture is None:  # profilepic.go: ErrProfilePictureNotSet
            return pb.GetProfilePictureReturnFunction(Error="that user does not have a profile picture")\
                .SerializePartialToString()
        kind = "preview" if preview else "image"
        return pb.GetProfilePictureReturnFunction(Picture=pb.ProfilePictureInfo(
            URL=f"https://pps.whatsapp.net/v/{picture}/{kind}.jpg", ID=picture, Type=kind,
            DirectPath=f"/v/{picture}")).SerializePartialToString()

    def GetBlocklist(self, uuid: bytes) -> bytes:  # noqa: N802
        """The block list; also the gateway's ping (an IQ the server always answers on a live connection)."""
        c = self.clients.get(uuid)
        self.pings += 1
        if c is None or not c.connected:
            return pb.GetBlocklistReturnFunction(Error="websocket not connected").SerializePartialToString()
        if uuid in self.unanswered:
            return pb.GetBlocklistReturnFunction(Error="info query timed out").SerializePartialToString()
        listed = [jid(j.partition("@")[0], j.partition("@")[2]) for j in self.blocked]
        return pb.GetBlocklistReturnFunction(Blocklist=pb.Blocklist(DHash="1", JIDs=listed)).SerializePartialToString()

    def UpdateBlocklist(self, uuid: bytes, target: bytes, length: int, action: bytes) -> bytes:  # noqa: N802
        who = jid_str(pb.JID.FromString(target[:length]))
        if action == b"block" and who not in self.blocked:
            self.blocked.append(who)
        elif action == b"unblock" and who in self.blocked:
            self.blocked.remove(who)
        return self.GetBlocklist(uuid)

    def SetPushName(self, uuid: bytes, name: bytes) -> bytes:  # noqa: N802
        self.own["push_name"] = name.decode()
        return b""

    def SetStatusMessage(self, uuid: bytes, text: bytes) -> bytes:  # noqa: N802
        self.own["about"] = text.decode()
        return b""

    def SetProfilePhoto(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        self.own["picture"] = data[:length]
        return pb.SetGroupPhotoReturnFunction(PictureID="1722000200").SerializePartialToString()

    def GetLIDFromPN(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        phone = jid_str(pb.JID.FromString(data[:length]))
        lid = next((lid for lid, pn in self.lid_map.items() if pn == phone), None)
        found = jid(lid.partition("@")[0], lid.partition("@")[2]) if lid else jid("")
        return pb.GetJIDFromStoreReturnFunction(Jid=found).SerializePartialToString()
    def DownloadMediaWithPath(self, uuid: bytes, direct_path: bytes, enc_hash: bytes, enc_len: int,  # noqa: N802
                              file_hash: bytes, hash_len: int, media_key: bytes, key_len: int, length: int,
                              media_type: int, mms_type: bytes) -> bytes:
        """download.go: the CDN answers 404 for a path it does not have (any more); a wrong key fails the MAC."""
        path = direct_path.decode()
        self.downloads.append((path, media_type, mms_type.decode()))
        stored = self.media_server.get(path)
        if stored is None:
            error = "failed to download media from last host: download failed with status code 404"
            return pb.DownloadReturnFunction(Error=error).SerializePartialToString()
        key, data = stored
        if media_key[:key_len] != key:
            return pb.DownloadReturnFunction(Error="invalid media hmac").SerializePartialToString()
        return pb.DownloadReturnFunction(Binary=data).SerializePartialToString()


@pytest.fixture
async def whatsmeow(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WhatsmeowDouble]:
    """The double in place of the Go core; async, so its held calls end before the test's loop closes.

    WhatsApp's host, which the transport checks before each connect, is a local TCP listener meanwhile.
    """
    import asyncio

    from wagate.transport.neonize import loop as transport_loop

    double = WhatsmeowDouble()
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    monkeypatch.setattr(transport_loop, "WHATSAPP_ENDPOINT", server.sockets[0].getsockname()[:2])
    monkeypatch.setattr(neonize_client, "gocode", double)
    yield double
    double.release_all()
    server.close()
    await server.wait_closed()

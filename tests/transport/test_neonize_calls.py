"""Calls on neonize: whatsmeow's CallOffer and CallTerminate (neonize's real protobuf types, through neonize's own
dispatch path) as the gateway's events, and a reject reaching the Go layer with the caller as the offer named it."""

from __future__ import annotations

import ctypes

from neonize.proto import Neonize_pb2 as pb

from tests.transport.test_neonize import PHONE, FakeGoCore, dispatch, jid, sink
from wagate.errors import TransportError
from wagate.transport.base import CallEnded, CallOffered
from wagate.transport.neonize import NeonizeTransport
from wagate.transport.neonize.calls import call_ended, call_offered

LID = "123456789012345"


def offer(*, video: bool = False, by_lid: bool = False) -> pb.CallOffer:
    meta = pb.BasicCallMeta(timestamp=1_722_000_000, callID="CALL1D", callCreator=jid(LID, "lid") if by_lid
                            else jid(PHONE), callCreatorAlt=jid(PHONE) if by_lid else jid(LID, "lid"))
    getattr(meta, "from").CopyFrom(jid(LID, "lid") if by_lid else jid(PHONE))
    media = pb.Node(Tag="video" if video else "audio")
    return pb.CallOffer(basicCallMeta=meta, callRemoteMeta=pb.CallRemoteMeta(remotePlatform="android"),
                        data=pb.Node(Tag="offer", Nodes=[media]))


def test_an_offer_and_its_end_become_the_gateways_events_with_the_callers_phone_number() -> None:
    assert call_offered("s1", offer(video=True)) == CallOffered(
        session_id="s1", call_id="CALL1D", caller=f"{PHONE}@s.whatsapp.net", caller_lid=f"{LID}@lid", video=True,
        timestamp=1_722_000_000.0)
    by_lid = call_offered("s1", offer(by_lid=True))
    assert (by_lid.caller, by_lid.caller_lid, by_lid.video) == (f"{PHONE}@s.whatsapp.net", f"{LID}@lid", False)
    terminate = pb.CallTerminate(basicCallMeta=offer().basicCallMeta, reason="timeout")
    assert call_ended("s1", terminate) == CallEnded(session_id="s1", call_id="CALL1D",
                                                    caller=f"{PHONE}@s.whatsapp.net", reason="timeout",
                                                    timestamp=1_722_000_000.0)


async def test_call_events_arrive_through_neonizes_dispatch(neonize_transport: NeonizeTransport) -> None:
    client = neonize_transport.client("s1")
    dispatch(client, offer(video=True))
    dispatch(client, pb.CallTerminate(basicCallMeta=offer().basicCallMeta, reason="reject"))
    [received] = await sink(neonize_transport).wait_for(CallOffered)
    [ended] = await sink(neonize_transport).wait_for(CallEnded)
    assert (received.call_id, received.video, ended.reason) == ("CALL1D", True, "reject")


class CallsGoCore(FakeGoCore):
    def __init__(self) -> None:
        super().__init__()
        self.rejected: list[tuple[pb.JID, str]] = []
        self.reject_error = b""

    async def RejectCall(self, uuid: bytes, jid_buf: bytes, length: int, call_id: ctypes.Array[ctypes.c_char]  # noqa: N802
                         ) -> bytes:
        self.rejected.append((pb.JID.FromString(jid_buf[:length]), call_id.value.decode()))
        return self.reject_error


async def test_a_reject_names_the_caller_as_the_offer_did_and_a_refusal_is_an_error(
    neonize_transport: NeonizeTransport,
) -> None:
    core = CallsGoCore()
    neonize_transport.client("s1")._NewAClient__client = core
    await neonize_transport.reject_call("s1", f"{LID}@lid", "CALL1D")
    [(to, call_id)] = core.rejected
    assert (to.User, to.Server, call_id) == (LID, "lid", "CALL1D")
    core.reject_error = b"server returned error 404"
    try:
        await neonize_transport.reject_call("s1", f"{PHONE}@s.whatsapp.net", "CALL2")
        raise AssertionError("a refused reject passed")
    except TransportError as exc:
        assert "404" in exc.message



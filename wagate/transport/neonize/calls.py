"""Calls to the session's number: whatsmeow's CallOffer and CallTerminate as `CallOffered` / `CallEnded`, and
rejecting an offer (`Client.RejectCall`, on the connection that received it)."""

from __future__ import annotations

from typing import Any

from wagate.transport.base import CallEnded, CallOffered
from wagate.transport.neonize import mapping
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState


def _caller(meta: Any) -> tuple[str, str | None]:
    """(phone-number JID, LID or None) of a call's creator; WhatsApp may name the creator by LID, the other
    form then in callCreatorAlt."""
    creator = mapping.jid_to_str(meta.callCreator) if meta.HasField("callCreator") else mapping.jid_to_str(
        getattr(meta, "from"))
    alt = mapping.jid_to_str(meta.callCreatorAlt) if meta.HasField("callCreatorAlt") else None
    if creator.endswith("@lid"):
        return (alt or creator), creator
    return creator, (alt if alt and alt.endswith("@lid") else None)


def _has_child(node: Any, tag: str) -> bool:
    return any(child.Tag == tag or _has_child(child, tag) for child in node.Nodes)


def call_offered(session_id: str, ev: Any) -> CallOffered:
    meta = ev.basicCallMeta
    caller, lid = _caller(meta)
    return CallOffered(session_id=session_id, call_id=meta.callID, caller=caller, caller_lid=lid,
                       video=_has_child(ev.data, "video"), group=_has_child(ev.data, "group"),
                       timestamp=mapping.epoch_seconds(meta.timestamp))


def call_ended(session_id: str, ev: Any) -> CallEnded:
    meta = ev.basicCallMeta
    caller, _ = _caller(meta)
    return CallEnded(session_id=session_id, call_id=meta.callID, caller=caller, reason=ev.reason or None,
                     timestamp=mapping.epoch_seconds(meta.timestamp))


class NeonizeCalls(NeonizeBase):
    def _event_handlers(self) -> dict[type, EventHandler]:
        from neonize.aioze import events as ev

        return {**super()._event_handlers(), ev.CallOfferEv: self._on_call_offer,
                ev.CallTerminateEv: self._on_call_terminate}

    async def _on_call_offer(self, s: SessionState, ev: Any) -> None:
        await self._emit(call_offered(s.id, ev))

    async def _on_call_terminate(self, s: SessionState, ev: Any) -> None:
        await self._emit(call_ended(s.id, ev))

    async def reject_call(self, session_id: str, caller: str, call_id: str) -> None:
        """`caller` as the offer named it (its LID when it came by LID): whatsmeow answers to that JID."""
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            await s.client.reject_call(recipient_jid(caller), call_id)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

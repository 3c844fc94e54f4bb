"""Runs a `simulator_control` job: one phone-side action of the simulated WhatsApp, by name.

The action is the name of a `PhoneSide` method and the params its keyword arguments (see
wagate/schemas/simulator.py for the routes that enqueue them); only the methods listed here can be called.
"""

from __future__ import annotations

from typing import Any

from wagate.errors import MessageUnsendable, TransportError
from wagate.transport.base import WhatsAppTransport
from wagate.transport.simulator.groups import MEMBER_ACTIONS

ACTIONS = frozenset({
    "scan", "enter_pair_code", "inject_message", "drop_connection", "unlink_from_phone", "set_send_failure",
    "set_not_on_whatsapp", "contact_sends", "contact_reacts", "contact_edits", "contact_revokes", "contact_votes",
    "contact_presence", "phone_sends_history", *MEMBER_ACTIONS, "set_send_limit", "go_silent",
})
_FAILURES: dict[str, TransportError | None] = {
    "transient": TransportError("simulated temporary failure"),
    "permanent": MessageUnsendable("simulated permanent failure"),
    "none": None,
}


async def apply(transport: WhatsAppTransport, session_id: str, action: str, params: dict[str, Any]) -> str | None:
    """Play the action; the reason the phone cannot do it (no QR code on screen …), or None once it is done.

    A refusal is the job's answer rather than its failure: the web waits for it to answer 409 with the reason.
    """
    from wagate.transport.simulator import PhoneActionError, SimulatorTransport

    if not isinstance(transport, SimulatorTransport):
        raise TransportError("simulator controls need WA_TRANSPORT=simulator")
    if action not in ACTIONS:
        raise ValueError(f"unknown simulator action {action!r}")
    params = dict(params)
    try:
        if action == "set_not_on_whatsapp":
            transport.set_not_on_whatsapp(params["phone"], params.get("not_on", True))
        elif action == "go_silent":
            transport.go_silent(session_id)
        elif action == "set_send_limit":
            transport.set_send_limit(session_id, float(params["seconds"]), int(params.get("code", 463)))
        elif action == "set_send_failure":
            transport.set_send_failure(session_id, _FAILURES[params["kind"]], params.get("times", 1))
        else:
            await getattr(transport, action)(session_id, **params)
    except PhoneActionError as exc:
        return str(exc)
    return None

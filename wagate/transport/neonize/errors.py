"""Our errors for neonize's: whatsmeow reports failures as text, judged here by what the text says."""

from __future__ import annotations

import re

from wagate.errors import InvalidRecipient, SendLimited, SendOutcomeUnknown, SessionNotConnected, TransportError

# whatsmeow's SendMessage errors raised before the message node is written to the socket, or when the server
# answers it with an error (it then has not taken the message): sending again cannot show it twice. Any other
# failure (above all "timed out waiting for message send response") may come after WhatsApp took it.
_SEND_REFUSED = (
    "websocket not connected", "not logged in", "device jid", "server returned error", "failed to get device",
    "usync", "failed to encrypt", "unknown server", "invalid jid", "parse jid", "failed to get group", "marshal",
    "prekey", "no signal session",
)
# send.go answers a refused message node with `fmt.Errorf("%w %d", ErrServerReturnedError, code)`; an info query
# over the limit reads "info query returned status 429: rate-overlimit" (ErrIQRateOverLimit). Neither carries a
# time to wait: the sender's pause is its own (README "Real WhatsApp (neonize)").
_LIMIT = re.compile(r"server returned error (463|429)\b|returned status (429)\b|rate-overlimit")
_LIMIT_NAMES = {463: "reachout timelock: new contacts refused", 429: "rate-overlimit"}


def send_error(exc: Exception) -> TransportError:
    """Our error for a failed send: retryable only where whatsmeow certainly did not hand the message over."""
    text = str(exc) or type(exc).__name__
    limited = _limited(text)
    if limited is not None:
        return limited
    if any(s in text.lower() for s in _SEND_REFUSED):
        return transport_error(exc)
    return SendOutcomeUnknown(f"WhatsApp may have the message: {text}")


def _limited(text: str) -> SendLimited | None:
    limit = _LIMIT.search(text.lower())
    if limit is None:
        return None
    code = int(limit.group(1) or limit.group(2) or 429)
    return SendLimited(f"WhatsApp refused the send ({code} {_LIMIT_NAMES[code]})", code=code)


def transport_error(exc: Exception) -> TransportError:
    """Our error for a neonize/whatsmeow failure, judged from whatsmeow's error text."""
    text = str(exc) or type(exc).__name__
    limited = _limited(text)  # a number check (usync) over the limit, too
    if limited is not None:
        return limited
    lowered = text.lower()
    # whatsmeow's ErrNotLoggedIn reads "the store doesn't contain a device JID": the session, not the message
    if any(s in lowered for s in ("not logged in", "not connected", "websocket", "client is nil", "device jid")):
        return SessionNotConnected(text)
    if any(s in lowered for s in ("invalid jid", "unknown server", "unknown user server", "parse jid")):
        return InvalidRecipient(text)
    return TransportError(text)

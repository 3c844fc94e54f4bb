"""What a session's client reports about its connection: paired, connected, logged out, failed, dropped."""

from __future__ import annotations

from typing import Any

from wagate.transport.base import Connected, ConnectFailed, Disconnected, LoggedOut, Paired
from wagate.transport.neonize import mapping
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState


class NeonizeConnection(NeonizeBase):
    """The connection's events: pairing, connected, logged out, connect failures, drops, keepalive."""

    def _event_handlers(self) -> dict[type, EventHandler]:
        from neonize.aioze import events as ev

        return {
            **super()._event_handlers(),
            ev.ConnectedEv: self._on_connected,
            ev.PairStatusEv: self._on_pair_status,
            ev.LoggedOutEv: self._on_logged_out,
            ev.ConnectFailureEv: self._on_connect_failure,
            ev.TemporaryBanEv: self._on_temporary_ban,
            ev.ClientOutdatedEv: self._on_client_outdated,
            ev.DisconnectedEv: self._on_disconnected,
            ev.StreamReplacedEv: self._on_stream_replaced,
            ev.KeepAliveTimeoutEv: self._on_keepalive_timeout,
            ev.KeepAliveRestoredEv: self._on_keepalive_restored,
        }

    async def ping(self, session_id: str) -> bool:
        """A round trip to WhatsApp: the blocklist query (an IQ, answered by the server, never from a cache)."""
        from neonize.exc import NeonizeError

        s = self._sessions.get(session_id)
        if s is None or not await s.client.is_connected or not await s.client.is_logged_in:
            return False  # pitfall 5: nothing is asked of a client that is not logged in
        try:
            await s.client.get_blocklist()
        except NeonizeError as exc:
            s.log.info("whatsapp ping not answered", reason=str(exc))
            return False
        return True

    async def _on_pair_status(self, s: SessionState, ev: Any) -> None:
        if ev.Status != 2:  # PairStatus.SUCCESS
            # whatsmeow closes the QR channel on a pairing error and neonize's Go core then waits forever: start
            # again on a fresh client, which shows new codes.
            s.log.warning("whatsapp pairing failed; showing new QR codes", error=ev.Error)
            if s.wanted:
                await self._halt(s)
                await self.connect(s.id)
            return
        s.paired = True
        await self._emit(Paired(session_id=s.id, account=mapping.account_from_pair(ev)))

    async def _on_connected(self, s: SessionState, ev: Any) -> None:
        s.paired, s.failures, s.keepalive_lost = True, 0, False
        s.presence_followed.clear()  # presence subscriptions last one connection
        account = await self._fetch_account(s)
        if account is None:
            s.log.error("whatsapp connected but the account is unknown")
            return
        await self._emit(Connected(session_id=s.id, account=account))
        await self._announce_presence(s)

    async def _announce_presence(self, s: SessionState) -> None:
        """whatsmeow sends no presence by itself, and until one is sent contacts see no name (presence.go)."""
        from neonize.exc import NeonizeError
        from neonize.utils.enum import Presence

        try:
            await s.client.send_presence(Presence.AVAILABLE)
        except NeonizeError as exc:
            s.log.warning("whatsapp presence not sent", reason=str(exc))

    async def _on_logged_out(self, s: SessionState, ev: Any) -> None:
        if s.logging_out:
            return  # `logout` reports this itself
        reason = mapping.failure_reason_name(ev.Reason)
        s.wanted, s.account = False, None
        # A LoggedOut event says whether it came on connecting; a ConnectFailure handed on here has no such field.
        on_connect = ev.OnConnect if "OnConnect" in ev.DESCRIPTOR.fields_by_name else True
        s.log.warning("whatsapp session logged out", reason=reason, on_connect=on_connect)
        await self._emit(LoggedOut(session_id=s.id, reason=reason))
        await self._halt(s)

    async def _on_connect_failure(self, s: SessionState, ev: Any) -> None:
        name = mapping.failure_reason_name(ev.Reason)
        reason = f"{name}: {ev.Message}" if ev.Message else name
        if ev.Reason in mapping.LOGGED_OUT_REASONS:
            await self._on_logged_out(s, ev)
        elif ev.Reason in mapping.PERMANENT_FAILURE_REASONS:
            await self._fail_permanently(s, reason)
        elif s.wanted:
            # whatsmeow does not reconnect after a <failure> stanza: restart the client through supervision
            s.restart_reason = reason
            async with self._go_lock:
                await s.client.stop()

    async def _on_temporary_ban(self, s: SessionState, ev: Any) -> None:
        await self._fail_permanently(s, f"temporarily banned (code {ev.Code}, expires in {ev.Expire} s)")

    async def _on_client_outdated(self, s: SessionState, ev: Any) -> None:
        await self._fail_permanently(s, "client outdated: update neonize")

    async def _fail_permanently(self, s: SessionState, reason: str) -> None:
        s.wanted = False
        s.log.error("whatsapp connect failed permanently", reason=reason)
        await self._emit(ConnectFailed(session_id=s.id, reason=reason, permanent=True))
        await self._halt(s)

    async def _on_disconnected(self, s: SessionState, ev: Any) -> None:
        if s.wanted:  # whatsmeow reconnects by itself after an unexpected drop
            await self._emit(Disconnected(session_id=s.id, reason="connection lost", will_reconnect=True))

    async def _on_stream_replaced(self, s: SessionState, ev: Any) -> None:
        # Another connection took over this device; fighting it back would loop, so the session stops.
        s.wanted = False
        reason = "another client took over this WhatsApp session (stream replaced); start it again to take it back"
        s.log.warning("whatsapp session replaced by another connection")
        await self._emit(Disconnected(session_id=s.id, reason=reason, will_reconnect=False))
        await self._halt(s)

    async def _on_keepalive_timeout(self, s: SessionState, ev: Any) -> None:
        if s.wanted and not s.keepalive_lost:
            s.keepalive_lost = True
            reason = f"keepalive timeout ({ev.ErrorCount} missed)"
            await self._emit(Disconnected(session_id=s.id, reason=reason, will_reconnect=True))

    async def _on_keepalive_restored(self, s: SessionState, ev: Any) -> None:
        if s.keepalive_lost:
            await self._on_connected(s, ev)

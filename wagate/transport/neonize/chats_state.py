"""Chat state and presence through whatsmeow: typing / recording on demand, and the session online or offline.

Archive, pin, mute and "mark chat read" are app-state patches (whatsmeow's `appstate.BuildArchive`, `BuildPin`,
`BuildMute`, `BuildMarkChatAsRead`). neonize 0.5.2 takes a `PatchInfo` in `send_app_state`, but its Go core
(`goneonize` `DecodePatchInfo`) compares the patch's type by pointer and knows no REGULAR_LOW / REGULAR_HIGH, so
every patch reaches whatsmeow with an empty collection name, which WhatsApp does not accept. Rather than send a
patch that cannot work, these are refused here, naming why; the read receipts themselves (`mark_read`) work. Nor
does neonize 0.5.2 hand Python whatsmeow's app-state events (Archive, Pin, Mute, MarkChatAsRead).
"""

from __future__ import annotations

from wagate.errors import TransportError
from wagate.transport.base import ChatPresenceKind
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import NeonizeBase

APP_STATE_REFUSAL = ("{what} is not available through neonize 0.5.2: its Go core drops the app-state patch's type "
                     "(WhatsApp would refuse the patch)")


class NeonizeChatState(NeonizeBase):
    """Presence on demand; chat state refused with the reason (see the module docstring)."""

    async def _app_state(self, session_id: str, what: str) -> None:
        await self._ready(session_id)  # a session not connected is told so first, as for any other call
        raise TransportError(APP_STATE_REFUSAL.format(what=what))

    async def archive_chat(self, session_id: str, chat: str, archived: bool) -> None:
        await self._app_state(session_id, "Archiving chats" if archived else "Unarchiving chats")

    async def pin_chat(self, session_id: str, chat: str, pinned: bool) -> None:
        await self._app_state(session_id, "Pinning chats" if pinned else "Unpinning chats")

    async def mute_chat(self, session_id: str, chat: str, muted: bool, until: float | None = None) -> None:
        await self._app_state(session_id, "Muting chats" if muted else "Unmuting chats")

    async def mark_chat_read(self, session_id: str, chat: str) -> None:
        await self._app_state(session_id, "Marking a whole chat read")

    async def send_chat_presence(self, session_id: str, chat: str, state: ChatPresenceKind) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        s = await self._ready(session_id)
        presence = ChatPresence.CHAT_PRESENCE_PAUSED if state == "paused" else ChatPresence.CHAT_PRESENCE_COMPOSING
        media = ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO if state == "recording" else \
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        try:
            await s.client.send_chat_presence(recipient_jid(chat), presence, media)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def set_presence(self, session_id: str, available: bool) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import Presence

        s = await self._ready(session_id)
        try:
            await s.client.send_presence(Presence.AVAILABLE if available else Presence.UNAVAILABLE)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

"""The simulated WhatsApp's chat state and presence: read, archived, pinned and muted chats, typing / recording
shown on demand, the session online or offline.

WhatsApp keeps chat state in the account's app state, shared by the phone and every linked device: a change made
here comes back from nowhere else, and a change made on the phone (`change_chat_on_phone`) reaches the bridge as a
`ChatStateChanged` event, held while the session is offline. `chat_actions` records what the bridge asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from wagate.transport.base import ChatPresenceKind, ChatStateChanged
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimulatorBase


@dataclass(frozen=True, slots=True)
class ChatAction:
    """Something the bridge asked of a chat, a contact or the session's presence (`chat` empty for the presence)."""

    session_id: str
    action: str  # presence | chat_presence | archive | pin | mute | read | block
    chat: str
    value: Any


@dataclass
class AccountChats:
    """The account's side of one session: its chats' app state and its presence."""

    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    online: bool = False


class SimulatorChatState(SimulatorBase):
    """Chat state changed through the API or on the phone, and presence; recorded for tests to see."""

    @property
    def chat_actions(self) -> list[ChatAction]:
        if not hasattr(self, "_chat_actions"):  # the base's __init__ is shared by every area: state made on first use
            self._chat_actions: list[ChatAction] = []
        return self._chat_actions

    def _chats_of(self, session_id: str) -> AccountChats:
        if not hasattr(self, "_account_chats"):
            self._account_chats: dict[str, AccountChats] = {}
        return self._account_chats.setdefault(session_id, AccountChats())

    def _act(self, session_id: str, action: str, chat: str, value: Any) -> AccountChats:
        self._connected(session_id)
        self.chat_actions.append(ChatAction(session_id, action, chat, value))
        return self._chats_of(session_id)

    async def send_chat_presence(self, session_id: str, chat: str, state: ChatPresenceKind) -> None:
        self._act(session_id, "chat_presence", wire.recipient_jid(chat), state)

    async def set_presence(self, session_id: str, available: bool) -> None:
        self._act(session_id, "presence", "", available).online = available

    async def archive_chat(self, session_id: str, chat: str, archived: bool) -> None:
        jid = wire.recipient_jid(chat)
        state = self._act(session_id, "archive", jid, archived).chats.setdefault(jid, {})
        state["archived"] = archived
        if archived:  # as WhatsApp does (whatsmeow's BuildArchive): archiving unpins
            state["pinned"] = False

    async def pin_chat(self, session_id: str, chat: str, pinned: bool) -> None:
        jid = wire.recipient_jid(chat)
        self._act(session_id, "pin", jid, pinned).chats.setdefault(jid, {})["pinned"] = pinned

    async def mute_chat(self, session_id: str, chat: str, muted: bool, until: float | None = None) -> None:
        jid = wire.recipient_jid(chat)
        state = self._act(session_id, "mute", jid, until if muted else False).chats.setdefault(jid, {})
        state["muted"], state["muted_until"] = muted, until

    async def mark_chat_read(self, session_id: str, chat: str) -> None:
        jid = wire.recipient_jid(chat)
        self._act(session_id, "read", jid, True).chats.setdefault(jid, {})["read"] = True

    # --- the phone side --------------------------------------------------------------------------------

    async def change_chat_on_phone(self, session_id: str, chat: str, **change: Any) -> ChatStateChanged:
        """The owner changes a chat on the phone (read, archived, pinned, muted, muted_until): the app state syncs
        to the linked device as a `ChatStateChanged`, held while it is offline."""
        s = self._session(session_id)
        if s.account is None:
            raise wire.PhoneActionError("the session is not linked")
        jid = wire.recipient_jid(chat)
        self._chats_of(session_id).chats.setdefault(jid, {}).update(change)
        event = ChatStateChanged(session_id=session_id, chat=jid, timestamp=time.time(), **change)
        await self._deliver(s, event)
        return event

    def chat_state(self, session_id: str, chat: str) -> dict[str, Any]:
        """The chat's app state as WhatsApp holds it now (what the bridge and the phone changed)."""
        return dict(self._chats_of(session_id).chats.get(wire.recipient_jid(chat), {}))

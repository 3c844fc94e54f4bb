"""Statuses in the simulator: a text status is a send to status@broadcast whose look `status_posts` keeps; image and
video statuses are ordinary media sends to it. Contacts post statuses through `inject_message(group=STATUS_JID)`."""

from __future__ import annotations

import functools
from typing import Any

from wagate.transport.base import STATUS_JID, SendResult
from wagate.transport.simulator.sending import SimulatorSending


class SimulatorStatus(SimulatorSending):
    """Built on the sending part: a status is a send."""

    @functools.cached_property
    def status_posts(self) -> list[dict[str, Any]]:  # made on first use: the constructor is the base's
        return []

    async def send_status_text(
        self, session_id: str, text: str, *, background_argb: int | None = None, font: int | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        result = await self._send(session_id, STATUS_JID, "text", message_id, text=text)
        self.status_posts.append({"session_id": session_id, "message_id": result.message_id, "text": text,
                                  "background_argb": background_argb, "font": font})
        return result

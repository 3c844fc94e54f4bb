"""Calls: questions and actions the web puts to a session's live WhatsApp connection and waits on (a group's
members, a chat's presence, a profile picture), answered by the bridge that drives the session.

Each area of WhatsApp has its own module here registering its calls by name (`registry.call`); a call takes the
transport, the session id and the JSON-able params of the request, and returns a JSON-able answer. Importing this
package registers every area. The web side is `wagate.services.sessions.calls`.
"""

from wagate.bridge.calls import (  # noqa: F401 - registers their calls
    chats,
    contacts,
    groups,
    newsletters,
    profile,
)
from wagate.bridge.calls.registry import CALLS, Call, call, run

__all__ = ["CALLS", "Call", "call", "run"]

"""Where an event goes on a broker: `<prefix>.<tenant id | global>.<session | _>.<event name>`.

The same dotted name is the NATS subject and the RabbitMQ routing key, so a consumer subscribes to what it
needs with either broker's wildcards (`wagate.7.>` / `wagate.7.#`: tenant 7's events; `wagate.*.*.message.*`:
every message event). A session id may hold a dot, which would split it into two tokens: it is written `%2E`.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_TENANT = "global"
NO_SESSION = "_"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event as a broker message: its subject / routing key, its JSON body and the id that dedupes it."""

    subject: str
    body: bytes
    event_id: str
    event: str


def subject(prefix: str, tenant: str, session: str | None, event: str) -> str:
    tenant_token = tenant if tenant else NO_TENANT
    session_token = session.replace(".", "%2E") if session else NO_SESSION
    return f"{prefix}.{tenant_token}.{session_token}.{event}"

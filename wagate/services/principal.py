"""Who is calling, and what they may do: the principal of a request and the permission matrix of WA-Gate v2.

    resource            admin   operator   user
    send message          ✔        ✔        ✘
    view logs             ✔        ✔        ✔
    broadcast             ✔        ✔        ✘
    user management       ✔        ✘        ✘
    webhooks              ✔        ✘        ✘
    system                ✔        ✘        ✘

The same matrix holds for dashboard logins (JWT) and API keys. Internal service keys and per-session tokens
are not roles: their routes check the principal's kind and scope instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from wagate.db.enums import ActorType, Role


class Permission(StrEnum):
    SEND_MESSAGE = "send_message"
    VIEW_LOGS = "view_logs"
    BROADCAST = "broadcast"
    USER_MANAGEMENT = "user_management"
    WEBHOOKS = "webhooks"
    SYSTEM = "system"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.SEND_MESSAGE, Permission.VIEW_LOGS, Permission.BROADCAST}),
    Role.USER: frozenset({Permission.VIEW_LOGS}),
}

PrincipalKind = Literal["user", "api_key", "internal", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `tenant_id` None means not bound to one tenant (admins, global keys)."""

    kind: PrincipalKind
    role: Role | None = None
    user_id: int | None = None
    api_key_id: int | None = None
    tenant_id: int | None = None
    service: str | None = None  # the source_service of a scoped internal key
    session_id: str | None = None  # the session of a per-session token
    name: str | None = None  # username, key prefix or service name, for logs and audits

    def can(self, permission: Permission) -> bool:
        return self.role is not None and permission in PERMISSIONS[self.role]

    @property
    def actor_type(self) -> ActorType:
        return {"user": ActorType.USER, "api_key": ActorType.API_KEY, "internal": ActorType.INTERNAL,
                "session": ActorType.API_KEY}[self.kind]

    @property
    def actor_id(self) -> str | None:
        value = {"user": self.user_id, "api_key": self.api_key_id, "internal": self.service or "global",
                 "session": self.session_id}[self.kind]
        return None if value is None else str(value)

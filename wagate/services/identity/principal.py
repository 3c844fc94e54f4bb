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

Scope: a caller bound to a tenant sees and changes only that tenant's things, and grants nothing above its own
role or outside its tenant (`sees`, `may_grant`). An API key made by a user is bound by that user too: its role
is at most the owner's, its tenant the owner's (`wagate.services.identity.auth.api_key_principal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from wagate.db.enums import ActorType, Role
from wagate.errors import Forbidden


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

# Roles in order of power: a caller may grant (to a user or a key) its own role or a lower one, never a higher.
RANK: dict[Role, int] = {Role.USER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def lower_role(first: Role, second: Role) -> Role:
    return first if RANK[first] <= RANK[second] else second


PrincipalKind = Literal["user", "api_key", "internal", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `tenant_id` None means not bound to one tenant (admins, global keys)."""

    kind: PrincipalKind
    role: Role | None = None
    user_id: int | None = None  # the login, or the user an API key belongs to
    api_key_id: int | None = None
    tenant_id: int | None = None
    service: str | None = None  # the source_service of a scoped internal key
    session_id: str | None = None  # the session of a per-session token
    name: str | None = None  # username, key prefix or service name, for logs and audits

    def can(self, permission: Permission) -> bool:
        return self.role is not None and permission in PERMISSIONS[self.role]

    def sees(self, tenant_id: int | None) -> bool:
        """Whether a thing of `tenant_id` (None: install-wide) is within this caller's reach."""
        return self.tenant_id is None or tenant_id == self.tenant_id

    def may_grant(self, role: Role | str) -> bool:
        """Whether this caller may give `role` to a user or a key: its own role or a lower one."""
        return self.role is not None and RANK[Role(role)] <= RANK[self.role]

    @property
    def actor_type(self) -> ActorType:
        return {"user": ActorType.USER, "api_key": ActorType.API_KEY, "internal": ActorType.INTERNAL,
                "session": ActorType.API_KEY}[self.kind]

    @property
    def actor_id(self) -> str | None:
        value = {"user": self.user_id, "api_key": self.api_key_id, "internal": self.service or "global",
                 "session": self.session_id}[self.kind]
        return None if value is None else str(value)


def check_grant(actor: Principal, *, role: Role | str | None, tenant_id: int | None, what: str) -> None:
    """Refuse (403) giving `role` or the binding `tenant_id` (None: install-wide) beyond what `actor` holds itself.
    `what` names the thing made or changed, for the message ("an API key", "user 12")."""
    if not actor.sees(tenant_id):
        raise Forbidden(f"A caller bound to tenant {actor.tenant_id} cannot give {what} "
                        + ("an install-wide scope" if tenant_id is None else "another tenant"),
                        {"tenant_id": [f"must be {actor.tenant_id}"]})
    if role is not None and not actor.may_grant(role):
        raise Forbidden(f"A {actor.role} cannot give {what} the role {Role(role)}, which is above its own",
                        {"role": [f"must be {actor.role} or lower"]})

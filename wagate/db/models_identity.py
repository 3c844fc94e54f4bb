"""Who uses the gateway: tenants, dashboard users, API keys, refresh tokens, and the audit log of their changes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagate.db.base import Base, CreatedAt, Timestamps, mysql_table_options
from wagate.db.enums import ActorType, Role, TenantStatus
from wagate.db.types import BigIntPK, JSONValue, StrEnumType, UTCDateTime

AUDIT_SUCCESS = "success"
AUDIT_DENIED = "denied"
AUDIT_RESULTS = (AUDIT_SUCCESS, AUDIT_DENIED)

if TYPE_CHECKING:
    from wagate.db.models_whatsapp import WaSession

# Ownership rules, chosen once for every table:
# - credentials and configuration go with their owner (ON DELETE CASCADE): a tenant's users and API keys,
#   a user's tokens;
# - a tenant that still has WhatsApp sessions cannot be deleted (RESTRICT on wa_sessions.tenant_id): the
#   service must log the numbers out and remove their keys first, or a linked phone would be orphaned;
# - history (messages, broadcasts) keeps its rows and loses the pointer (SET NULL);
# - audit_logs has no foreign keys at all: it must outlive whatever it describes.


class Tenant(Timestamps, Base):
    """A customer: one external `user_id` of one `source_service`, with its subscription."""

    __tablename__ = "tenants"
    __table_args__ = (
        # (source_service, user_id): a scoped internal key lists and looks up only its own service's users.
        UniqueConstraint("source_service", "user_id"),
        Index("ix_tenants_user_id", "user_id"),
        Index("ix_tenants_status_expires_at", "status", "expires_at"),  # the minutely expiry cron
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(191))
    source_service: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(191))
    provider: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: no expiry
    max_sessions: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    max_messages: Mapped[int | None] = mapped_column(BigInteger)  # None: unlimited
    status: Mapped[TenantStatus] = mapped_column(
        StrEnumType(TenantStatus, 16), default=TenantStatus.ACTIVE, server_default=TenantStatus.ACTIVE.value
    )
    created_by: Mapped[str | None] = mapped_column(String(191))
    messages_sent: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    users: Mapped[list[User]] = relationship(back_populates="tenant", lazy="raise", passive_deletes=True)
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant", lazy="raise", passive_deletes=True)
    sessions: Mapped[list[WaSession]] = relationship(back_populates="tenant", lazy="raise", passive_deletes=True)


class User(Timestamps, Base):
    """A dashboard login. Admins have no tenant and see everything."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_tenant_id", "tenant_id"), mysql_table_options())

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique under the case-insensitive MySQL collation but case-sensitive on SQLite: store it lowercased.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(191))
    password_hash: Mapped[str] = mapped_column(String(255))  # bcrypt today; room for a stronger scheme
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16), default=Role.USER, server_default=Role.USER.value)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tenant: Mapped[Tenant | None] = relationship(back_populates="users", lazy="raise")
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", lazy="raise", passive_deletes=True)
    refresh_tokens: Mapped[list[RefreshToken]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )


class ApiKey(CreatedAt, Base):
    """An API key: only its SHA-256 is kept; the plaintext is shown once when it is made."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_prefix", "prefix"),
        Index("ix_api_keys_tenant_id", "tenant_id"),
        Index("ix_api_keys_user_id", "user_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a key in lists
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16), default=Role.USER, server_default=Role.USER.value)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tenant: Mapped[Tenant | None] = relationship(back_populates="api_keys", lazy="raise")
    user: Mapped[User | None] = relationship(back_populates="api_keys", lazy="raise")


class RefreshToken(CreatedAt, Base):
    """A hashed refresh token. Tokens rotated from one login share a family; reusing a rotated one revokes it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_family_id", "family_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))  # long enough for IPv6

    user: Mapped[User] = relationship(back_populates="refresh_tokens", lazy="raise")


class AuditLog(CreatedAt, Base):
    """One change made through the API, or refused (`result` "denied"). Ids are copied, not referenced, so entries
    outlive what they name."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_created_at", "created_at"),
        Index("ix_audit_logs_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_audit_logs_actor", "actor_type", "actor_id", "created_at"),
        Index("ix_audit_logs_result_created_at", "result", "created_at"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_type: Mapped[ActorType] = mapped_column(StrEnumType(ActorType, 16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "session.create", "api_key.revoke"
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    result: Mapped[str] = mapped_column(String(16), default=AUDIT_SUCCESS, server_default=AUDIT_SUCCESS)

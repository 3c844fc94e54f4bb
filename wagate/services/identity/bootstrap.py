"""First-start and command-line set-up: the first admin, logins and API keys created from the shell."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import ActorType, Role
from wagate.db.models_identity import ApiKey, Tenant, User
from wagate.errors import Conflict, Invalid, NotFound
from wagate.services.identity.credentials import NewKey, hash_password_async, new_api_key, new_password
from wagate.services.operations import audit

FIRST_ADMIN = "admin"
MIN_PASSWORD = 10


@dataclass(frozen=True, slots=True)
class CreatedUser:
    username: str
    generated_password: str | None = field(default=None, repr=False)


async def create_user(settings: Settings, username: str, password: str | None, *, role: str = "admin") -> CreatedUser:
    """Create a login; with no password, generate one (returned once, never stored in plaintext)."""
    if password is not None and len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters")
    generated = None if password else new_password()
    password_hash = await hash_password_async(password or generated or "")
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            if await db.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict(f"user {username!r} already exists")
            user = User(username=username, password_hash=password_hash, role=Role(role))
            db.add(user)
            await db.flush()
            audit.record(db, actor_type=ActorType.SYSTEM, actor_id="cli", action="user.create",
                         target_type="user", target_id=user.id, details={"username": username, "role": role})
    finally:
        await engine.dispose()
    return CreatedUser(username, generated)


async def first_admin(settings: Settings) -> CreatedUser | None:
    """On the very first start (no login at all), create `admin` with a generated password; else nothing."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            if await db.scalar(select(func.count()).select_from(User)):
                return None
    finally:
        await engine.dispose()
    return await create_user(settings, FIRST_ADMIN, None, role="admin")


async def create_api_key(settings: Settings, name: str, *, role: str, tenant_user_id: str | None = None) -> NewKey:
    key = new_api_key()
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db, db.begin():
            tenant_id = None
            if tenant_user_id is not None:
                tenant_id = await db.scalar(select(Tenant.id).where(Tenant.user_id == tenant_user_id))
                if tenant_id is None:
                    raise NotFound(f"no tenant with user_id {tenant_user_id!r}")
            row = ApiKey(name=name, key_hash=key.hash, prefix=key.prefix, role=Role(role), tenant_id=tenant_id)
            db.add(row)
            await db.flush()
            audit.record(db, actor_type=ActorType.SYSTEM, actor_id="cli", action="api_key.create",
                         target_type="api_key", target_id=row.id, tenant_id=tenant_id,
                         details={"name": name, "role": role, "prefix": key.prefix})
    finally:
        await engine.dispose()
    return key


def embedded_redis_password(data_dir: Path) -> str:
    """The embedded Valkey's password: generated once, kept beside its data, readable by the owner only."""
    path = Path(data_dir) / "valkey.password"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(password)
    return password

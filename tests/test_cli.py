"""The `wagate` command: help for every subcommand, migrate, first admin, logins and API keys from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures import make_settings
from wagate.cli import main
from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.migrate import head
from wagate.db.models_identity import ApiKey, AuditLog, User
from wagate.services.identity import bootstrap
from wagate.services.identity.credentials import hash_token, verify_password

SUBCOMMANDS = ["run", "web", "bridge", "worker", "migrate", "create-admin", "create-api-key", "backup", "restore",
               "media", "gen-key"]


def wagate(tmp_path: Path, *args: str, stdin: str = "", **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAGATE_", "DATABASE_", "REDIS_"))}
    env.update(environ)
    return subprocess.run([sys.executable, "-m", "wagate", *args], input=stdin, capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, check=False)


def cli_env(settings: Settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url, "JWT_SECRET": settings.jwt_secret,
            "ENCRYPTION_KEY": settings.encryption_key, "LOG_DIR": str(settings.log_dir), "LOG_FORMAT": "json"}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: wagate {command}")
    assert len(out.splitlines()) > 3  # a description and options, not just a usage line


def test_top_level_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = wagate(tmp_path, "--help")
    assert result.returncode == 0
    for command in SUBCOMMANDS:
        assert command in result.stdout


def test_a_bad_variable_stops_the_command_naming_it(tmp_path: Path) -> None:
    result = wagate(tmp_path, "migrate", PORT="eighty", JWT_SECRET="j" * 40, ENCRYPTION_KEY="x")
    assert result.returncode == 2
    assert "PORT: expects a whole number" in result.stderr
    assert "ENCRYPTION_KEY" in result.stderr


def test_migrate_then_create_admin_and_api_key_from_the_shell(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    env = cli_env(settings)
    result = wagate(tmp_path, "migrate", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"database at revision {head()}") and head()

    result = wagate(tmp_path, "create-admin", "--username", "ops", "--role", "operator", "--password-stdin",
                    stdin="correct horse battery\n", **env)
    assert result.returncode == 0, result.stderr
    assert "created operator 'ops'" in result.stdout
    assert "password" not in result.stdout  # a given password is never echoed

    result = wagate(tmp_path, "create-admin", "--username", "ops", "--password-stdin", stdin="another one!\n", **env)
    assert result.returncode == 1
    assert "already exists" in result.stderr

    result = wagate(tmp_path, "create-admin", "--username", "shorty", "--password-stdin", stdin="short\n", **env)
    assert result.returncode == 1
    assert "at least 10 characters" in result.stderr

    result = wagate(tmp_path, "create-api-key", "--name", "crm-bot", "--role", "user", **env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("wag_")

    result = wagate(tmp_path, "create-api-key", "--name", "x", "--tenant", "nobody", **env)
    assert result.returncode == 1
    assert "no tenant with user_id 'nobody'" in result.stderr

    logs = "".join(p.read_text() for p in settings.log_dir.glob("*.log"))
    assert "correct horse battery" not in logs and key not in logs
    return_rows = _rows(settings)
    users, keys, audits = return_rows
    assert [(u.username, u.role) for u in users] == [("ops", "operator")]
    assert verify_password("correct horse battery", users[0].password_hash)
    assert [(k.name, k.role, k.key_hash, k.prefix) for k in keys] == [("crm-bot", "user", hash_token(key), key[:12])]
    assert [a.action for a in audits] == ["user.create", "api_key.create"]


def _rows(settings: Settings) -> tuple[list[User], list[ApiKey], list[AuditLog]]:
    import asyncio

    async def read() -> tuple[list[User], list[ApiKey], list[AuditLog]]:
        engine = create_engine(settings)
        async with create_sessionmaker(engine)() as db:
            users = list(await db.scalars(select(User)))
            keys = list(await db.scalars(select(ApiKey)))
            audits = list(await db.scalars(select(AuditLog).order_by(AuditLog.id)))
        await engine.dispose()
        return users, keys, audits

    return asyncio.run(read())


async def test_first_admin_is_created_once_with_a_generated_password(settings: Settings) -> None:
    created = await bootstrap.first_admin(settings)
    assert created is not None and created.username == "admin"
    assert created.generated_password and len(created.generated_password) >= 20
    assert created.generated_password not in repr(created)
    assert await bootstrap.first_admin(settings) is None  # never again, and never a fixed password
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as db:
        admin = await db.scalar(select(User).where(User.username == "admin"))
    await engine.dispose()
    assert admin is not None and admin.role == "admin"
    assert verify_password(created.generated_password, admin.password_hash)
    assert admin.password_hash != created.generated_password

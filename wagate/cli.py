"""The `wagate` command: run | web | bridge | worker | migrate | create-admin | create-api-key | backup | restore |
rolling-restart."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence

from wagate import __version__
from wagate.config import ConfigError, Settings, ensure_local_secrets, generate_fernet_key, load_settings, peek
from wagate.errors import WAGateError

ROLES = ("admin", "operator", "user")
# nginx.conf keeps idle upstream connections 4 s (keepalive_timeout): a drain longer than that outlives them all.
DRAIN_S = 5.0


def _settings(process: str) -> Settings:
    from wagate.logging import configure_logging

    settings = load_settings()
    configure_logging(settings, process)
    return settings


def cmd_web(args: argparse.Namespace) -> int:
    from wagate.web.app import create_app
    from wagate.web.serve import serve

    settings = _settings("web")
    if args.port or args.port_offset:
        settings = settings.replace(port=(args.port or settings.port) + args.port_offset)
    asyncio.run(serve(create_app(settings), args.host or settings.host, settings.port, drain_s=args.drain,
                      shutdown_timeout=args.shutdown_timeout))
    return 0


def cmd_bridge(args: argparse.Namespace) -> int:
    from workers.bridge import create_bridge

    settings = _settings(f"bridge-{args.shard}")
    worker = create_bridge(settings, args.shard)
    worker.run()
    bridge = worker.ctx.get("bridge")
    if bridge is not None and getattr(bridge.transport, "abandoned_calls", False):
        # Threads stuck in the WhatsApp library never end, and the interpreter would wait for them at exit.
        logging.shutdown()
        os._exit(0)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.worker import create_worker

    create_worker(_settings("worker")).run()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from wagate.db import migrate

    settings = _settings("migrate")
    if args.downgrade:
        migrate.downgrade(settings.database_url, args.downgrade)
    else:
        migrate.upgrade(settings.database_url, args.revision)
    print(f"database at revision {migrate.current(settings.database_url) or 'base'}")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty() and not args.generate:
        first = getpass.getpass("Password (empty to generate one): ")
        if first and getpass.getpass("Repeat password: ") != first:
            raise SystemExit("passwords do not match")
        return first or None
    return None


def cmd_create_admin(args: argparse.Namespace) -> int:
    from wagate.services.identity import bootstrap

    settings = _settings("cli")
    password = _read_password(args)
    created = asyncio.run(bootstrap.create_user(settings, args.username, password, role=args.role))
    print(f"created {args.role} {created.username!r}")
    if created.generated_password:
        print(f"password (shown once): {created.generated_password}")
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from wagate.services.identity import bootstrap

    settings = _settings("cli")
    key = asyncio.run(bootstrap.create_api_key(settings, args.name, role=args.role, tenant_user_id=args.tenant))
    print(f"API key {key.prefix}… ({args.role}) — shown once, store it now:\n{key.plaintext}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wagate.services.operations import backup

    result = backup.backup(_settings("cli"), Path(args.output) if args.output else None)
    print(f"backup written: {result.path} (database: {result.database}, session files: {result.session_files})")
    if result.database == "mysql-not-included":
        print("no mariadb-dump/mysqldump on this machine: dump the database yourself (see README, Backups)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wagate.services.operations import backup

    manifest = backup.restore(_settings("cli"), Path(args.archive), force=args.force)
    print(f"restored backup of {manifest['created_at']}: database {manifest['database']}, "
          f"{manifest['session_files_restored']} session files")
    if "mysql_dump" in manifest:
        print(f"load the MySQL dump into the empty database (the password is DATABASE_URL's):\n"
              f"  {manifest['mysql_load']}")
    return 0


def cmd_rolling_restart(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wagate.rolling_restart import RestartFailed, Supervisor, rolling_restart

    settings = _settings("cli")
    try:
        rolling_restart(Supervisor(Path(args.config)), settings.port, host=settings.host, settle_s=args.settle)
    except RestartFailed as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_media_migrate(args: argparse.Namespace) -> int:
    from wagate.db.engine import create_engine, create_sessionmaker
    from wagate.services.media.migration import migrate_to_store
    from wagate.services.media.store import media_stores

    settings = _settings("cli")
    if args.to != settings.media_store:
        print(f"wagate: MEDIA_STORE is {settings.media_store}; set MEDIA_STORE={args.to} (and its MEDIA_S3_* "
              "settings) first, so new media go there too", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:  # one line, rewritten in place on a terminal
        width = 30
        filled = width * done // total if total else width
        end = "\r" if sys.stdout.isatty() and done < total else "\n"
        print(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} media", end=end, flush=True)

    async def run() -> int:
        engine = create_engine(settings)
        try:
            result = await migrate_to_store(create_sessionmaker(engine), settings, media_stores(settings), progress)
        finally:
            await engine.dispose()
        for path in result.missing:
            print(f"missing on disk, skipped: {path}")
        print(f"done: {result.moved} media in the {args.to} store")
        return 0

    return asyncio.run(run())


def cmd_media_seal_secret(args: argparse.Namespace) -> int:
    from wagate.services.media.s3_store import seal

    secret = sys.stdin.readline().rstrip("\n")
    if not secret:
        print("wagate: give the secret on standard input", file=sys.stderr)
        return 2
    print(seal(_settings("cli"), secret))
    return 0


def cmd_gen_key(args: argparse.Namespace) -> int:
    print(generate_fernet_key())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wagate.all_in_one import Supervisor, child_environment, children
    from wagate.db import migrate
    from wagate.logging import configure_logging
    from wagate.observability import scrape
    from wagate.services.identity import bootstrap

    if peek("WAGATE_ENV", "development") != "production":  # production secrets are given, never generated
        ensure_local_secrets(Path(peek("DATA_DIR", "data")))
    settings = load_settings()
    configure_logging(settings, "run")
    for folder in (settings.data_dir, settings.auth_sessions_dir, settings.upload_dir, settings.log_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
    # Every child writes its metrics under one folder the web's /metrics sums; a new run starts from zero.
    os.environ[scrape.MULTIPROC_ENV] = str(scrape.reset_multiproc_dir(
        os.environ.get(scrape.MULTIPROC_ENV) or settings.data_dir / "metrics"))
    embedded = None
    if not settings.redis_url:
        from wagate.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(settings.data_dir, bootstrap.embedded_redis_password(settings.data_dir))
        settings = settings.replace(redis_url=embedded.start())
    try:
        migrate.upgrade(settings.database_url)
        admin = asyncio.run(bootstrap.first_admin(settings))
        url = settings.public_url or f"http://{settings.host}:{settings.port}"
        print(f"WA-Gate {__version__} — dashboard: {url}/login.html", flush=True)
        if admin is not None:
            print(f"first start: admin login {admin.username!r}, password (shown once): {admin.generated_password}",
                  flush=True)
        return Supervisor(children(settings), child_environment(settings)).run()
    finally:
        if embedded is not None:
            embedded.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wagate", description="WA-Gate: a self-hosted WhatsApp gateway.")
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        command.set_defaults(func=func)
        return command

    add("run", cmd_run, "Set up and run everything on this machine: migrations, embedded Valkey when REDIS_URL is "
                        "unset, the first admin, then web + bridge + worker, supervised.")
    web = add("web", cmd_web, "Run one web process (HTTP API, dashboard, live events).")
    web.add_argument("--host", help="address to bind (default HOST)")
    web.add_argument("--port", type=int, help="port to bind (default PORT)")
    web.add_argument("--port-offset", type=int, default=0, metavar="N",
                     help="bind PORT+N: web process N of several (supervisord's process_num)")
    web.add_argument("--shutdown-timeout", type=float, default=30.0,
                     help="seconds requests in flight get to finish once the port is closed")
    web.add_argument("--drain", type=float, default=DRAIN_S, metavar="SECONDS",
                     help=f"seconds between SIGTERM and closing the port, readiness failing (default {DRAIN_S:g}; "
                          "above nginx's upstream keepalive_timeout)")
    bridge = add("bridge", cmd_bridge, "Run the bridge of one shard: its sessions' WhatsApp connections and sends.")
    bridge.add_argument("--shard", type=int, default=0, help="shard number, 0 … BRIDGE_SHARDS-1 (default 0)")
    add("worker", cmd_worker, "Run a worker: webhooks, broadcasts, scheduled work and cron.")
    migrate = add("migrate", cmd_migrate, "Apply the database migrations (to head by default).")
    migrate.add_argument("--revision", default="head", help="target revision for upgrade (default head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION instead (base for empty)")
    admin = add("create-admin", cmd_create_admin, "Create a dashboard login (admin by default).")
    admin.add_argument("--username", required=True)
    admin.add_argument("--role", choices=ROLES, default="admin")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    admin.add_argument("--generate", action="store_true", help="generate a password and print it once")
    key = add("create-api-key", cmd_create_api_key, "Create an API key and print it once.")
    key.add_argument("--name", required=True, help="what the key is for, e.g. 'crm-bot'")
    key.add_argument("--role", choices=ROLES, default="operator")
    key.add_argument("--tenant", metavar="USER_ID", help="the tenant's external user_id that owns the key")
    backup = add("backup", cmd_backup, "Archive the database and the WhatsApp session keys (auth_sessions/).")
    backup.add_argument("--output", metavar="FILE", help="archive path (default data/backups/wagate-<time>.tar.gz)")
    restore = add("restore", cmd_restore, "Restore an archive made by `wagate backup` (stop the gateway first).")
    restore.add_argument("archive", help="the .tar.gz archive")
    restore.add_argument("--force", action="store_true", help="replace an existing database and session files")
    rolling = add("rolling-restart", cmd_rolling_restart,
                  "Restart every supervisord program one process at a time (after applying a changed "
                  "supervisord.conf), each web process back before the next: a deploy that refuses no request.")
    rolling.add_argument("--config", default="supervisord.conf", help="supervisord.conf (default ./supervisord.conf)")
    rolling.add_argument("--settle", type=float, default=3.0, metavar="SECONDS",
                         help="wait after a web process answers, before the next (default 3; above nginx's "
                              "fail_timeout)")
    media = sub.add_parser("media", help="Media storage: move local media to S3, seal the S3 secret.",
                           description="Media storage (README, Media storage).")
    media_sub = media.add_subparsers(dest="media_command", required=True, metavar="ACTION")
    move = media_sub.add_parser("migrate", help="Move the media kept on local disk into MEDIA_STORE (resumable).")
    move.add_argument("--to", choices=["s3"], required=True, help="the store to move them to")
    move.set_defaults(func=cmd_media_migrate)
    media_sub.add_parser(
        "seal-secret", help="Read MEDIA_S3_SECRET_KEY on standard input; print it sealed with ENCRYPTION_KEY."
    ).set_defaults(func=cmd_media_seal_secret)
    add("gen-key", cmd_gen_key, "Print a new ENCRYPTION_KEY.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"wagate: {exc}", file=sys.stderr)
        return 2
    except WAGateError as exc:
        print(f"wagate: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

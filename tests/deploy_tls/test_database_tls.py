"""MySQL/MariaDB over TLS (wagate/db/tls.py, the engine, migrations, backup) against a MariaDB that requires it."""

from __future__ import annotations

import asyncio
import secrets
import tarfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.fixtures import make_settings
from tests.servers import HOST, MariaDBProcess, TLSFiles
from wagate.db import migrate
from wagate.db.engine import create_engine
from wagate.db.tls import DatabaseTLS
from wagate.services.operations import backup

TLS_USER, X509_USER = "wagate_tls", "wagate_x509"  # created REQUIRE SSL and REQUIRE X509 (a client certificate)
PASSWORD = secrets.token_hex(12)


@pytest.fixture(scope="module")
def tls_mariadb(tls_files: TLSFiles) -> Iterator[MariaDBProcess]:
    server = MariaDBProcess(options=[f"--ssl-ca={tls_files.ca}", f"--ssl-cert={tls_files.server_cert}",
                                     f"--ssl-key={tls_files.server_key}"])
    server.start()
    for user, require in ((TLS_USER, "SSL"), (X509_USER, "X509")):
        server.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s REQUIRE {require}", (PASSWORD,))
        server.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'")
    yield server
    server.cleanup()


def url(server: MariaDBProcess, database: str, *, user: str = TLS_USER, host: str = HOST, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"mysql+aiomysql://{user}:{PASSWORD}@{host}:{server.port}/{database}{query}"


async def cipher_of(database_url: str) -> str:
    """The TLS cipher of the gateway engine's own connection (empty when it is not encrypted)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return str((await connection.execute(text("SHOW STATUS LIKE 'Ssl_cipher'"))).one()[1])
    finally:
        await engine.dispose()


async def refusal(database_url: str) -> str:
    with pytest.raises(OperationalError) as caught:
        await cipher_of(database_url)
    return str(caught.value.orig)


async def test_migrations_and_the_engine_run_over_tls(tls_mariadb: MariaDBProcess, tls_files: TLSFiles,
                                                      tmp_path: Path) -> None:
    tls_mariadb.create_database("migrated")
    database_url = url(tls_mariadb, "migrated", ssl_ca=str(tls_files.ca))
    settings = make_settings(tmp_path, DATABASE_URL=database_url)  # the URL passes validation as it is
    await asyncio.to_thread(migrate.upgrade, settings.database_url)  # Alembic's env.py, through the engine
    assert await asyncio.to_thread(migrate.current, settings.database_url) == migrate.head()
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            cipher = (await connection.execute(text("SHOW STATUS LIKE 'Ssl_cipher'"))).one()[1]
            user = (await connection.execute(text("SELECT CURRENT_USER()"))).scalar_one()
            users = (await connection.execute(text("SELECT COUNT(*) FROM users"))).scalar_one()
    finally:
        await engine.dispose()
    assert cipher and user.startswith(f"{TLS_USER}@") and users == 0


async def test_without_tls_or_without_the_ca_the_connection_fails_clearly(tls_mariadb: MariaDBProcess) -> None:
    assert "Access denied" in await refusal(url(tls_mariadb, "mysql"))  # plain: the server refuses (REQUIRE SSL)
    # TLS against the system's CAs, which did not sign this server's certificate.
    assert "certificate verify failed" in await refusal(url(tls_mariadb, "mysql", ssl="true"))


async def test_the_server_name_is_checked_unless_turned_off(tls_mariadb: MariaDBProcess, tls_files: TLSFiles) -> None:
    as_localhost = url(tls_mariadb, "mysql", host="localhost", ssl_ca=str(tls_files.ca))
    assert "Hostname mismatch" in await refusal(as_localhost)
    assert await cipher_of(as_localhost + "&ssl_check_hostname=false")


async def test_a_client_certificate_is_presented(tls_mariadb: MariaDBProcess, tls_files: TLSFiles) -> None:
    assert "Access denied" in await refusal(url(tls_mariadb, "mysql", user=X509_USER, ssl_ca=str(tls_files.ca)))
    assert await cipher_of(url(tls_mariadb, "mysql", user=X509_USER, ssl_ca=str(tls_files.ca),
                               ssl_cert=str(tls_files.client_cert), ssl_key=str(tls_files.client_key)))


async def test_a_server_without_tls_is_refused_before_logging_in(mariadb: MariaDBProcess, tls_files: TLSFiles) -> None:
    """aiomysql alone would carry on in plain text; the suite's MariaDB has no TLS at all."""
    reason = await refusal(f"{mariadb.url('mysql')}&ssl_ca={tls_files.ca}")
    assert "does not offer it" in reason and "2026" in reason


def test_backup_dumps_over_tls_with_the_client_certificate(tls_mariadb: MariaDBProcess, tls_files: TLSFiles,
                                                           tmp_path: Path) -> None:
    tls_mariadb.create_database("dumped")
    tls_mariadb.execute("CREATE TABLE dumped.kept (id INT PRIMARY KEY)")
    database_url = url(tls_mariadb, "dumped", user=X509_USER, ssl_ca=str(tls_files.ca),
                       ssl_cert=str(tls_files.client_cert), ssl_key=str(tls_files.client_key))
    result = backup.backup(make_settings(tmp_path, DATABASE_URL=database_url), tmp_path / "backup.tar.gz")
    assert result.database == "mysql-dump"  # mariadb-dump logged in: it had the CA, the certificate and the key
    with tarfile.open(result.path) as archive:
        dump = archive.extractfile("database/dump.sql")
        assert dump is not None
        assert "CREATE TABLE `kept`" in dump.read().decode()


def test_mysql_dump_options_check_the_certificate() -> None:
    full = DatabaseTLS(ca="/ca.pem", cert="/c.pem", key="/k.pem")
    assert full.dump_options(mariadb=True) == ["--ssl", "--ssl-ca=/ca.pem", "--ssl-cert=/c.pem", "--ssl-key=/k.pem",
                                               "--ssl-verify-server-cert"]
    assert full.dump_options(mariadb=False)[:2] == ["--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/ca.pem"]
    # MySQL's client needs a CA to check against: the system's, when DATABASE_URL names none.
    system = DatabaseTLS(check_hostname=False).dump_options(mariadb=False)
    assert system[0] == "--ssl-mode=VERIFY_CA" and system[1].startswith(("--ssl-ca=", "--ssl-capath="))

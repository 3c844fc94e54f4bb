"""REDIS_URL and DATABASE_URL as settings: the Sentinel and TLS forms are read right, and bad ones stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import make_settings
from tests.servers import TLSFiles
from wagate.cli import main
from wagate.config import ConfigError
from wagate.redis_connect import parse
from workers.common import redis_settings

SECRET = "s3cretpass"  # never repeated in an error message


def problem(tmp_path: Path, name: str, value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **{name: value})
    assert set(caught.value.problems) == {name}
    text = caught.value.problems[name]
    assert SECRET not in text
    return text


def test_a_sentinel_url_names_the_sentinels_the_primary_and_the_logins() -> None:
    target = parse(f"redis+sentinel://app:{SECRET}@10.0.0.1,10.0.0.2:26380,[fd00::3]/mymaster/2"
                   "?sentinel_password=other")
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("fd00::3", 26379))
    assert (target.primary, target.db, target.username, target.password) == ("mymaster", 2, "app", SECRET)
    assert target.sentinel_auth == {"password": "other"} and target.url is None
    assert parse("redis+sentinel://h:26379/mymaster").db == 0


def test_one_server_urls_keep_working(tls_files: TLSFiles) -> None:
    assert parse(f"redis://:{SECRET}@redis:6379/1").url == f"redis://:{SECRET}@redis:6379/1"
    assert parse("unix:///run/valkey.sock?db=2").url == "unix:///run/valkey.sock?db=2"
    plain_tls = parse("rediss://redis.internal:6380/0")
    assert plain_tls.tls == {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    own_ca = parse(f"rediss://redis.internal:6380/0?ssl_ca_certs={tls_files.ca}&ssl_check_hostname=false")
    assert own_ca.url == "rediss://redis.internal:6380/0"  # the TLS parameters go to redis-py as arguments
    assert own_ca.tls["ssl_ca_certs"] == str(tls_files.ca) and own_ca.tls["ssl_check_hostname"] is False


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+sentinel:///mymaster", "names no Sentinel"),
    ("redis+sentinel://h1:26379", "needs the primary's name"),
    ("redis+sentinel://h1:26379/mymaster/0/extra", "needs the primary's name"),
    ("redis+sentinel://h1:port/mymaster", "bad Sentinel address 'h1:port'"),
    (f"redis+sentinel://:{SECRET}@h1:26379/mymaster/zero", "bad database number 'zero'"),
    ("redis+sentinel://h1:26379/mymaster?db=1", "unknown parameter 'db'"),
    ("rediss+sentinel://h1:26379/mymaster", "not supported"),
    ("sentinel://h1:26379/mymaster", "redis+sentinel://"),
    (f"redis://:{SECRET}@h:6379/0?ssl_ca_certs=/etc/ca.pem", "rediss:// (TLS) URLs only"),
    (f"redis://:{SECRET}@h:6379/0?socket_timeout=1", "unknown parameter 'socket_timeout'"),
    (f"rediss://:{SECRET}@h:6379/0?ssl_ca_certs=/nowhere/ca.pem", "ssl_ca_certs=/nowhere/ca.pem, but there is no such"),
    ("rediss://h:6379/0?ssl_cert_reqs=none", "always checked"),
    ("rediss://h:6379/0?ssl_check_hostname=maybe", "expects true or false"),
    ("http://h:6379/0", "redis+sentinel://host:26379"),
])
def test_a_bad_redis_url_stops_start_up(tmp_path: Path, url: str, expected: str) -> None:
    assert expected in problem(tmp_path, "REDIS_URL", url)


def test_a_client_key_needs_its_certificate(tmp_path: Path, tls_files: TLSFiles) -> None:
    text = problem(tmp_path, "REDIS_URL", f"rediss://h:6380/0?ssl_keyfile={tls_files.client_key}")
    assert "needs both" in text


BASE = f"mysql+aiomysql://wagate:{SECRET}@db.internal:3306/wagate"


@pytest.mark.parametrize(("query", "expected"), [
    ("ssl_ca=/nowhere/ca.pem", "ssl_ca=/nowhere/ca.pem, but there is no such file"),
    ("ssl_capath=/etc/ssl/certs", "unknown TLS parameter 'ssl_capath'"),
    ("ssl=false&ssl_ca={ca}", "ssl=false"),
    ("ssl=maybe", "expects true or false"),
    ("ssl_ca={ca}&ssl_check_hostname=no", "expects true or false"),
    ("ssl_key={ca}", "ssl_key without ssl_cert"),
    ("ssl_ca={ca}&ssl_ca={ca}", "twice"),
    ("ssl_ca={not_pem}", "do not load as PEM"),
])
def test_bad_database_tls_stops_start_up(tmp_path: Path, tls_files: TLSFiles, query: str, expected: str) -> None:
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    assert expected in problem(tmp_path, "DATABASE_URL", f"{BASE}?{query.format(ca=tls_files.ca, not_pem=not_pem)}")


def test_tls_parameters_on_sqlite_are_refused(tmp_path: Path, tls_files: TLSFiles) -> None:
    text = problem(tmp_path, "DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db?ssl_ca={tls_files.ca}")
    assert "MySQL/MariaDB only" in text


def test_good_tls_urls_pass(tmp_path: Path, tls_files: TLSFiles) -> None:
    for query in ("ssl=true", f"ssl_ca={tls_files.ca}&ssl_check_hostname=false",
                  f"ssl_ca={tls_files.ca}&ssl_cert={tls_files.client_cert}&ssl_key={tls_files.client_key}"):
        assert make_settings(tmp_path, DATABASE_URL=f"{BASE}?{query}").database_url.endswith(query)


def test_a_missing_ca_file_is_a_start_up_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", f"{BASE}?ssl_ca=/etc/wagate/db-ca.pem")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("ENCRYPTION_KEY", "A" * 43 + "=")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL: has ssl_ca=/etc/wagate/db-ca.pem, but there is no such file" in err
    assert SECRET not in err


def test_arq_settings_for_its_own_pool_carry_the_sentinels() -> None:
    """`redis_settings` is for arq's create_pool (the benches); the gateway's processes use redis_connect's pools."""
    settings = redis_settings(f"redis+sentinel://:{SECRET}@h1,h2:26380/mymaster/3")
    assert settings.sentinel and settings.host == [("h1", 26379), ("h2", 26380)]
    assert (settings.sentinel_master, settings.database, settings.password) == ("mymaster", 3, SECRET)
    with pytest.raises(ValueError, match="cannot log in to Sentinels"):
        redis_settings("redis+sentinel://h1/mymaster?sentinel_password=other")

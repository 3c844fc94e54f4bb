"""Settings: every kind of bad variable is named with what it expects; production refuses placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from wagate.config import ConfigError, ensure_local_secrets, generate_fernet_key, load_settings

GOOD = {"JWT_SECRET": "k" * 40, "ENCRYPTION_KEY": generate_fernet_key()}
PRODUCTION = {
    **GOOD,
    "WAGATE_ENV": "production",
    "JWT_SECRET": "3f9c1a7e5b2d8c4f6a0e9b1d7c3f5a8e2b4d6f8a",
    "DATABASE_URL": "mysql+aiomysql://wagate:pw@db/wagate",
    "REDIS_URL": "redis://redis:6379/0",
}


def problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, env_file=None)
    return caught.value.problems


def test_defaults_load_with_only_the_secrets() -> None:
    settings = load_settings(GOOD, env_file=None)
    assert settings.port == 3000
    assert settings.database_url == "sqlite+aiosqlite:///data/wagate.db"
    assert settings.redis_url is None
    assert settings.timezone == "Asia/Jakarta"
    assert not settings.production


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "abc", "whole number from 1 to 65535"),
        ("PORT", "70000", "whole number from 1 to 65535"),
        ("BRIDGE_SHARDS", "0", "whole number from 1 to 256"),
        ("WAGATE_ENV", "staging", "one of development, production, test"),
        ("WA_TRANSPORT", "baileys", "one of neonize, simulator"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("DATABASE_URL", "postgres://x/y", "sqlite+aiosqlite:///"),
        ("REDIS_URL", "http://localhost", "redis://host:port/db"),
        ("TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("DEFAULT_REGION", "indonesia", "two-letter country code"),
        ("WEBHOOK_ALLOW_PRIVATE", "perhaps", "true or false"),
        ("WEBHOOK_TIMEOUT_S", "-1", "number from 0.1"),
        ("ENCRYPTION_KEY", "too-short", "32 bytes"),
        ("JWT_SECRET", "short", "at least 32 characters"),
        ("PUBLIC_URL", "not a url", "Not a valid URL"),
    ],
)
def test_each_bad_variable_is_named_with_what_it_expects(name: str, value: str, expected: str) -> None:
    found = problems({**GOOD, name: value})
    assert list(found) == [name]
    assert expected in found[name]


def test_the_s3_media_store_needs_its_bucket_and_credentials_and_hides_them() -> None:
    assert set(problems({**GOOD, "MEDIA_STORE": "s3"})) == {
        "MEDIA_S3_BUCKET", "MEDIA_S3_ACCESS_KEY", "MEDIA_S3_SECRET_KEY"}
    settings = load_settings({**GOOD, "MEDIA_STORE": "s3", "MEDIA_S3_BUCKET": "media", "MEDIA_S3_ACCESS_KEY": "AKIA1",
                              "MEDIA_S3_SECRET_KEY": "very-secret-value"}, env_file=None)
    assert settings.media_s3_path_style is True and settings.media_s3_presign_s == 3600
    assert "very-secret-value" not in repr(settings) and "AKIA1" not in repr(settings)


def test_several_bad_variables_are_all_reported_at_once() -> None:
    found = problems({**GOOD, "PORT": "x", "BRIDGE_SHARDS": "-2", "TIMEZONE": "Nowhere"})
    assert set(found) == {"PORT", "BRIDGE_SHARDS", "TIMEZONE"}
    with pytest.raises(ConfigError, match=r"PORT: .*\n.*BRIDGE_SHARDS|BRIDGE_SHARDS: .*\n(.|\n)*PORT"):
        load_settings({**GOOD, "PORT": "x", "BRIDGE_SHARDS": "-2"}, env_file=None)


def test_missing_secrets_are_required_even_in_development() -> None:
    found = problems({})
    assert set(found) == {"JWT_SECRET", "ENCRYPTION_KEY"}


@pytest.mark.parametrize(
    "placeholder",
    ["changeme-changeme-changeme-changeme!", "your-jwt-secret-goes-here-in-production", "<a long random secret>!!!!!!"],
)
def test_production_refuses_a_placeholder_secret(placeholder: str) -> None:
    assert "placeholder" in problems({**PRODUCTION, "JWT_SECRET": placeholder})["JWT_SECRET"]


def test_production_refuses_weak_internal_keys_and_missing_servers() -> None:
    found = problems({**PRODUCTION, "INTERNAL_API_KEYS": "svc-a:changeme,global-key-0123456789abcdef"})
    assert "placeholder" in found["INTERNAL_API_KEYS"]
    found = problems({k: v for k, v in PRODUCTION.items() if k not in ("DATABASE_URL", "REDIS_URL")})
    assert set(found) == {"DATABASE_URL", "REDIS_URL"}


def test_production_with_real_secrets_starts() -> None:
    settings = load_settings({**PRODUCTION, "INTERNAL_API_KEYS": "genfity-app:Zq8xV2mN7pL4rT9w,Kd3Hs8Jf2Lm5Qw9E"},
                             env_file=None)
    assert settings.production
    assert [(k.service, k.key) for k in settings.internal_api_keys] == [
        ("genfity-app", "Zq8xV2mN7pL4rT9w"), (None, "Kd3Hs8Jf2Lm5Qw9E")]
    assert "Zq8x" not in repr(settings) and settings.jwt_secret not in repr(settings)


def test_environment_beats_env_file_beats_generated_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generated = ensure_local_secrets(data, environ={})
    assert sorted(generated) == ["ENCRYPTION_KEY", "JWT_SECRET"]
    assert (data / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert ensure_local_secrets(data, environ={}) == []  # generated once, then kept
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4000\nHOST=0.0.0.0\nLOG_LEVEL=\n")
    settings = load_settings({"DATA_DIR": str(data), "PORT": "5000"}, env_file=env_file)
    assert settings.port == 5000  # process environment wins
    assert settings.host == "0.0.0.0"  # from .env
    assert settings.log_level == "INFO"  # empty means unset
    assert len(settings.jwt_secret) >= 32  # from data/secrets.env


def test_env_example_documents_every_variable_and_nothing_else() -> None:
    from wagate.config import SettingsSchema

    example = Path(__file__).resolve().parent.parent / ".env.example"
    documented = {line.split("=", 1)[0] for line in example.read_text().splitlines()
                  if line and not line.startswith("#")}
    known = {field.data_key for field in SettingsSchema().fields.values()}
    assert documented == known


def test_a_copied_env_example_keeps_the_generated_secrets(tmp_path: Path) -> None:
    """`cp .env.example .env`: its empty lines (ENCRYPTION_KEY=, JWT_SECRET=, …) mean "not set", not "empty"."""
    data = tmp_path / "data"
    ensure_local_secrets(data, environ={})
    env_file = tmp_path / ".env"
    env_file.write_text((Path(__file__).resolve().parent.parent / ".env.example").read_text())
    settings = load_settings({"DATA_DIR": str(data), "LOG_LEVEL": ""}, env_file=env_file)
    generated = dict(line.split("=", 1) for line in (data / "secrets.env").read_text().splitlines())
    assert settings.jwt_secret == generated["JWT_SECRET"]
    assert settings.encryption_key == generated["ENCRYPTION_KEY"]


def test_an_empty_environment_variable_does_not_hide_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4000\n")
    assert load_settings({**GOOD, "PORT": ""}, env_file=env_file).port == 4000

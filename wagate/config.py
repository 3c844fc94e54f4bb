"""Settings: read once from the environment and `.env`, validated, immutable, passed explicitly.

Precedence: process environment > `.env` > `<DATA_DIR>/secrets.env` (the secrets `wagate run` generates on
a fresh machine). A bad variable stops start-up with a `ConfigError` naming every bad variable and
what it expects. Every variable is documented in `.env.example`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

ENVIRONMENTS = ("development", "production", "test")
TRANSPORTS = ("neonize", "simulator")

# A secret that looks like one of these is a copy of an example, not a secret.
_PLACEHOLDER = re.compile(
    r"change.?me|changeit|example|placeholder|your[-_ ]|secret$|^secret|^password$|^x+$|<.*>", re.I
)


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad variable."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = [f"  {name}: {problem}" for name, problem in sorted(self.problems.items())]
        super().__init__("invalid configuration:\n" + "\n".join(lines))


@dataclass(frozen=True, slots=True)
class InternalKey:
    """An internal service-to-service key: scoped to one `source_service`, or global when `service` is None."""

    service: str | None
    key: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    env: str
    host: str
    port: int
    public_url: str | None
    database_url: str = field(repr=False)
    redis_url: str | None = field(repr=False)
    data_dir: Path
    auth_sessions_dir: Path
    log_dir: Path
    upload_dir: Path
    log_level: str
    log_format: str
    log_stderr_level: str
    max_upload_mb: int
    jwt_secret: str = field(repr=False)
    encryption_key: str = field(repr=False)
    access_token_ttl: int
    refresh_token_ttl: int
    internal_api_keys: tuple[InternalKey, ...] = field(repr=False)
    registry_token: str | None = field(repr=False)
    registry_user: str | None
    registry_pass: str | None = field(repr=False)
    registry_file: Path
    wa_transport: str
    bridge_shards: int
    job_lease_s: float
    send_gap_ms: int
    bulk_gap_ms: int
    send_jitter_ms: int
    send_limit_pause_s: float
    silent_after_s: float
    bridge_max_rss_mb: int
    qr_timeout_s: int
    typing_ms_per_char: int
    typing_max_ms: int
    simulator_speed: float
    webhook_timeout_s: float
    webhook_horizon_h: float
    webhook_allow_private: bool
    webhook_retry_fast_s: tuple[float, ...]
    webhook_retry_slow_s: tuple[float, ...]
    webhook_retry_jitter: float
    webhook_host_concurrency: int
    default_region: str
    timezone: str
    cors_origins: tuple[str, ...]
    trusted_proxies: tuple[str, ...]
    metrics_allow_ips: tuple[str, ...]
    ip_allow: tuple[str, ...]
    ip_deny: tuple[str, ...]
    rate_limit_login: str
    rate_limit_send: str
    rate_limit_broadcast: str
    rate_limit_dashboard: str
    rate_limit_qr: str
    rate_limit_key_admin: str | None
    rate_limit_key_operator: str | None
    rate_limit_key_user: str | None
    rate_limit_session: str | None
    ip_ban_after: str
    ip_ban_seconds: int
    login_max_failures: int
    login_lock_seconds: int
    media_store: str = "local"
    media_retention_days: int = 0
    media_download: str = "arrival"
    media_url_ttl_s: int = 7 * 86400
    media_s3_endpoint: str | None = None
    media_s3_region: str = "us-east-1"
    media_s3_bucket: str | None = None
    media_s3_prefix: str = ""
    media_s3_access_key: str | None = field(default=None, repr=False)
    # Plain, or sealed with ENCRYPTION_KEY (`wagate media seal-secret`): readable only through media_s3_secret().
    media_s3_secret_key: str | None = field(default=None, repr=False)
    media_s3_path_style: bool = True
    media_s3_public_url: str | None = None
    media_s3_presign_s: int = 3600

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (for tests and for `wagate run` filling in the embedded Redis)."""
        from dataclasses import replace

        return replace(self, **changes)


class CommaList(fields.Field):
    """A comma-separated environment value as a tuple of trimmed, non-empty strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if not isinstance(value, str):
            raise ValidationError("expects a comma-separated list")
        return tuple(part.strip() for part in value.split(",") if part.strip())


class Seconds(fields.Field):
    """A comma-separated list of positive seconds (a retry schedule), as a tuple of floats."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[float, ...]:
        text = "expects comma-separated seconds greater than 0, such as 1,2,4,8,16"
        try:
            gaps = tuple(float(part) for part in str(value).split(",") if part.strip())
        except ValueError as exc:
            raise ValidationError(text) from exc
        if not gaps or any(not gap > 0 for gap in gaps):
            raise ValidationError(text)
        return gaps


def _fernet_key(value: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("expects a url-safe base64 key of 32 bytes (generate one with `wagate gen-key`)") from exc
    if len(raw) != 32:
        raise ValidationError("expects a url-safe base64 key of 32 bytes (generate one with `wagate gen-key`)")


def _timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"expects an IANA time zone such as Asia/Jakarta, got {value!r}") from exc


def _database_url(value: str) -> None:
    from wagate.db.tls import split_tls  # only the validator needs it

    if not value.startswith(("sqlite+aiosqlite://", "mysql+aiomysql://")):
        raise ValidationError("expects sqlite+aiosqlite:///path/to/file.db or mysql+aiomysql://user:pass@host/db")
    try:
        split_tls(value)  # TLS parameters (?ssl_ca=…): known names, files that exist and load
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _redis_url(value: str) -> None:
    from wagate.redis_connect import parse  # only the validator needs it

    try:
        parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _networks(value: tuple[str, ...]) -> None:
    for part in value:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError as exc:
            raise ValidationError(f"expects addresses or CIDRs such as 10.0.0.0/8, got {part!r}") from exc


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$", re.I)


def _origins(value: tuple[str, ...]) -> None:
    for part in value:
        if part != "*" and not _ORIGIN.match(part.rstrip("/")):
            raise ValidationError(f"expects origins such as https://app.example.com or *, got {part!r}")


def _rate_limit(value: str) -> None:
    from limits import parse  # only the validator needs it

    if value.lower() == "none":
        return
    try:
        parse(value)
    except ValueError as exc:
        raise ValidationError(f"expects a rate limit such as 5/15minute or 100/hour, got {value!r}") from exc


def _limit(name: str, default: str | None) -> fields.String:
    """A `limits` rate string; `none` means no limit (and so does empty where there is no default)."""
    return fields.String(data_key=name, load_default=default, allow_none=default is None, validate=_rate_limit)


def _int(name: str, default: int, low: int, high: int | None = None) -> fields.Integer:
    text = f"expects a whole number from {low}" + (f" to {high}" if high is not None else " up")
    return fields.Integer(
        data_key=name, load_default=default, validate=validate.Range(min=low, max=high, error=text),
        error_messages={"invalid": text},
    )


def _float(name: str, default: float, low: float) -> fields.Float:
    text = f"expects a number from {low} up"
    return fields.Float(
        data_key=name, load_default=default, validate=validate.Range(min=low, error=text),
        error_messages={"invalid": text},
    )


def _choice(name: str, default: str, choices: tuple[str, ...]) -> fields.String:
    return fields.String(
        data_key=name, load_default=default,
        validate=validate.OneOf(choices, error=f"expects one of {', '.join(choices)}"),
    )


def _secret(name: str) -> fields.String:
    return fields.String(data_key=name, load_default=None, allow_none=True)


class SettingsSchema(Schema):
    """Environment variable names (data keys) → Settings attributes."""

    class Meta:
        unknown = EXCLUDE

    env = _choice("WAGATE_ENV", "development", ENVIRONMENTS)
    host = fields.String(data_key="HOST", load_default="127.0.0.1")
    port = _int("PORT", 3000, 1, 65535)
    public_url = fields.Url(data_key="PUBLIC_URL", load_default=None, allow_none=True, require_tld=False)
    database_url = fields.String(data_key="DATABASE_URL", load_default=None, allow_none=True, validate=_database_url)
    redis_url = fields.String(data_key="REDIS_URL", load_default=None, allow_none=True, validate=_redis_url)
    data_dir = fields.String(data_key="DATA_DIR", load_default="data")
    auth_sessions_dir = fields.String(data_key="AUTH_SESSIONS_DIR", load_default="auth_sessions")
    log_dir = fields.String(data_key="LOG_DIR", load_default="logs")
    upload_dir = fields.String(data_key="UPLOAD_DIR", load_default="uploads")
    log_level = _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format = _choice("LOG_FORMAT", "auto", ("auto", "json", "console"))
    log_stderr_level = _choice("LOG_STDERR_LEVEL", "auto", ("auto", "DEBUG", "INFO", "WARNING", "ERROR"))
    max_upload_mb = _int("MAX_UPLOAD_MB", 16, 1, 100)
    jwt_secret = _secret("JWT_SECRET")
    encryption_key = _secret("ENCRYPTION_KEY")
    access_token_ttl = _int("ACCESS_TOKEN_TTL", 900, 60, 86400)
    refresh_token_ttl = _int("REFRESH_TOKEN_TTL", 30 * 86400, 3600)
    internal_api_keys = CommaList(data_key="INTERNAL_API_KEYS", load_default=())
    registry_token = _secret("REGISTRY_TOKEN")
    registry_user = fields.String(data_key="REGISTRY_USER", load_default=None, allow_none=True)
    registry_pass = _secret("REGISTRY_PASS")
    registry_file = fields.String(data_key="REGISTRY_FILE", load_default=None, allow_none=True)
    wa_transport = _choice("WA_TRANSPORT", "neonize", TRANSPORTS)
    bridge_shards = _int("BRIDGE_SHARDS", 1, 1, 256)
    job_lease_s = _float("JOB_LEASE_S", 20.0, 5.0)
    send_gap_ms = _int("SEND_GAP_MS", 1000, 0)
    bulk_gap_ms = _int("BULK_GAP_MS", 2000, 0)
    send_jitter_ms = _int("SEND_JITTER_MS", 500, 0)
    send_limit_pause_s = _float("SEND_LIMIT_PAUSE_S", 900.0, 0.1)
    silent_after_s = _float("SILENT_AFTER_S", 900.0, 0.1)
    bridge_max_rss_mb = _int("BRIDGE_MAX_RSS_MB", 0, 0)
    qr_timeout_s = _int("QR_TIMEOUT_S", 160, 10, 3600)
    typing_ms_per_char = _int("TYPING_MS_PER_CHAR", 40, 0, 1000)
    typing_max_ms = _int("TYPING_MAX_MS", 4000, 0, 60000)
    simulator_speed = _float("SIMULATOR_SPEED", 1.0, 0.01)
    webhook_timeout_s = _float("WEBHOOK_TIMEOUT_S", 10.0, 0.1)
    webhook_horizon_h = _float("WEBHOOK_HORIZON_H", 24.0, 0.0)
    webhook_allow_private = fields.Boolean(
        data_key="WEBHOOK_ALLOW_PRIVATE", load_default=False, error_messages={"invalid": "expects true or false"}
    )
    webhook_retry_fast_s = Seconds(data_key="WEBHOOK_RETRY_FAST_S", load_default=(1.0, 2.0, 4.0, 8.0, 16.0))
    webhook_retry_slow_s = Seconds(data_key="WEBHOOK_RETRY_SLOW_S", load_default=(60.0, 300.0, 1800.0, 3600.0))
    webhook_retry_jitter = _float("WEBHOOK_RETRY_JITTER", 0.2, 0.0)
    webhook_host_concurrency = _int("WEBHOOK_HOST_CONCURRENCY", 8, 1, 1000)
    default_region = fields.String(
        data_key="DEFAULT_REGION", load_default="ID",
        validate=validate.Regexp(r"^[A-Z]{2}$", error="expects a two-letter country code such as ID"),
    )
    timezone = fields.String(data_key="TIMEZONE", load_default="Asia/Jakarta", validate=_timezone)
    cors_origins = CommaList(data_key="CORS_ORIGINS", load_default=(), validate=_origins)
    trusted_proxies = CommaList(data_key="TRUSTED_PROXIES", load_default=("127.0.0.1", "::1"))
    metrics_allow_ips = CommaList(data_key="METRICS_ALLOW_IPS", load_default=(), validate=_networks)
    ip_allow = CommaList(data_key="IP_ALLOW", load_default=(), validate=_networks)
    ip_deny = CommaList(data_key="IP_DENY", load_default=(), validate=_networks)
    rate_limit_login = _limit("RATE_LIMIT_LOGIN", "5/15minute")
    rate_limit_send = _limit("RATE_LIMIT_SEND", "50/15minute")
    rate_limit_broadcast = _limit("RATE_LIMIT_BROADCAST", "10/60minute")
    rate_limit_dashboard = _limit("RATE_LIMIT_DASHBOARD", "100/15minute")
    rate_limit_qr = _limit("RATE_LIMIT_QR", "20/15minute")
    rate_limit_key_admin = _limit("RATE_LIMIT_KEY_ADMIN", None)
    rate_limit_key_operator = _limit("RATE_LIMIT_KEY_OPERATOR", "1000/hour")
    rate_limit_key_user = _limit("RATE_LIMIT_KEY_USER", "100/hour")
    rate_limit_session = _limit("RATE_LIMIT_SESSION", "1000/hour")
    ip_ban_after = _limit("IP_BAN_AFTER", "10/10minute")
    ip_ban_seconds = _int("IP_BAN_SECONDS", 900, 1, 86400)
    login_max_failures = _int("LOGIN_MAX_FAILURES", 5, 1, 1000)
    login_lock_seconds = _int("LOGIN_LOCK_SECONDS", 900, 1, 86400)
    media_store = _choice("MEDIA_STORE", "local", ("local", "s3"))
    media_retention_days = _int("MEDIA_RETENTION_DAYS", 0, 0)
    media_download = _choice("MEDIA_DOWNLOAD", "arrival", ("arrival", "on_request"))
    media_url_ttl_s = _int("MEDIA_URL_TTL_S", 7 * 86400, 60)
    media_s3_endpoint = fields.Url(data_key="MEDIA_S3_ENDPOINT", load_default=None, allow_none=True, require_tld=False)
    media_s3_region = fields.String(data_key="MEDIA_S3_REGION", load_default="us-east-1")
    media_s3_bucket = fields.String(data_key="MEDIA_S3_BUCKET", load_default=None, allow_none=True)
    media_s3_prefix = fields.String(data_key="MEDIA_S3_PREFIX", load_default="")
    media_s3_access_key = _secret("MEDIA_S3_ACCESS_KEY")
    media_s3_secret_key = _secret("MEDIA_S3_SECRET_KEY")
    media_s3_path_style = fields.Boolean(
        data_key="MEDIA_S3_PATH_STYLE", load_default=True, error_messages={"invalid": "expects true or false"}
    )
    media_s3_public_url = fields.Url(data_key="MEDIA_S3_PUBLIC_URL", load_default=None, allow_none=True,
                                     require_tld=False)
    # S3 signature v4 refuses presigned URLs valid for more than 7 days.
    media_s3_presign_s = _int("MEDIA_S3_PRESIGN_S", 3600, 1, 7 * 86400)

    @validates_schema(skip_on_field_errors=False)
    def _check_secrets(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems: dict[str, str] = {}
        production = data.get("env") == "production"
        jwt_secret = data.get("jwt_secret")
        if not jwt_secret:
            problems["JWT_SECRET"] = "is required: a random string of at least 32 characters"
        elif len(jwt_secret) < 32:
            problems["JWT_SECRET"] = "expects at least 32 characters"
        encryption_key = data.get("encryption_key")
        if not encryption_key:
            problems["ENCRYPTION_KEY"] = "is required: a url-safe base64 key of 32 bytes (`wagate gen-key`)"
        else:
            try:
                _fernet_key(encryption_key)
            except ValidationError as exc:
                problems["ENCRYPTION_KEY"] = str(exc.messages[0])
        if production:
            for name, key in (("JWT_SECRET", "jwt_secret"), ("REGISTRY_TOKEN", "registry_token"),
                              ("REGISTRY_PASS", "registry_pass")):
                if data.get(key) and _PLACEHOLDER.search(data[key]):
                    problems[name] = "looks like a placeholder; production needs a real secret"
            for entry in data.get("internal_api_keys") or ():
                secret = entry.rpartition(":")[2]
                if len(secret) < 16 or _PLACEHOLDER.search(secret):
                    problems["INTERNAL_API_KEYS"] = "has a short or placeholder key; production needs 16+ characters"
            if not data.get("database_url"):
                problems["DATABASE_URL"] = "is required in production (mysql+aiomysql://… or sqlite+aiosqlite:///…)"
            if not data.get("redis_url"):
                problems["REDIS_URL"] = "is required in production (redis://…, rediss://… or redis+sentinel://…)"
        if data.get("media_store") == "s3":
            for name, key in (("MEDIA_S3_BUCKET", "media_s3_bucket"), ("MEDIA_S3_ACCESS_KEY", "media_s3_access_key"),
                              ("MEDIA_S3_SECRET_KEY", "media_s3_secret_key")):
                if not data.get(key):
                    problems[name] = "is required when MEDIA_STORE=s3"
        if data.get("registry_user") and not data.get("registry_pass"):
            problems["REGISTRY_PASS"] = "is required when REGISTRY_USER is set"
        if problems:
            raise ValidationError(problems)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Settings:
        data_dir = Path(data["data_dir"])
        database_url = data["database_url"] or f"sqlite+aiosqlite:///{data_dir / 'wagate.db'}"
        keys = []
        for entry in data["internal_api_keys"]:
            service, sep, key = entry.rpartition(":")
            keys.append(InternalKey(service=service or None, key=key) if sep else InternalKey(None, entry))
        return Settings(
            **{**data, "database_url": database_url, "data_dir": data_dir,
               "auth_sessions_dir": Path(data["auth_sessions_dir"]), "log_dir": Path(data["log_dir"]),
               "upload_dir": Path(data["upload_dir"]),
               "registry_file": Path(data["registry_file"] or data_dir / "device-registry.json"),
               "internal_api_keys": tuple(keys)},
        )


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables `path` sets; an empty value (`NAME=`, as in a copied .env.example) sets nothing."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v}


def peek(name: str, default: str, env_file: str | Path | None = ".env") -> str:
    """One raw variable before the whole configuration is validated (where the data folder is, which mode)."""
    return os.environ.get(name) or (_read_env_file(Path(env_file)).get(name) if env_file else None) or default


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Build the Settings from `environ` (default: the process environment) over `env_file` and secrets.env."""
    environ = dict(os.environ if environ is None else environ)
    from_file = _read_env_file(Path(env_file)) if env_file else {}
    data_dir = Path(environ.get("DATA_DIR") or from_file.get("DATA_DIR") or "data")
    # An empty variable means "not set" in every source: dropped before the merge, so an empty `.env` line never
    # hides a value from data/secrets.env.
    environ = {k: v for k, v in environ.items() if v != ""}
    merged = {**_read_env_file(data_dir / "secrets.env"), **from_file, **environ}
    try:
        return SettingsSchema().load(merged)
    except ValidationError as exc:
        raise ConfigError(_flatten(exc.messages)) from None


def _flatten(messages: Any) -> dict[str, str]:
    """marshmallow's error dict keyed by variable name, one line each."""
    names = {f.attribute or f.name: f.data_key for f in SettingsSchema().fields.values()}
    out: dict[str, str] = {}
    for key, value in messages.items() if isinstance(messages, dict) else ():
        if key == "_schema":
            for item in value:
                out.update(_flatten(item) if isinstance(item, dict) else {"configuration": str(item)})
            continue
        text = value[0] if isinstance(value, list) and value else value
        if isinstance(text, dict):
            out.update(_flatten(text))
        else:
            out[names.get(key, key) or key] = str(text)
    return out


def generate_fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def ensure_local_secrets(data_dir: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """On a fresh single-machine install, generate the secrets nobody has set into `<data_dir>/secrets.env`.

    Returns the names generated. Never used in production, where secrets must be given.
    """
    import secrets as _secrets

    environ = os.environ if environ is None else environ
    path = data_dir / "secrets.env"
    existing = _read_env_file(path)
    dotenv = _read_env_file(Path(".env"))
    wanted = {
        "JWT_SECRET": lambda: _secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": generate_fernet_key,
    }
    added = {name: make() for name, make in wanted.items()
             if not (environ.get(name) or dotenv.get(name) or existing.get(name))}
    if added:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            for name, value in added.items():
                fh.write(f"{name}={value}\n")
    return list(added)

"""structlog set-up shared by every process: JSON lines to logs/{combined,error,security}.log, secrets redacted.

Standard-library loggers (aiohttp, arq, SQLAlchemy, neonize) go through the same formatter, so every line
in every file is JSON and passes the same redaction. Security events are logged on the `wagate.security`
logger (see `security_log`) and land in security.log as well as combined.log.
"""

from __future__ import annotations

import functools
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import structlog
from structlog.typing import EventDict, WrappedLogger

from wagate.config import Settings

SECURITY_LOGGER = "wagate.security"
REDACTED = "[REDACTED]"

# Keys whose values are never written, at any depth of an event.
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?$|passphrase|secret|token|api[-_]?key|^key$|authorization|cookie|signature|credential",
    re.I,
)
# Of those, the keys whose values are secret whatever their type: a password can be all digits.
_ALWAYS_SECRET_KEY = re.compile(r"pass(word|wd)?$|passphrase|secret", re.I)
# Secrets that may hide inside free text (a foreign library's message, an exception string).
_SENSITIVE_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:-]{4,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b(pass(?:word|wd)?|secret|token|api[_-]?key|key|signature)=([^&\s\"',;]+)"), r"\1=" + REDACTED),
    # "password": "…" in JSON and 'password': '…' in a Python repr
    (re.compile(r"""(?i)(["'](?:pass(?:word|wd)?|\w*secret|\w*token|x?-?api[_-]?key|authorization)["']\s*:\s*)(["'])"""
                r"""(?:(?!\2).)*\2"""),
     r"\1\2" + REDACTED + r"\2"),
    (re.compile(r"(?i)(mysql\+aiomysql|rediss?|postgres(?:ql)?)://([^:/@\s]*):[^@\s]+@"), r"\1://\2:" + REDACTED + "@"),
    (re.compile(r"\bwag_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{16,}"), REDACTED),
)


# A word every pattern above needs: most strings (paths, ids, plain messages) have none, and one search is
# cheaper than five substitutions, on every string of every log line.
_MAYBE_SENSITIVE = re.compile(r"(?i)bearer|basic|pass|secret|token|key|signature|authorization|://|wag_")


def scrub_text(text: str) -> str:
    if not _MAYBE_SENSITIVE.search(text):
        return text
    for pattern, replacement in _SENSITIVE_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=4096)
def _sensitive_key(key: str) -> bool:
    """Whether a key's value is never written; remembered, as a process logs the same few hundred keys forever."""
    return _SENSITIVE_KEY.search(key) is not None


def _hides_secret(key: Any, value: Any) -> bool:
    """Whether `value`, under `key`, is a secret. Tokens, keys, cookies and signatures are text: a number, true,
    false or null under such a name is a count, an id or a flag (`tokens_revoked: 2`, `api_key_id: 7`) and stays."""
    if not isinstance(key, str) or not _sensitive_key(key):
        return False
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return _ALWAYS_SECRET_KEY.search(key) is not None
    return True


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if _hides_secret(k, v) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Drop the values of sensitive keys and scrub secrets out of every string, at any depth."""
    for key in list(event_dict):
        if key in ("event", "logger", "level", "timestamp"):
            if key == "event" and isinstance(event_dict[key], str):
                event_dict[key] = scrub_text(event_dict[key])
            continue
        event_dict[key] = REDACTED if _hides_secret(key, event_dict[key]) else _scrub(event_dict[key])
    return event_dict


def _scrub_rendered(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    # Exceptions are rendered to text after the first pass: scrub the traceback too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = scrub_text(event_dict["exception"])
    return event_dict


# What only the formatter's full chain (`format_exc_info`, `_scrub_rendered`) turns into text.
_NEEDS_CHAIN = frozenset(("exc_info", "exception", "stack_info"))


class _RenderOnce(structlog.stdlib.ProcessorFormatter):
    """The JSON formatter shared by the terminal (when not a TTY) and the log files: a record is rendered once,
    not once per handler.

    A structlog line without a traceback has been through every processor that matters (the shared chain,
    redaction included) and is rendered straight to JSON; the formatter's own chain, which copies the record
    first, would only drop keys it does not have. Foreign (standard-library) lines and tracebacks take it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._json = structlog.processors.JSONRenderer()

    def format(self, record: logging.LogRecord) -> str:
        rendered: str | None = getattr(record, "_wagate_json", None)
        if rendered is None:
            event = record.msg
            if hasattr(record, "_logger") and isinstance(event, dict) and _NEEDS_CHAIN.isdisjoint(event):
                rendered = cast(str, self._json(None, record.levelname.lower(), dict(event)))
            else:
                rendered = super().format(record)
            record._wagate_json = rendered
        return rendered


class _SecurityOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == SECURITY_LOGGER or record.name.startswith(SECURITY_LOGGER + ".")


def _file_handler(path: Path, formatter: logging.Formatter, level: int) -> logging.Handler:
    # WatchedFileHandler reopens the file after logrotate moves it; every process appends to the same files.
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter)
    handler.setLevel(level)
    handler.set_name("wagate")
    return handler


def configure_logging(settings: Settings, process: str, *, stream: Any = None) -> None:
    """Route structlog and the standard library into the log files and the terminal; safe to call twice."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    level = logging.getLevelName(settings.log_level)
    stream = stream or sys.stderr
    # No line shows the caller's file and line, thread or process name: skip looking them up for every record
    # (the logging HOWTO's "Optimization"; the pid is bound below).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    tail: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        _scrub_rendered,
    ]
    json_formatter = _RenderOnce(
        foreign_pre_chain=shared,
        processors=[*tail, structlog.processors.JSONRenderer()],
    )
    pretty = settings.log_format == "console" or (settings.log_format == "auto" and _isatty(stream))
    console_formatter = (
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _scrub_rendered,
                        structlog.dev.ConsoleRenderer(colors=True)],
        )
        if pretty
        else json_formatter
    )

    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "wagate"]:
        root.removeHandler(handler)
        handler.close()
    terminal = logging.StreamHandler(stream)
    terminal.setFormatter(console_formatter)
    terminal.set_name("wagate")
    terminal.setLevel(_stderr_level(settings, stream))
    security = _file_handler(settings.log_dir / "security.log", json_formatter, logging.INFO)
    security.addFilter(_SecurityOnly())
    for handler in (
        terminal,
        _file_handler(settings.log_dir / "combined.log", json_formatter, logging.DEBUG),
        _file_handler(settings.log_dir / "error.log", json_formatter, logging.ERROR),
        security,
    ):
        root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's own access line repeats ours and would carry query strings: ours is the one canonical line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(process=process, pid=os.getpid())


def _stderr_level(settings: Settings, stream: Any) -> int:
    """What reaches the terminal: everything on a TTY; warnings and errors where a supervisor keeps the output
    (logs/<program>.out.log), as combined.log has every line already and writing each twice costs both processes.
    """
    if settings.log_stderr_level != "auto":
        return cast(int, logging.getLevelName(settings.log_stderr_level))
    return logging.NOTSET if _isatty(stream) else logging.WARNING


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def security_log() -> structlog.stdlib.BoundLogger:
    """The logger for auth failures, denials and limit blocks (security.log)."""
    return structlog.get_logger(SECURITY_LOGGER)

"""TLS to MySQL/MariaDB, asked for with DATABASE_URL parameters: `ssl_ca`, `ssl_cert`, `ssl_key`, `ssl_check_hostname`.

`?ssl_ca=/etc/wagate/db-ca.pem` encrypts and checks that the server's certificate is signed by that CA and names
the URL's host; `ssl_check_hostname=false` skips the name (never the signature); `?ssl=true` alone checks against
the system's CAs (a managed database with a public certificate); `ssl_cert` and `ssl_key` add a client certificate
(users created `REQUIRE X509`). They are SQLAlchemy's documented MySQL names, but SQLAlchemy hands them to the
driver as a dict and aiomysql takes only an `ssl.SSLContext`: so they are taken out of the URL here, checked
once (config validation calls `split_tls`: files exist and load), and turned into a context for the engine and
into options for mariadb-dump.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PARAMETERS = ("ssl", "ssl_ca", "ssl_cert", "ssl_key", "ssl_check_hostname")


@dataclass(frozen=True, slots=True)
class DatabaseTLS:
    """What DATABASE_URL asks of TLS; the server's certificate is always checked."""

    ca: str | None = None  # PEM file of the CA(s) that sign the server's certificate; None: the system's CAs
    cert: str | None = None  # client certificate (PEM), with `key` unless the file holds both
    key: str | None = None
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        """The client context aiomysql encrypts with; ssl.SSLError or OSError when a file does not load."""
        context = ssl.create_default_context(cafile=self.ca)  # only `ca` when given, else the system's CAs
        context.check_hostname = self.check_hostname
        context.verify_mode = ssl.CERT_REQUIRED
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        return context

    def dump_options(self, *, mariadb: bool) -> list[str]:
        """The same TLS for mariadb-dump (`mariadb`) or MySQL's mysqldump.

        MariaDB's client has no "signature but not name" mode: with `check_hostname` off it encrypts without
        checking the server's certificate at all.
        """
        files = [f"--ssl-ca={self.ca}"] if self.ca else []
        if self.cert:
            files += [f"--ssl-cert={self.cert}"] + ([f"--ssl-key={self.key}"] if self.key else [])
        if mariadb:
            return ["--ssl", *files] + (["--ssl-verify-server-cert"] if self.check_hostname else [])
        if not self.ca:  # MySQL's client checks a certificate only against a CA it is given
            paths = ssl.get_default_verify_paths()
            files.insert(0, f"--ssl-ca={paths.cafile}" if paths.cafile else f"--ssl-capath={paths.capath}")
        return [f"--ssl-mode={'VERIFY_IDENTITY' if self.check_hostname else 'VERIFY_CA'}", *files]


def split_tls(url: str | URL) -> tuple[URL, DatabaseTLS | None]:
    """`url` without its TLS parameters, and the TLS they ask for (None: none); ValueError says what is wrong."""
    try:
        url = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError("is not a database URL: expects mysql+aiomysql://user:password@host:3306/database") from None
    given = {name: value for name, value in url.query.items() if name.startswith("ssl")}
    if not given:
        return url, None
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise ValueError(f"has {', '.join(sorted(given))}, but TLS applies to MySQL/MariaDB only")
    values: dict[str, str] = {}
    for name, value in given.items():
        if name not in PARAMETERS:
            raise ValueError(f"has an unknown TLS parameter {name!r}; expects {', '.join(PARAMETERS)}")
        if not isinstance(value, str):
            raise ValueError(f"has the parameter {name!r} twice")
        values[name] = value
    if "ssl" in values and _flag("ssl", values["ssl"]) is False:
        if len(values) > 1:
            raise ValueError("has ssl=false with other ssl_* parameters; remove ssl=false to use TLS")
        return url.difference_update_query(given), None
    for name in ("ssl_ca", "ssl_cert", "ssl_key"):
        if name in values and not Path(values[name]).is_file():
            raise ValueError(f"has {name}={values[name]}, but there is no such file")
    if "ssl_key" in values and "ssl_cert" not in values:
        raise ValueError("has ssl_key without ssl_cert (the client certificate it belongs to)")
    tls = DatabaseTLS(
        ca=values.get("ssl_ca"), cert=values.get("ssl_cert"), key=values.get("ssl_key"),
        check_hostname=_flag("ssl_check_hostname", values.get("ssl_check_hostname", "true")),
    )
    try:
        tls.context()
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"has TLS files that do not load as PEM certificates and key: {exc}") from None
    return url.difference_update_query(given), tls


def _flag(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(f"has {name}={value!r}; expects true or false")
    return value.lower() == "true"

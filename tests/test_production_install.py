"""The README's production steps (Deployment), followed in a fresh clone of HEAD, as far as no root is needed.

Read from the README itself, not copied here: the SQL of step 2 runs against a private MariaDB (its own server, as
root over its socket), the Redis lines of step 3 configure a private Valkey, step 4 runs as written in bash in the
clone (a new .venv, the install, the generated .env, migrate, the first login), with only the install's addresses
put in: /srv/wagate → the clone, ports 3000/3306/6379 → free ones, DB-PASSWORD/REDIS-PASSWORD → random ones. Then
the gateway starts the way step 5's systemd unit starts it (its Environment and ExecStart lines), behind the shipped
nginx.conf in a Debian-like nginx layout that still has Debian's default site: `nginx -t` refuses that until the
README's `rm` of it, after which a request of any Host reaches the gateway. The first login logs in through nginx.

Then the restore path: `wagate backup`, the database dropped and created again empty by step 2's CREATE DATABASE (a
new machine; its user and grants stay), a second fresh clone with the kept .env, and the README's restore block with
the `mariadb` command that `wagate restore` prints; the same login works there. The second clone's .venv is the
first one's (installed by step 4 a minute before, from the same commit): a second install would prove nothing more.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.supervised import free_pair, main_conf, nginx_binary, site_conf
from tests.servers import MariaDBProcess, ValkeyProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
INSTALL_WITHIN_S = 900  # a new .venv and the install, on a loaded machine
_FOREIGN = ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "LOG_DIR", "UPLOAD_DIR", "AUTH_SESSIONS_DIR", "WAGATE_ENV",
            "HOST", "PORT", "PUBLIC_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "WAGATE_HOME")

pytestmark = pytest.mark.slow


def deployment() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Deployment"):text.index("## Observability")]


def block_after(text: str, marker: str) -> str:
    """The first fenced block after `marker`, dedented (the steps' blocks are indented under their list item)."""
    rest = text[text.index(marker):]
    found = re.search(r"^( *)```[a-z]*\n(.*?)^\1```", rest, re.M | re.S)
    assert found, f"no code block after {marker!r} in the README"
    return textwrap.dedent(found.group(2))


class Install:
    """The addresses and secrets of one test install, and the README's text with them put in."""

    def __init__(self, home: Path, mariadb: MariaDBProcess, valkey: ValkeyProcess, db_password: str,
                 redis_password: str) -> None:
        self.home, self.mariadb, self.valkey = home, mariadb, valkey
        self.db_password, self.redis_password = db_password, redis_password
        self.port = free_pair()

    def fill(self, text: str) -> str:
        return (text.replace("/srv/wagate", str(self.home)).replace("DB-PASSWORD", self.db_password)
                .replace("REDIS-PASSWORD", self.redis_password).replace("PORT=3000", f"PORT={self.port}")
                .replace("127.0.0.1:3306", f"127.0.0.1:{self.mariadb.port}")
                .replace("--port=3306", f"--port={self.mariadb.port}")
                .replace("127.0.0.1:6379", f"127.0.0.1:{self.valkey.port}"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        own_venv = str(ROOT / ".venv")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(own_venv))
        env.update(HOME=str(self.home), CI="true")
        return env

    def bash(self, script: str, timeout: float = 300) -> str:
        """`script` as the wagate user's shell would run it in the install folder; its output."""
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.home, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, (f"{script}\nexited {done.returncode}:\n{done.stdout[-3000:]}\n"
                                      f"{done.stderr[-3000:]}")
        return done.stdout + done.stderr


def run_sql(mariadb: MariaDBProcess, block: str, *, skip: tuple[str, ...] = ()) -> None:
    """The statements of step 2's `mariadb <<'SQL'` block, as root."""
    sql = block.split("<<'SQL'\n", 1)[1].rsplit("\nSQL", 1)[0]
    for statement in filter(None, (s.strip() for s in sql.split(";"))):
        if not statement.startswith(skip):
            mariadb.execute(statement)


def get(url: str, body: dict[str, str] | None = None, host: str = "wa.example.com") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method="GET" if body is None else "POST",  # noqa: S310 (local http)
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a local http URL built here)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def until_ok(url: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {within_s} s")


class Service:
    """The gateway started as step 5's systemd unit starts it, and nginx in front of it."""

    def __init__(self, install: Install, unit: str) -> None:
        self.install = install
        lines = dict(line.split("=", 1) for line in install.fill(unit).splitlines() if "=" in line)
        name, _, value = lines["Environment"].partition("=")
        self.env = {**install.env(), name: value}
        self.argv = shlex.split(lines["ExecStart"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.install.home / "logs" / "service.out").open("wb") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd="/", stdout=out, stderr=subprocess.STDOUT)
        for n in range(2):
            until_ok(f"http://127.0.0.1:{self.install.port + n}/health", 180)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # what systemd sends; supervisord stops its programs first
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[MariaDBProcess, ValkeyProcess, str]]:
    """A private MariaDB and a Valkey configured with step 3's lines; the Redis password."""
    redis_password = secrets.token_hex(16)
    lines = block_after(deployment(), "3. As root: Redis").replace("REDIS-PASSWORD", redis_password)
    config: dict[str, Any] = dict(line.split(" ", 1) for line in lines.splitlines() if line.strip())
    assert config["appendonly"] == "yes" and config["appendfsync"] in ("everysec", "always")
    password = config.pop("requirepass")
    mariadb = MariaDBProcess(base_dir=tmp_path / "mariadb", user="suite")
    valkey = ValkeyProcess(base_dir=tmp_path / "valkey", **config)
    try:
        mariadb.start()
        valkey.start()  # its readiness check knows no password: the password is set once it runs
        with redis.Redis(host="127.0.0.1", port=valkey.port) as client:
            client.config_set("requirepass", password)
        yield mariadb, valkey, redis_password
    finally:
        valkey.cleanup()
        mariadb.cleanup()


def clone(base: Path, name: str) -> Path:
    target = base / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    return target


def nginx_layout(install: Install, listen: int) -> Path:
    """/etc/nginx as Debian lays it out (conf.d/*.conf and sites-enabled/* in the http block, Debian's default site
    enabled), with the shipped nginx.conf copied in as step 5 says."""
    etc = install.home.parent / "etc-nginx"
    for folder in ("conf.d", "sites-available", "sites-enabled"):
        (etc / folder).mkdir(parents=True, exist_ok=True)
    debian = Path("/etc/nginx/sites-available/default")
    default = debian.read_text() if debian.exists() else (
        "server {\n\tlisten 80 default_server;\n\tlisten [::]:80 default_server;\n\troot /var/www/html;\n"
        "\tserver_name _;\n\tlocation / {\n\t\ttry_files $uri $uri/ =404;\n\t}\n}\n")
    default = re.sub(r"listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;", default)
    default = re.sub(r"\n\s*listen \[::\]:80 default_server;", "", default)
    (etc / "sites-available" / "default").write_text(default)
    (etc / "sites-enabled" / "default").symlink_to(etc / "sites-available" / "default")
    (install.home / "nginx.conf").write_text(site_conf([install.port, install.port + 1], listen)
                                             .replace(str(ROOT / "public"), str(install.home / "public")))
    site_tmp = install.home.parent / "nginx-site.conf"
    site_tmp.write_text(f"include {etc}/conf.d/*.conf;\ninclude {etc}/sites-enabled/*;\n")
    (install.home.parent / "logs").mkdir(exist_ok=True)
    (install.home.parent / "nginx.conf").write_text(main_conf(install.home.parent, site_tmp))
    return etc


def nginx_root_lines(install: Install, block: str, etc: Path) -> list[str]:
    """Step 5's nginx lines (cp, rm of the default site), pointed at `etc`."""
    lines = [line for line in block.splitlines() if "/etc/nginx" in line]
    assert any(line.startswith("rm ") and "sites-enabled/default" in line for line in lines), lines
    return [install.fill(line).replace("/etc/nginx", str(etc)) for line in lines]


def test_the_readme_production_steps_install_serve_back_up_and_restore(
        tmp_path: Path, servers: tuple[MariaDBProcess, ValkeyProcess, str]) -> None:
    if not shutil.which("mariadb"):
        pytest.skip("the mariadb client is not installed (scripts/test installs mariadb-server)")
    nginx = nginx_binary()
    mariadb, valkey, redis_password = servers
    text = deployment()
    base = Path(tempfile.mkdtemp(prefix="wagate-production-"))
    service: Service | None = None
    nginx_process: subprocess.Popen[bytes] | None = None
    try:
        install = Install(clone(base, "wagate"), mariadb, valkey, secrets.token_hex(16), redis_password)
        sql = install.fill(block_after(text, "2. As root: the database"))
        run_sql(mariadb, sql)

        began = time.monotonic()
        output = install.bash(install.fill(block_after(text, "4. As wagate")), timeout=INSTALL_WITHIN_S)
        print(f"step 4 (venv, install, .env, migrate, first login) took {time.monotonic() - began:.0f} s")
        assert (install.home / ".venv/bin/supervisord").exists()  # [production] brings supervisor
        assert oct((install.home / ".env").stat().st_mode & 0o777) == "0o600"
        password = re.search(r"password \(shown once\): (\S+)", output)
        assert password, output[-2000:]

        service = Service(install, block_after(text, "5. As root: supervisord under systemd"))
        service.start()

        listen = free_port()
        etc = nginx_layout(install, listen)
        nginx_args = [nginx, "-p", str(base), "-c", str(base / "nginx.conf")]
        root_lines = nginx_root_lines(install, block_after(text, "5. As root: supervisord under systemd"), etc)
        for line in root_lines:
            if line.startswith("cp "):
                subprocess.run(shlex.split(line), check=True)
        check = subprocess.run([*nginx_args, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode != 0 and "duplicate default server" in check.stderr, check.stderr
        for line in root_lines:
            if line.startswith("rm "):
                subprocess.run(shlex.split(line), check=True)
        check = subprocess.run([*nginx_args, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        nginx_process = subprocess.Popen([*nginx_args, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        front = f"http://127.0.0.1:{listen}"
        until_ok(f"{front}/health", 30)
        status, body = get(f"{front}/api/health", host="anything.example")
        assert status == 200 and json.loads(body)["services"]["database"] == "connected", body
        login = {"username": "admin", "password": password.group(1)}
        status, body = get(f"{front}/api/auth/login", login)
        assert status == 200, body

        archive = base / "wagate-backup.tar.gz"
        install.bash(f".venv/bin/wagate backup --output {archive}")
        service.stop()
        nginx_process.terminate()
        nginx_process.wait(timeout=10)
        nginx_process = None

        # A new machine: its database created empty by step 2 (the user and grants are there already).
        mariadb.execute("DROP DATABASE wagate")
        run_sql(mariadb, sql, skip=("CREATE USER", "GRANT"))
        second = Install(clone(base, "restored"), mariadb, valkey, install.db_password, redis_password)
        second.port = install.port  # the kept .env's PORT
        (second.home / ".venv").symlink_to(install.home / ".venv")
        shutil.copyfile(install.home / ".env", second.home / ".env")  # the kept copy
        restore = block_after(text, "**Restoring into a fresh machine**")
        restore = re.sub(r"/path/to/\S+\.tar\.gz", str(archive), restore)
        restore_line, migrate_line = (line for line in restore.splitlines() if line.strip())
        printed = second.bash(second.fill(restore_line))
        load = re.search(r"^\s*(mariadb .+ < \S+)$", printed, re.M)
        assert load, printed
        # The printed command asks for the password (-p); here it comes from the environment instead.
        second.bash(f"MYSQL_PWD={shlex.quote(install.db_password)} {load.group(1).replace(' -p ', ' ')}")
        second.bash(second.fill(migrate_line))
        service = Service(second, block_after(text, "5. As root: supervisord under systemd"))
        service.start()
        status, body = get(f"http://127.0.0.1:{second.port}/api/auth/login", login)
        assert status == 200, body  # the same login, the same JWT_SECRET: the restored gateway is the old one
    finally:
        if service is not None:
            service.stop()
        if nginx_process is not None:
            nginx_process.terminate()
            nginx_process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)

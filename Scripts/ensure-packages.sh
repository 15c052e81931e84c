#!/usr/bin/env bash
# Installs what the package needs on Debian/Ubuntu when it is missing: libpq (headers and
# pkg-config file), a PostgreSQL server with wal2json (for the tests and the demo), and
# pkg-config. Uses sudo when not root. Prints nothing when everything is there.
set -euo pipefail

missing=()
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev pkg-config)
server_bin() {
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then return 0; fi
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
server_bin || missing+=(postgresql)
if ! ls /usr/lib/postgresql/*/lib/wal2json.so >/dev/null 2>&1; then
    major=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$major" ]; then missing+=("postgresql-$major-wal2json"); else missing+=(postgresql-wal2json); fi
fi
command -v openssl >/dev/null || missing+=(openssl)

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]} — install them with your system's package manager" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq "${missing[@]}" >&2

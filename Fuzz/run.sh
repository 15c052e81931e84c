#!/usr/bin/env bash
# Builds every libFuzzer target and runs each for a bounded time, seeded from Fuzz/corpus*/.
# Fails (non-zero exit) when a build fails or a target finds a crash; prints executions and
# executions per second for each target.
#
# Each target runs until it has executed PGREPL_FUZZ_RUNS inputs (default 2,000,000) or for
# seconds-per-target, whichever comes first. Longer runs:
#
#   Fuzz/run.sh [seconds-per-target]        (default 90)
#   PGREPL_FUZZ_RUNS=-1 Fuzz/run.sh 3600    (an hour per target, no execution cap)
#   PGREPL_FUZZ_TARGETS="frame value" Fuzz/run.sh 600   (only some targets)
#   PGREPL_FUZZ_MAX_LEN=16384 ...           (larger inputs than each target's default)
#   PGREPL_FUZZ_DIR=/somewhere ...          (build and working folder; default /tmp/pgrepl-fuzz;
#                                            the corpus grown there is reused by the next run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-90}
max_runs=${PGREPL_FUZZ_RUNS:-2000000}
work=${PGREPL_FUZZ_DIR:-/tmp/pgrepl-fuzz}
targets=${PGREPL_FUZZ_TARGETS:-"decoder frame lsn value encoders"}
mkdir -p "$work/module"
flags=(-sanitize=fuzzer,address -parse-as-library -O -package-name swift_pg_replication)
mapfile -t pgoutput < <(find Sources/PGOutput -name '*.swift' | sort)
mapfile -t core < <(find Sources/PGReplicationCore -name '*.swift' | sort)

# The gold linker warns "Cannot export local symbol '__asan_…'": harmless, filtered out.
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

build() {
    local name=$1
    echo "== building $name" >&2
    case $name in
    decoder)
        # As Fuzz/README.md: the harness has no import, so it is one module with the sources.
        quiet swiftc "${flags[@]}" -module-name PGOutputFuzz "${pgoutput[@]}" Fuzz/PGOutputDecoderFuzz.swift \
            -o "$work/decoder"
        ;;
    frame | lsn | value | encoders)
        if [[ ! -f "$work/module/libPGOutput.a" || "$work/module/.stamp" != "$(cat "${pgoutput[@]}" | cksum)" ]]; then
            quiet swiftc "${flags[@]}" -module-name PGOutput -emit-module -emit-module-path "$work/module/PGOutput.swiftmodule" \
                -emit-library -static -o "$work/module/libPGOutput.a" "${pgoutput[@]}"
            cat "${pgoutput[@]}" | cksum >"$work/module/.stamp"
        fi
        if [[ $name == frame || $name == encoders ]]; then
            # The libpq-free protocol core, built as its package target is: every file of it.
            quiet swiftc "${flags[@]}" -module-name PGReplicationCore -emit-module \
                -emit-module-path "$work/module/PGReplicationCore.swiftmodule" -I "$work/module" \
                -emit-library -static -o "$work/module/libPGReplicationCore.a" "${core[@]}"
        fi
        local sources
        case $name in
        frame)
            sources=(Fuzz/ReplicationFrameFuzz.swift -lPGReplicationCore -lPGOutput) ;;
        lsn) sources=(Fuzz/LSNFuzz.swift) ;;
        value) sources=(Fuzz/PGValueFuzz.swift) ;;
        encoders)
            # The formats' value code, against a stand-in PGReplication module (the real one
            # needs libpq): the harness and the CLI's files it drives are one module.
            quiet swiftc "${flags[@]}" -module-name PGReplication -emit-module \
                -emit-module-path "$work/module/PGReplication.swiftmodule" -emit-library -static \
                -o "$work/module/libPGReplication.a" Fuzz/encoders/PGReplicationStub.swift
            sources=(Fuzz/EncoderFuzz.swift Sources/PGReplCLI/Formats/JSONWriter.swift
                Sources/PGReplCLI/Formats/Debezium/DebeziumValues.swift
                Sources/PGReplCLI/Formats/Debezium/DebeziumOptions.swift
                -lPGReplication -lPGReplicationCore -lPGOutput)
            ;;
        esac
        quiet swiftc "${flags[@]}" -module-name "Fuzz_$name" -I "$work/module" -L "$work/module" -lPGOutput \
            "${sources[@]}" -o "$work/$name"
        ;;
    *) echo "unknown target $name" >&2; return 1 ;;
    esac
}

seeds() {
    case $1 in
    decoder) echo Fuzz/corpus ;;
    *) echo "Fuzz/corpus-$1" ;;
    esac
}

# Input size limits: whole captures are long, but short inputs run many times faster.
max_len() {
    case $1 in
    decoder) echo 4096 ;;
    frame) echo 2048 ;;
    lsn) echo 64 ;;
    value) echo 1024 ;;
    encoders) echo 1024 ;;
    esac
}

failed=0
summary=""
for name in $targets; do
    build "$name"
done
for name in $targets; do
    corpus="$work/corpus-$name"
    mkdir -p "$corpus"
    cp -n "$(seeds "$name")"/* "$corpus/" 2>/dev/null || true
    log="$work/$name.log"
    echo "== fuzzing $name (at most $seconds s)" >&2
    set +e
    "$work/$name" -max_total_time="$seconds" -runs="$max_runs" -max_len="${PGREPL_FUZZ_MAX_LEN:-$(max_len "$name")}" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix="$work/crash-$name-" "$corpus" >"$log" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    verdict=ok
    if [[ $status -ne 0 ]]; then
        verdict="CRASH (exit $status; input in $work/crash-$name-*; log $log)"
        failed=1
        grep -A 30 -m1 "ERROR: \|Fatal error\|deadly signal" "$log" >&2 || tail -40 "$log" >&2
    fi
    if [[ $verdict == ok && $runs -lt 1000000 ]]; then verdict="ok, but fewer than 1M executions"; fi
    summary+=$(printf '%-8s %12s executions %9s exec/s  %s' "$name" "$runs" "$rate" "$verdict")$'\n'
done
printf '\n%s' "$summary"
exit $failed

#!/usr/bin/env bash
# Decoder figures: the Swift PGOutput decoder and the pure-Python reference decoder on the same
# captured bytes, one core each, release build.
#
#   Benchmarks/decoder.sh [repetitions]      (default 5, for both the Swift and the Python runs; the
#                                             best run of each pass is reported)
#
# The corpus (about 1.2M messages per format, ~300 MB) lives in Benchmarks/.corpus, or in
# $DECODER_CORPUS_DIR; it is captured with capture-decoder-corpus.sh when missing (that needs a
# PostgreSQL server installed). Each process is pinned to one CPU with taskset when available.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
repetitions=${1:-5}
corpus=${DECODER_CORPUS_DIR:-$here/.corpus}
if [ ! -s "$corpus/pgoutput-text.bin" ] || [ ! -s "$corpus/pgoutput-binary.bin" ]; then
    echo "== capturing the corpus into $corpus"
    "$here/capture-decoder-corpus.sh" "$corpus"
fi
pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)

echo "== building (release)"
swift build -c release --product DecoderFigures 2>&1 | tail -1
figures=$(swift build -c release --show-bin-path)/DecoderFigures

field() { sed -n "s/^RESULT.*$1=\([0-9]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

for format in text binary; do
    file="$corpus/pgoutput-$format.bin"
    echo "== Swift, $format tuples"
    swift_out=$("${pin[@]}" "$figures" "$file" "$repetitions")
    echo "$swift_out" | grep -v '^RESULT'
    echo "== Python, $format tuples (structural; typed rows from the text format only)"
    # As many repetitions as the Swift runner, best run reported, so both sides get the same chance
    # to miss other engineers' jobs on a shared machine.
    python_out=$("${pin[@]}" python3 "$here/python/pgoutput_decode.py" "$file" "$repetitions" \
        $([ "$format" = binary ] && echo "--structural-only"))
    echo "$python_out" | grep -v '^RESULT'
    swift_messages=$(echo "$swift_out" | field messages_per_s)
    swift_rows=$(echo "$swift_out" | field rows_per_s)
    python_messages=$(echo "$python_out" | field messages_per_s)
    echo "SUMMARY $format: structural $swift_messages messages/s ($(ratio "$swift_messages" "$python_messages")x Python)," \
        "typed rows $swift_rows rows/s$(
            if [ "$format" = text ]; then
                python_rows=$(echo "$python_out" | field rows_per_s)
                echo " ($(ratio "$swift_rows" "$python_rows")x Python)"
            fi)"
done

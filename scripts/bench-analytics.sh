#!/usr/bin/env bash
# Analytics benchmark: clusters + hosts + drivers over a 1,000,000-row crash store.
#
#   scripts/bench-analytics.sh [STORE_DIR] [ROWS]
#
# 1. builds the release binary and the `analytics` bench (benches/analytics.rs);
# 2. generates the store once (simulator record generator; skipped when STORE_DIR already
#    holds a store);
# 3. runs the three analyses in one process (library calls, as a long-lived service or the
#    TUI would) under /usr/bin/time -v, and then each CLI command on its own
#    (`blastradius clusters|hosts|drivers --format json > /dev/null`), reporting wall time and
#    peak RSS of each.
# Bar (issue 6): the three analyses in < 5 s and < 2 GB RSS.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
store="${1:-$target/bench-analytics-store}"
rows="${2:-1000000}"

cargo build --release --bin blastradius --bench analytics
bench="$(ls -t "$target"/release/deps/analytics-* | grep -v '\.d$' | head -n 1)"
cli="$target/release/blastradius"

if [ ! -f "$store/manifest.json" ]; then
    "$bench" generate "$store" "$rows"
fi

measure() {
    # $1 = label, rest = command; prints "label  wall  peak RSS" from /usr/bin/time -v.
    local label="$1"
    shift
    local log
    log="$(mktemp)"
    /usr/bin/time -v "$@" > "$log.out" 2> "$log"
    local wall rss
    wall="$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')"
    rss="$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')"
    printf '%-34s wall %-9s peak RSS %6d MB\n' "$label" "$wall" "$((rss / 1024))"
    if [ "$label" = "library: clusters+hosts+drivers" ]; then
        cat "$log.out"
    fi
    rm -f "$log" "$log.out"
}

measure "library: clusters+hosts+drivers" "$bench" run "$store"
measure "cli: clusters --format json" "$cli" clusters --store "$store" --format json
measure "cli: hosts --format json" "$cli" hosts --store "$store" --format json
measure "cli: drivers --format json" "$cli" drivers --store "$store" --format json

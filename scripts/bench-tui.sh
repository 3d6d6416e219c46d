#!/usr/bin/env bash
# TUI benchmark: the console's first screen and its key-press redraws on a 1,000,000-row store.
#
#   scripts/bench-tui.sh [STORE_DIR] [PRESSES]
#
# 1. builds the release binary and the `analytics` bench (its generator writes the store);
# 2. generates the analytics benchmark's store once (skipped when STORE_DIR holds a store);
# 3. runs `blastradius tui --store STORE --bench-frames PRESSES` under /usr/bin/time -v: it
#    loads the store (one Analysis: clusters, hosts, drivers, example crashes), draws the first
#    screen to an in-memory 80x24 terminal, then applies PRESSES key presses of a fixed script
#    (move, sort, open a cluster's detail, page through it, hosts tab and its state filter,
#    drivers tab, a text filter), drawing after each, and prints the timings.
# Bar (issue 11): first screen < 3 s, every key press redrawn in < 100 ms.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
store="${1:-$target/bench-analytics-store}"
presses="${2:-1000}"

cargo build --release --bin blastradius --bench analytics
bench="$(ls -t "$target"/release/deps/analytics-* | grep -v '\.d$' | head -n 1)"
cli="$target/release/blastradius"

if [ ! -f "$store/manifest.json" ]; then
    "$bench" generate "$store" 1000000
fi

log="$(mktemp)"
/usr/bin/time -v "$cli" tui --store "$store" --bench-frames "$presses" 2> "$log"
wall="$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')"
rss="$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')"
printf 'whole run: wall %s, peak RSS %d MB\n' "$wall" "$((rss / 1024))"
rm -f "$log"

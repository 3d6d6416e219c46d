#!/usr/bin/env bash
# The command-line benchmark (issue 16): two builds of blastradius side by side, one run.
#
#   1. binary size, as built and stripped
#   2. start-up: `--version`, median of many runs (and minidump-stackwalk's)
#   3. `inspect` once per dump vs `minidump-stackwalk` once per dump, on the same simulated
#      user-mode minidumps (as scripts and Socorro-style pipelines run them); both without
#      symbols, text output to /dev/null
#   4. `scan` of the same minidumps, and of the whole simulated fleet (fresh stores)
#
# Usage: scripts/bench-cli.sh [BEFORE] [AFTER]
#   BEFORE  a blastradius binary built before the change (default /work/bench/blastradius-before)
#   AFTER   the binary to compare (default: $CARGO_TARGET_DIR/release/blastradius, built
#           with `cargo build --release` when absent)
# Environment:
#   BENCH_WORK=/tmp/blastradius-bench-cli   work folder (fleet, stores, tools)
#   BENCH_HOSTS=3600 BENCH_SEED=1           the simulated fleet (`simulate --scenario baseline
#                                           --captured-memory minimal`: a normal week, ~20 % of
#                                           its dumps user-mode; ~120 MDMP at 3600 hosts)
#   BENCH_MDMP=114                          minidumps for step 3
#   BENCH_RUNS=5                            repetitions of steps 3 and 4 (median reported)
#   BENCH_STARTS=300                        runs of step 2
# Uses hyperfine when installed (apt-get install hyperfine), else a loop timed with date.
# Output: a Markdown section on stdout and in $BENCH_WORK/results.md.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_WORK:-/tmp/blastradius-bench-cli}"
runs="${BENCH_RUNS:-5}"
starts="${BENCH_STARTS:-300}"
mdmp_count="${BENCH_MDMP:-114}"
before="${1:-/work/bench/blastradius-before}"
after="${2:-${CARGO_TARGET_DIR:-$root/target}/release/blastradius}"
results="$work/results.md"

if [ ! -x "$after" ] && [ $# -lt 2 ]; then
    echo "== building release" >&2
    (cd "$root" && cargo build --release --quiet)
fi
for b in "$before" "$after"; do
    [ -x "$b" ] || { echo "bench-cli: $b is not an executable" >&2; exit 2; }
done
mkdir -p "$work"
: >"$results"
say() { echo "$*" | tee -a "$results"; }

# --- the tools ----------------------------------------------------------------------------
stackwalk="$(command -v minidump-stackwalk || true)"
[ -z "$stackwalk" ] && [ -x "$work/tools/bin/minidump-stackwalk" ] && stackwalk="$work/tools/bin/minidump-stackwalk"
if [ -z "$stackwalk" ]; then
    echo "== cargo install minidump-stackwalk" >&2
    cargo install --quiet --locked minidump-stackwalk --root "$work/tools"
    stackwalk="$work/tools/bin/minidump-stackwalk"
fi

# --- the fleet ----------------------------------------------------------------------------
sim="$work/sim-${BENCH_HOSTS:-3600}-${BENCH_SEED:-1}"
if [ ! -d "$sim/dumps" ]; then
    echo "== simulate baseline, ${BENCH_HOSTS:-3600} hosts" >&2
    "$after" simulate --scenario baseline --hosts "${BENCH_HOSTS:-3600}" --seed "${BENCH_SEED:-1}" \
        --captured-memory minimal --out "$sim" >/dev/null
fi
# User-mode minidumps by content (MDMP), sorted: the same files for every tool and run.
find "$sim/dumps" -type f -print0 | sort -z | xargs -0 awk 'FNR == 1 {
    if (substr($0, 1, 4) == "MDMP") print FILENAME; nextfile }' | head -n "$mdmp_count" >"$work/mdmp.txt"
found=$(wc -l <"$work/mdmp.txt")
[ "$found" -eq "$mdmp_count" ] || { echo "bench-cli: only $found MDMP in $sim; raise BENCH_HOSTS" >&2; exit 1; }
dumps=$(find "$sim/dumps" -type f | wc -l)
# The same minidumps as a folder for `scan` (hard links, <host>/<file>).
rm -rf "$work/mdmp"
while IFS= read -r f; do
    mkdir -p "$work/mdmp/$(basename "$(dirname "$f")")"
    ln "$f" "$work/mdmp/$(basename "$(dirname "$f")")/" 2>/dev/null || cp "$f" "$work/mdmp/$(basename "$(dirname "$f")")/"
done <"$work/mdmp.txt"
"$after" inspect "$(head -n 1 "$work/mdmp.txt")" >/dev/null || { echo "bench-cli: inspect fails on $(head -n 1 "$work/mdmp.txt")" >&2; exit 1; }
xargs cat <"$work/mdmp.txt" >/dev/null # warm the page cache
find "$sim/dumps" -type f -print0 | xargs -0 cat >/dev/null

# --- measuring ----------------------------------------------------------------------------
# median_ms RUNS COMMAND...: the median wall time of COMMAND in milliseconds (stdout and
# stderr to /dev/null; the runs' exit codes are checked by hyperfine / set -e).
median_ms() {
    local n="$1"
    shift
    if command -v hyperfine >/dev/null; then
        hyperfine -N --style none --warmup 3 --runs "$n" --export-json "$work/h.json" \
            "$(printf '%q ' "$@")" >/dev/null 2>&1 ||
            hyperfine --style none --warmup 3 --runs "$n" --export-json "$work/h.json" \
                "$(printf '%q ' "$@")" >/dev/null
        python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$work/h.json"
    else
        local i s e times=()
        for ((i = 0; i < n; i++)); do
            s=$(date +%s%N)
            "$@" >/dev/null 2>&1
            e=$(date +%s%N)
            times+=($(((e - s) / 1000)))
        done
        printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {printf "%.2f\n", a[int((NR + 1) / 2)] / 1000}'
    fi
}

# Each tool once per dump, as a pipeline runs it (one process per file).
once_per_dump() {
    local list="$1"
    shift
    while IFS= read -r f; do "$@" "$f" >/dev/null 2>&1 || true; done <"$list"
}
export -f once_per_dump

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
size_of() { stat -c %s "$1"; }
stripped_size() {
    strip -o "$work/stripped" "$1" 2>/dev/null || cp "$1" "$work/stripped"
    size_of "$work/stripped"
}

say "## Command line: size, start-up, inspect once per dump ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
say ""
say "\`scripts/bench-cli.sh $before $after\`; $(nproc) cores; \`uptime\` at start:$(uptime | sed 's/.*load average/ load average/')."
say "Fleet: \`simulate --scenario baseline --hosts ${BENCH_HOSTS:-3600} --seed ${BENCH_SEED:-1} --captured-memory minimal\`, $dumps dumps, the first $mdmp_count of them user-mode minidumps (MDMP); $stackwalk ($("$stackwalk" --version 2>&1 | head -1)); medians of $starts (start-up) and $runs runs."
say ""
say "| | before | after | minidump-stackwalk |"
say "|---|---:|---:|---:|"
say "| binary as built | $(mb "$(size_of "$before")") | $(mb "$(size_of "$after")") | $(mb "$(size_of "$stackwalk")") |"
say "| binary stripped | $(mb "$(stripped_size "$before")") | $(mb "$(stripped_size "$after")") | $(mb "$(stripped_size "$stackwalk")") |"
# Dynamic relocation tables: what the loader reads and applies before main, on every start.
reloc_size() {
    local total=0 size
    for size in $(readelf -S -W "$1" 2>/dev/null |
        sed -nE 's/.*\.rel[ar]\.dyn +[A-Z]+ +[0-9a-f]+ +[0-9a-f]+ +([0-9a-f]+).*/\1/p'); do
        total=$((total + 16#$size))
    done
    echo "$total"
}
say "| relocation tables (.rela.dyn + .relr.dyn) | $(mb "$(reloc_size "$before")") | $(mb "$(reloc_size "$after")") | $(mb "$(reloc_size "$stackwalk")") |"

cd "$work" # no ./symbols-cache here: every tool runs without symbols
v_before=$(median_ms "$starts" "$before" --version)
v_after=$(median_ms "$starts" "$after" --version)
v_sw=$(median_ms "$starts" "$stackwalk" --version)
say "| \`--version\` start-up | $v_before ms | $v_after ms | $v_sw ms |"

i_before=$(median_ms "$runs" bash -c "once_per_dump '$work/mdmp.txt' '$before' inspect")
i_after=$(median_ms "$runs" bash -c "once_per_dump '$work/mdmp.txt' '$after' inspect")
i_sw=$(median_ms "$runs" bash -c "once_per_dump '$work/mdmp.txt' '$stackwalk'")
per() { awk -v t="$1" -v n="$mdmp_count" 'BEGIN { printf "%.2f", t / n }'; }
say "| $mdmp_count MDMP, one process per dump (\`inspect\` / \`minidump-stackwalk\`) | $i_before ms | $i_after ms | $i_sw ms |"
say "| the same, per dump | $(per "$i_before") ms | $(per "$i_after") ms | $(per "$i_sw") ms |"

# scan_ms BINARY FOLDER: median wall time of a scan of FOLDER into a fresh store.
scan_ms() {
    median_ms "$runs" bash -c "rm -rf '$work/store' && '$1' scan '$2' --store '$work/store' --format json"
}
m_before=$(scan_ms "$before" "$work/mdmp")
m_after=$(scan_ms "$after" "$work/mdmp")
say "| \`scan\` of the same $mdmp_count MDMP, fresh store | $m_before ms | $m_after ms | |"
s_before=$(scan_ms "$before" "$sim/dumps")
s_after=$(scan_ms "$after" "$sim/dumps")
say "| \`scan\` of the whole fleet, $dumps dumps, fresh store | $s_before ms | $s_after ms | |"
say ""
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
say "- inspect once per dump vs minidump-stackwalk once per dump: before $(ratio "$i_before" "$i_sw")x, after $(ratio "$i_after" "$i_sw")x the time (target: <= 1.00x)."
say "- start-up after/before: $(ratio "$v_after" "$v_before")x; scan after/before: $(ratio "$s_after" "$s_before")x."
say "- \`uptime\` at the end:$(uptime | sed 's/.*load average/ load average/')."
echo "results: $results" >&2

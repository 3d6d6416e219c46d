#!/usr/bin/env bash
# The `blastradius scan` benchmark (issue 5): one run, same files, side by side.
#
#   1. cat of every file > /dev/null, warm page cache    (the cost of reading every byte once)
#   2. scan into a fresh store, default --jobs           (must be at least as fast as 1)
#   3. the same scan again, nothing new                  (must take < 10 % of 2)
#   4. peak RSS, 1,000 vs 10,000 dumps                   (10,000 must be <= 1.3x 1,000)
#   5. --jobs 1 vs --jobs 2: speed-up, and identical store contents
#   6. MDMP only: minidump-stackwalk once per dump (as Socorro runs it) vs one scan
#                                                         (scan must be >= 10x faster)
#   7. (BENCH_BEFORE) steps 2, 4 and 5 again with an older binary, in the same run, and the
#      clusters/hosts/drivers JSON of its store against ours (issue 17)
#   8. dumps <= 64 MiB read into memory (the default, issue 13) vs mapped
#      (BLASTRADIUS_READ_LIMIT=0), same fleet
#
# Usage: scripts/bench-scan.sh            (everything; results in $BENCH_WORK/results.md)
# Environment:
#   BENCH_WORK=/tmp/blastradius-bench  work folder (fleets, stores, tools; tens of GB for 10,000
#                                      realistic dumps: check free space)
#   BENCH_DUMPS=10000 BENCH_SMALL=1000 fleet sizes
#   BENCH_FLEET=DIR                    use the dumps under DIR instead of generating a fleet
#   BENCH_SCENARIO=channel-file-291 BENCH_HOSTS=12000 BENCH_SEED=1   what `simulate` generates
#   BENCH_RUNS=3                       repetitions per timing (the median is reported)
#   BENCH_SYMBOLS=DIR                  symbols for both tools (default: symbols-cache/)
#   BENCH_SKIP_MDMP=1                  skip step 6 (it cargo-installs minidump-stackwalk)
#   BENCH_BEFORE=BIN                   also time this binary (e.g. main's release build), step 7
#   BENCH_SKIP_BUILD=1                 use $CARGO_TARGET_DIR/release/blastradius as it is
#   CARGO_TARGET_DIR                   as usual (release binary at $CARGO_TARGET_DIR/release)
# Needs: cargo, GNU time (/usr/bin/time: apt-get install time), find, xargs, awk; python3 with
# polars, or the duckdb CLI, for the store comparison of step 5 (skipped with a note otherwise).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_WORK:-/tmp/blastradius-bench}"
dumps_big="${BENCH_DUMPS:-10000}"
dumps_small="${BENCH_SMALL:-1000}"
runs="${BENCH_RUNS:-3}"
symbols="${BENCH_SYMBOLS:-$root/symbols-cache}"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/blastradius"
results="$work/results.md"

[ -x /usr/bin/time ] || { echo "bench-scan: GNU time not found (apt-get install -y time)" >&2; exit 1; }
mkdir -p "$work"
: >"$results"
say() { echo "$*" | tee -a "$results"; }

before="${BENCH_BEFORE:-}"
[ -z "$before" ] || [ -x "$before" ] || { echo "bench-scan: BENCH_BEFORE=$before is not an executable" >&2; exit 1; }
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    echo "== building release" >&2
    (cd "$root" && cargo build --release --quiet)
fi

# --- the fleet -----------------------------------------------------------------------------
# Dump files by content (first 4 bytes PAGE or MDMP), sorted, so subsets are reproducible.
list_dumps() {
    find "$1" -type f -print0 | sort -z | xargs -0 -r awk 'FNR == 1 {
        if (substr($0, 1, 4) == "PAGE" || substr($0, 1, 4) == "MDMP") print FILENAME; nextfile }'
}

# Hard-links the first $2 dumps of list $1 into $3, keeping the <host>/<file> layout.
make_subset() {
    local list="$1" n="$2" out="$3"
    rm -rf "$out"
    mkdir -p "$out"
    head -n "$n" "$list" | while IFS= read -r f; do
        host="$(basename "$(dirname "$f")")"
        mkdir -p "$out/$host"
        ln "$f" "$out/$host/$(basename "$f")" 2>/dev/null || cp "$f" "$out/$host/"
    done
}

if [ -n "${BENCH_FLEET:-}" ]; then
    source_dir="$BENCH_FLEET"
else
    source_dir="$work/sim"
    if [ ! -d "$source_dir/dumps" ]; then
        echo "== generating the fleet (simulate ${BENCH_SCENARIO:-channel-file-291}, ${BENCH_HOSTS:-12000} hosts)" >&2
        "$bin" simulate --scenario "${BENCH_SCENARIO:-channel-file-291}" --hosts "${BENCH_HOSTS:-12000}" \
            --seed "${BENCH_SEED:-1}" --out "$source_dir" >/dev/null
    fi
fi
list_dumps "$source_dir" >"$work/all-dumps.txt"
available=$(wc -l <"$work/all-dumps.txt")
if [ "$available" -lt "$dumps_big" ]; then
    echo "bench-scan: only $available dumps under $source_dir; raise BENCH_HOSTS or lower BENCH_DUMPS" >&2
    exit 1
fi
big="$work/fleet-$dumps_big"
small="$work/fleet-$dumps_small"
make_subset "$work/all-dumps.txt" "$dumps_big" "$big"
make_subset "$work/all-dumps.txt" "$dumps_small" "$small"
bytes=$(find "$big" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')

# --- measuring ------------------------------------------------------------------------------
# measure LABEL PREPARE COMMAND...: runs PREPARE then COMMAND $runs times under GNU time;
# sets $med_s (median wall seconds), $med_cpu (median user + system CPU seconds) and $max_kb
# (largest peak RSS).
measure() {
    local label="$1" prepare="$2"
    shift 2
    local times=() cpus=() rss=0 i
    for ((i = 0; i < runs; i++)); do
        eval "$prepare"
        /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "$@" >/dev/null 2>"$work/stderr.out" || {
            echo "bench-scan: '$label' failed:" >&2
            cat "$work/stderr.out" >&2
            exit 1
        }
        read -r s kb user sys <"$work/time.out"
        times+=("$s")
        cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')")
        [ "$kb" -gt "$rss" ] && rss="$kb"
    done
    med_s=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    med_cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    max_kb="$rss"
    printf '| %-52s | %7.2f s | %7.2f s | %6d MB |\n' "$label" "$med_s" "$med_cpu" $((max_kb / 1024)) | tee -a "$results"
}

catall() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }
export -f catall

say "# scan benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say ""
say "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; binary $bin${before:+, before: $before}; fleet: $dumps_big dumps, $((bytes / 1048576)) MB ($source_dir); median of $runs runs"
say ""
say "| step | wall | CPU (user + sys) | peak RSS |"
say "|---|---:|---:|---:|"

catall "$big"   # warm the page cache
catall "$big"
measure "cat all $dumps_big files > /dev/null (warm)" ":" bash -c "catall '$big'"
cat_s="$med_s"

store="$work/store"
scan=("$bin" scan "$big" --store "$store" --symbols "$symbols" --format json)
measure "scan $dumps_big, fresh store" "rm -rf '$store'" "${scan[@]}"
scan_s="$med_s"
big_kb="$max_kb"
measure "scan $dumps_big again, nothing new" ":" "${scan[@]}"
rerun_s="$med_s"

measure "scan $dumps_small, fresh store (RSS baseline)" "rm -rf '$work/store-small'" \
    "$bin" scan "$small" --store "$work/store-small" --symbols "$symbols" --format json
small_kb="$max_kb"

measure "scan $dumps_big --jobs 1" "rm -rf '$work/store-j1'" \
    "$bin" scan "$big" --store "$work/store-j1" --symbols "$symbols" --jobs 1 --format json
j1_s="$med_s"
j1_cpu="$med_cpu"
measure "scan $dumps_big --jobs 2" "rm -rf '$work/store-j2'" \
    "$bin" scan "$big" --store "$work/store-j2" --symbols "$symbols" --jobs 2 --format json
j2_s="$med_s"
store_kb=$(du -sk "$store" | cut -f1)

# Step 8: the same scan with every dump mapped instead of read (issue 13's SIGBUS safety
# costs a copy of each file; this is what it costs).
measure "scan $dumps_big, dumps mapped (BLASTRADIUS_READ_LIMIT=0)" "rm -rf '$work/store-mmap'" \
    env BLASTRADIUS_READ_LIMIT=0 "$bin" scan "$big" --store "$work/store-mmap" --symbols "$symbols" --format json
mmap_s="$med_s"
mmap_cpu="$med_cpu"

# The analytics' view of a store: clusters, hosts and drivers JSON (no per-run field: the
# simulated fleet's crashes are years old, so "now" is the latest crash).
query_json() {
    local store="$1" out="$2" c
    : >"$out"
    for c in clusters hosts drivers; do
        "$bin" "$c" --store "$store" --format json 2>/dev/null >>"$out"
    done
}
query_json "$work/store-j1" "$work/query-j1.json"
query_json "$work/store-j2" "$work/query-j2.json"
query_json "$work/store-mmap" "$work/query-mmap.json"
cmp -s "$work/query-j1.json" "$work/query-j2.json" && queries_j="identical" || queries_j="DIFFERENT"
cmp -s "$work/query-j1.json" "$work/query-mmap.json" && queries_mmap="identical" || queries_mmap="DIFFERENT"

# Step 7: the older binary, same files, same run.
if [ -n "$before" ]; then
    measure "BEFORE: scan $dumps_big, fresh store" "rm -rf '$work/store-before'" \
        "$before" scan "$big" --store "$work/store-before" --symbols "$symbols" --format json
    b_scan_s="$med_s"
    b_big_kb="$max_kb"
    measure "BEFORE: scan $dumps_small, fresh store (RSS baseline)" "rm -rf '$work/store-before-small'" \
        "$before" scan "$small" --store "$work/store-before-small" --symbols "$symbols" --format json
    b_small_kb="$max_kb"
    measure "BEFORE: scan $dumps_big --jobs 1" "rm -rf '$work/store-before-j1'" \
        "$before" scan "$big" --store "$work/store-before-j1" --symbols "$symbols" --jobs 1 --format json
    b_j1_s="$med_s"
    b_j1_cpu="$med_cpu"
    measure "BEFORE: scan $dumps_big --jobs 2" "rm -rf '$work/store-before-j2'" \
        "$before" scan "$big" --store "$work/store-before-j2" --symbols "$symbols" --jobs 2 --format json
    b_j2_s="$med_s"
    b_store_kb=$(du -sk "$work/store-before" | cut -f1)
    query_json "$work/store-before-j1" "$work/query-before.json"
    cmp -s "$work/query-j1.json" "$work/query-before.json" && queries_before="identical" || queries_before="DIFFERENT"
fi

# Store equality, --jobs 1 vs --jobs 2: every table's rows, sorted, without the per-run
# ingested_at / seen_at columns, read through the manifest.
compare_py='
import json, sys, polars as pl
def table(store, name, drop, keys):
    entries = json.load(open(store + "/manifest.json"))[name]
    files = [store + "/" + f["file"] for f in entries]
    df = pl.read_parquet(files) if files else None
    return None if df is None else df.drop([c for c in drop if c in df.columns]).sort(keys)
same = True
for name, drop, keys in [("crashes", ["ingested_at"], ["dump_id"]),
                         ("drivers", [], ["dump_id", "driver", "path", "timestamp", "size"]),
                         ("quarantine", ["seen_at"], ["path", "error"])]:
    a, b = table(sys.argv[1], name, drop, keys), table(sys.argv[2], name, drop, keys)
    equal = (a is None and b is None) or (a is not None and b is not None and a.equals(b))
    verdict = "identical" if equal else "DIFFERENT"
    print(name + ": " + str(0 if a is None else a.height) + " rows, " + verdict)
    same = same and equal
sys.exit(0 if same else 1)
'
if python3 -c 'import polars' 2>/dev/null; then
    if python3 -c "$compare_py" "$work/store-j1" "$work/store-j2" >"$work/compare.out"; then
        equality="identical ($(paste -sd';' "$work/compare.out"))"
    else
        equality="DIFFERENT ($(paste -sd';' "$work/compare.out"))"
    fi
elif command -v duckdb >/dev/null; then
    q="SELECT * EXCLUDE (ingested_at) FROM read_parquet('STORE/crashes/*.parquet')"
    diff_rows=$(duckdb -noheader -csv -c "SELECT count(*) FROM (( ${q//STORE/$work/store-j1} EXCEPT ALL ${q//STORE/$work/store-j2} ) UNION ALL ( ${q//STORE/$work/store-j2} EXCEPT ALL ${q//STORE/$work/store-j1} ))")
    equality="crashes rows differing: $diff_rows (duckdb)"
else
    equality="not checked (needs python3 with polars, or duckdb)"
fi

# --- MDMP vs minidump-stackwalk -----------------------------------------------------------
mdmp_line="skipped (BENCH_SKIP_MDMP)"
if [ -z "${BENCH_SKIP_MDMP:-}" ]; then
    mdmp="$work/mdmp"
    rm -rf "$mdmp"
    mkdir -p "$mdmp"
    find "$big" -type f -print0 | xargs -0 -r awk 'FNR == 1 { if (substr($0, 1, 4) == "MDMP") print FILENAME; nextfile }' >"$work/mdmp.txt"
    make_subset "$work/mdmp.txt" 1000000 "$mdmp"
    count=$(find "$mdmp" -type f | wc -l)
    if [ "$count" -lt 100 ]; then
        # Too few user-mode dumps in the fleet: use the real MDMP samples, each copied with its
        # own header TimeDateStamp (offset 0x10) so that every copy is a distinct dump.
        count=500
        python3 - "$mdmp" "$count" "$root/../shared/samples/mdmp" <<'PY'
import os, struct, sys
out, n, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
samples = sorted(os.path.join(src, f) for f in os.listdir(src))
blobs = [open(p, "rb").read() for p in samples]
for i in range(n):
    b = bytearray(blobs[i % len(blobs)])
    b[0x10:0x14] = struct.pack("<I", 0x5F000000 + i)
    host = os.path.join(out, f"svc{i % 50:03d}")
    os.makedirs(host, exist_ok=True)
    open(os.path.join(host, f"{i:05d}.dmp"), "wb").write(b)
PY
        [ -d "$root/../shared/samples/symbols" ] && symbols="$root/../shared/samples/symbols"
    fi
    stackwalk="$(command -v minidump-stackwalk || true)"
    if [ -z "$stackwalk" ]; then
        echo "== cargo install minidump-stackwalk" >&2
        cargo install --quiet --locked minidump-stackwalk --root "$work/tools"
        stackwalk="$work/tools/bin/minidump-stackwalk"
    fi
    catall "$mdmp"
    walk_each() { find "$1" -type f -print0 | xargs -0 -n 1 "$2" --symbols-path "$3" >/dev/null 2>&1; }
    export -f walk_each
    measure "minidump-stackwalk once per dump ($count MDMP)" ":" bash -c "walk_each '$mdmp' '$stackwalk' '$symbols'"
    sw_s="$med_s"
    measure "scan the same $count MDMP, fresh store" "rm -rf '$work/store-mdmp'" \
        "$bin" scan "$mdmp" --store "$work/store-mdmp" --symbols "$symbols" --format json
    mdmp_line=$(awk -v a="$sw_s" -v b="$med_s" 'BEGIN { printf "%.1fx faster than minidump-stackwalk per dump (bar: >= 10x)", (b > 0 ? a / b : 0) }')
fi

say ""
say "## against the bars"
awk -v c="$cat_s" -v s="$scan_s" -v r="$rerun_s" -v mm="$mmap_s" -v j1c="$j1_cpu" -v sk_store="$store_kb" -v bk="$big_kb" -v sk="$small_kb" -v j1="$j1_s" -v j2="$j2_s" \
    -v n="$dumps_big" -v m="$dumps_small" 'BEGIN {
    printf "- scan vs cat: %.2f s vs %.2f s = %.2fx the time of cat, scan %.2fx faster (bar: >= 1.5x faster); %.0f dumps/s\n", s, c, (c > 0 ? s / c : 0), (s > 0 ? c / s : 0), (s > 0 ? n / s : 0)
    printf "- CPU per dump at --jobs 1: %.3f ms (user + sys)\n", 1000 * j1c / n
    printf "- dumps read (default) vs mapped: %.2f s vs %.2f s = reading costs %+.0f %%\n", s, mm, (mm > 0 ? 100 * (s - mm) / mm : 0)
    printf "- store size: %.1f MB for %d dumps\n", sk_store / 1024, n
    printf "- re-run with nothing new: %.1f %% of the first run (bar: < 10 %%)\n", (s > 0 ? 100 * r / s : 0)
    printf "- peak RSS %d dumps / %d dumps: %d MB / %d MB = %.2fx (bar: <= 1.3x)\n", n, m, bk / 1024, sk / 1024, (sk > 0 ? bk / sk : 0)
    printf "- --jobs 1 -> --jobs 2: %.2f s -> %.2f s, speed-up %.2fx (bar: >= 1.7x)\n", j1, j2, (j2 > 0 ? j1 / j2 : 0)
}' | tee -a "$results"
say "- clusters/hosts/drivers JSON, --jobs 1 vs --jobs 2 stores: $queries_j; read vs mapped: $queries_mmap"
if [ -n "$before" ]; then
    awk -v s="$scan_s" -v bs="$b_scan_s" -v j1="$j1_s" -v j2="$j2_s" -v bj1="$b_j1_s" -v bj2="$b_j2_s" \
        -v bk="$big_kb" -v sk="$small_kb" -v bbk="$b_big_kb" -v bsk="$b_small_kb" -v bj1c="$b_j1_cpu" -v j1c="$j1_cpu" \
        -v st="$store_kb" -v bst="$b_store_kb" -v n="$dumps_big" -v m="$dumps_small" 'BEGIN {
        printf "- before -> after, scan %d: %.2f s -> %.2f s (%.2fx)\n", n, bs, s, (s > 0 ? bs / s : 0)
        printf "- before -> after, CPU per dump at --jobs 1: %.3f ms -> %.3f ms\n", 1000 * bj1c / n, 1000 * j1c / n
        printf "- before: --jobs 1 -> --jobs 2: %.2f s -> %.2f s, speed-up %.2fx (after: %.2fx)\n", bj1, bj2, (bj2 > 0 ? bj1 / bj2 : 0), (j2 > 0 ? j1 / j2 : 0)
        printf "- before: peak RSS %d / %d dumps: %d MB / %d MB = %.2fx (after: %.2fx)\n", n, m, bbk / 1024, bsk / 1024, (bsk > 0 ? bbk / bsk : 0), (sk > 0 ? bk / sk : 0)
        printf "- store size before -> after: %.1f MB -> %.1f MB\n", bst / 1024, st / 1024
    }' | tee -a "$results"
    say "- clusters/hosts/drivers JSON, before vs after store: $queries_before"
fi
say "- store contents --jobs 1 vs --jobs 2: $equality"
say "- MDMP: $mdmp_line"
echo "results: $results" >&2

#!/usr/bin/env bash
# The symbolization benchmark (issue 3): the same files scanned with and without symbols, side
# by side in one run, and the time to the first symbol from a cold cache over HTTP.
#
#   1. scan of N kernel dumps into a fresh store, no symbols         -> dumps/s
#   2. the same scan with symbols-cache/ as the store                -> dumps/s (each PDB loaded once)
#   3. cold cache: `inspect` of one dump whose driver has a PE + PDB, symbols fetched from a
#      local HTTP symbol server (python3 -m http.server over symbols-cache/) into an empty
#      cache -> seconds to the first symbolized frame; then the same warm.
#
# Usage: scripts/bench-symbols.sh   (results appended to $BENCH_WORK/symbols.md)
# Environment: BENCH_WORK (default /tmp/blastradius-bench), BENCH_HOSTS (default 6000: about
# 10,000 dumps from channel-file-291,baseline), BENCH_SEED, BENCH_RUNS (3), CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_WORK:-/tmp/blastradius-bench}"
hosts="${BENCH_HOSTS:-6000}"
seed="${BENCH_SEED:-1}"
runs="${BENCH_RUNS:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/blastradius"
out="$work/symbols.md"
mkdir -p "$work"
(cd "$root" && cargo build --release --quiet)

fleet="$work/symfleet"
if [ ! -f "$fleet/truth.json" ]; then
  "$bin" simulate --scenario channel-file-291,baseline --hosts "$hosts" --seed "$seed" --out "$fleet" --minidumps-count 2 >/dev/null
fi
ndumps=$(find "$fleet/dumps" -type f | wc -l)
cat "$(find "$fleet/dumps" -type f | head -n 1)" >/dev/null
find "$fleet/dumps" -type f -print0 | xargs -0 cat >/dev/null   # warm the page cache

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
scan_secs() { # $1 = symbols spec
  local store="$work/symstore"
  rm -rf "$store"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" scan "$fleet/dumps" --store "$store" --symbols "$1" --format json >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
empty="$work/empty-symbols"; mkdir -p "$empty"
without=$(for _ in $(seq "$runs"); do scan_secs "$empty"; done | median)
with=$(for _ in $(seq "$runs"); do scan_secs "$root/symbols-cache"; done | median)

# Cold cache over HTTP: the first acmenet dump in the truth file.
dump=$(python3 -c "import json,sys; t=json.load(open('$fleet/truth.json')); print(next(d['path'] for d in t['dumps'] if d['blamed_driver']=='acmenet.sys'))")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$root/symbols-cache" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
cache="$work/cold-cache"
cold() {
  rm -rf "$cache"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" inspect "$fleet/$dump" --symbols "srv*$cache*http://127.0.0.1:$port" | grep -q FilterSend
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
warm() {
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" inspect "$fleet/$dump" --symbols "srv*$cache*http://127.0.0.1:$port" | grep -q FilterSend
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
cold_s=$(for _ in $(seq "$runs"); do cold; done | median)
warm_s=$(for _ in $(seq "$runs"); do warm; done | median)

{
  echo "## Symbolization ($(date -u +%F), $(nproc) cores, $ndumps dumps, median of $runs)"
  echo
  echo "| run | seconds | dumps/s |"
  echo "|---|---|---|"
  printf '| scan, no symbols | %.2f | %.0f |\n' "$without" "$(echo "$ndumps / $without" | bc -l)"
  printf '| scan, symbols-cache/ | %.2f | %.0f |\n' "$with" "$(echo "$ndumps / $with" | bc -l)"
  printf '| inspect one dump, cold cache over HTTP (image + PDB downloaded) | %.3f | |\n' "$cold_s"
  printf '| inspect one dump, warm cache | %.3f | |\n' "$warm_s"
} | tee -a "$out"

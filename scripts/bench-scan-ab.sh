#!/usr/bin/env bash
# Interleaved A/B timing of `scan` on a shared machine (issue 17): each round runs every
# variant once, one right after the other, so that load from other processes hits all of them
# alike; prints each run and the per-variant medians (wall, user + sys CPU, peak RSS).
#
# Usage: scripts/bench-scan-ab.sh FLEET_DIR AFTER_BIN BEFORE_BIN [ROUNDS]   (default 3 rounds)
# The fleet should already be in the page cache (scripts/bench-scan.sh builds and warms it).
set -euo pipefail
fleet="$1" after="$2" before="$3" rounds="${4:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
variants=("after --jobs 1|$after|1|" "before --jobs 1|$before|1|" "after --jobs 2|$after|2|"
    "before --jobs 2|$before|2|" "after --jobs 2, dumps mapped|$after|2|0")
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
    for v in "${variants[@]}"; do
        IFS='|' read -r label bin jobs limit <<<"$v"
        rm -rf "$work/store"
        env ${limit:+BLASTRADIUS_READ_LIMIT=$limit} /usr/bin/time -f '%e %U %S %M' -o "$work/t" \
            "$bin" scan "$fleet" --store "$work/store" --jobs "$jobs" --format json >/dev/null 2>&1
        read -r wall user sys kb <"$work/t"
        echo "$label|$wall|$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')|$((kb / 1024))" | tee -a "$work/all"
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| variant | wall (median) | CPU user + sys (median) | peak RSS (max) |"
echo "|---|---:|---:|---:|"
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for v in "${variants[@]}"; do
    label="${v%%|*}"
    wall=$(awk -F'|' -v l="$label" '$1 == l {print $2}' "$work/all" | median)
    cpu=$(awk -F'|' -v l="$label" '$1 == l {print $3}' "$work/all" | median)
    rss=$(awk -F'|' -v l="$label" '$1 == l {print $4}' "$work/all" | sort -g | tail -1)
    printf '| %s | %.2f s | %.2f s | %d MB |\n' "$label" "$wall" "$cpu" "$rss"
done

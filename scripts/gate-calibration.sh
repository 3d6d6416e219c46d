#!/usr/bin/env bash
# How often `gate` halts a bad change and wrongly halts a clean one, over many simulated fleets.
#
#   scripts/gate-calibration.sh [SEEDS] [HOSTS]      (default: 12 seeds, 600 hosts)
#
# Per seed: simulate baseline,staged-rollout,clean-rollout (minimal dumps), scan, then
#   - the bad change (acmeflt.sys 3.2.0) at the canary ring a day after START: should halt;
#   - the clean change (Windows update) at canary and early a day after each started, and at
#     the default ring (broad) on the eve of START: should proceed (or insufficient-data when
#     the ring is below --min-hosts); a halt here is a false halt.
# Prints one line per seed and the totals. Uses the debug binary (build it first with
# `cargo build`); each seed takes a few seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
seeds="${1:-12}"
hosts="${2:-600}"
bin="${CARGO_TARGET_DIR:-target}/debug/blastradius"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

bad="acmeflt.sys (Acme Backup filter)"
clean="Windows cumulative update 2024-07"
bad_halts=0
bad_checks=0
false_halts=0
clean_checks=0

verdict() {
    # $1 = rollout, $2 = store, rest = gate arguments; prints "verdict/ring/deployed_hosts".
    local rollout="$1" store="$2"
    shift 2
    "$bin" gate --rollout "$rollout" --store "$store" --format json "$@" 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["verdict"]+"/"+j["ring"]+"/"+str(j["deployed_hosts"]))' ||
        true
}

for seed in $(seq 1 "$seeds"); do
    dir="$work/$seed"
    "$bin" simulate --scenario baseline,staged-rollout,clean-rollout --hosts "$hosts" \
        --seed "$seed" --captured-memory minimal --out "$dir/sim" 2>/dev/null
    "$bin" scan "$dir/sim/dumps" --inventory "$dir/sim/inventory.csv" --store "$dir/store" \
        --format json >/dev/null
    rollout="$dir/sim/rollout.csv"
    line="seed $seed:"
    v="$(verdict "$rollout" "$dir/store" --change "$bad" --ring canary --now 2024-07-20T04:00:00Z)"
    line="$line bad@canary=$v"
    bad_checks=$((bad_checks + 1))
    [[ "$v" == halt/* ]] && bad_halts=$((bad_halts + 1))
    for check in "canary 2024-07-14T04:09:00Z" "early 2024-07-15T04:09:00Z" "- 2024-07-19T04:00:00Z"; do
        read -r ring now <<<"$check"
        if [ "$ring" = "-" ]; then
            v="$(verdict "$rollout" "$dir/store" --change "$clean" --now "$now")"
        else
            v="$(verdict "$rollout" "$dir/store" --change "$clean" --ring "$ring" --now "$now")"
        fi
        line="$line clean@${ring/-/default}=$v"
        clean_checks=$((clean_checks + 1))
        [[ "$v" == halt/* ]] && false_halts=$((false_halts + 1))
    done
    echo "$line"
    rm -rf "$dir"
done
echo "bad change halted at canary: $bad_halts of $bad_checks; clean change halted (false halts): $false_halts of $clean_checks"

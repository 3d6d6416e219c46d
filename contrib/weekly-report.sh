#!/bin/sh
# Scan the dump share into the crash store, then write the fleet-stability report for the
# 7 days up to now. Run by cron (blastradius-report.cron) or systemd
# (blastradius-report.service + .timer); needs no terminal. Settings from the environment
# (blastradius-report.env):
#   BLASTRADIUS_DUMPS        the dump share to scan (required)
#   BLASTRADIUS_HOME         working folder (default /var/lib/blastradius): the report goes to
#                            $BLASTRADIUS_HOME/reports/<date>-fleet-report.html
#   BLASTRADIUS_STORE        the crash store (default $BLASTRADIUS_HOME/store)
#   BLASTRADIUS_INVENTORY    the CMDB export, CSV or Parquet (optional)
#   BLASTRADIUS_BIN          the binary (default: blastradius on PATH)
#   BLASTRADIUS_REPORT_ARGS  more `report` arguments, e.g. "--format md --period 14d"
# Exit status 0 when the report was written; non-zero when the scan could not run (2) or the
# report failed (a scan that quarantined some dumps still succeeds).
set -eu

: "${BLASTRADIUS_DUMPS:?set BLASTRADIUS_DUMPS to the dump share}"
BLASTRADIUS_HOME="${BLASTRADIUS_HOME:-/var/lib/blastradius}"
BLASTRADIUS_STORE="${BLASTRADIUS_STORE:-$BLASTRADIUS_HOME/store}"
BIN="${BLASTRADIUS_BIN:-blastradius}"

mkdir -p "$BLASTRADIUS_HOME"
cd "$BLASTRADIUS_HOME"

set -- scan "$BLASTRADIUS_DUMPS" --store "$BLASTRADIUS_STORE" --format json
if [ -n "${BLASTRADIUS_INVENTORY:-}" ]; then
    set -- "$@" --inventory "$BLASTRADIUS_INVENTORY"
fi
# The scan summary (JSON) is kept for whoever asks why a figure moved.
"$BIN" "$@" > .last-scan.json.tmp
mv .last-scan.json.tmp last-scan.json

# The week up to now (not up to the newest crash: a quiet week is a report too).
# shellcheck disable=SC2086 # BLASTRADIUS_REPORT_ARGS is a list of words on purpose
exec "$BIN" report --store "$BLASTRADIUS_STORE" --until "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${BLASTRADIUS_REPORT_ARGS:-}

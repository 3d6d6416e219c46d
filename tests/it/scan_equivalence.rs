//! The scan's hot path was rebuilt for throughput (issue 17): the analytics must not see the
//! difference. `tests/it/expected/sample-fleet/*.json` is what `clusters`, `hosts` and
//! `drivers --format json` printed on the committed simulated fleet when scanned by main's
//! binary before that work (commit 78575a5; `clusters.json` regenerated at the merge by main's
//! binary just before the scan work landed, which only added the `critical_hosts` and
//! `critical_rule` fields of issue 15); every scan configuration here must reproduce it byte
//! for byte in meaning (compared as JSON values).
//!
//! If a later change to the analytics themselves changes these outputs on purpose, regenerate
//! the three files with the binary of that change (`scan sample-dumps/dumps --inventory
//! sample-dumps/inventory.csv --symbols symbols-cache`, then each command with `--format json`).

use std::path::Path;

use serde_json::Value;

use crate::common;

fn expected(name: &str) -> Value {
    let path = common::project_root()
        .join("tests/it/expected/sample-fleet")
        .join(format!("{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

/// Scans the committed fleet into `store` with the extra `scan` arguments, then checks the
/// three analytics outputs against the expected files.
fn scan_and_compare(store: &Path, extra: &[&str]) {
    let root = common::project_root();
    let dumps = root.join("sample-dumps/dumps");
    let inventory = root.join("sample-dumps/inventory.csv");
    let symbols = root.join("symbols-cache");
    let store_arg = store.to_str().unwrap();
    let mut args = vec![
        "scan",
        dumps.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
        "--symbols",
        symbols.to_str().unwrap(),
        "--store",
        store_arg,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = common::run_binary(&args);
    assert_eq!(code, 0, "scan {extra:?} failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["ingested"], 492, "scan {extra:?}: {summary}");
    assert_eq!(summary["quarantined"], 0, "scan {extra:?}: {summary}");

    for command in ["clusters", "hosts", "drivers"] {
        let (code, stdout, stderr) =
            common::run_binary(&[command, "--store", store_arg, "--format", "json"]);
        assert_eq!(code, 0, "{command} failed: {stderr}");
        let got: Value = serde_json::from_str(&stdout).unwrap();
        let want = expected(command);
        if got != want {
            let dump = std::env::temp_dir().join(format!(
                "blastradius-scan-equivalence-{command}-{}.json",
                std::process::id()
            ));
            let _ = std::fs::write(&dump, &stdout);
            panic!(
                "{command} --format json after scan {extra:?} differs from \
                 tests/it/expected/sample-fleet/{command}.json (got: {})",
                dump.display()
            );
        }
    }
}

#[test]
fn clusters_hosts_drivers_are_unchanged_whatever_the_threads_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    // Many small batches on two workers, and one batch on one worker: the commit order, the
    // per-batch interning and the merge of worker outputs must not show in any figure.
    scan_and_compare(
        &dir.path().join("j2"),
        &["--jobs", "2", "--batch-size", "37"],
    );
    scan_and_compare(&dir.path().join("j1"), &["--jobs", "1"]);
}

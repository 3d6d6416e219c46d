//! `blastradius scan` and the crash store, end to end through the built binary: mixed and
//! hostile trees, incremental re-runs, thread-count independence, sharding + merge, and a
//! scan killed with SIGKILL at several points.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use blastradius::fleet::store::{Store, Table};
use polars::prelude::*;
use serde_json::Value;

use crate::common;

const X86_SAMPLE: &str = "kernel/win7-x86-0x8E-unknown-module.dmp";
const X64_SAMPLE: &str = "kernel/win10-x64-0x7E-amdppm.dmp";
/// DUMP_HEADER32.Comment (128 bytes, "PAGE" fill when unset): changing it changes the content
/// id without changing anything the reader uses.
const X86_COMMENT_OFFSET: usize = 0x820;

fn scan(args: &[&str]) -> Output {
    Command::new(common::binary())
        .arg("scan")
        .args(args)
        .output()
        .expect("run blastradius scan")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "scan did not print JSON ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn count(json: &Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {json}"))
}

/// `n` distinct kernel dumps (the real x86 sample, each with its own Comment bytes) spread
/// over `hosts` folders `host000..`: `dir/hostNNN/dumpNNNNN.dmp`.
fn write_fleet(dir: &Path, sample: &[u8], n: usize, hosts: usize) {
    for i in 0..n {
        let host = dir.join(format!("host{:03}", i % hosts));
        std::fs::create_dir_all(&host).unwrap();
        let mut bytes = sample.to_vec();
        bytes[X86_COMMENT_OFFSET..X86_COMMENT_OFFSET + 8]
            .copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(host.join(format!("dump{i:05}.dmp")), bytes).unwrap();
    }
}

/// A table's rows in a canonical order, without the per-run timestamp column.
fn canonical(store: &Path, table: Table) -> DataFrame {
    let df = Store::open(store).unwrap().read_table(table).unwrap();
    let (drop, keys): (&str, Vec<&str>) = match table {
        Table::Crashes => ("ingested_at", vec!["dump_id"]),
        Table::Drivers => ("", vec!["dump_id", "driver", "path", "timestamp", "size"]),
        Table::Quarantine => ("seen_at", vec!["path", "error"]),
        Table::Heartbeats => ("", vec!["host", "seen_at_ms"]),
    };
    let df = if drop.is_empty() {
        df
    } else {
        df.drop(drop).unwrap()
    };
    df.sort(keys, SortMultipleOptions::default()).unwrap()
}

fn dump_ids(store: &Path) -> Vec<String> {
    let df = Store::open(store)
        .unwrap()
        .read_table(Table::Crashes)
        .unwrap();
    df.column("dump_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect()
}

/// The store invariants that must hold after any kill: the manifest parses, lists no temp
/// file, every listed file is readable with the row count the manifest says, and no dump is
/// stored twice.
fn assert_store_consistent(store: &Path) -> usize {
    let opened = Store::open(store).unwrap();
    for table in Table::ALL {
        for entry in opened.manifest().files(table) {
            assert!(
                !entry.file.ends_with(".tmp"),
                "manifest lists a temp file {}",
                entry.file
            );
            let file = std::fs::File::open(store.join(&entry.file)).unwrap();
            let df = ParquetReader::new(file)
                .finish()
                .unwrap_or_else(|e| panic!("{}: {e}", entry.file));
            assert_eq!(df.height() as u64, entry.rows, "{}", entry.file);
        }
    }
    let ids = dump_ids(store);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a dump is stored twice");
    ids.len()
}

#[test]
fn mixed_hostile_tree_counts_are_exact_and_rerun_ingests_nothing() {
    let (Some(x64), Some(x86), Some(mdmp_a), Some(mdmp_b)) = (
        common::sample(X64_SAMPLE),
        common::sample(X86_SAMPLE),
        common::sample("mdmp/win10-x86-crash-exe.dmp"),
        common::sample("mdmp/winxp-x86-test-app.dmp"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("dumps");
    for (host, src, name) in [
        ("WS-0001", &x64, "071924-01.dmp"),
        ("WS-0002", &x86, "Mini0719.dmp"),
        ("APP-01", &mdmp_a, "crash.dmp"),
        // By content, not extension: a minidump named .bin is still read.
        ("APP-02", &mdmp_b, "test_app.bin"),
    ] {
        std::fs::create_dir_all(dumps.join(host)).unwrap();
        std::fs::copy(src, dumps.join(host).join(name)).unwrap();
    }
    let x64_bytes = std::fs::read(&x64).unwrap();
    let mdmp_bytes = std::fs::read(&mdmp_b).unwrap();
    // Hostile: dump signatures with bodies cut off -> quarantine.
    std::fs::write(dumps.join("WS-0001/truncated.dmp"), &x64_bytes[..100]).unwrap();
    std::fs::write(dumps.join("APP-02/truncated.dmp"), &mdmp_bytes[..20]).unwrap();
    // Not dumps -> skipped quietly, counted.
    let random: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dumps.join("WS-0002/random.dmp"), random).unwrap();
    std::fs::write(dumps.join("WS-0002/empty.dmp"), b"").unwrap();
    std::fs::write(
        dumps.join("README.txt"),
        b"dumps uploaded by the fleet agent\n",
    )
    .unwrap();
    let inventory = tmp.path().join("inventory.csv");
    std::fs::write(&inventory, "host,site,ring\nWS-0001,ams,0\nWS-0002,fra,1\n").unwrap();
    let store = tmp.path().join("store");
    let store_arg = store.to_str().unwrap();

    let first = scan(&[
        dumps.to_str().unwrap(),
        "--store",
        store_arg,
        "--format",
        "json",
        "--inventory",
        inventory.to_str().unwrap(),
    ]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let json = json_of(&first);
    assert_eq!(count(&json, "files_seen"), 9);
    assert_eq!(count(&json, "ingested"), 4);
    assert_eq!(count(&json, "quarantined"), 2);
    assert_eq!(count(&json, "skipped_not_dump"), 3);
    assert_eq!(count(&json, "skipped_known"), 0);
    let quarantined: Vec<&str> = json["quarantine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["path"].as_str().unwrap())
        .collect();
    assert!(
        quarantined.iter().all(|p| p.ends_with("truncated.dmp")),
        "{quarantined:?}"
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("warning: 2 file(s)"), "{stderr}");

    let opened = Store::open(&store).unwrap();
    let crashes = opened.read_table(Table::Crashes).unwrap();
    let mut hosts: Vec<String> = crashes
        .column("host")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["APP-01", "APP-02", "WS-0001", "WS-0002"]);
    let amdppm = crashes
        .clone()
        .lazy()
        .filter(col("host").eq(lit("WS-0001")))
        .collect()
        .unwrap();
    assert_eq!(
        amdppm
            .column("bugcheck_code")
            .unwrap()
            .u32()
            .unwrap()
            .get(0),
        Some(0x1000007E)
    );
    let errors = opened.read_table(Table::Quarantine).unwrap();
    assert_eq!(errors.height(), 2);
    assert!(errors
        .column("error")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .any(|e| e.contains("truncated")));
    let inv = opened.inventory().unwrap().expect("inventory saved");
    assert_eq!(inv.height(), 2);
    // Drivers of the x64 sample: 151 loaded drivers.
    let drivers = opened.read_table(Table::Drivers).unwrap();
    let ws1 = drivers
        .clone()
        .lazy()
        .filter(col("host").eq(lit("WS-0001")))
        .collect()
        .unwrap();
    assert_eq!(ws1.height(), 151);
    // The minidumps' modules are one process's DLLs, not kernel drivers: none are listed.
    let app_rows = drivers
        .clone()
        .lazy()
        .filter(col("host").str().starts_with(lit("APP-")))
        .collect()
        .unwrap();
    assert_eq!(
        app_rows.height(),
        0,
        "user-mode modules in the drivers table"
    );

    let again = scan(&[
        dumps.to_str().unwrap(),
        "--store",
        store_arg,
        "--format",
        "json",
    ]);
    assert_eq!(again.status.code(), Some(0));
    let json = json_of(&again);
    assert_eq!(count(&json, "ingested"), 0);
    assert_eq!(count(&json, "quarantined"), 0);
    assert_eq!(count(&json, "skipped_known"), 6);
    assert_eq!(count(&json, "skipped_not_dump"), 3);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("warning"));

    // A copy under a new path is recognised by content, not re-ingested.
    std::fs::copy(&x86, dumps.join("WS-0002/copy-of-mini.dmp")).unwrap();
    let json = json_of(&scan(&[
        dumps.to_str().unwrap(),
        "--store",
        store_arg,
        "--format",
        "json",
    ]));
    assert_eq!(
        (count(&json, "ingested"), count(&json, "skipped_known")),
        (0, 7)
    );
    assert_eq!(dump_ids(&store).len(), 4);
}

#[test]
fn scan_that_cannot_run_exits_2_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let missing = scan(&["/no/such/dumps", "--store", store.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/dumps"));
    assert!(!store.exists());

    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let unwritable = scan(&[
        tmp.path().to_str().unwrap(),
        "--store",
        blocker.join("store").to_str().unwrap(),
    ]);
    assert_eq!(
        unwritable.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&unwritable.stderr)
    );
}

#[test]
fn jobs_1_and_jobs_2_give_identical_stores_and_shards_merge_to_the_whole() {
    let (Some(x86), Some(mdmp)) = (
        common::sample(X86_SAMPLE),
        common::sample("mdmp/winxp-x86-test-app.dmp"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("dumps");
    write_fleet(&dumps, &std::fs::read(&x86).unwrap(), 150, 7);
    std::fs::copy(&mdmp, dumps.join("host001/app.mdmp")).unwrap();
    // A duplicate in another folder: the first in walk order must win under any thread count.
    std::fs::copy(
        dumps.join("host003/dump00003.dmp"),
        dumps.join("host006/zz-copy.dmp"),
    )
    .unwrap();
    std::fs::write(dumps.join("host002/bad.dmp"), b"PAGEDUMP").unwrap();
    let d = dumps.to_str().unwrap();
    let store_at = |name: &str| tmp.path().join(name);

    let mut stores = Vec::new();
    for jobs in ["1", "2"] {
        let store = store_at(&format!("jobs{jobs}"));
        let out = scan(&[
            d,
            "--store",
            store.to_str().unwrap(),
            "--jobs",
            jobs,
            "--batch-size",
            "40",
            "--format",
            "json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = json_of(&out);
        assert_eq!(
            (
                count(&json, "ingested"),
                count(&json, "quarantined"),
                count(&json, "skipped_known")
            ),
            (151, 1, 1)
        );
        assert_eq!(count(&json, "batches_committed"), 4);
        stores.push(store);
    }
    for table in Table::ALL {
        let (a, b) = (canonical(&stores[0], table), canonical(&stores[1], table));
        assert_eq!(a.height(), b.height(), "{table:?}");
        assert!(
            a.equals_missing(&b),
            "{table:?} differs between --jobs 1 and --jobs 2"
        );
    }
    let paths = canonical(&stores[0], Table::Crashes);
    let paths: Vec<&str> = paths
        .column("path")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert!(!paths.iter().any(|p| p.ends_with("zz-copy.dmp")));

    // Three shards, each into its own store, then merged: the same rows as the whole scan.
    let mut shard_total = 0;
    let mut shard_stores = Vec::new();
    for index in 0..3 {
        let store = store_at(&format!("shard{index}"));
        let shard = format!("{index}/3");
        let json = json_of(&scan(&[
            d,
            "--store",
            store.to_str().unwrap(),
            "--shard",
            &shard,
            "--format",
            "json",
        ]));
        assert_eq!(
            count(&json, "files_seen") + count(&json, "skipped_other_shard"),
            153
        );
        shard_total += count(&json, "files_seen");
        shard_stores.push(store);
    }
    assert_eq!(shard_total, 153);
    let merged = store_at("merged");
    let mut merge = Command::new(common::binary());
    merge
        .args(["store", "merge"])
        .args(&shard_stores)
        .arg("--into")
        .arg(&merged);
    let out = merge.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (whole, union) = (
        canonical(&stores[0], Table::Crashes),
        canonical(&merged, Table::Crashes),
    );
    let ids = |df: &DataFrame| -> Vec<String> {
        df.column("dump_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .map(String::from)
            .collect()
    };
    assert_eq!(ids(&whole), ids(&union));
    assert_eq!(
        canonical(&stores[0], Table::Drivers).height(),
        canonical(&merged, Table::Drivers).height()
    );
    assert_eq!(canonical(&merged, Table::Quarantine).height(), 1);

    // Merging a store that overlaps entirely adds nothing (dedup by dump_id).
    let out = Command::new(common::binary())
        .args([
            "store",
            "merge",
            stores[0].to_str().unwrap(),
            "--into",
            merged.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["crashes_added"].as_u64(), Some(0));
    assert_eq!(json[0]["crashes_duplicate"].as_u64(), Some(151));
    assert_eq!(json[0]["quarantine_added"].as_u64(), Some(0));
    assert_eq!(dump_ids(&merged).len(), 151);

    // A merged store is incremental too: re-scanning the whole tree into it adds nothing.
    let json = json_of(&scan(&[
        d,
        "--store",
        merged.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(
        (count(&json, "ingested"), count(&json, "skipped_known")),
        (0, 153)
    );

    // Compaction keeps every row and leaves one file per table.
    let out = Command::new(common::binary())
        .args(["store", "compact", "--store", stores[0].to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let compacted = Store::open(&stores[0]).unwrap();
    assert_eq!(compacted.manifest().crashes.len(), 1);
    assert!(canonical(&stores[0], Table::Crashes)
        .equals_missing(&canonical(&stores[1], Table::Crashes)));
}

#[test]
fn host_from_manifest_maps_paths_to_hosts() {
    let Some(x86) = common::sample(X86_SAMPLE) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("flat");
    std::fs::create_dir_all(&dumps).unwrap();
    let bytes = std::fs::read(&x86).unwrap();
    for (i, name) in ["a.dmp", "b.dmp", "c.dmp"].iter().enumerate() {
        let mut b = bytes.clone();
        b[X86_COMMENT_OFFSET] = i as u8;
        std::fs::write(dumps.join(name), b).unwrap();
    }
    let manifest = tmp.path().join("hosts.csv");
    std::fs::write(&manifest, "path,host\nflat/a.dmp,db-01\nb.dmp,web-02\n").unwrap();
    let store = tmp.path().join("store");
    let host_from = format!("manifest:{}", manifest.display());
    let out = scan(&[
        dumps.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--host-from",
        &host_from,
        "--unlisted",
        "folder",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crashes = canonical(&store, Table::Crashes)
        .sort(["path"], SortMultipleOptions::default())
        .unwrap();
    let hosts: Vec<&str> = crashes
        .column("host")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    // c.dmp is not in the manifest: parent folder, with a warning on the row.
    assert_eq!(hosts, ["db-01", "web-02", "flat"]);
}

/// Crash safety: SIGKILL a scan of a few thousand dumps at several points, check the store
/// after every kill, re-run to completion, and count every dump exactly once.
#[test]
fn scan_killed_at_several_points_then_rerun_stores_every_dump_exactly_once() {
    let Some(x86) = common::sample(X86_SAMPLE) else {
        return;
    };
    const DUMPS: usize = 2000;
    let tmp = tempfile::tempdir().unwrap();
    let dumps = tmp.path().join("dumps");
    write_fleet(&dumps, &std::fs::read(&x86).unwrap(), DUMPS, 40);
    let store = tmp.path().join("store");
    let args = |jobs: &str| -> Vec<String> {
        [
            dumps.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--batch-size",
            "50",
            "--jobs",
            jobs,
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    let mut stored = 0;
    let mut kills_mid_run = 0;
    // Kill once the store holds at least this many rows, plus a jitter so that kills land in
    // different phases (reading, encoding Parquet, renaming, writing the manifest).
    for (round, threshold) in [1usize, 300, 700, 1100, 1500].into_iter().enumerate() {
        let mut child = Command::new(common::binary())
            .arg("scan")
            .args(args(if round % 2 == 0 { "2" } else { "1" }))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            let rows = Store::open(&store)
                .map(|s| s.manifest().rows(Table::Crashes))
                .unwrap_or(0);
            if rows as usize >= threshold {
                std::thread::sleep(Duration::from_millis(3 * round as u64 + 1));
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills_mid_run += 1;
        }
        child.wait().unwrap();
        let now = assert_store_consistent(&store);
        assert!(
            now >= stored,
            "a committed batch was lost: {stored} rows before the kill, {now} after"
        );
        stored = now;
    }
    assert!(
        kills_mid_run >= 3,
        "only {kills_mid_run} kills landed mid-scan"
    );
    assert!(
        stored < DUMPS,
        "the kills should have interrupted the scan before the end"
    );

    let out = Command::new(common::binary())
        .arg("scan")
        .args(args("2"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json_of(&out);
    assert_eq!(count(&json, "ingested") as usize + stored, DUMPS);
    assert_eq!(count(&json, "quarantined"), 0);
    assert_eq!(assert_store_consistent(&store), DUMPS);
    let opened = Store::open(&store).unwrap();
    assert_eq!(opened.manifest().seen.len(), DUMPS);
    // No debris: every file in the table folders is listed in the manifest.
    let listed: HashSet<String> = Table::ALL
        .iter()
        .flat_map(|t| opened.manifest().files(*t).iter().map(|f| f.file.clone()))
        .collect();
    for table in Table::ALL {
        for entry in std::fs::read_dir(store.join(table.dir_name())).unwrap() {
            let name = format!(
                "{}/{}",
                table.dir_name(),
                entry.unwrap().file_name().to_string_lossy()
            );
            assert!(listed.contains(&name), "unlisted file left behind: {name}");
        }
    }
    let json = json_of(
        &Command::new(common::binary())
            .arg("scan")
            .args(args("2"))
            .output()
            .unwrap(),
    );
    assert_eq!(
        (count(&json, "ingested"), count(&json, "skipped_known")),
        (0, DUMPS as u64)
    );
}

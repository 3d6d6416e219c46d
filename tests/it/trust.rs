//! Issue 18: answers that bad data cannot silently change. Each case starts from the committed
//! sample fleet (`sample-dumps/`, truth in `truth.json`), adds one kind of bad input, and
//! checks that the answers an SRE acts on stay what they were, or that the tool says loudly
//! what it could not do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;

fn sample_fleet() -> PathBuf {
    common::project_root().join("sample-dumps")
}

fn run(args: &[&str]) -> Output {
    Command::new(common::binary())
        .args(args)
        .output()
        .expect("run blastradius")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `scan ROOTS... --store STORE --format json` plus `extra` arguments.
fn scan(store: &Path, roots: &[&Path], extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["scan".into()];
    args.extend(roots.iter().map(|r| r.display().to_string()));
    args.extend(["--store".into(), store.display().to_string()]);
    args.extend(["--format".into(), "json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    stdout_json(&run(&refs))
}

fn inventory_arg() -> String {
    sample_fleet().join("inventory.csv").display().to_string()
}

/// Host names of `hosts --state boot-loop` (plus `extra`), sorted.
fn boot_loop_hosts(store: &Path, extra: &[&str]) -> Vec<String> {
    let store_text = store.display().to_string();
    let mut args = vec![
        "hosts",
        "--store",
        &store_text,
        "--state",
        "boot-loop",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let json = stdout_json(&run(&args));
    let mut hosts: Vec<String> = json
        .as_array()
        .expect("hosts JSON is an array")
        .iter()
        .map(|h| h["host"].as_str().unwrap_or_default().to_string())
        .collect();
    hosts.sort();
    hosts
}

/// xorshift64: deterministic "random" bytes for hostile files.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The first x64/ARM64 kernel dump (`PAGEDU64`) of `host` in the sample fleet.
fn kernel_dump_of(host: &str) -> PathBuf {
    let dir = sample_fleet().join("dumps").join(host);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .find(|p| {
            std::fs::read(p)
                .map(|b| b.starts_with(b"PAGEDU64"))
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("no PAGEDU64 dump in {}", dir.display()))
}

/// SystemTime (FILETIME) in the 64-bit kernel dump header.
const SYSTEM_TIME_64: usize = 0xFA8;
const FILETIME_DAY: u64 = 86_400 * 10_000_000;

#[test]
fn random_pagedu64_and_a_clock_skewed_dump_leave_the_boot_loop_list_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = sample_fleet().join("dumps");
    let inventory = inventory_arg();
    let clean = dir.path().join("clean");
    scan(&clean, &[&dumps], &["--inventory", &inventory]);

    // Extra files in a looping host's folder: 70 KB of random bytes after `PAGEDU64`, and a
    // copy of one of its real dumps with the clock one day ahead.
    let host = "FRA-SQL-0003";
    let extra = dir.path().join("extra");
    let host_dir = extra.join(host);
    std::fs::create_dir_all(&host_dir).unwrap();
    let mut random = b"PAGEDU64".to_vec();
    random.extend(random_bytes(0x5eed_1819, 70 * 1024));
    std::fs::write(host_dir.join("random.dmp"), &random).unwrap();
    write_skewed_copy(host, 1, &host_dir.join("skewed.dmp"));
    // And a host whose clock is a week ahead: far beyond every other host, called clock skew.
    let far_host = "SAO-POS-0141";
    std::fs::create_dir_all(extra.join(far_host)).unwrap();
    write_skewed_copy(far_host, 7, &extra.join(far_host).join("week-ahead.dmp"));

    let dirty = dir.path().join("dirty");
    let summary = scan(&dirty, &[&dumps, &extra], &["--inventory", &inventory]);
    // The random file is quarantined for its impossible fields.
    let quarantine = summary["quarantine"].as_array().unwrap();
    let random_entry = quarantine
        .iter()
        .find(|q| q["path"].as_str().unwrap_or("").ends_with("random.dmp"))
        .unwrap_or_else(|| panic!("random.dmp not quarantined: {summary:#}"));
    let reason = random_entry["error"].as_str().unwrap();
    assert!(reason.contains("not a plausible dump"), "{reason}");
    // The week-ahead copy is flagged as clock skew; neither copy sets the end of the data.
    let skewed_hosts = summary["data_end"]["skewed"].as_array().unwrap();
    assert_eq!(skewed_hosts.len(), 1, "{summary:#}");
    assert_eq!(skewed_hosts[0]["host"], far_host);
    assert_eq!(summary["data_end"]["basis"], "latest-crash");
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("clock skew")),
        "{warnings:?}"
    );

    for until in [&[][..], &["--until", "2024-07-19 05:00"][..]] {
        let before = boot_loop_hosts(&clean, until);
        let after = boot_loop_hosts(&dirty, until);
        assert_eq!(before, after, "with {until:?}");
    }
    let at_five = boot_loop_hosts(&clean, &["--until", "2024-07-19 05:00"]);
    assert!(at_five.len() >= 80, "{}", at_five.len());
    // Both ends lie within the true data (the last real crash is 2024-07-19T20:13:48Z).
    let last_real = 1_721_420_028_000i64;
    let clean_end = scan(&clean, &[&dumps], &[])["data_end"].clone();
    let dirty_end = summary["data_end"]["end_ms"].as_i64().unwrap();
    assert!(dirty_end <= last_real, "{summary:#}");
    assert!(clean_end["end_ms"].as_i64().unwrap() <= last_real);
    assert_eq!(clean_end["skewed"].as_array().unwrap().len(), 0);
}

/// Copies `host`'s first PAGEDU64 dump to `to` with the crash time `days` later.
fn write_skewed_copy(host: &str, days: u64, to: &Path) {
    let mut bytes = std::fs::read(kernel_dump_of(host)).unwrap();
    let field = SYSTEM_TIME_64..SYSTEM_TIME_64 + 8;
    let time = u64::from_le_bytes(bytes[field.clone()].try_into().unwrap());
    bytes[field].copy_from_slice(&(time + days * FILETIME_DAY).to_le_bytes());
    std::fs::write(to, &bytes).unwrap();
}

/// `clusters --format json` of `store`, plus `extra`.
fn clusters_json(store: &Path, extra: &[&str]) -> Value {
    let store_text = store.display().to_string();
    let mut args = vec![
        "clusters",
        "--store",
        &store_text,
        "--format",
        "json",
        "--no-related",
    ];
    args.extend_from_slice(extra);
    stdout_json(&run(&args))
}

/// (cause, hosts, fleet_share) of every top-level cluster, and the fleet size.
fn shares(table: &Value) -> (Value, Vec<(String, u64, Option<f64>)>) {
    let rows = table["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cause"].as_str().unwrap().to_string(),
                c["hosts"].as_u64().unwrap(),
                c["fleet_share"].as_f64(),
            )
        })
        .collect();
    (table["fleet_hosts"].clone(), rows)
}

/// Writes the sample inventory with every host name rewritten by `rename`.
fn rewritten_inventory(to: &Path, rename: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(sample_fleet().join("inventory.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let host_col = header.split(',').position(|c| c == "host").unwrap();
    let mut out = format!("{header}\n");
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[host_col] = rename(&cells[host_col]);
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn a_lower_case_fqdn_inventory_gives_the_same_fleet_shares() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = sample_fleet().join("dumps");
    let store = dir.path().join("store");
    let original = scan(&store, &[&dumps], &["--inventory", &inventory_arg()]);
    assert_eq!(original["inventory_match"]["matched"], 152);
    let by_name = clusters_json(&store, &[]);
    let by_name_sao = clusters_json(&store, &["--site", "SAO"]);
    let (fleet, rows) = shares(&by_name);
    assert_eq!(fleet, 200);
    // truth.json: csagent on 139 of 200 hosts.
    assert_eq!(rows[0].0, "csagent.sys");
    assert_eq!((rows[0].1, rows[0].2), (139, Some(0.695)));

    let fqdn = dir.path().join("fqdn.csv");
    rewritten_inventory(&fqdn, |h| format!("{}.corp.example", h.to_lowercase()));
    let summary = scan(&store, &[&dumps], &["--inventory", fqdn.to_str().unwrap()]);
    let m = &summary["inventory_match"];
    assert_eq!(
        (m["crash_hosts"].as_u64(), m["matched"].as_u64()),
        (Some(152), Some(152))
    );
    assert_eq!(m["matched_loosely"], 152);
    assert!(
        summary["warnings"].as_array().unwrap().is_empty(),
        "{summary:#}"
    );
    assert_eq!(shares(&clusters_json(&store, &[])), shares(&by_name));
    assert_eq!(
        shares(&clusters_json(&store, &["--site", "SAO"])),
        shares(&by_name_sao)
    );

    // An inventory that names none of the hosts: a loud warning, and no share printed.
    let other = dir.path().join("other.csv");
    rewritten_inventory(&other, |h| format!("X{h}"));
    let mut args = vec![
        "scan".to_string(),
        dumps.display().to_string(),
        "--store".into(),
        store.display().to_string(),
        "--inventory".into(),
        other.display().to_string(),
    ];
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("inventory matches     0 of 152 hosts"),
        "{stdout}"
    );
    assert!(!stdout.contains("% of fleet"), "{stdout}");
    assert!(
        stderr.contains("only 0 of 152 hosts with crashes match the inventory"),
        "{stderr}"
    );
    args.extend(["--format".into(), "json".into()]);
    let json = stdout_json(&run(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(
        json["inventory_match"]["unmatched_hosts"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert!(json["top_clusters"][0]["fleet_share"].is_null(), "{json:#}");
    assert!(clusters_json(&store, &[])["clusters"][0]["fleet_share"].is_null());
}

#[test]
fn filters_match_alike_and_typos_exit_2_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    scan(
        &store,
        &[&sample_fleet().join("dumps")],
        &["--inventory", &inventory_arg()],
    );
    let store_text = store.display().to_string();
    let hosts = |extra: &[&str]| -> Output {
        let mut args = vec!["hosts", "--store", &store_text, "--format", "json"];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (typo, suggestion) in [
        (&["--site", "London"][..], "closest: LON"),
        (&["--driver", "csagnet"][..], "closest: csagent.sys"),
        (
            &["--cluster", "AV_R_INVALID_csagnet"][..],
            "AV_R_INVALID_csagent!unknown_function",
        ),
        (&["--where", "ring=canry"][..], "closest: canary"),
        (&["--where", "rng=canary"][..], "ring"),
        (&["--state", "bootloops"][..], "boot-loop"),
    ] {
        let out = hosts(typo);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{typo:?}: {stderr}");
        assert!(stderr.contains(suggestion), "{typo:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{typo:?}");
    }
    // Every spelling of one driver, as --driver or --cluster, lists the same 139 hosts
    // (truth.json: csagent on 139 hosts).
    let names = |extra: &[&str]| -> Vec<String> {
        let json = stdout_json(&hosts(extra));
        json.as_array()
            .unwrap()
            .iter()
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect()
    };
    let reference = names(&["--driver", "csagent.sys"]);
    assert_eq!(reference.len(), 139);
    for spelling in [
        &["--driver", "csagent"][..],
        &["--driver", "CSAGENT.SYS"][..],
        &["--cluster", "csagent"][..],
        &["--cluster", "CsAgent.sys"][..],
        &["--cluster", "av_r_invalid_csagent!unknown_function"][..],
    ] {
        assert_eq!(names(spelling), reference, "{spelling:?}");
    }
    // Sites and states ignore case too: LON has 10 hosts with crashes.
    assert_eq!(names(&["--site", "lon"]), names(&["--site", "LON"]));
    assert_eq!(names(&["--site", "lon"]).len(), 10);
    // CSV: a UTC offset is a value, not a formula; a formula-like dump string is not.
    let csv = run(&[
        "hosts",
        "--store",
        &store_text,
        "--site",
        "SIN",
        "--format",
        "csv",
    ]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.contains(",+08:00,"), "{csv}");
    assert!(!csv.contains("'+08:00"), "{csv}");
    let at_five = ["--until", "2024-07-19 05:00"];
    assert_eq!(
        names(&[&at_five[..], &["--state", "Boot-Loop"]].concat()),
        names(&[&at_five[..], &["--state", "boot-loop"]].concat())
    );
}

#[test]
fn a_truncated_minidump_is_quarantined_not_clustered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dumps");
    let host = root.join("APP-01");
    std::fs::create_dir_all(&host).unwrap();
    let whole =
        std::fs::read(sample_fleet().join("dumps/LON-LT-0118/AcmeVpnService.exe.16636.dmp"))
            .unwrap();
    assert!(whole.starts_with(b"MDMP"));
    std::fs::write(host.join("truncated.dmp"), &whole[..100]).unwrap();
    // The whole dump still reads as a crash (a control for the truncated one).
    std::fs::write(host.join("whole.dmp"), &whole).unwrap();
    let store = dir.path().join("store");
    let summary = scan(&store, &[&root], &[]);
    assert_eq!(summary["ingested"], 1, "{summary:#}");
    assert_eq!(summary["quarantined"], 1, "{summary:#}");
    let q = &summary["quarantine"][0];
    assert!(q["path"].as_str().unwrap().ends_with("truncated.dmp"));
    assert!(
        q["error"].as_str().unwrap().contains("not a crash"),
        "{q:#}"
    );
    let clusters = clusters_json(&store, &[]);
    let causes: Vec<&str> = clusters["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bucket_id"].as_str().unwrap())
        .collect();
    assert!(
        !causes.iter().any(|c| c.contains("NO_EXCEPTION")),
        "{causes:?}"
    );
    assert_eq!(causes.len(), 1);
}

#[cfg(unix)]
#[test]
fn two_hosts_whose_names_are_not_utf8_stay_two() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dumps");
    for (name, source) in [
        (&b"HOST-\xff\xfe"[..], "FRA-SQL-0003"),
        (&b"HOST-\xfe\xff"[..], "SAO-POS-0141"),
    ] {
        let folder = root.join(std::ffi::OsStr::from_bytes(name));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(kernel_dump_of(source), folder.join("1.dmp")).unwrap();
    }
    let store = dir.path().join("store");
    let summary = scan(&store, &[&root], &[]);
    assert_eq!(summary["ingested"], 2, "{summary:#}");
    let store_text = store.display().to_string();
    let json = stdout_json(&run(&["hosts", "--store", &store_text, "--format", "json"]));
    let mut names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [r"HOST-\xfe\xff", r"HOST-\xff\xfe"]);
}

#[test]
fn dumps_missing_from_the_host_manifest_are_reported_and_skipped_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for (name, source) in [
        ("a.dmp", "FRA-SQL-0003"),
        ("b.dmp", "SAO-POS-0141"),
        ("c.dmp", "LON-WS-0011"),
    ] {
        std::fs::copy(kernel_dump_of(source), flat.join(name)).unwrap();
    }
    let manifest = dir.path().join("hosts.csv");
    std::fs::write(&manifest, "path,host\na.dmp,db-01\nb.dmp,web-02\n").unwrap();
    let host_from = format!("manifest:{}", manifest.display());

    let store = dir.path().join("skip");
    let store_text = store.display().to_string();
    let out = run(&[
        "scan",
        flat.to_str().unwrap(),
        "--store",
        &store_text,
        "--host-from",
        &host_from,
        "--format",
        "json",
    ]);
    let summary = stdout_json(&out);
    assert_eq!(
        (summary["ingested"].as_u64(), summary["unlisted"].as_u64()),
        (Some(2), Some(1))
    );
    let paths = summary["unlisted_paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1);
    assert!(paths[0].as_str().unwrap().ends_with("c.dmp"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 dump(s) not in the --host-from manifest were left out"),
        "{stderr}"
    );
    let hosts = stdout_json(&run(&["hosts", "--store", &store_text, "--format", "json"]));
    let mut names: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["db-01", "web-02"]);

    // --unlisted folder: the old fallback, still counted and listed.
    let store = dir.path().join("folder");
    let summary = scan(
        &store,
        &[&flat],
        &["--host-from", &host_from, "--unlisted", "folder"],
    );
    assert_eq!(
        (summary["ingested"].as_u64(), summary["unlisted"].as_u64()),
        (Some(3), Some(1))
    );
    let store_text = store.display().to_string();
    let hosts = stdout_json(&run(&["hosts", "--store", &store_text, "--format", "json"]));
    assert!(hosts
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["host"] == "flat"));
}

/// The crash table's triage-relevant columns, sorted by dump_id.
fn stored_frames(store: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    blastradius::fleet::store::Store::open(store)
        .unwrap()
        .lazy_crashes()
        .unwrap()
        .select([
            col("dump_id"),
            col("stack_module"),
            col("stack_offset"),
            col("stack_function"),
            col("stack_trust"),
            col("bucket_id"),
            col("signature"),
        ])
        .sort(["dump_id"], SortMultipleOptions::default())
        .collect()
        .unwrap()
}

/// The bucket ids of the clusters blamed on `driver`.
fn buckets_of(store: &Path, driver: &str) -> Vec<String> {
    clusters_json(store, &["--driver", driver])["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bucket_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reprocess_symbols_names_the_frames_of_a_driver_whose_pdb_came_later() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = sample_fleet().join("dumps");
    let no_symbols = dir.path().join("no-symbols");
    std::fs::create_dir_all(&no_symbols).unwrap();
    let store = dir.path().join("store");
    scan(
        &store,
        &[&dumps],
        &["--symbols", no_symbols.to_str().unwrap()],
    );
    assert_eq!(
        buckets_of(&store, "acmenet.sys"),
        ["AV_W_acmenet!unknown_function"]
    );

    // The acmenet PE and PDB (symbols-cache/) arrive: reprocess names the stored frames.
    let symbols = common::project_root().join("symbols-cache");
    let summary = reprocess_json(&store, &["--symbols", symbols.to_str().unwrap()]);
    // truth.json: 3 acmenet dumps, true label AV_W_acmenet!FilterSend.
    assert_eq!(summary["symbolized_crashes"], 3, "{summary:#}");
    // Their walks had scanned past the acmenet frame (no unwind data then): reopened.
    assert_eq!(summary["reopened_dumps"], 3, "{summary:#}");
    assert_eq!(summary["changed_cluster"], 3, "{summary:#}");
    assert_eq!(summary["written"], true);
    assert_eq!(
        buckets_of(&store, "acmenet.sys"),
        ["AV_W_acmenet!FilterSend"]
    );
    let frames = stored_frames(&store);
    let functions = frames.column("stack_function").unwrap().list().unwrap();
    let named = (0..frames.height())
        .filter(|&i| {
            functions
                .get_as_series(i)
                .is_some_and(|s| s.str().unwrap().iter().any(|f| f == Some("FilterSend")))
        })
        .count();
    assert_eq!(named, 3);

    // The same store scanned with the symbols from the start agrees on the cluster.
    let with_symbols = dir.path().join("with-symbols");
    scan(
        &with_symbols,
        &[&dumps],
        &["--symbols", symbols.to_str().unwrap()],
    );
    assert_eq!(
        buckets_of(&with_symbols, "acmenet.sys"),
        ["AV_W_acmenet!FilterSend"]
    );
    // ... and on every stored frame: module, offset, function and trust.
    let fresh = stored_frames(&with_symbols);
    let after = stored_frames(&store);
    let all: Vec<&str> = fresh
        .get_column_names()
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_same_columns(&fresh, &after, &all);
}

/// Each of `columns` holds the same values in `a` and `b`.
fn assert_same_columns(
    a: &polars::prelude::DataFrame,
    b: &polars::prelude::DataFrame,
    columns: &[&str],
) {
    for column in columns {
        let (x, y) = (a.column(column).unwrap(), b.column(column).unwrap());
        assert!(
            x.as_materialized_series()
                .equals_missing(y.as_materialized_series()),
            "column {column} differs"
        );
    }
}

#[test]
fn scan_then_reprocess_changes_nothing_and_rules_stay_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = sample_fleet().join("dumps");
    let store = dir.path().join("store");
    scan(&store, &[&dumps], &[]);
    let before = stored_frames(&store);
    let acme = summary_host_of_driver(&store, "acmenet");
    let summary = reprocess_json(&store, &[]);
    assert_eq!(
        (summary["changed"].as_u64(), summary["written"].as_bool()),
        (Some(0), Some(false))
    );

    // A rule change rewrites the table: every frame keeps its trust (issue 13).
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[owners]\n\"acmenet\" = \"ignore\"\n").unwrap();
    let summary = reprocess_json(&store, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(summary["changed_cluster"], 3, "{summary:#}");
    let after = stored_frames(&store);
    assert_same_columns(
        &before,
        &after,
        &[
            "dump_id",
            "stack_module",
            "stack_offset",
            "stack_function",
            "stack_trust",
        ],
    );
    let trusts = after.column("stack_trust").unwrap().list().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..after.height() {
        if let Some(s) = trusts.get_as_series(i) {
            kinds.extend(s.str().unwrap().iter().flatten().map(str::to_string));
        }
    }
    assert!(kinds.len() > 1, "{kinds:?}");
    assert!(!causes_of(&store).contains(&"acmenet.sys".to_string()));

    // The rules are stored: a later scan of a new acmenet dump triages it by them, without
    // --rules, so it joins no acmenet cluster either.
    let later = dir.path().join("later");
    std::fs::create_dir_all(later.join("NEW-HOST")).unwrap();
    let mut bytes = std::fs::read(&acme).unwrap();
    let field = SYSTEM_TIME_64..SYSTEM_TIME_64 + 8;
    let time = u64::from_le_bytes(bytes[field.clone()].try_into().unwrap());
    bytes[field].copy_from_slice(&(time + 60 * 10_000_000).to_le_bytes());
    std::fs::write(later.join("NEW-HOST/new.dmp"), &bytes).unwrap();
    let summary = scan(&store, &[&later], &[]);
    assert_eq!(summary["ingested"], 1);
    assert!(!causes_of(&store).contains(&"acmenet.sys".to_string()));
    let again = reprocess_json(&store, &[]);
    assert_eq!(again["changed"], 0, "{again:#}");
}

/// `reprocess --store STORE --format json` plus `extra`.
fn reprocess_json(store: &Path, extra: &[&str]) -> Value {
    let store_text = store.display().to_string();
    let mut args = vec!["reprocess", "--store", &store_text, "--format", "json"];
    args.extend_from_slice(extra);
    stdout_json(&run(&args))
}

/// The top-level cluster keys of the store.
fn causes_of(store: &Path) -> Vec<String> {
    clusters_json(store, &[])["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap().to_string())
        .collect()
}

/// The path of a stored kernel dump blamed on `driver` (a PAGEDU64 file).
fn summary_host_of_driver(store: &Path, driver: &str) -> PathBuf {
    use polars::prelude::*;
    let df = blastradius::fleet::store::Store::open(store)
        .unwrap()
        .lazy_crashes()
        .unwrap()
        .filter(col("blame_module_lc").eq(lit(format!("{driver}.sys"))))
        .select([col("path")])
        .collect()
        .unwrap();
    let paths: Vec<PathBuf> = df
        .column("path")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    paths
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(b"PAGEDU64")))
        .expect("a PAGEDU64 dump of the driver")
}

#[test]
fn the_dispatch_list_at_five_is_what_a_responder_saw_and_hours_lost_only_grow() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    scan(
        &store,
        &[&sample_fleet().join("dumps")],
        &["--inventory", &inventory_arg()],
    );
    let truth: Value =
        serde_json::from_slice(&std::fs::read(sample_fleet().join("truth.json")).unwrap()).unwrap();
    let five = "2024-07-19T05:00:00Z";
    // truth.json: the hosts in a boot loop at 05:00 (first crash before, recovery after).
    let mut looping: Vec<String> = truth["outages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            o["boot_loop"] == true
                && o["first_crash"].as_str().is_some_and(|t| t <= five)
                && o["recovered_at"].as_str().is_none_or(|t| t > five)
        })
        .map(|o| o["host"].as_str().unwrap().to_string())
        .collect();
    looping.sort();
    assert_eq!(looping.len(), 123);
    let store_text = store.display().to_string();
    let json = stdout_json(&run(&[
        "hosts",
        "--store",
        &store_text,
        "--state",
        "boot-loop",
        "--until",
        "2024-07-19 05:00",
        "--format",
        "json",
    ]));
    let rows = json.as_array().unwrap();
    let mut listed: Vec<String> = rows
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, looping);
    // Those whose dumps before 05:00 were all rotated away (MinidumpsCount 4) say so.
    let rotated: Vec<&Value> = rows.iter().filter(|h| h["dumps_rotated"] == true).collect();
    assert!(rotated.len() >= 40, "{}", rotated.len());
    assert!(rotated.iter().all(|h| h["clusters"][0] == "csagent.sys"));
    // Filters apply to them too: none is in the inventory's site of another driver.
    let sao = stdout_json(&run(&[
        "hosts",
        "--store",
        &store_text,
        "--state",
        "boot-loop",
        "--until",
        "2024-07-19 05:00",
        "--site",
        "SAO",
        "--format",
        "json",
    ]));
    assert!(sao.as_array().unwrap().iter().all(|h| h["site"] == "SAO"));

    // `scan --now` judges the summary at that time, and says so.
    let at = scan(
        &store,
        &[&sample_fleet().join("dumps")],
        &["--now", "2024-07-19 05:00"],
    );
    assert_eq!(at["data_end"]["basis"], "now");
    assert_eq!(at["data_end"]["end_ms"], 1_721_365_200_000i64);

    // host_hours_lost of the csagent cluster never decreases as the data grows.
    let mut previous = 0.0;
    for until in [
        "2024-07-19 04:30",
        "2024-07-19 05:00",
        "2024-07-19 05:30",
        "2024-07-19 06:00",
        "2024-07-19 09:00",
        "2024-07-20 00:00",
    ] {
        let table = clusters_json(&store, &["--until", until, "--driver", "csagent"]);
        let lost = table["clusters"][0]["host_hours_lost"].as_f64().unwrap();
        assert!(lost >= previous, "{until}: {lost} < {previous}");
        previous = lost;
    }
    let at_end = clusters_json(&store, &["--driver", "csagent"])["clusters"][0]["host_hours_lost"]
        .as_f64()
        .unwrap();
    assert!(at_end >= previous);
}

/// The rules a scan ran with are the ones every later reader names drivers by: `drivers`
/// (and the report and the console, through the same `Store::rules`) show the vendor the
/// store's rules give, not the built-in one, unless `--rules` says otherwise.
#[test]
fn readers_name_drivers_by_the_rules_the_scan_used() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = sample_fleet().join("dumps");
    let store = dir.path().join("store");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[drivers]\ncsagent = { vendor = \"Falcon Test Vendor\", category = \"security\" }\n",
    )
    .unwrap();
    scan(&store, &[&dumps], &["--rules", rules.to_str().unwrap()]);
    let store_text = store.display().to_string();
    let vendor_of_csagent = |extra: &[&str]| {
        let mut args = vec!["drivers", "--store", &store_text, "--format", "json"];
        args.extend_from_slice(extra);
        let table = stdout_json(&run(&args));
        table
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["driver"] == "csagent.sys")
            .unwrap_or_else(|| panic!("{table:#}"))["vendor"]
            .clone()
    };
    assert_eq!(vendor_of_csagent(&[]), "Falcon Test Vendor");
    let builtin = dir.path().join("empty.toml");
    std::fs::write(&builtin, "").unwrap();
    assert_eq!(
        vendor_of_csagent(&["--rules", builtin.to_str().unwrap()]),
        "CrowdStrike"
    );
}

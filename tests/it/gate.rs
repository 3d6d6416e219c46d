//! `blastradius gate` end to end on a simulated fleet with known truth: 600 hosts, a normal
//! week of background crashes (`baseline`), a clean Windows update shipped by ring in that
//! week (`clean-rollout`) and acmeflt.sys 3.2.0 shipped by ring from START, crashing the hosts
//! that take it (`staged-rollout`). The expected counts are computed here from the simulator's
//! `truth.json`, `rollout.csv` and `inventory.csv`, not by the gate's code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use blastradius::fleet::inventory::read_inventory;
use blastradius::fleet::scan::scan_path;
use blastradius::fleet::store::Store;
use blastradius::pipeline::Pipeline;
use blastradius::simulate::{
    self, parse_rfc3339, CapturedMemory, Scenario, SimulateConfig, Truth, DEFAULT_START,
};
use serde_json::Value;

use crate::common;

const BAD: &str = "acmeflt.sys (Acme Backup filter)";
const CLEAN: &str = "Windows cumulative update 2024-07";

/// The simulated fleet, its store, and what the simulator says happened.
struct Fleet {
    /// Kept for the life of the test process (removed with the rest of /tmp); the dumps are
    /// deleted once scanned.
    dir: tempfile::TempDir,
    store: PathBuf,
    rollout: PathBuf,
    truth: Truth,
    /// (host, ring, change, deployed_at unix seconds)
    deployments: Vec<(String, String, String, i64)>,
    site_of: BTreeMap<String, String>,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("sim");
        let config = SimulateConfig {
            scenarios: vec![
                Scenario::Baseline,
                Scenario::StagedRollout,
                Scenario::CleanRollout,
            ],
            hosts: 600,
            seed: 7,
            start: DEFAULT_START,
            minidumps_count: simulate::DEFAULT_MINIDUMPS_COUNT,
            captured_memory: CapturedMemory::Minimal,
        };
        simulate::write_fleet(&config, &sim, "sim").unwrap();
        let store_dir = dir.path().join("store");
        let mut store = Store::open_or_create(&store_dir).unwrap();
        store
            .save_inventory(read_inventory(&sim.join("inventory.csv")).unwrap())
            .unwrap();
        let summary = scan_path(&mut store, &Pipeline::default(), &sim.join("dumps")).unwrap();
        assert_eq!(summary.quarantined, 0);
        drop(store);
        let truth: Truth =
            serde_json::from_slice(&std::fs::read(sim.join("truth.json")).unwrap()).unwrap();
        assert_eq!(summary.ingested as usize, truth.dumps.len());
        std::fs::remove_dir_all(sim.join("dumps")).unwrap();

        let rollout = sim.join("rollout.csv");
        let deployments = std::fs::read_to_string(&rollout)
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                assert_eq!(f.len(), 5, "{line}");
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].to_string(),
                    parse_rfc3339(f[4]).unwrap(),
                )
            })
            .collect();
        let inventory = std::fs::read_to_string(sim.join("inventory.csv")).unwrap();
        let header: Vec<&str> = inventory.lines().next().unwrap().split(',').collect();
        let site = header.iter().position(|c| *c == "site").unwrap();
        let site_of = inventory
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[site].to_string())
            })
            .collect();
        Fleet {
            dir,
            store: store_dir,
            rollout,
            truth,
            deployments,
            site_of,
        }
    })
}

fn unix(text: &str) -> i64 {
    parse_rfc3339(text).unwrap()
}

/// Runs `gate` on the fleet's store; returns the exit code, stdout and stderr.
fn gate(rollout: &Path, args: &[&str]) -> (i32, String, String) {
    let f = fleet();
    let out = Command::new(common::binary())
        .arg("gate")
        .arg("--rollout")
        .arg(rollout)
        .arg("--store")
        .arg(&f.store)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gate_json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = gate(&fleet().rollout, &all);
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, json)
}

/// What the truth says about `change` in `ring` at `now`: the deployed hosts with their
/// deployment times.
fn deployed(change: &str, ring: &str, now: i64) -> BTreeMap<String, i64> {
    fleet()
        .deployments
        .iter()
        .filter(|(_, r, c, t)| c == change && r == ring && *t <= now)
        .map(|(h, _, _, t)| (h.clone(), *t))
        .collect()
}

/// Hosts whose truth dumps blamed on `driver` fall in `[from(host), now]`.
fn crashed_hosts(driver: &str, hosts: &BTreeMap<String, i64>, now: i64) -> BTreeSet<String> {
    fleet()
        .truth
        .dumps
        .iter()
        .filter(|d| d.blamed_driver.as_deref() == Some(driver))
        .filter(|d| {
            let t = unix(&d.crash_time);
            hosts
                .get(&d.host)
                .is_some_and(|from| t >= *from && t <= now)
        })
        .map(|d| d.host.clone())
        .collect()
}

#[test]
fn bad_change_halts_at_the_canary_ring() {
    let now_text = "2024-07-20T04:00:00Z";
    let now = unix(now_text);
    let canary = deployed(BAD, "canary", now);
    // The early ring starts at START + 1 d: at `now` only canary hosts have the change.
    assert!(deployed(BAD, "early", now).is_empty());
    let after = crashed_hosts("acmeflt.sys", &canary, now);
    assert!(
        after.len() >= 3,
        "the fleet's canary shows the bug: {after:?}"
    );
    // Every acmeflt.sys crash of the truth is on a host after it took the change, so neither
    // baseline group (the canary hosts before, the hosts without it) has one.
    for d in &fleet().truth.dumps {
        if d.blamed_driver.as_deref() == Some("acmeflt.sys") {
            let took = fleet()
                .deployments
                .iter()
                .find(|(h, _, c, _)| *h == d.host && c == BAD)
                .map(|x| x.3);
            assert!(took.is_some_and(|t| t <= unix(&d.crash_time)), "{}", d.path);
        }
    }

    let (code, j) = gate_json(&["--change", BAD, "--now", now_text]);
    assert_eq!(code, 1, "{j}");
    // The documented JSON names.
    for key in [
        "verdict",
        "ring",
        "change",
        "deployed_hosts",
        "soak",
        "reasons",
    ] {
        assert!(j.get(key).is_some(), "no {key}: {j}");
    }
    for key in [
        "cluster",
        "driver",
        "bucket_id",
        "hosts_after",
        "hosts_baseline",
        "rate_after",
        "rate_baseline",
        "p_value",
    ] {
        assert!(
            j["reasons"][0].get(key).is_some(),
            "no reasons[].{key}: {j}"
        );
    }
    assert_eq!(j["verdict"], "halt");
    assert_eq!(j["ring"], "canary", "the latest ring with the change");
    assert_eq!(j["change"], BAD);
    assert_eq!(j["deployed_hosts"], canary.len() as u64);
    let r = &j["reasons"][0];
    assert_eq!(j["reasons"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(r["driver"], "acmeflt.sys");
    assert!(r["bucket_id"].as_str().unwrap().starts_with("AV_acmeflt!"));
    assert_eq!(r["hosts_after"], after.len() as u64);
    assert_eq!(r["hosts_baseline"], 0);
    let rate = after.len() as f64 / canary.len() as f64;
    assert!((r["rate_after"].as_f64().unwrap() - rate).abs() < 1e-12);
    assert!(r["p_value"].as_f64().unwrap() < 1e-4, "{r}");
    let mut sites: BTreeMap<String, u64> = BTreeMap::new();
    for h in &after {
        *sites.entry(fleet().site_of[h].clone()).or_default() += 1;
    }
    assert_eq!(r["sites"], serde_json::to_value(&sites).unwrap());

    // A halt needs no minimum: far more hosts and soak than the canary has still halt.
    let (code, j2) = gate_json(&[
        "--change",
        BAD,
        "--now",
        now_text,
        "--ring",
        "canary",
        "--min-hosts",
        "1000",
        "--min-soak",
        "3d",
    ]);
    assert_eq!(code, 1);
    assert_eq!(j2["verdict"], "halt");
    assert_eq!(j2["reasons"], j["reasons"]);

    // The text form: one sentence naming cluster and driver, hosts per site.
    let (code, text, _) = gate(
        &fleet().rollout,
        &["--change", BAD, "--now", now_text, "--width", "0"],
    );
    assert_eq!(code, 1);
    let cluster = r["cluster"].as_str().unwrap();
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.starts_with(&format!(
            "Halt: cluster {cluster} (acmeflt.sys, AV_acmeflt!"
        )) && first.contains(&format!(
            "crashed {} of {} hosts of ring canary",
            after.len(),
            canary.len()
        )),
        "{text}"
    );
    let per_site: Vec<String> = {
        let mut v: Vec<(&String, &u64)> = sites.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter().map(|(s, n)| format!("{s} {n}")).collect()
    };
    assert!(
        text.contains(&format!(
            "Affected hosts of cluster {cluster} per site: {}\n",
            per_site.join(", ")
        )),
        "{text}"
    );
}

#[test]
fn clean_change_in_the_same_fleet_proceeds() {
    // Canary a day after it started, early a day after it started, and the default ring
    // (broad, the latest) on the eve of START: background crashes on both sides, no halt.
    for (ring, now_text) in [
        (Some("canary"), "2024-07-14T04:09:00Z"),
        (Some("early"), "2024-07-15T04:09:00Z"),
        (None, "2024-07-19T04:00:00Z"),
    ] {
        let now = unix(now_text);
        let mut args = vec!["--change", CLEAN, "--now", now_text];
        if let Some(r) = ring {
            args.extend(["--ring", r]);
        }
        let (code, j) = gate_json(&args);
        let ring = ring.unwrap_or("broad");
        assert_eq!(code, 0, "{ring}: {j}");
        assert_eq!(j["verdict"], "proceed");
        assert_eq!(j["ring"], ring);
        assert_eq!(j["reasons"].as_array().unwrap().len(), 0);
        let hosts = deployed(CLEAN, ring, now);
        assert!(hosts.len() >= 20, "{ring}: {}", hosts.len());
        assert_eq!(j["deployed_hosts"], hosts.len() as u64);
        assert_eq!(
            j["unchanged_hosts"],
            (600 - fleet()
                .deployments
                .iter()
                .filter(|(_, _, c, t)| c == CLEAN && *t <= now)
                .count()) as u64
        );
        // Background crashes happened on the ring's hosts after the change: the gate saw
        // them and did not halt.
        if ring == "canary" {
            assert!(!j["observed"].as_array().unwrap().is_empty(), "{j}");
        }
    }
}

#[test]
fn clean_change_checked_too_early_or_on_too_few_hosts_is_insufficient_data() {
    // Two hours into the canary deployment: some hosts have it, none for 4 h.
    let (code, j) = gate_json(&["--change", CLEAN, "--now", "2024-07-13T06:09:00Z"]);
    assert_eq!(code, 3, "{j}");
    assert_eq!(j["verdict"], "insufficient-data");
    assert_eq!(j["ring"], "canary");
    let n = deployed(CLEAN, "canary", unix("2024-07-13T06:09:00Z")).len();
    assert!(n > 0);
    assert_eq!(j["deployed_hosts"], n as u64);
    assert!(j["soak_seconds"].as_u64().unwrap() < 4 * 3600);
    assert!(
        j["explanation"].as_str().unwrap().contains("--min-soak 4h"),
        "{j}"
    );

    // A day later, but the ring is smaller than --min-hosts.
    let ring = deployed(CLEAN, "canary", unix("2024-07-14T04:09:00Z")).len();
    let too_many = (ring + 1).to_string();
    let (code, j) = gate_json(&[
        "--change",
        CLEAN,
        "--ring",
        "canary",
        "--now",
        "2024-07-14T04:09:00Z",
        "--min-hosts",
        &too_many,
    ]);
    assert_eq!(code, 3, "{j}");
    assert_eq!(j["verdict"], "insufficient-data");
    assert!(
        j["explanation"]
            .as_str()
            .unwrap()
            .contains(&format!("only {ring} host(s) of ring canary")),
        "{j}"
    );
}

#[test]
fn bad_rollout_files_are_errors_naming_file_line_and_column() {
    let f = fleet();
    let original: Vec<String> = std::fs::read_to_string(&f.rollout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Writes `lines` as a rollout file; the gate must exit 2 with no verdict and say
    // `<file>: <expected>` on stderr.
    let refuses = |name: &str, lines: &[String], expected: &str| {
        let path = f.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let (code, out, err) = gate(&path, &["--change", BAD]);
        assert_eq!((code, out.as_str()), (2, ""), "{name}: {err}");
        let want = format!("{}: {expected}", path.display());
        assert!(err.contains(&want), "{name}: {err}\nwanted: {want}");
    };

    // No version column.
    let dropped: Vec<String> = original
        .iter()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(3);
            f.join(",")
        })
        .collect();
    refuses(
        "no-version.csv",
        &dropped,
        "line 1: missing column(s) version",
    );

    // An unparseable time on line 5.
    let mut bad_time = original.clone();
    let f4: Vec<&str> = bad_time[4].split(',').collect();
    bad_time[4] = format!("{},{},{},{},19/07/2024 04:09", f4[0], f4[1], f4[2], f4[3]);
    refuses(
        "bad-time.csv",
        &bad_time,
        "line 5, column 'deployed_at': '19/07/2024 04:09' is not an RFC 3339 time",
    );

    // A host the inventory does not know, on line 7.
    let mut unknown = original.clone();
    let rest = unknown[6].split_once(',').unwrap().1.to_string();
    unknown[6] = format!("XYZ-WS-9999,{rest}");
    refuses(
        "unknown-host.csv",
        &unknown,
        "line 7, column 'host': host 'XYZ-WS-9999' is not in the store's inventory",
    );

    // Two changes and no --change; an unknown ring.
    let (code, _, err) = gate(&f.rollout, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("pass --change with one of them"), "{err}");
    let (code, _, err) = gate(&f.rollout, &["--change", BAD, "--ring", "pilot"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--ring 'pilot' has no host with change"),
        "{err}"
    );
}

#[test]
fn parquet_rollout_gives_the_same_verdict_as_csv() {
    use polars::prelude::*;
    let f = fleet();
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(f.rollout.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let path = f.dir.path().join("rollout.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let args = [
        "--change",
        BAD,
        "--now",
        "2024-07-20T04:00:00Z",
        "--format",
        "json",
    ];
    let (csv_code, csv_out, _) = gate(&f.rollout, &args);
    let (pq_code, pq_out, err) = gate(&path, &args);
    assert_eq!((csv_code, pq_code), (1, 1), "{err}");
    assert_eq!(csv_out, pq_out);
}

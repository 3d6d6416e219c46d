//! Heartbeats (issue 15): `scan --heartbeats`, host states `down` / `recovered` on check-ins,
//! `clusters` down_hosts, bad input. Against a small simulated fleet whose truth.json says
//! which hosts checked in after their last crash (the simulator's `heartbeats.csv`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use blastradius::fleet::store::{Store, Table};
use blastradius::simulate::truth::Truth;

use crate::common::binary;

fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Fleet {
    _dir: tempfile::TempDir,
    sim: PathBuf,
    truth: Truth,
}

/// 80 hosts of channel-file-291 (seed 3), written once for every test here.
fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("sim");
        let out = run(&[
            "simulate",
            "--scenario",
            "channel-file-291",
            "--hosts",
            "80",
            "--seed",
            "3",
            "--minidumps-count",
            "4",
            "--captured-memory",
            "minimal",
            "--out",
            sim.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let truth: Truth =
            serde_json::from_slice(&std::fs::read(sim.join("truth.json")).unwrap()).unwrap();
        Fleet {
            _dir: dir,
            sim,
            truth,
        }
    })
}

/// Scans the fleet into `store` with extra arguments; returns the scan's output.
fn scan(store: &Path, extra: &[&str]) -> Output {
    let f = fleet();
    let dumps = f.sim.join("dumps");
    let inventory = f.sim.join("inventory.csv");
    let mut args = vec![
        "scan",
        dumps.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn hosts_in_state(store: &Path, state: &str) -> Vec<serde_json::Value> {
    let v = query(&store, &["hosts", "--state", state]);
    v.as_array().unwrap().clone()
}

/// `blastradius ARGS --store STORE --format json`, parsed.
fn query(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--store", store.to_str().unwrap(), "--format", "json"]);
    stdout_json(&run(&all))
}

fn names(rows: &[serde_json::Value]) -> Vec<String> {
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["host"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn down_is_exactly_the_hosts_that_never_checked_in_and_recovered_those_that_did() {
    let f = fleet();
    let t = &f.truth;
    // The fleet must hold both kinds, or the test proves nothing.
    assert!(!t.never_checked_in_hosts.is_empty());
    assert!(!t.checked_in_hosts.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let beats = f.sim.join("heartbeats.csv");
    let out = scan(&store, &["--heartbeats", beats.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let down = hosts_in_state(&store, "down");
    assert_eq!(names(&down), t.never_checked_in_hosts);
    let recovered = hosts_in_state(&store, "recovered");
    assert_eq!(names(&recovered), t.checked_in_hosts);
    for row in &recovered {
        assert!(
            row["last_seen"].as_str() > row["last_crash"].as_str(),
            "{row}"
        );
    }
    for row in down.iter().chain(&recovered) {
        assert_eq!(row["state_basis"], "heartbeat", "{row}");
    }
    // The dispatch list carries what a technician needs: site, role, criticality, last crash.
    for row in &down {
        for field in ["site", "role", "criticality", "last_crash", "last_seen"] {
            assert!(row[field].is_string(), "{field} missing in {row}");
        }
        // Last seen before the last crash: that is what makes it down.
        assert!(
            row["last_seen"].as_str() < row["last_crash"].as_str(),
            "{row}"
        );
    }

    // clusters: the csagent.sys cluster counts the down hosts (every stuck host is one of its).
    let v = query(&store, &["clusters"]);
    let cs = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cause"] == "csagent.sys")
        .unwrap();
    assert_eq!(
        cs["down_hosts"].as_u64().unwrap() as usize,
        t.never_checked_in_hosts.len()
    );
    // The scan summary shows them next to the boot-looping hosts.
    let summary = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = summary
        .lines()
        .find(|l| l.trim_start().starts_with("CAUSE "))
        .unwrap_or_else(|| panic!("{summary}"))
        .split_whitespace()
        .collect();
    let row: Vec<&str> = summary
        .lines()
        .find(|l| l.trim_start().starts_with("csagent.sys "))
        .unwrap_or_else(|| panic!("{summary}"))
        .split_whitespace()
        .filter(|c| *c != "%")
        .collect();
    let down = header.iter().position(|h| *h == "DOWN").unwrap();
    assert_eq!(
        row[down],
        t.never_checked_in_hosts.len().to_string(),
        "{summary}"
    );

    // Scanning the same heartbeats again adds nothing (deduplicated).
    let rows = Store::open(&store)
        .unwrap()
        .manifest()
        .rows(Table::Heartbeats);
    let expected = std::fs::read_to_string(&beats).unwrap().lines().count() as u64 - 1;
    assert_eq!(rows, expected);
    // `store merge` carries them (and merging twice adds nothing).
    let merged = dir.path().join("merged");
    for _ in 0..2 {
        let out = run(&[
            "store",
            "merge",
            "--into",
            merged.to_str().unwrap(),
            store.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        Store::open(&merged)
            .unwrap()
            .manifest()
            .rows(Table::Heartbeats),
        rows
    );
    assert_eq!(
        names(&hosts_in_state(&merged, "down")),
        t.never_checked_in_hosts
    );
    let again = scan(&store, &["--heartbeats", beats.to_str().unwrap()]);
    assert!(again.status.success());
    assert_eq!(
        Store::open(&store)
            .unwrap()
            .manifest()
            .rows(Table::Heartbeats),
        rows
    );
}

#[test]
fn without_heartbeats_states_say_they_are_inferred_from_crash_silence() {
    let f = fleet();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(scan(&store, &[]).status.success());
    assert!(hosts_in_state(&store, "down").is_empty());
    let all = query(&store, &["hosts"]);
    let all = all.as_array().unwrap();
    // Every crashed host is listed, none down, each state marked as a guess from silence:
    // the stuck hosts look like the rest, the very gap heartbeats close.
    let mut expected = f.truth.checked_in_hosts.clone();
    expected.extend(f.truth.never_checked_in_hosts.iter().cloned());
    expected.sort();
    assert_eq!(names(all), expected);
    assert!(all.iter().all(|r| r["state_basis"] == "crash-silence"));
    let text = run(&["hosts", "--store", store.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("boot-loop*"), "{text}");
    assert!(text.contains("inferred from crash silence"), "{text}");
}

#[test]
fn bad_heartbeat_input_is_named_and_the_dumps_are_still_ingested() {
    let f = fleet();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let no_time = dir.path().join("no-time.csv");
    std::fs::write(&no_time, "host,when\nX,2024-07-19T05:00:00Z\n").unwrap();
    let bad_rows = dir.path().join("bad-rows.csv");
    std::fs::write(
        &bad_rows,
        "host,seen_at,agent_version\nGHOST-0001,2024-07-19T05:00:00Z,7.16\nGHOST-0002,not a time,7.16\n",
    )
    .unwrap();
    let out = scan(
        &store,
        &[
            "--heartbeats",
            no_time.to_str().unwrap(),
            "--heartbeats",
            bad_rows.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no-time.csv: line 1: the heartbeats have no 'seen_at' column"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad-rows.csv: line 3, column 'seen_at'"),
        "{stderr}"
    );
    assert!(stderr.contains("agent_version"), "{stderr}");
    assert!(
        stderr.contains("1 host(s) are not in the inventory (first: GHOST-0001)"),
        "{stderr}"
    );
    let store = Store::open(&store).unwrap();
    assert_eq!(
        store.manifest().rows(Table::Crashes) as usize,
        f.truth.dumps.len()
    );
    assert_eq!(store.manifest().rows(Table::Heartbeats), 1);
}

/// Installed hosts per inventory value of `column`, from the truth and inventory.csv.
fn expected_breakdown(
    sim: &Path,
    hosts: &[String],
    column: &str,
) -> std::collections::BTreeMap<String, u64> {
    let text = std::fs::read_to_string(sim.join("inventory.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == column).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if hosts.iter().any(|h| h == cells[0]) {
            *out.entry(cells[at].to_string()).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn exposure_gives_the_installed_base_and_its_breakdown_from_the_driver_inventory() {
    let f = fleet();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let drivers = f.sim.join("drivers.csv");
    let out = scan(&store, &["--driver-inventory", drivers.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cs = f
        .truth
        .driver_installs
        .iter()
        .find(|d| d.driver == "csagent.sys")
        .unwrap();
    assert!(cs.boot_start);
    let v = query(&store, &["exposure", "CSAgent"]);
    assert_eq!(v["basis"], "driver-inventory");
    assert_eq!(v["driver"], "csagent.sys");
    assert_eq!(
        v["hosts_installed"].as_u64().unwrap() as usize,
        cs.hosts.len()
    );
    assert_eq!(
        v["boot_start_hosts"].as_u64().unwrap() as usize,
        cs.hosts.len()
    );
    assert_eq!(v["fleet_hosts"], 80);
    for column in ["site", "criticality"] {
        let got: std::collections::BTreeMap<String, u64> = v["breakdown"][column]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), n["hosts"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            got,
            expected_breakdown(&f.sim, &cs.hosts, column),
            "{column}"
        );
    }
    let critical = expected_breakdown(&f.sim, &cs.hosts, "criticality")
        .get("critical")
        .copied()
        .unwrap_or(0);
    assert_eq!(v["critical_hosts"].as_u64().unwrap(), critical);
    // drivers: the installed base, its share of the fleet, crashes per installed host.
    let d = query(&store, &["drivers"]);
    let row = d
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["driver"] == "csagent.sys")
        .unwrap();
    let n = cs.hosts.len() as f64;
    assert_eq!(
        row["hosts_installed"].as_u64().unwrap() as usize,
        cs.hosts.len()
    );
    assert_eq!(row["installed_share"].as_f64().unwrap(), n / 80.0);
    let crashes = row["crashes"].as_f64().unwrap();
    assert!(crashes > 0.0);
    assert_eq!(
        row["crashes_per_installed_host"].as_f64().unwrap(),
        crashes / n
    );
    // --critical changes the rule: by role.
    let roles = expected_breakdown(&f.sim, &cs.hosts, "role");
    let (role, n) = roles.iter().next().unwrap();
    let v = query(
        &store,
        &[
            "exposure",
            "csagent.sys",
            "--critical",
            &format!("role={role}"),
        ],
    );
    assert_eq!(v["critical_hosts"].as_u64().unwrap(), *n);
    // The text answers in one sentence first (one line with --width 0).
    let text = run(&[
        "exposure",
        "csagent.sys",
        "--store",
        store.to_str().unwrap(),
        "--width",
        "0",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "if csagent.sys fails at boot: {} hosts (",
            cs.hosts.len()
        )),
        "{first}"
    );
    assert!(
        first.ends_with(&format!(
            "{} load it at boot and would boot-loop",
            cs.hosts.len()
        )),
        "{first}"
    );
}

#[test]
fn exposure_without_a_driver_inventory_falls_back_to_the_dumps_and_says_so() {
    let f = fleet();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(scan(&store, &[]).status.success());
    let v = query(&store, &["exposure", "csagent.sys"]);
    assert_eq!(v["basis"], "dumps");
    // Only hosts with a kernel dump are seen: every crashed csagent host, fewer than installed.
    let crashed: std::collections::BTreeSet<&str> = f
        .truth
        .dumps
        .iter()
        .filter(|d| d.format == "kernel-triage")
        .map(|d| d.host.as_str())
        .collect();
    let cs = f
        .truth
        .driver_installs
        .iter()
        .find(|d| d.driver == "csagent.sys")
        .unwrap();
    let seen = cs
        .hosts
        .iter()
        .filter(|h| crashed.contains(h.as_str()))
        .count();
    assert_eq!(v["hosts_installed"].as_u64().unwrap() as usize, seen);
    assert!(v["boot_start_hosts"].is_null());
    let text = run(&[
        "exposure",
        "csagent.sys",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("no driver inventory"));
}

/// The fleet scanned with its inventory, heartbeats and driver inventory, once.
fn full_store() -> &'static Path {
    static STORE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let f = fleet();
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let beats = f.sim.join("heartbeats.csv");
            let drivers = f.sim.join("drivers.csv");
            let out = scan(
                &store,
                &[
                    "--heartbeats",
                    beats.to_str().unwrap(),
                    "--driver-inventory",
                    drivers.to_str().unwrap(),
                ],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, store)
        })
        .1
}

/// inventory.csv as host -> column -> value.
fn inventory_rows() -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>
{
    let text = std::fs::read_to_string(fleet().sim.join("inventory.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let row: std::collections::BTreeMap<String, String> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect();
            (row["host"].clone(), row)
        })
        .collect()
}

/// `clusters`, `exposure` and the console count critical hosts by one rule, the default
/// (`criticality` is `critical`) or `--critical`, and agree with the truth's hosts.
#[test]
fn one_critical_rule_for_clusters_exposure_and_the_console() {
    let f = fleet();
    let store = full_store();
    let inv = inventory_rows();
    // Hosts with a csagent.sys dump (the whole window: no dump is rotated out of it).
    let crashed: std::collections::BTreeSet<&str> = f
        .truth
        .dumps
        .iter()
        .filter(|d| d.blamed_driver.as_deref() == Some("csagent.sys"))
        .map(|d| d.host.as_str())
        .collect();
    let installed = &f
        .truth
        .driver_installs
        .iter()
        .find(|d| d.driver == "csagent.sys")
        .unwrap()
        .hosts;
    let roles: std::collections::BTreeSet<&str> =
        crashed.iter().map(|h| inv[*h]["role"].as_str()).collect();
    let role = roles.iter().next().unwrap();
    for (flag, column, value) in [
        (None, "criticality", "critical"),
        (Some(format!("role={role}")), "role", *role),
    ] {
        let is_critical = |h: &str| inv[h][column] == value;
        let expected_crashed = crashed.iter().filter(|h| is_critical(h)).count() as u64;
        let expected_installed = installed.iter().filter(|h| is_critical(h)).count() as u64;
        assert!(expected_crashed > 0, "{column}={value}");
        let mut extra: Vec<&str> = Vec::new();
        if let Some(flag) = &flag {
            extra.extend(["--critical", flag.as_str()]);
        }
        let mut args = vec!["clusters", "--no-related"];
        args.extend(&extra);
        let v = query(store, &args);
        assert_eq!(v["critical_rule"], format!("{column}={value}"));
        let cs = v["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cause"] == "csagent.sys")
            .unwrap();
        assert_eq!(cs["hosts"].as_u64().unwrap(), crashed.len() as u64);
        assert_eq!(cs["critical_hosts"].as_u64().unwrap(), expected_crashed);
        // Every level counts the same way: the bucket under it has the same hosts.
        assert_eq!(
            cs["children"][0]["critical_hosts"].as_u64().unwrap(),
            expected_crashed
        );
        let mut args = vec!["exposure", "csagent.sys"];
        args.extend(&extra);
        let e = query(store, &args);
        assert_eq!(e["critical_hosts"].as_u64().unwrap(), expected_installed);
        // The console, loaded as `blastradius tui --critical` loads it.
        let rule = blastradius::fleet::critical::CriticalRule::from_flag(flag.as_deref()).unwrap();
        let snap = blastradius::tui::Snapshot::load(
            store,
            &blastradius::tui::LoadOptions {
                critical: rule,
                ..Default::default()
            },
        )
        .unwrap();
        let node = snap
            .clusters
            .clusters
            .iter()
            .find(|c| c.cause == "csagent.sys")
            .unwrap();
        assert_eq!(node.critical_hosts, Some(expected_crashed));
    }
    // `--fail-if critical_hosts>=1` gates on the same rule: a rule nobody meets passes.
    let gate = |rule: &str| {
        run(&[
            "clusters",
            "--store",
            store.to_str().unwrap(),
            "--no-related",
            "--critical",
            rule,
            "--fail-if",
            "critical_hosts>=1",
        ])
        .status
        .code()
    };
    assert_eq!(gate("criticality=critical"), Some(1));
    assert_eq!(gate("role=no-such-role"), Some(0));
    // CSV carries it too; a malformed rule is refused with the expected form.
    let out = run(&[
        "clusters",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "csv",
        "--no-related",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"critical_hosts") && header.contains(&"down_hosts"));
    let bad = run(&[
        "clusters",
        "--store",
        store.to_str().unwrap(),
        "--critical",
        "critical",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected COLUMN=VALUE[,VALUE]"));
}

/// `drivers` gives every installed driver its installed base, in JSON, CSV and text, also a
/// driver no dump of the window shows (the what-if rows), and `--site` narrows the base.
#[test]
fn drivers_list_the_installed_base_of_every_installed_driver_in_every_format() {
    let f = fleet();
    let store = full_store();
    let inv = inventory_rows();
    let rows = query(store, &["drivers"]);
    let rows = rows.as_array().unwrap();
    let row = |rows: &[serde_json::Value], d: &str| {
        rows.iter()
            .find(|r| r["driver"] == d)
            .unwrap_or_else(|| panic!("no row for {d}"))
            .clone()
    };
    for d in &f.truth.driver_installs {
        let r = row(rows, &d.driver);
        assert_eq!(
            r["hosts_installed"].as_u64().unwrap() as usize,
            d.hosts.len()
        );
        assert_eq!(
            r["installed_share"].as_f64().unwrap(),
            d.hosts.len() as f64 / 80.0
        );
    }
    // Before the first crash no dump shows any driver: every installed driver still has its
    // row, 0 crashes, its installed base.
    let quiet = query(
        store,
        &["drivers", "--since", "2024-06-01", "--until", "2024-06-02"],
    );
    let quiet = quiet.as_array().unwrap();
    assert_eq!(quiet.len(), f.truth.driver_installs.len());
    for d in &f.truth.driver_installs {
        let r = row(quiet, &d.driver);
        assert_eq!(r["hosts_loaded"], 0);
        assert_eq!(r["crashes"], 0);
        assert_eq!(
            r["hosts_installed"].as_u64().unwrap() as usize,
            d.hosts.len()
        );
    }
    // CSV: the same figures.
    let out = run(&[
        "drivers",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let cs_line: Vec<&str> = lines
        .find(|l| l.starts_with("csagent.sys,"))
        .unwrap()
        .split(',')
        .collect();
    let cs = row(rows, "csagent.sys");
    assert_eq!(
        cs_line[at("hosts_installed")],
        cs["hosts_installed"].to_string()
    );
    assert_eq!(
        cs_line[at("crashes_per_installed_host")]
            .parse::<f64>()
            .unwrap(),
        cs["crashes_per_installed_host"].as_f64().unwrap()
    );
    // Text: the installed columns within 80 columns.
    let out = run(&["drivers", "--store", store.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("DRIVER"), "{text}");
    assert!(text.lines().next().unwrap().contains("INSTALLED"));
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    let cs_text = text.lines().find(|l| l.starts_with("csagent.sys")).unwrap();
    assert!(
        cs_text.contains(&format!(" {} ", cs["hosts_installed"])),
        "{cs_text}"
    );
    // --site: installed hosts of that site, a share of that site's hosts.
    let site = inv[&f.truth.driver_installs[0].hosts[0]]["site"].clone();
    let site_rows = query(store, &["drivers", "--site", &site]);
    let site_hosts = inv.values().filter(|r| r["site"] == site).count();
    for d in &f.truth.driver_installs {
        let n = d.hosts.iter().filter(|h| inv[*h]["site"] == site).count();
        let found = site_rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["driver"] == d.driver.as_str());
        match found {
            Some(r) => {
                assert_eq!(
                    r["hosts_installed"].as_u64().unwrap() as usize,
                    n,
                    "{}",
                    d.driver
                );
                if n > 0 {
                    assert_eq!(
                        r["installed_share"].as_f64().unwrap(),
                        n as f64 / site_hosts as f64
                    );
                }
            }
            None => assert_eq!(n, 0, "{} has no row at {site}", d.driver),
        }
    }
}

/// `exposure --site` / `--where`: the fleet is the matching hosts; an unknown value is an
/// error that names what exists.
#[test]
fn exposure_honours_site_and_where_filters() {
    let f = fleet();
    let store = full_store();
    let inv = inventory_rows();
    let cs = f
        .truth
        .driver_installs
        .iter()
        .find(|d| d.driver == "csagent.sys")
        .unwrap();
    let sites: std::collections::BTreeSet<String> =
        inv.values().map(|r| r["site"].clone()).collect();
    for site in &sites {
        let v = query(store, &["exposure", "csagent.sys", "--site", site]);
        let installed = cs.hosts.iter().filter(|h| &inv[*h]["site"] == site).count();
        let fleet = inv.values().filter(|r| &r["site"] == site).count();
        assert_eq!(
            v["hosts_installed"].as_u64().unwrap() as usize,
            installed,
            "{site}"
        );
        assert_eq!(v["fleet_hosts"].as_u64().unwrap() as usize, fleet, "{site}");
        let by_site = v["breakdown"]["site"].as_object().unwrap();
        assert!(by_site.keys().all(|k| k == site), "{by_site:?}");
        let critical = cs
            .hosts
            .iter()
            .filter(|h| &inv[*h]["site"] == site && inv[*h]["criticality"] == "critical")
            .count();
        assert_eq!(v["critical_hosts"].as_u64().unwrap() as usize, critical);
    }
    let v = query(
        store,
        &["exposure", "csagent.sys", "--where", "criticality=critical"],
    );
    let critical = cs
        .hosts
        .iter()
        .filter(|h| inv[*h]["criticality"] == "critical")
        .count();
    assert_eq!(v["hosts_installed"].as_u64().unwrap() as usize, critical);
    assert_eq!(v["critical_hosts"], v["hosts_installed"]);
    let text = run(&[
        "exposure",
        "csagent.sys",
        "--store",
        store.to_str().unwrap(),
        "--where",
        "criticality=critical",
        "--width",
        "0",
    ]);
    let first = String::from_utf8_lossy(&text.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        first.contains("of the hosts with criticality=critical"),
        "{first}"
    );
    let bad = run(&[
        "exposure",
        "csagent.sys",
        "--store",
        store.to_str().unwrap(),
        "--site",
        "atlantis",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--site 'atlantis'"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

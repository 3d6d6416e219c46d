//! The command line as SREs use it (issue 16), run as a binary on a store of the committed
//! simulated fleet (`sample-dumps/`, truth in `sample-dumps/truth.json`): header rows,
//! column choice, `--no-header`, cut tables, a closed pipe, errors that say what to do,
//! argument limits, completions and man page, `--fail-if`, and the issue-18 leftovers
//! (clusters and hosts agree at `--until`; fleet shares over inventory hosts only).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{self, binary, project_root, run_binary as run};

/// The columns `hosts` shows by default when the terminal has room for them.
const HOST_COLUMNS: [&str; 9] = [
    "HOST",
    "STATE",
    "CRASHES",
    "CLUSTERS",
    "FIRST (UTC)",
    "LAST (UTC)",
    "SITE",
    "ROLE",
    "CRITICALITY",
];
/// The incident morning, when hosts were boot-looping and some had their dumps rotated.
const MORNING: &str = "2024-07-19T05:00:00Z";

fn scan_into(inventory: &Path, store: &Path) {
    let dumps = project_root().join("sample-dumps/dumps");
    let (code, _, err) = run(&[
        "scan",
        dumps.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "scan: {err}");
}

/// The committed fleet scanned once per test process (the tests only read it).
fn store() -> &'static str {
    static STORE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            let store = dir.path().join("store");
            scan_into(&project_root().join("sample-dumps/inventory.csv"), &store);
            (dir, store)
        })
        .1
        .to_str()
        .unwrap()
}

fn truth() -> Value {
    let text = std::fs::read_to_string(project_root().join("sample-dumps/truth.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Truth's hosts boot-looping at `at` (RFC 3339, compared as text: same format).
fn truth_looping_at(at: &str) -> BTreeSet<String> {
    truth()["outages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            o["boot_loop"] == true
                && o["first_crash"].as_str().unwrap() <= at
                && o["recovered_at"].as_str().unwrap() > at
        })
        .map(|o| o["host"].as_str().unwrap().to_string())
        .collect()
}

fn truth_cluster(driver: &str) -> Value {
    truth()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["blamed_driver"] == driver)
        .unwrap()
        .clone()
}

/// Cells of a text-table line (columns are separated by at least two spaces).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn clusters_text_has_a_header_numbers_and_the_end_of_data() {
    // Every column: --width 0 (a pipe is otherwise laid out for 80 columns).
    let (code, text, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--no-related",
        "--width",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        cells(header),
        [
            "CAUSE",
            "HOSTS",
            "FLEET",
            "BOOT-LOOP",
            "CRASHES",
            "FIRST–LAST (UTC)",
            "ID",
            "BUGCHECK",
            "NOTES",
            "BUCKET / SIGNATURE"
        ]
    );
    let first = lines.next().unwrap();
    let cs = truth_cluster("csagent.sys");
    let row = cells(first);
    assert_eq!(row[0], "csagent.sys");
    assert_eq!(row[1], cs["hosts"].as_u64().unwrap().to_string());
    assert_eq!(row[2], "69.5 %", "139 of 200 inventory hosts");
    assert_eq!(row[4], cs["dumps"].as_u64().unwrap().to_string());
    assert_eq!(row[9], cs["label"].as_str().unwrap());
    // Numbers are right-aligned: the HOSTS cell ends where the header's HOSTS ends.
    let hosts_end = header.find("HOSTS").unwrap() + "HOSTS".len();
    assert_eq!(&first[hosts_end - 3..hosts_end], "139", "{first}");
    // The span carries the date: the first row's day is not today.
    assert!(row[5].starts_with("2024-07-19 04:09–"), "{first}");
    assert!(
        text.ends_with(
            "end of data: 2024-07-19T07:39:54Z (the latest crash time that several hosts reached)\n"
        ),
        "{text}"
    );

    // --no-header and a cut table that says what was left out and how to see it.
    let (code, text, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--no-related",
        "--no-header",
        "--limit",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("csagent.sys"), "{text}");
    let clusters = truth()["clusters"].as_array().unwrap().len();
    assert_eq!(
        lines[2],
        format!(
            "… {} more clusters not shown (2 of {clusters}); --limit 0 shows them all",
            clusters - 2
        )
    );
}

#[test]
fn hosts_text_fits_a_terminal_and_json_keeps_every_column() {
    let (code, text, err) = run(&["hosts", "--store", store(), "--width", "0"]);
    assert_eq!(code, 0, "{err}");
    let header = text.lines().next().unwrap();
    assert_eq!(cells(header), HOST_COLUMNS);
    assert!(
        text.lines().all(|l| l.chars().count() <= 160),
        "a line wider than 160 columns:\n{text}"
    );
    // Every host has a named state, `single` included.
    let (code, text, err) = run(&[
        "hosts",
        "--store",
        store(),
        "--columns",
        "state,host",
        "--no-header",
    ]);
    assert_eq!(code, 0, "{err}");
    let (json_code, json, _) = run(&["hosts", "--store", store(), "--format", "json"]);
    assert_eq!(json_code, 0);
    let hosts: Value = serde_json::from_str(&json).unwrap();
    let hosts = hosts.as_array().unwrap();
    let states = ["boot-loop", "failing", "single", "recovered"];
    let rows: Vec<&str> = text.lines().take(hosts.len()).collect();
    for (line, h) in rows.iter().zip(hosts) {
        let state = h["state"].as_str().unwrap();
        assert!(states.contains(&state), "{h}");
        // `*`: the state rests on crash silence (this store has no heartbeats).
        let shown = cells(line);
        assert_eq!(
            [shown[0].trim_end_matches('*'), shown[1]],
            [state, h["host"].as_str().unwrap()]
        );
    }
    assert!(rows.iter().any(|l| l.starts_with("single")), "{text}");
    // JSON keeps every inventory column (the inventory has 26 besides `host`).
    assert!(hosts[0].get("os_build").is_some() && hosts[0].get("serial").is_some());
    let (code, text, _) = run(&["hosts", "--store", store(), "--columns", "all"]);
    assert_eq!(code, 0);
    assert!(cells(text.lines().next().unwrap()).contains(&"SERIAL"));
    let (code, _, err) = run(&["hosts", "--store", store(), "--columns", "host,nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown column 'nope'"), "{err}");
}

/// The reader closes the pipe after one line; the writer ends quietly with exit 0.
fn closed_pipe(args: &[&str]) {
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("BLASTRADIUS_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.is_empty());
    drop(out);
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {err}");
    assert!(
        !err.contains("Broken pipe") && !err.contains("error"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_exit_0() {
    let files: Vec<String> = crate::common::simulated_fleet_files()
        .iter()
        .take(60)
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["inspect"];
    args.extend(files.iter().map(String::as_str));
    closed_pipe(&args);
    closed_pipe(&["completions", "bash"]);
    closed_pipe(&["man"]);
}

#[test]
fn errors_say_each_fact_once_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = run(&["inspect", d]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{d}: is a directory; pass dump files, or use `blastradius scan {d}`"
        )),
        "{err}"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let f = file.to_str().unwrap();
    for args in [
        vec!["clusters", "--store", f],
        vec!["hosts", "--store", f],
        vec!["scan", d, "--store", f],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(
            err,
            format!("blastradius: error: {f}: is a file, not a crash store folder; pass a folder with --store (scan creates it)\n")
        );
    }
    let missing = dir.path().join("nosuch.csv");
    let store = dir.path().join("store");
    let (code, _, err) = run(&[
        "scan",
        d,
        "--inventory",
        missing.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "blastradius: error: {}: no such inventory file; pass the CMDB export (CSV or Parquet) to --inventory\n",
            missing.display()
        )
    );
    // A store folder that exists but is no store: said once, with what to do.
    let (code, _, err) = run(&["hosts", "--store", d]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("create one with `blastradius scan"), "{err}");
}

#[test]
fn jobs_and_batch_size_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let host = project_root().join("sample-dumps/dumps/BLR-BLD-0151");
    let h = host.to_str().unwrap();
    for (flag, value) in [("--jobs", "0"), ("--batch-size", "0")] {
        let (code, _, err) = run(&["scan", h, "--store", s, flag, value]);
        assert_eq!(code, 2, "{flag} {value}");
        assert!(err.contains(&format!("{flag} must be at least 1")), "{err}");
    }
    let (code, out, err) = run(&[
        "scan", h, "--store", s, "--jobs", "100000", "--format", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--jobs 100000 capped at"), "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    let files = std::fs::read_dir(&host).unwrap().count() as u64;
    assert_eq!(summary["files_seen"].as_u64(), Some(files), "{summary}");
}

#[test]
fn completions_man_page_and_help_examples() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("blastradius") && out.contains("clusters"),
            "{shell}"
        );
    }
    let (code, man, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(man.contains(".TH blastradius 1"), "{man}");
    // One page per command, as the top page's SUBCOMMANDS list names them.
    let pages = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["man", "--dir", pages.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in ["blastradius.1", "blastradius-hosts.1", "blastradius-gate.1"] {
        let text = std::fs::read_to_string(pages.path().join(page)).unwrap();
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page}: {text}");
        assert!(text.contains(".TH blastradius"), "{page}");
    }
    for command in [
        "inspect",
        "scan",
        "simulate",
        "store",
        "clusters",
        "hosts",
        "drivers",
        "reprocess",
        "report",
        "exposure",
        "gate",
        "tui",
        "completions",
        "man",
    ] {
        let (code, help, _) = run(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{command}: no examples"));
        let shown = examples
            .lines()
            .filter(|l| l.trim_start().starts_with("blastradius "))
            .count();
        assert!(shown >= 2, "{command}: {shown} examples");
    }
    let (_, help, _) = run(&["hosts", "--help"]);
    for state in [
        "boot-loop",
        "failing",
        "single",
        "recovered",
        "looping, dumps rotated",
    ] {
        assert!(help.contains(state), "hosts --help does not define {state}");
    }
}

#[test]
fn fail_if_exits_1_when_anything_matches() {
    let looping = truth_looping_at(MORNING).len();
    let (code, _, err) = run(&[
        "hosts",
        "--store",
        store(),
        "--until",
        MORNING,
        "--fail-if",
        "state=boot-loop",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "--fail-if state=boot-loop: {looping} host(s) matched"
        )),
        "{err}"
    );
    // By the end of the data no host loops any more.
    let (code, _, err) = run(&["hosts", "--store", store(), "--fail-if", "state=boot-loop"]);
    assert_eq!(code, 0, "{err}");
    // A cluster younger than a day on at least 100 hosts: csagent.sys, at the morning.
    let fail_if = format!("age_hours<24,boot_loop_hosts>={looping}");
    let (code, _, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--until",
        MORNING,
        "--no-related",
        "--fail-if",
        &fail_if,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 cluster(s) matched"), "{err}");
    let over = format!("boot_loop_hosts>{looping}");
    let (code, _, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--until",
        MORNING,
        "--no-related",
        "--fail-if",
        &over,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["hosts", "--store", store(), "--fail-if", "stat=boot-loop"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown field 'stat'"), "{err}");
}

/// Issue 18 (a) and (c): at `--until` on the incident morning, `clusters` counts the same
/// boot-looping hosts as `hosts` (the looping hosts whose dumps up to then were rotated away
/// included), both equal truth's, and the text tables say "looping, dumps rotated" and the
/// end of the data.
#[test]
fn clusters_and_hosts_agree_at_until_with_rotated_dumps() {
    let looping = truth_looping_at(MORNING);
    let (code, json, err) = run(&[
        "hosts",
        "--store",
        store(),
        "--until",
        MORNING,
        "--state",
        "boot-loop",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let hosts: Value = serde_json::from_str(&json).unwrap();
    let listed: BTreeSet<String> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, looping);
    let rotated = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["dumps_rotated"] == true)
        .count();
    assert!(rotated > 0, "the morning has hosts with rotated dumps");

    let (code, json, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--until",
        MORNING,
        "--no-related",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let clusters: Value = serde_json::from_str(&json).unwrap();
    let cs = &clusters["clusters"][0];
    assert_eq!(cs["cause"], "csagent.sys");
    assert_eq!(cs["boot_loop_hosts"].as_u64(), Some(looping.len() as u64));
    assert_eq!(
        cs["children"][0]["boot_loop_hosts"].as_u64(),
        Some(looping.len() as u64)
    );

    let (code, text, err) = run(&["hosts", "--store", store(), "--until", MORNING]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("  looping, dumps rotated* "))
            .count(),
        rotated,
        "{text}"
    );
    assert!(
        text.ends_with("end of data: 2024-07-19T05:00:00Z (--until)\n"),
        "{text}"
    );
    let (code, csv, _) = run(&[
        "hosts",
        "--store",
        store(),
        "--until",
        MORNING,
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(",\"looping, dumps rotated\","))
            .count(),
        rotated,
        "{csv}"
    );
    let (code, text, _) = run(&[
        "clusters",
        "--store",
        store(),
        "--until",
        MORNING,
        "--no-related",
    ]);
    assert_eq!(code, 0);
    assert!(
        text.ends_with("end of data: 2024-07-19T05:00:00Z (--until)\n"),
        "{text}"
    );
}

/// Issue 18 (b): a crashing host the inventory does not list does not raise a fleet share.
#[test]
fn fleet_share_counts_only_inventory_hosts() {
    let cs_hosts: BTreeSet<String> = truth()["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["blamed_driver"] == "csagent.sys")
        .map(|d| d["host"].as_str().unwrap().to_string())
        .collect();
    let cs = truth_cluster("csagent.sys");
    assert_eq!(cs_hosts.len() as u64, cs["hosts"].as_u64().unwrap());
    // An inventory without 10 of the hit hosts.
    let dropped: BTreeSet<&String> = cs_hosts.iter().take(10).collect();
    let inventory =
        std::fs::read_to_string(project_root().join("sample-dumps/inventory.csv")).unwrap();
    let kept: Vec<&str> = inventory
        .lines()
        .filter(|l| !dropped.iter().any(|h| l.starts_with(&format!("{h},"))))
        .collect();
    let listed = kept.len() - 1;
    assert_eq!(listed, 200 - 10);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let inv = dir.path().join("inventory.csv");
    std::fs::write(&inv, kept.join("\n") + "\n").unwrap();
    let store = dir.path().join("store");
    scan_into(&inv, &store);
    let (code, json, err) = run(&[
        "clusters",
        "--store",
        store.to_str().unwrap(),
        "--no-related",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["fleet_hosts"].as_u64(), Some(listed as u64));
    let node = &v["clusters"][0];
    assert_eq!(node["hosts"].as_u64(), Some(cs_hosts.len() as u64));
    let expected = (cs_hosts.len() - 10) as f64 / listed as f64;
    assert!(
        (node["fleet_share"].as_f64().unwrap() - expected).abs() < 1e-12,
        "{} vs {expected}",
        node["fleet_share"]
    );
}

/// `clusters --cluster csagent.sys`: the one-cluster view with a fine onset curve (at least
/// 20 buckets over the cluster's span), breakdowns, versions, sample dumps and the hosts.
#[test]
fn one_cluster_detail_view() {
    let cs = truth_cluster("csagent.sys");
    let (code, text, err) = run(&[
        "clusters",
        "--store",
        store(),
        "--cluster",
        "csagent.sys",
        "--no-related",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("csagent.sys  (cluster "), "{text}");
    assert!(
        text.contains(&format!(
            "{} hosts (69.5 % of fleet)  {} crashes",
            cs["hosts"], cs["dumps"]
        )),
        "{text}"
    );
    let onset = text.lines().find(|l| l.starts_with("Onset: ")).unwrap();
    let buckets: usize = onset["Onset: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(buckets >= 20, "{onset}");
    let spark = text.lines().find(|l| l.starts_with("  |")).unwrap();
    assert_eq!(spark.chars().count(), buckets + 4, "{spark}");
    for by in ["  site ", "  ring ", "  role ", "  os_build "] {
        assert!(text.contains(by), "no breakdown {by}\n{text}");
    }
    assert!(text.contains("Driver versions of csagent.sys"), "{text}");
    assert!(text.contains(&format!("\n{}  ", cs["label"].as_str().unwrap())));
    // The top signature's innermost frame is the signature's module+offset.
    let frames = text.split("Frames of ").nth(1).unwrap();
    let frame0 = frames.lines().nth(1).unwrap().trim();
    assert_eq!(frame0, "0  csagent.sys+0xe14ed", "{frames}");
    let samples = text.split("Sample dumps:\n").nth(1).unwrap();
    let first = samples.lines().next().unwrap().trim();
    assert!(
        first.contains("/sample-dumps/dumps/") && std::path::Path::new(first).is_file(),
        "{first}"
    );
    assert!(
        text.contains(&format!("Affected hosts ({}):", cs["hosts"])),
        "{text}"
    );
    assert!(text.contains("more hosts not shown; `blastradius hosts --cluster"));
    // JSON of one cluster gets the fine curve too.
    let (code, json, _) = run(&[
        "clusters",
        "--store",
        store(),
        "--cluster",
        "csagent.sys",
        "--no-related",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    let counts = v["clusters"][0]["onset"]["counts"].as_array().unwrap();
    assert_eq!(counts.len(), buckets);
    let total: u64 = counts.iter().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(total, cs["dumps"].as_u64().unwrap());
}

/// The committed fleet with every input the README's quick start gives (heartbeats and the
/// driver inventory too: `exposure` and the `down` state need them), scanned once.
fn full_store() -> &'static str {
    common::sample_fleet_store_with_heartbeats()
        .to_str()
        .unwrap()
}

/// Runs the binary with `COLUMNS` set (stdout a pipe, as in a terminal that exports it).
fn run_at_columns(columns: usize, args: &[&str]) -> String {
    let out = Command::new(binary())
        .args(args)
        .env_remove("BLASTRADIUS_STORE")
        .env("COLUMNS", columns.to_string())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(if args[0] == "gate" { 1 } else { 0 }),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Lines wider than `width` characters, a sample dump's path (kept whole to be copied) aside.
fn too_wide(text: &str, width: usize) -> Vec<&str> {
    text.lines()
        .filter(|l| l.chars().count() > width)
        .filter(|l| !std::path::Path::new(l.trim()).is_file())
        .collect()
}

/// Every table command reads well at 80 and at 160 columns on the sample fleet: no line
/// wider than the terminal, the key columns there (numbers right-aligned), the columns
/// left out named, and more of them at 160.
#[test]
fn tables_fit_80_and_160_columns() {
    let store = full_store();
    let cs = truth_cluster("csagent.sys");
    let rollout = project_root().join("sample-dumps/rollout.csv");
    let rollout = rollout.to_str().unwrap();
    let commands: [&[&str]; 8] = [
        &["clusters", "--store", store],
        &["clusters", "--store", store, "--depth", "2"],
        &["clusters", "--store", store, "--cluster", "csagent.sys"],
        &["hosts", "--store", store],
        &["hosts", "--store", store, "--state", "down"],
        &["drivers", "--store", store],
        &["exposure", "csagent.sys", "--store", store],
        &["gate", "--rollout", rollout, "--store", store],
    ];
    for width in [80, 160] {
        for args in commands {
            let text = run_at_columns(width, args);
            let wide = too_wide(&text, width);
            assert!(wide.is_empty(), "{args:?} at {width}: {wide:#?}\n{text}");
        }
    }

    // clusters: cause, hosts, fleet share, boot loops and the span stay at 80.
    let text = run_at_columns(80, &["clusters", "--store", store]);
    let header = text.lines().next().unwrap();
    assert_eq!(
        cells(header),
        ["CAUSE", "HOSTS", "FLEET", "BOOT-LOOP", "FIRST–LAST (UTC)"]
    );
    let first = text.lines().nth(1).unwrap();
    let row = cells(first);
    assert_eq!(
        row[..4],
        ["csagent.sys", &cs["hosts"].to_string(), "69.5 %", "123"]
    );
    let hosts_end = header.find("HOSTS").unwrap() + "HOSTS".len();
    assert_eq!(&first[hosts_end - 3..hosts_end], "139", "{first}");
    assert!(
        text.contains("(not shown at 80 columns: CRASHES, ID, BUGCHECK, NOTES, BUCKET /"),
        "{text}"
    );
    // At 160 the crash count, id, bugcheck and bucket come back (NOTES alone stays out).
    let text = run_at_columns(160, &["clusters", "--store", store]);
    let header = cells(text.lines().next().unwrap());
    assert_eq!(
        header,
        [
            "CAUSE",
            "HOSTS",
            "FLEET",
            "BOOT-LOOP",
            "CRASHES",
            "FIRST–LAST (UTC)",
            "ID",
            "BUGCHECK",
            "BUCKET / SIGNATURE"
        ]
    );
    let row = cells(text.lines().nth(1).unwrap());
    assert_eq!(row[4], cs["dumps"].to_string());
    assert_eq!(row[8], cs["label"].as_str().unwrap());
    // --depth 2 keeps the bucket column (it names the indented rows), cut if need be.
    let text = run_at_columns(80, &["clusters", "--store", store, "--depth", "2"]);
    assert!(cells(text.lines().next().unwrap()).contains(&"BUCKET / SIGNATURE"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("  bucket ") && l.contains("AV_R_INVALID_csagent")));

    // hosts: who, what state, how many crashes, which clusters, where and how critical.
    let text = run_at_columns(80, &["hosts", "--store", store, "--state", "down"]);
    let header = cells(text.lines().next().unwrap());
    assert_eq!(
        header[..4],
        ["HOST", "STATE", "CRASHES", "CLUSTERS"],
        "{text}"
    );
    assert!(
        header.contains(&"SITE") && header.contains(&"CRITICALITY"),
        "{text}"
    );
    assert!(!header.contains(&"ROLE"), "{text}");
    let down = text
        .lines()
        .skip(1)
        .filter(|l| cells(l).get(1) == Some(&"down"));
    assert_eq!(down.count(), 38, "truth's never_checked_in_hosts\n{text}");
    let text = run_at_columns(160, &["hosts", "--store", store]);
    assert_eq!(cells(text.lines().next().unwrap()), HOST_COLUMNS);
    // The first row's times carry their date though FIRST may be left out at 80.
    let text = run_at_columns(100, &["hosts", "--store", store, "--columns", "host,last"]);
    assert!(
        cells(text.lines().nth(1).unwrap())[1].starts_with("2024-07-"),
        "{text}"
    );

    // drivers (the store has the fleet's driver inventory): the driver, its installed base
    // and its fleet share, its crashes and their share.
    let text = run_at_columns(80, &["drivers", "--store", store]);
    let header = cells(text.lines().next().unwrap());
    for column in ["DRIVER", "INSTALLED", "FLEET", "CRASHES", "SHARE"] {
        assert!(header.contains(&column), "{column}: {header:?}");
    }
    let row = cells(text.lines().nth(1).unwrap());
    assert_eq!(row[0], "csagent.sys", "{text}");

    // --width wins over COLUMNS; --width 0 is every column, whole.
    let text = run_at_columns(160, &["clusters", "--store", store, "--width", "80"]);
    assert_eq!(cells(text.lines().next().unwrap()).len(), 5);
    let text = run_at_columns(80, &["clusters", "--store", store, "--width", "0"]);
    assert_eq!(cells(text.lines().next().unwrap()).len(), 10);
    assert!(!text.contains("not shown at"));
}

/// The one-cluster view over a week-long window (the sample fleet's baseline week plus the
/// incident): the onset curve stays fine over the cluster's own 90 minutes instead of the
/// window asking for more than the analytics' 10,000 buckets (it used to fail unless
/// `--bucket` was given: "an onset bucket of 60 s gives more than 10,000 buckets").
#[test]
fn one_cluster_view_over_a_week_long_window() {
    let store = full_store();
    let cs = truth_cluster("csagent.sys");
    let text = run_at_columns(
        80,
        &[
            "clusters",
            "--store",
            store,
            "--cluster",
            "csagent.sys",
            "--since",
            "2024-07-12T00:00:00Z",
            "--until",
            "2024-07-19T23:59:59Z",
        ],
    );
    assert!(text.contains(&format!("{} hosts", cs["hosts"])), "{text}");
    let onset = text
        .lines()
        .find(|l| l.starts_with("Onset: "))
        .unwrap_or_else(|| panic!("no onset line:\n{text}"));
    let buckets: u64 = onset["Onset: ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{onset}"));
    assert!(buckets >= 20, "{onset}");

    // A one-crash cluster would take 60-s buckets: over the week that is more than 10,000,
    // so the bucket grows just enough for the window.
    let text = run_at_columns(
        80,
        &[
            "clusters",
            "--store",
            store,
            "--cluster",
            "ntoskrnl.exe",
            "--since",
            "2024-07-12T00:00:00Z",
            "--until",
            "2024-07-19T23:59:59Z",
        ],
    );
    assert!(text.contains("first 2024-07-18 05:43:45"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Onset: 1 bucket of 70 s")),
        "{text}"
    );
}

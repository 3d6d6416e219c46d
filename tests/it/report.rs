//! `blastradius report` end to end: figures checked against the simulator's truth (the
//! committed sample fleet and an incident generated here), the previous-period comparison,
//! hostile names rendered as text, the Markdown's chart files, and the HTML rendered by
//! headless Chromium (when installed) with no console errors and sized charts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use blastradius::dump::{Arch, CpuContext};
use blastradius::simulate::{
    filetime_from_unix, write_triage_dump, SimDriver, Truth, DEFAULT_START,
};
use serde_json::Value;

use crate::common::{binary, project_root};

fn run_cli(args: &[&str], cwd: Option<&Path>) -> (i32, String, String) {
    crate::common::run_binary_in(args, cwd)
}

fn scan(dumps: &Path, inventory: &Path, store: &Path) {
    let (code, _, err) = run_cli(
        &[
            "scan",
            dumps.to_str().unwrap(),
            "--inventory",
            inventory.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "scan: {err}");
}

/// The report's JSON for `extra` arguments.
fn report_json(store: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "report",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        "-",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "report: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs `report --out OUT` with `extra` arguments, which must succeed; returns its stdout.
fn report_to(store: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "report",
        "--store",
        store.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, err) = run_cli(&args, None);
    assert_eq!(code, 0, "report {extra:?}: {err}");
    stdout
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// The inventory CSV as host -> column -> value (the simulator's CSV has no quoted commas).
fn inventory(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let row: BTreeMap<String, String> = header
                .iter()
                .zip(cells.iter())
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect();
            (row["host"].clone(), row)
        })
        .collect()
}

/// What the truth says about one window: crashes, hosts, and the level-1 cluster keys (the
/// blamed driver, or the label of a non-driver cause), as the report keys clusters.
#[derive(Debug, Default)]
struct TruthWindow {
    crashes: u64,
    hosts: BTreeSet<String>,
    causes: BTreeMap<String, (u64, BTreeSet<String>)>,
}

fn truth_window(truth: &Truth, since: i64, until: i64) -> TruthWindow {
    let mut w = TruthWindow::default();
    for d in &truth.dumps {
        let t = ms(&d.crash_time);
        if t < since || t > until {
            continue;
        }
        w.crashes += 1;
        w.hosts.insert(d.host.clone());
        let cause = d.blamed_driver.clone().unwrap_or_else(|| d.cluster.clone());
        let e = w.causes.entry(cause).or_default();
        e.0 += 1;
        e.1.insert(d.host.clone());
    }
    w
}

/// The truth's crashes of `cause` in [since, until] per bucket of `series` (its
/// `bucket_seconds` and `bucket_starts`).
fn bucket_counts(truth: &Truth, cause: &str, series: &Value, since: i64, until: i64) -> Vec<u64> {
    let starts = series["bucket_starts"].as_array().unwrap();
    let width = series["bucket_seconds"].as_i64().unwrap() * 1000;
    let origin = ms(starts[0].as_str().unwrap());
    let mut counts = vec![0u64; starts.len()];
    for d in &truth.dumps {
        let t = ms(&d.crash_time);
        let key = d.blamed_driver.as_deref().unwrap_or(&d.cluster);
        if key == cause && t >= since && t <= until {
            counts[usize::try_from((t - origin) / width).unwrap()] += 1;
        }
    }
    counts
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn causes(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap().to_string())
        .collect()
}

/// Headline, clusters, trend and changes of `report` against the truth of its two windows.
fn check_against_truth(
    report: &Value,
    truth: &Truth,
    inv: &BTreeMap<String, BTreeMap<String, String>>,
) {
    let since = ms(report["window"]["start"].as_str().unwrap());
    let until = ms(report["window"]["end"].as_str().unwrap());
    let psince = ms(report["previous_window"]["start"].as_str().unwrap());
    let puntil = ms(report["previous_window"]["end"].as_str().unwrap());
    // Same length, adjacent, not overlapping (the JSON's end is to the second; the window
    // ends 1 ms before the current one starts).
    assert_eq!(until - since, since - psince);
    assert!(puntil < since && since - puntil <= 1000, "{puntil} {since}");
    let now = truth_window(truth, since, until);
    let before = truth_window(truth, psince, since - 1);
    let h = &report["headline"];
    assert_eq!(u(&h["crashes"]["current"]), now.crashes);
    assert_eq!(u(&h["crashes"]["previous"]), before.crashes);
    assert_eq!(
        h["crashes"]["change"].as_i64().unwrap(),
        now.crashes as i64 - before.crashes as i64
    );
    assert_eq!(u(&h["hosts_affected"]["current"]), now.hosts.len() as u64);
    assert_eq!(
        u(&h["hosts_affected"]["previous"]),
        before.hosts.len() as u64
    );
    let fleet = inv.len() as u64;
    assert_eq!(u(&h["fleet_hosts"]), fleet);
    let crashed_in_inv =
        |w: &TruthWindow| w.hosts.iter().filter(|x| inv.contains_key(*x)).count() as u64;
    assert_eq!(
        u(&h["crash_free_hosts"]["current"]),
        fleet - crashed_in_inv(&now)
    );
    assert_eq!(
        u(&h["crash_free_hosts"]["previous"]),
        fleet - crashed_in_inv(&before)
    );
    let share = h["crash_free_share"]["current"].as_f64().unwrap();
    assert!((share - (fleet - crashed_in_inv(&now)) as f64 / fleet as f64).abs() < 1e-9);

    // Every listed cluster: hosts, crashes, sites, critical hosts and trend from the truth.
    let top = report["top_clusters"].as_array().unwrap();
    assert_eq!(
        top.len(),
        now.causes.len().min(10),
        "top clusters: {:?}",
        now.causes.keys()
    );
    assert_eq!(u(&report["cluster_count"]), now.causes.len() as u64);
    // A host still boot-looping at the window's end whose dumps of the window were all
    // rotated away (Windows kept only its newest) is hit by the cluster its kept dumps name,
    // as `clusters` and `hosts` count it: the truth's outages say which hosts these are.
    let rotated: BTreeMap<String, String> = truth
        .outages
        .iter()
        .filter(|o| o.boot_loop && ms(&o.first_crash) <= until && ms(&o.recovered_at) > until)
        .filter_map(|o| {
            truth
                .dumps
                .iter()
                .filter(|d| d.host == o.host && ms(&d.crash_time) > until)
                .min_by_key(|d| ms(&d.crash_time))
                .map(|d| {
                    let cause = d.blamed_driver.clone().unwrap_or_else(|| d.cluster.clone());
                    (o.host.clone(), cause)
                })
        })
        .collect();
    for c in top {
        let cause = c["cause"].as_str().unwrap();
        let (crashes, in_window) = &now.causes[cause];
        let mut hosts = in_window.clone();
        hosts.extend(
            rotated
                .iter()
                .filter(|(_, c)| c.as_str() == cause)
                .map(|(h, _)| h.clone()),
        );
        let hosts = &hosts;
        assert_eq!(u(&c["crashes"]), *crashes, "{cause}");
        assert_eq!(u(&c["hosts"]), hosts.len() as u64, "{cause}");
        // The per-site and critical-host breakdowns count the same hosts as `hosts`, the
        // rotated-dump hosts included: they add up to the host count.
        let critical = hosts
            .iter()
            .filter(|x| inv[*x]["criticality"] == "critical")
            .count() as u64;
        assert_eq!(u(&c["critical_hosts"]), critical, "{cause}");
        let mut sites: BTreeMap<String, u64> = BTreeMap::new();
        for x in hosts {
            *sites.entry(inv[x]["site"].clone()).or_default() += 1;
        }
        assert_eq!(sites.values().sum::<u64>(), u(&c["hosts"]), "{cause}");
        let reported: BTreeMap<String, u64> = c["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["site"].as_str().unwrap().to_string(), u(&s["hosts"])))
            .collect();
        assert_eq!(reported, sites, "{cause}");
        let prev = before.causes.get(cause).map_or(0, |p| p.1.len() as u64);
        assert_eq!(u(&c["previous_hosts"]), prev, "{cause}");
        let trend = match (before.causes.contains_key(cause), hosts.len() as u64) {
            (false, _) => "new",
            (true, n) if n > prev => "rising",
            (true, n) if n < prev => "falling",
            _ => "steady",
        };
        assert_eq!(c["trend"], trend, "{cause}");
    }
    // Sorted by hosts.
    let hosts: Vec<u64> = top.iter().map(|c| u(&c["hosts"])).collect();
    assert!(hosts.windows(2).all(|w| w[0] >= w[1]), "{hosts:?}");

    let now_keys: BTreeSet<String> = now.causes.keys().cloned().collect();
    let before_keys: BTreeSet<String> = before.causes.keys().cloned().collect();
    assert_eq!(
        causes(&report["changes"]["new"]),
        now_keys.difference(&before_keys).cloned().collect()
    );
    assert_eq!(
        causes(&report["changes"]["gone"]),
        before_keys.difference(&now_keys).cloned().collect()
    );
    // The stacked chart's series add up to the window's crashes.
    let total: u64 = report["crashes_over_time"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["counts"].as_array().unwrap().iter().map(u))
        .sum();
    assert_eq!(total, now.crashes);
    // Each cluster's bars stand in the buckets its crashes fall in.
    let over_time = &report["crashes_over_time"];
    for s in over_time["series"].as_array().unwrap() {
        if s["cluster_id"].is_null() {
            continue;
        }
        let cause = s["label"].as_str().unwrap();
        assert_eq!(
            bucket_counts(truth, cause, over_time, since, until),
            s["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(u)
                .collect::<Vec<_>>(),
            "{cause}"
        );
    }
    // The onset curve of the largest cluster, bucket by bucket.
    if let Some(top) = top.first() {
        let onset = &report["largest_cluster_onset"];
        assert_eq!(onset["cause"], top["cause"]);
        let cause = top["cause"].as_str().unwrap();
        assert_eq!(
            bucket_counts(truth, cause, onset, since, until),
            onset["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(u)
                .collect::<Vec<_>>(),
            "onset of {cause}"
        );
    }
    // Hosts by site add up to the affected hosts.
    let by_site: u64 = report["hosts_by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s["hosts_affected"]))
        .sum();
    assert_eq!(by_site, now.hosts.len() as u64);
}

/// The committed fleet scanned once per test process (the tests only read the store).
fn sample_fleet_store() -> &'static Path {
    static STORE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let root = project_root().join("sample-dumps");
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            let store = dir.path().join("store");
            scan(&root.join("dumps"), &root.join("inventory.csv"), &store);
            (dir, store)
        })
        .1
}

fn sample_truth() -> (Truth, BTreeMap<String, BTreeMap<String, String>>) {
    let root = project_root().join("sample-dumps");
    let truth: Truth =
        serde_json::from_str(&std::fs::read_to_string(root.join("truth.json")).unwrap()).unwrap();
    (truth, inventory(&root.join("inventory.csv")))
}

/// The committed fleet, default window (the 7 days up to its last crash) and the incident
/// morning at 05:00, when most of the fleet was boot-looping.
#[test]
fn sample_fleet_report_matches_the_truth() {
    let store = sample_fleet_store();
    let (truth, inv) = sample_truth();

    let week = report_json(store, &[]);
    assert_eq!(
        week["window"]["end"], "2024-07-19T20:13:48Z",
        "ends at the last crash"
    );
    assert_eq!(week["window"]["start"], "2024-07-12T20:13:48Z");
    assert_eq!(week["window_seconds"], 7 * 86_400);
    check_against_truth(&week, &truth, &inv);
    let cs = &week["top_clusters"][0];
    assert_eq!(cs["cause"], "csagent.sys");
    assert_eq!(cs["owner"], "CrowdStrike");
    assert_eq!(cs["bucket_id"], "AV_R_INVALID_csagent!unknown_function");
    assert_eq!((u(&cs["hosts"]), u(&cs["crashes"])), (139, 471));
    assert_eq!(
        u(&cs["boot_loop_hosts"]),
        truth.boot_loop_hosts.len() as u64
    );
    // By 20:13 every host is back: nobody needs a person.
    assert_eq!(u(&week["headline"]["boot_loop_hosts"]["current"]), 0);
    assert!(week["needs_attention"].as_array().unwrap().is_empty());
    // The onset curve covers the whole cluster.
    let onset = &week["largest_cluster_onset"];
    assert_eq!(onset["cause"], "csagent.sys");
    let onset_total: u64 = onset["counts"].as_array().unwrap().iter().map(u).sum();
    assert_eq!(onset_total, 471);
    assert_eq!(
        onset["counts"].as_array().unwrap().len(),
        onset["bucket_starts"].as_array().unwrap().len()
    );
    // The same analytics as `clusters` for the same window.
    let (code, clusters, err) = run_cli(
        &[
            "clusters",
            "--store",
            store.to_str().unwrap(),
            "--since",
            "2024-07-12T20:13:48Z",
            "--until",
            "2024-07-19T20:13:48Z",
            "--format",
            "json",
            "--no-related",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let clusters: Value = serde_json::from_str(&clusters).unwrap();
    let lost: f64 = clusters["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["host_hours_lost"].as_f64().unwrap())
        .sum();
    let reported = week["headline"]["host_hours_lost"]["current"]
        .as_f64()
        .unwrap();
    assert!((lost - reported).abs() < 1e-9, "{lost} vs {reported}");
    assert_eq!(clusters["clusters"][0]["id"], cs["id"]);

    // 05:00 on the incident morning: the boot-looping hosts are truth's looping hosts whose
    // outage spans 05:00, and exactly what `hosts --state boot-loop` lists.
    let morning = report_json(store, &["--until", "2024-07-19T05:00:00Z"]);
    check_against_truth(&morning, &truth, &inv);
    let at = ms("2024-07-19T05:00:00Z");
    let looping: BTreeSet<String> = morning["needs_attention"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hosts"].as_array().unwrap().iter())
        .filter(|h| h["state"] == "boot-loop")
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        u(&morning["headline"]["boot_loop_hosts"]["current"]),
        looping.len() as u64
    );
    assert!(looping.len() > 50, "{}", looping.len());
    for host in &looping {
        let outage = truth.outages.iter().find(|o| &o.host == host).unwrap();
        assert!(outage.boot_loop, "{host} did not loop in truth");
        assert!(
            ms(&outage.first_crash) <= at && ms(&outage.recovered_at) > at,
            "{host}: {outage:?}"
        );
    }
    let (code, hosts, err) = run_cli(
        &[
            "hosts",
            "--store",
            store.to_str().unwrap(),
            "--since",
            morning["window"]["start"].as_str().unwrap(),
            "--until",
            "2024-07-19T05:00:00Z",
            "--state",
            "boot-loop",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let hosts: Value = serde_json::from_str(&hosts).unwrap();
    let listed: BTreeSet<String> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, looping);
    // Per site, critical hosts first.
    for site in morning["needs_attention"].as_array().unwrap() {
        for h in site["hosts"].as_array().unwrap() {
            assert_eq!(
                inv[h["host"].as_str().unwrap()]["site"],
                site["site"].as_str().unwrap()
            );
        }
    }
}

/// Hosts down at `until` by the simulator's check-ins (`heartbeats.csv`): a crash in the
/// 7 days up to `until`, and no check-in from the last of them up to `until`, for at least
/// the 2-hour recovery window.
fn truth_down_at(truth: &Truth, until: i64) -> BTreeSet<String> {
    let root = project_root().join("sample-dumps");
    let text = std::fs::read_to_string(root.join("heartbeats.csv")).unwrap();
    let mut beats: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let (host, at) = line.split_once(',').unwrap();
        beats.entry(host.to_string()).or_default().push(ms(at));
    }
    let since = until - 7 * 86_400_000;
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for d in &truth.dumps {
        let t = ms(&d.crash_time);
        if (since..=until).contains(&t) {
            let e = last.entry(d.host.as_str()).or_insert(t);
            *e = (*e).max(t);
        }
    }
    last.into_iter()
        .filter(|(host, crash)| {
            let Some(seen) = beats.get(*host) else {
                return false;
            };
            !seen.iter().any(|b| b > crash && *b <= until) && *crash <= until - 2 * 3_600_000
        })
        .map(|(host, _)| host.to_string())
        .collect()
}

/// The report's down hosts are those down at the end of its window, not at the end of the
/// data: at 08:00 on the incident morning many hosts had not checked in since their last crash
/// that did by the evening (where only the never-returning ones are left).
#[test]
fn report_counts_the_hosts_down_at_the_end_of_its_window() {
    let store = crate::common::sample_fleet_store_with_heartbeats();
    let (truth, inv) = sample_truth();
    let until = "2024-07-19T08:00:00Z";
    let expected = truth_down_at(&truth, ms(until));
    let never: BTreeSet<String> = truth.never_checked_in_hosts.iter().cloned().collect();
    // The test means something only if 08:00 differs from the end of the data.
    assert!(expected.is_superset(&never), "{expected:?}");
    assert!(expected.len() > never.len() + 10, "{}", expected.len());

    let report = report_json(store, &["--until", until]);
    let down = &report["headline"]["down_hosts"];
    assert_eq!(u(&down["current"]), expected.len() as u64);
    assert_eq!(u(&down["previous"]), 0);
    let by_site: u64 = report["hosts_by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s["down"]))
        .sum();
    assert_eq!(by_site, expected.len() as u64);
    let listed: BTreeSet<String> = report["needs_attention"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hosts"].as_array().unwrap().iter())
        .filter(|h| h["state"] == "down")
        .map(|h| h["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, expected);
    // Every down host is a csagent.sys host, so that cluster counts them all.
    let cs = &report["top_clusters"][0];
    assert_eq!(cs["cause"], "csagent.sys");
    assert_eq!(u(&cs["down_hosts"]), expected.len() as u64);

    // The page shows them where it shows the boot-looping hosts: a headline card, the
    // cluster's row and the per-site table of hosts that need a person.
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("down.html");
    report_to(store, &html, &["--until", until]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Down hosts"), "no down card");
    assert!(
        page.contains(&format!("({} down)", expected.len())),
        "no down count in the cluster row"
    );
    // At the end of the data only the hosts that never came back are down.
    let evening = report_json(store, &[]);
    assert_eq!(
        u(&evening["headline"]["down_hosts"]["current"]),
        never.len() as u64
    );
    // Without heartbeats there is no down figure at all.
    let plain = report_json(sample_fleet_store(), &["--until", until]);
    assert!(plain["headline"]["down_hosts"].is_null());

    // --critical: the same rule as `clusters` and `exposure`; attention hosts are flagged
    // by it too.
    let by_role = report_json(
        store,
        &["--until", until, "--critical", "role=pos-terminal"],
    );
    assert_eq!(by_role["critical_rule"], "role=pos-terminal");
    let (code, out, err) = run_cli(
        &[
            "clusters",
            "--store",
            store.to_str().unwrap(),
            "--since",
            report["window"]["start"].as_str().unwrap(),
            "--until",
            until,
            "--critical",
            "role=pos-terminal",
            "--no-related",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let clusters: Value = serde_json::from_str(&out).unwrap();
    let clusters = clusters["clusters"].as_array().unwrap();
    for c in by_role["top_clusters"].as_array().unwrap() {
        let same = clusters.iter().find(|x| x["id"] == c["id"]).unwrap();
        assert_eq!(
            c["critical_hosts"], same["critical_hosts"],
            "{}",
            c["cause"]
        );
        let pos = same["breakdown"]["role"]["pos-terminal"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(u(&c["critical_hosts"]), pos, "{}", c["cause"]);
    }
    let pos = &by_role["top_clusters"][0];
    assert!(u(&pos["critical_hosts"]) > 0);
    for h in by_role["needs_attention"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hosts"].as_array().unwrap().iter())
    {
        let host = h["host"].as_str().unwrap();
        assert_eq!(
            h["critical"].as_bool().unwrap(),
            inv[host]["role"] == "pos-terminal",
            "{host}"
        );
    }
    // The older flag still works: it is `--critical criticality=VALUE`.
    let old = report_json(store, &["--until", until, "--critical-value", "high"]);
    assert_eq!(old["critical_rule"], "criticality=high");
}

/// A small incident generated here: the window is the incident day, the previous period the
/// day of baseline crashes before it.
#[test]
fn simulated_incident_compared_with_the_baseline_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let store = dir.path().join("store");
    let (code, _, err) = run_cli(
        &[
            "simulate",
            "--scenario",
            "channel-file-291,baseline",
            "--hosts",
            "80",
            "--seed",
            "23",
            "--out",
            sim.to_str().unwrap(),
            "--captured-memory",
            "minimal",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    scan(&sim.join("dumps"), &sim.join("inventory.csv"), &store);
    let truth: Truth =
        serde_json::from_str(&std::fs::read_to_string(sim.join("truth.json")).unwrap()).unwrap();
    let inv = inventory(&sim.join("inventory.csv"));
    let report = report_json(
        &store,
        &[
            "--since",
            "2024-07-19T04:00:00Z",
            "--until",
            "2024-07-20T04:00:00Z",
        ],
    );
    check_against_truth(&report, &truth, &inv);
    assert_eq!(report["previous_window"]["start"], "2024-07-18T04:00:00Z");
    let cs = &report["top_clusters"][0];
    assert_eq!(cs["cause"], "csagent.sys");
    assert_eq!(cs["trend"], "new");
    assert!(causes(&report["changes"]["new"]).contains("csagent.sys"));
    // The baseline day had crashes and the incident day has many more.
    let h = &report["headline"];
    assert!(u(&h["crashes"]["previous"]) > 0, "{h}");
    assert!(h["crashes"]["change"].as_i64().unwrap() > 0);
    assert!(
        h["crash_free_share"]["change"].as_f64().unwrap() < 0.0,
        "the fleet got less stable: {h}"
    );
}

/// A kernel triage dump whose faulting driver has a hostile name (a dump's driver name is
/// its base name, so it cannot hold `/`: the `</script>` variant goes in the inventory).
fn hostile_dump(driver: &str) -> Vec<u8> {
    let nt = 0xfffff805_3a000000u64;
    let evil_base = nt + 0x200_0000;
    let ip = evil_base + 0x14ed;
    let sp = 0xffff_c281_2a3e_6f28u64;
    let drivers = vec![
        SimDriver {
            path: r"\SystemRoot\system32\ntoskrnl.exe".into(),
            base: nt,
            size: 0x104_6000,
            timestamp: 0x0d83_33e6,
            checksum: 0xa5_938c,
        },
        SimDriver {
            path: format!(r"\SystemRoot\System32\drivers\{driver}"),
            base: evil_base,
            size: 0x2_0000,
            timestamp: 0x6686_1cf6,
            checksum: 0x1234,
        },
    ];
    write_triage_dump(&blastradius::simulate::TriageDumpSpec {
        arch: Arch::Amd64,
        os_build: 19045,
        processors: 4,
        product_type: 1,
        bugcheck_code: 0x50,
        parameters: [0xffff_8405_0000_0074, 0, ip, 2],
        crash_time_filetime: filetime_from_unix(DEFAULT_START + 120),
        uptime_100ns: 3600 * 10_000_000,
        boot_id: Some(7),
        context: CpuContext {
            arch: Arch::Amd64,
            ip,
            sp,
            fp: 0,
            x64_gprs: None,
        },
        drivers,
        unloaded: Vec::new(),
        stack_top: sp,
        stack: vec![0; 0x2000 - (sp as usize & 0xfff)],
        data_blocks: Vec::new(),
        dump_blob: None,
    })
}

const HOSTILE_SITE: &str = "=HYPERLINK(\"x\")<script>alert(1)</script>\u{1b}[31m";
const HOSTILE_DRIVER: &str =
    "=HYPERLINK(\"x\")<script>alert(1)<img src=x onerror=alert(2)>\u{1b}[31m.sys";

/// A store with one hostile crash (hostile driver name, hostile site) and a quiet host.
fn hostile_store(dir: &Path) -> PathBuf {
    let dumps = dir.join("dumps");
    std::fs::create_dir_all(dumps.join("EVIL-01")).unwrap();
    std::fs::write(
        dumps.join("EVIL-01/071924-0001-01.dmp"),
        hostile_dump(HOSTILE_DRIVER),
    )
    .unwrap();
    let inventory = dir.join("inventory.csv");
    let quoted = HOSTILE_SITE.replace('"', "\"\"");
    std::fs::write(
        &inventory,
        format!("host,site,criticality\nEVIL-01,\"{quoted}\",critical\nQUIET-02,FRA,low\n"),
    )
    .unwrap();
    let store = dir.join("store");
    scan(&dumps, &inventory, &store);
    store
}

/// No markup, script or escape sequence from a dump or the inventory survives into HTML,
/// Markdown or the chart SVGs; the names still show, as text.
#[test]
fn hostile_names_are_text_in_html_markdown_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let store = hostile_store(dir.path());
    let json = report_json(&store, &[]);
    let cause = json["top_clusters"][0]["cause"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cause.contains("<script>alert(1)<img"), "blamed: {cause:?}");
    assert!(json["hosts_by_site"][0]["site"]
        .as_str()
        .unwrap()
        .contains("</script>"));

    let html = dir.path().join("r.html");
    report_to(&store, &html, &[]);
    let page = std::fs::read_to_string(&html).unwrap();
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script"), "a script tag got through");
    assert!(!lower.contains("<img"), "an img tag got through");
    // `onerror=alert(2)` is still there, as text inside an escaped `&lt;img …&gt;`.
    assert!(!page.contains('\u{1b}'), "an escape character got through");
    // Shown as text (with line-break opportunities in long runs): in a table cell, a chart
    // label (plotters escapes), the attention list.
    let page = page.replace("<wbr>", "");
    assert!(page.contains(
        "=hyperlink(&quot;x&quot;)&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;[31m.sys"
    ));
    assert!(page.contains("=HYPERLINK(&quot;x&quot;)&lt;script&gt;alert(1)&lt;/script&gt;[31m"));

    let md = dir.path().join("r.md");
    report_to(&store, &md, &["--format", "md"]);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(!text.contains('\u{1b}'));
    // Every `<` of a name is backslash-escaped (CommonMark renders `\<` as a literal `<`).
    for (i, _) in text.match_indices('<') {
        assert!(
            i > 0 && &text[i - 1..i] == "\\",
            "raw '<' at {i}: {}",
            text.get(i.saturating_sub(30)..(i + 30).min(text.len()))
                .unwrap_or("")
        );
    }
    assert!(
        text.contains("=HYPERLINK(\"x\")\\<script\\>alert(1)\\</script\\>\\[31m"),
        "the site name is not shown as escaped text"
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(
                !svg.to_lowercase().contains("<script"),
                "{}",
                path.display()
            );
            assert!(!svg.contains('\u{1b}'), "{}", path.display());
        }
    }
}

/// Markdown writes its charts beside it and links them by file name; the default output path
/// is `reports/<until-date>-fleet-report.html`, the folder created.
#[test]
fn markdown_links_its_charts_and_the_default_path_is_dated() {
    let store = sample_fleet_store();
    let out = tempfile::tempdir().unwrap();
    let md = out.path().join("weekly.md");
    let stdout = report_to(
        store,
        &md,
        &["--format", "md", "--until", "2024-07-19T05:00:00Z"],
    );
    assert_eq!(stdout.trim(), format!("wrote {}", md.display()));
    let text = std::fs::read_to_string(&md).unwrap();
    let sections = [
        "## Headline",
        "## Top clusters by blast radius",
        "## Charts",
        "## Hosts that need a person",
        "## Third-party kernel drivers",
        "## What changed",
    ];
    let mut at = 0;
    for s in sections {
        let i = text[at..]
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing or out of order"));
        at += i;
    }
    for slug in [
        "crashes-over-time",
        "hosts-by-site",
        "onset",
        "driver-exposure",
    ] {
        let file = format!("weekly-{slug}.svg");
        assert!(text.contains(&format!("]({file})")), "{file} not linked");
        let svg = std::fs::read_to_string(out.path().join(&file)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{file}"
        );
    }
    assert!(text.contains("| csagent\\.sys |") || text.contains("| csagent.sys |"));

    let (code, stdout, err) = run_cli(
        &["report", "--store", store.to_str().unwrap()],
        Some(out.path()),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.trim(), "wrote reports/2024-07-19-fleet-report.html");
    assert!(out
        .path()
        .join("reports/2024-07-19-fleet-report.html")
        .is_file());

    // Errors exit 2: no such store, a bad window.
    let (code, _, _) = run_cli(&["report", "--store", "/nonexistent/store"], None);
    assert_eq!(code, 2);
    let (code, _, err) = run_cli(
        &[
            "report",
            "--store",
            store.to_str().unwrap(),
            "--since",
            "2024-07-20",
            "--until",
            "2024-07-19",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
}

/// The page needs nothing from anywhere else.
fn assert_self_contained(page: &str) {
    let lower = page.to_lowercase();
    for needle in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "href=",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(!lower.contains(needle), "the page has {needle}");
    }
    assert!(lower.contains("@media print"), "no print stylesheet");
    assert!(lower.contains("tabular-nums"));
}

/// Runs `chromium` with `args`, killed after `limit`; (exit ok, stdout, stderr).
fn chromium(args: &[&str], limit: Duration) -> (bool, String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a full pipe cannot stall the browser.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let started = Instant::now();
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (ok, out_t.join().unwrap(), err_t.join().unwrap())
}

fn has_chromium() -> bool {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "SKIP: chromium is not on PATH (the Debian package `chromium`; .ci/run installs it)"
        );
    }
    found
}

/// Console messages in Chromium's log (`--enable-logging=stderr --v=0` prints page console
/// output as `CONSOLE(...)` lines).
fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("CONSOLE")).collect()
}

#[test]
fn html_report_renders_in_chromium_without_console_errors() {
    let store = sample_fleet_store();
    let out = tempfile::tempdir().unwrap();
    let html = out.path().join("report.html");
    report_to(store, &html, &["--until", "2024-07-19T05:00:00Z"]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    // Four inline charts, each with its size.
    let svgs: Vec<&str> = page.split("<svg ").skip(1).collect();
    assert_eq!(svgs.len(), 4);
    for svg in &svgs {
        let head = &svg[..svg.find('>').unwrap()];
        assert!(
            head.contains("width=\"960\"") && head.contains("height=\"400\""),
            "{head}"
        );
        assert!(head.contains("viewBox=\"0 0 960 400\""), "{head}");
        assert!(svg.contains("<text"), "a chart without text");
    }
    if !has_chromium() {
        return;
    }
    let url = format!("file://{}", html.display());
    let (ok, dom, log) = chromium(&["--dump-dom", &url], Duration::from_secs(90));
    assert!(ok, "chromium failed: {log}");
    assert!(
        dom.contains("<h1>Fleet stability report</h1>"),
        "page not loaded: {log}"
    );
    assert_eq!(dom.matches("<svg ").count(), 4, "charts in the loaded DOM");
    assert!(
        console_lines(&log).is_empty(),
        "console output: {:?}",
        console_lines(&log)
    );
    let png = out.path().join("shot.png");
    let (ok, _, log) = chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            &url,
        ],
        Duration::from_secs(90),
    );
    assert!(ok, "{log}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // Width and height from the IHDR chunk.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1280, 2000));

    // The check can fail: a page with a console error is caught.
    let bad = out.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>console.error('broken chart')</script></body></html>",
    )
    .unwrap();
    let (_, _, log) = chromium(
        &["--dump-dom", &format!("file://{}", bad.display())],
        Duration::from_secs(90),
    );
    assert!(
        console_lines(&log)
            .iter()
            .any(|l| l.contains("broken chart")),
        "a console error went unseen: {log}"
    );
}

/// `contrib/`: the cron line's command (with the test's env file and script path) scans the
/// share and writes the week's report without a terminal; a second run adds nothing new to
/// the store; the systemd units pass `systemd-analyze verify` where it exists.
#[test]
fn scheduled_weekly_report_scans_and_writes_the_report() {
    let root = project_root();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let env = dir.path().join("env");
    std::fs::write(
        &env,
        format!(
            "BLASTRADIUS_DUMPS={}\nBLASTRADIUS_INVENTORY={}\nBLASTRADIUS_HOME={}\nBLASTRADIUS_BIN={}\n",
            root.join("sample-dumps/dumps").display(),
            root.join("sample-dumps/inventory.csv").display(),
            home.display(),
            binary().display()
        ),
    )
    .unwrap();
    let script = root.join("contrib/weekly-report.sh");
    let cron = std::fs::read_to_string(root.join("contrib/blastradius-report.cron")).unwrap();
    let line = cron
        .lines()
        .find(|l| !l.starts_with('#') && l.contains("weekly-report.sh"))
        .unwrap();
    // `m h dom mon dow user command`: the command, pointed at this test's files.
    let command: String = line
        .split_whitespace()
        .skip(6)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("/etc/default/blastradius-report", env.to_str().unwrap())
        .replace(
            "/usr/local/lib/blastradius/weekly-report.sh",
            script.to_str().unwrap(),
        );
    let run = || {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, err) = run();
    assert_eq!(code, Some(0), "{stdout}{err}");
    let reports: Vec<PathBuf> = std::fs::read_dir(home.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let name = reports[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with("-fleet-report.html"), "{name}");
    assert_eq!(stdout.trim(), format!("wrote reports/{name}"));
    let scan: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("last-scan.json")).unwrap())
            .unwrap();
    assert_eq!(u(&scan["ingested"]), 492);
    let (code, _, err) = run();
    assert_eq!(code, Some(0), "{err}");
    let scan: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("last-scan.json")).unwrap())
            .unwrap();
    assert_eq!(u(&scan["ingested"]), 0, "the second run is incremental");
    // Without a share to scan it fails, and says why.
    let out = Command::new("sh")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BLASTRADIUS_DUMPS"));

    let found = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIP: systemd-analyze is not on PATH: the units are not verified");
        return;
    }
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let service = std::fs::read_to_string(root.join("contrib/blastradius-report.service"))
        .unwrap()
        .replace(
            "/usr/local/lib/blastradius/weekly-report.sh",
            script.to_str().unwrap(),
        )
        .replace("/etc/default/blastradius-report", env.to_str().unwrap());
    std::fs::write(units.join("blastradius-report.service"), service).unwrap();
    std::fs::copy(
        root.join("contrib/blastradius-report.timer"),
        units.join("blastradius-report.timer"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(units.join("blastradius-report.timer"))
        .arg(units.join("blastradius-report.service"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

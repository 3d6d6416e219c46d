//! Analytics (clusters, hosts, drivers, scoring) on a small hand-built fleet whose every
//! figure is worked out by hand below, stored through the real crash store (Parquet files +
//! manifest) so the analytics read exactly what `scan` writes.
//!
//! The fleet, a miniature of the 2024-07-19 morning (times UTC, all on 2024-07-19):
//! inventory h00..h09 (site fra: h00-h04, nyc: h05-h09; ring canary: h00, h05, else broad);
//! h99 crashes but is not in the inventory.
//! - csagent.sys, AV_R_INVALID_csagent!unknown_function, 0x50:
//!   h00 loops every 5 min 04:09..05:39 (19 crashes, uptime 60 s)           -> boot-loop
//!   h01 04:09, 04:15, 04:21 (uptime 120 s after the first)                  -> boot-loop
//!   h02 04:10, 04:16 (uptime 60 s)                                          -> failing
//!   h03 04:10, 05:41 (uptime 3000 s: not a loop)                            -> failing
//!   h04 04:30                                                               -> single
//!   h05 04:09, at another offset (signature csagent.sys@0xe14f3)            -> single
//!   h99 05:00                                                               -> single
//!   = 7 hosts, 29 crashes; end of the data = 05:41 (h03's last crash).
//! - acmenet.sys, AV_W_acmenet!FilterSend, 0xD1: h07 02:00, 02:05, 02:10 (uptime 100 s): a
//!   loop that stopped 3.5 h before the end                                  -> recovered
//! - POWER_BUTTON_HOLD (0x1C8, no driver): h06 01:00                         -> recovered
//!
//! Loaded drivers: ntoskrnl.exe everywhere; csagent.sys on every crashing host but h07
//! (timestamp 0x66a0b1c3, on h05 0x66a0b1c4); acmenet.sys on h06 and h07.

use std::collections::BTreeMap;

use blastradius::fleet::analytics::{
    self, bcubed, cluster_assignments, ClusterLevel, ClusterOptions, DriverCatalog, DriverOptions,
    HostOptions, HostState, Scope, SimilarityParams, Window,
};
use blastradius::fleet::store::{BatchBuilder, Store};
use blastradius::record::{
    parse_hex, Address, Arch, Blame, BugcheckRecord, CrashReport, DumpFormat, Fault, FrameTrust,
    ModuleRecord, StackFrame,
};
use chrono::Utc;
use polars::prelude::*;

const DAY: &str = "2024-07-19";

fn at(hhmm: &str) -> String {
    format!("{DAY}T{hhmm}:00Z")
}

/// The stack of a csagent crash: bugcheck machinery, then csagent frames, then the system
/// thread start; the blamed frame is index 2.
fn csagent_stack(top_offset: &str) -> Vec<StackFrame> {
    let mut frames: Vec<(Option<&str>, Option<&str>, String)> = vec![
        (
            Some("ntoskrnl.exe"),
            Some("KeBugCheckEx"),
            "0x3f5a10".into(),
        ),
        (Some("ntoskrnl.exe"), Some("KiPageFault"), "0x42c3b0".into()),
        (Some("csagent.sys"), None, top_offset.into()),
    ];
    for off in [
        "0xe0010", "0xd2200", "0xd1f00", "0x3a400", "0x3a000", "0x1200", "0x1100",
    ] {
        frames.push((Some("csagent.sys"), None, off.into()));
    }
    frames.push((
        Some("ntoskrnl.exe"),
        Some("IopLoadDriver"),
        "0x6a1c2".into(),
    ));
    frames.push((
        Some("ntoskrnl.exe"),
        Some("PspSystemThreadStartup"),
        "0x55aa0".into(),
    ));
    frames.push((
        Some("ntoskrnl.exe"),
        Some("KiStartSystemThread"),
        "0x41c7c".into(),
    ));
    frames
        .into_iter()
        .enumerate()
        .map(|(i, (module, function, offset))| StackFrame {
            index: i as u32,
            address: Address(0xfffff806_0000_0000 + i as u64 * 0x100),
            module: module.map(str::to_string),
            offset: Some(Address(parse_hex(&offset).expect("a hex offset"))),
            function: function.map(str::to_string),
            function_offset: None,
            source_line: None,
            inlines: Vec::new(),
            trust: if i == 0 {
                FrameTrust::Context
            } else {
                FrameTrust::Cfi
            },
        })
        .collect()
}

fn module(name: &str, timestamp: u32) -> ModuleRecord {
    ModuleRecord {
        name: name.into(),
        path: format!("\\SystemRoot\\System32\\drivers\\{name}"),
        base: "0xfffff80671430000".into(),
        size: 0x1000,
        timestamp,
        checksum: 0,
    }
}

struct Crash {
    time: Option<String>,
    uptime: u64,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Csagent,
    CsagentOtherOffset,
    Acmenet,
    PowerButton,
}

fn report(host: &str, n: usize, crash: &Crash) -> CrashReport {
    let (code, name, blame, class, bucket, signature, stack) = match crash.kind {
        Kind::Csagent | Kind::CsagentOtherOffset => {
            let off = if matches!(crash.kind, Kind::Csagent) {
                "0xe14ed"
            } else {
                "0xe14f3"
            };
            (
                0x50,
                "PAGE_FAULT_IN_NONPAGED_AREA",
                Some("csagent.sys"),
                "AV_R_INVALID",
                "AV_R_INVALID_csagent!unknown_function".to_string(),
                format!("csagent.sys@{off}"),
                csagent_stack(off),
            )
        }
        Kind::Acmenet => (
            0xD1,
            "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
            Some("acmenet.sys"),
            "AV_W",
            "AV_W_acmenet!FilterSend".to_string(),
            "acmenet!FilterSend".to_string(),
            Vec::new(),
        ),
        Kind::PowerButton => (
            0x1C8,
            "MANUALLY_INITIATED_POWER_BUTTON_HOLD",
            None,
            "POWER_BUTTON_HOLD",
            "POWER_BUTTON_HOLD".to_string(),
            "POWER_BUTTON_HOLD".to_string(),
            Vec::new(),
        ),
    };
    let mut modules = vec![module("ntoskrnl.exe", 0x1234_5678)];
    if host != "h07" {
        let ts = if matches!(crash.kind, Kind::CsagentOtherOffset) {
            0x66A0_B1C4
        } else {
            0x66A0_B1C3
        };
        modules.push(module("CSAgent.sys", ts));
    }
    if host == "h06" || host == "h07" {
        modules.push(module("acmenet.sys", 0x5F00_0000));
    }
    CrashReport {
        path: format!("dumps/{host}/{n}.dmp"),
        dump_id: format!("{host}-{n:03}"),
        size_bytes: 1 << 20,
        format: DumpFormat::KernelTriage,
        arch: Arch::Amd64,
        os_build: Some(22631),
        os_version: None,
        processors: Some(8),
        product_type: Some("workstation".into()),
        crash_time: crash
            .time
            .as_deref()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc()),
        uptime_seconds: Some(crash.uptime),
        boot_id: None,
        bugcheck: Some(BugcheckRecord {
            code,
            code_hex: format!("0x{code:X}"),
            name: name.into(),
            parameters: vec![Address(0); 4],
        }),
        exception: None,
        fault: Fault::default(),
        blame: Blame {
            module: blame.map(str::to_string),
            owner: blame.map(|_| "ThirdParty".to_string()),
            third_party: blame.is_some(),
            frame_index: blame.map(|_| 2),
            reason: "test".into(),
        },
        failure_class: class.into(),
        bucket_id: bucket,
        signature,
        stack,
        modules,
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules: Vec::new(),
        warnings: Vec::new(),
    }
}

fn crashes_of_fleet() -> Vec<(String, Crash)> {
    let mut out = Vec::new();
    let mut add = |host: &str, time: &str, uptime: u64, kind: Kind| {
        out.push((
            host.to_string(),
            Crash {
                time: Some(at(time)),
                uptime,
                kind,
            },
        ));
    };
    // h00: 04:09 + 5 min steps through 05:39 (19 crashes).
    for k in 0..19 {
        let minutes = 4 * 60 + 9 + 5 * k;
        let uptime = if k == 0 { 86_400 } else { 60 };
        add(
            "h00",
            &format!("{:02}:{:02}", minutes / 60, minutes % 60),
            uptime,
            Kind::Csagent,
        );
    }
    add("h01", "04:09", 90_000, Kind::Csagent);
    add("h01", "04:15", 120, Kind::Csagent);
    add("h01", "04:21", 120, Kind::Csagent);
    add("h02", "04:10", 50_000, Kind::Csagent);
    add("h02", "04:16", 60, Kind::Csagent);
    add("h03", "04:10", 40_000, Kind::Csagent);
    add("h03", "05:41", 3000, Kind::Csagent);
    add("h04", "04:30", 70_000, Kind::Csagent);
    add("h05", "04:09", 80_000, Kind::CsagentOtherOffset);
    add("h99", "05:00", 5000, Kind::Csagent);
    add("h07", "02:00", 9_000, Kind::Acmenet);
    add("h07", "02:05", 100, Kind::Acmenet);
    add("h07", "02:10", 100, Kind::Acmenet);
    add("h06", "01:00", 30_000, Kind::PowerButton);
    out
}

fn inventory() -> DataFrame {
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i:02}")).collect();
    let site: Vec<&str> = (0..10).map(|i| if i < 5 { "fra" } else { "nyc" }).collect();
    let ring: Vec<&str> = (0..10)
        .map(|i| if i == 0 || i == 5 { "canary" } else { "broad" })
        .collect();
    DataFrame::new(
        10,
        vec![
            Column::new("host".into(), hosts),
            Column::new("site".into(), site),
            Column::new("ring".into(), ring),
        ],
    )
    .unwrap()
}

/// Writes the fleet into a fresh store (two commits, to read over several files).
fn fleet_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let crashes = crashes_of_fleet();
    let (first, second) = crashes.split_at(crashes.len() / 2);
    let mut counter = 0usize;
    for part in [first, second] {
        let mut batch = BatchBuilder::new();
        for (host, crash) in part {
            counter += 1;
            batch.push_crash(&report(host, counter, crash), host);
        }
        store.commit(batch.finish(Utc::now()).unwrap()).unwrap();
    }
    store.save_inventory(inventory()).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

struct TestCatalog;

impl DriverCatalog for TestCatalog {
    fn is_microsoft(&self, driver: &str) -> bool {
        driver == "ntoskrnl.exe"
    }
    fn vendor_category(&self, driver: &str) -> Option<(String, String)> {
        (driver == "csagent.sys").then(|| ("CrowdStrike".to_string(), "security".to_string()))
    }
}

fn cluster_opts() -> ClusterOptions {
    ClusterOptions {
        similarity: Some(SimilarityParams::default()),
        ..ClusterOptions::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn clusters_rank_by_blast_radius_with_hand_checked_figures() {
    let (_dir, store) = fleet_store();
    let table = analytics::clusters(
        store.lazy_crashes().unwrap(),
        Some(store.lazy_drivers().unwrap()),
        store.inventory().unwrap(),
        &cluster_opts(),
    )
    .unwrap();
    assert_eq!(table.fleet_hosts, Some(10));
    assert_eq!(table.crashes, 33);
    assert_eq!(table.hosts, 9);
    assert_eq!(table.hosts_with_driver_data, Some(9));
    assert_eq!(table.window_end.as_deref(), Some("2024-07-19T05:41:00Z"));
    let causes: Vec<&str> = table.clusters.iter().map(|c| c.cause.as_str()).collect();
    // acmenet (1 host, 3 crashes) before POWER_BUTTON_HOLD (1 host, 1 crash).
    assert_eq!(causes, ["csagent.sys", "acmenet.sys", "POWER_BUTTON_HOLD"]);

    let cs = &table.clusters[0];
    assert_eq!(cs.level, ClusterLevel::Driver);
    assert_eq!(cs.driver.as_deref(), Some("csagent.sys"));
    assert_eq!(cs.bucket_id, "AV_R_INVALID_csagent!unknown_function");
    assert_eq!(cs.signature, "csagent.sys@0xe14ed");
    assert_eq!(cs.bugcheck_codes, ["0x50"]);
    assert_eq!(cs.owner.as_deref(), Some("ThirdParty"));
    assert!(cs.third_party);
    assert_eq!((cs.crashes, cs.hosts), (29, 7));
    // 6 of the 10 inventory hosts: h99 crashed but the inventory does not list it, so it is
    // no part of the fleet the share is of (issue 18).
    assert!(close(cs.fleet_share.unwrap(), 0.6));
    // Exposure: csagent loaded on every host with dumps but h07: 8 of 9.
    assert_eq!(cs.exposed_hosts, Some(8));
    assert!(close(cs.exposed_share.unwrap(), 8.0 / 9.0));
    assert!(close(cs.exposed_hit_share.unwrap(), 7.0 / 8.0));
    assert_eq!(cs.boot_loop_hosts, 2, "h00, h01");
    assert_eq!(cs.recovered_hosts, 0);
    assert_eq!(
        cs.still_failing_hosts, 4,
        "h00, h01 looping; h02, h03 failing"
    );
    assert_eq!(cs.first_seen.as_deref(), Some("2024-07-19T04:09:00Z"));
    assert_eq!(cs.last_seen.as_deref(), Some("2024-07-19T05:41:00Z"));
    // Host-hours lost, by hand (see hoststate): h00 90 min of loop + 10 = 100; h01 12 + 80
    // (still looping: down until the end of the data) = 92; h02 6 + 10 = 16; h03 10 + 10;
    // h04, h05, h99 10 each: 258 min.
    assert!(
        close(cs.host_hours_lost, 258.0 / 60.0),
        "{}",
        cs.host_hours_lost
    );
    // Window 01:00..05:41 spans 4 h 41 min -> 5-minute buckets (56 of them, < 120).
    assert_eq!(cs.onset.bucket_seconds, 300);
    assert_eq!(cs.onset.start.as_deref(), Some("2024-07-19T04:05:00Z"));
    // 04:05-04:10 bucket: h00 04:09, h01 04:09, h05 04:09 = 3; 04:10-04:15: h00 04:14,
    // h02 04:10, h03 04:10 = 3; the peak is the first such bucket.
    assert_eq!(&cs.onset.counts[..2], &[3, 3]);
    assert_eq!(cs.onset.peak_crashes, 3);
    assert_eq!(cs.onset.peak_at.as_deref(), Some("2024-07-19T04:05:00Z"));
    assert!(close(cs.peak_rate_per_hour, 36.0));
    assert_eq!(cs.onset.counts.iter().sum::<u64>(), 29);
    // Breakdown by every inventory column.
    let site: BTreeMap<String, u64> = cs.breakdown["site"].clone();
    assert_eq!(site["fra"], 5);
    assert_eq!(site["nyc"], 1);
    assert_eq!(site["(not in inventory)"], 1);
    assert_eq!(cs.breakdown["ring"]["canary"], 2);
    assert_eq!(cs.breakdown["ring"]["broad"], 4);

    // Children: one bucket, two signatures; the other-offset one is related.
    assert_eq!(cs.children.len(), 1);
    let bucket = &cs.children[0];
    assert_eq!(bucket.level, ClusterLevel::Bucket);
    assert_eq!((bucket.crashes, bucket.hosts), (29, 7));
    let sigs: Vec<(&str, u64)> = bucket
        .children
        .iter()
        .map(|s| (s.signature.as_str(), s.hosts))
        .collect();
    assert_eq!(
        sigs,
        [("csagent.sys@0xe14ed", 6), ("csagent.sys@0xe14f3", 1)]
    );
    let main = &bucket.children[0];
    assert_eq!(main.related.len(), 1);
    assert_eq!(main.related[0].signature, "csagent.sys@0xe14f3");
    assert_eq!(main.related[0].id, bucket.children[1].id);
    // Only the top frame differs among the 11 frames from the blamed one (c = 0.2):
    // Σ_{k=1..10} e^{-0.2k} / Σ_{k=0..10} e^{-0.2k} ≈ 0.796.
    let num: f64 = (1..11).map(|k| (-0.2 * k as f64).exp()).sum();
    let want = num / (1.0 + num);
    assert!(
        (main.related[0].similarity - want).abs() < 1e-3,
        "{}",
        main.related[0].similarity
    );
    assert_eq!(bucket.children[1].related[0].id, main.id);
    // The other-offset signature's own figures: h05 only, single.
    let other = &bucket.children[1];
    assert_eq!(
        (other.crashes, other.hosts, other.still_failing_hosts),
        (1, 1, 0)
    );

    let acme = &table.clusters[1];
    assert_eq!((acme.crashes, acme.hosts), (3, 1));
    // h07 looped (02:00-02:10) and has been quiet since: boot-looped AND recovered.
    assert_eq!(
        (
            acme.boot_loop_hosts,
            acme.recovered_hosts,
            acme.still_failing_hosts
        ),
        (1, 1, 0)
    );
    assert_eq!(acme.bugcheck_codes, ["0xD1"]);
    assert_eq!(acme.exposed_hosts, Some(2));
    // 5 + 5 min inside the loop; the loop's last crash costs until the data ends (05:41),
    // at most the 2 h recovery window (issue 18: the estimate never shrinks as data is added).
    assert!(
        close(acme.host_hours_lost, 130.0 / 60.0),
        "{}",
        acme.host_hours_lost
    );

    let power = &table.clusters[2];
    assert_eq!(power.driver, None);
    assert_eq!(power.bucket_id, "POWER_BUTTON_HOLD");
    assert_eq!(power.exposed_hosts, None);
    assert_eq!(power.recovered_hosts, 1);
}

#[test]
fn cluster_json_uses_the_documented_names() {
    let (_dir, store) = fleet_store();
    let table = analytics::clusters(
        store.lazy_crashes().unwrap(),
        Some(store.lazy_drivers().unwrap()),
        store.inventory().unwrap(),
        &cluster_opts(),
    )
    .unwrap();
    let json = serde_json::to_value(&table).unwrap();
    assert_eq!(json["fleet_hosts"], 10);
    let top = &json["clusters"][0];
    for key in [
        "id",
        "driver",
        "owner",
        "third_party",
        "bugcheck_codes",
        "bucket_id",
        "signature",
        "crashes",
        "hosts",
        "fleet_share",
        "exposed_hosts",
        "boot_loop_hosts",
        "recovered_hosts",
        "still_failing_hosts",
        "first_seen",
        "last_seen",
        "breakdown",
        "children",
        "related",
    ] {
        assert!(top.get(key).is_some(), "missing {key}");
    }
    assert_eq!(top["breakdown"]["site"]["fra"], 5);
    assert_eq!(
        top["children"][0]["children"][1]["signature"],
        "csagent.sys@0xe14f3"
    );
}

#[test]
fn filters_narrow_the_count_and_the_fleet() {
    let (_dir, store) = fleet_store();
    let run = |scope: Scope| {
        analytics::clusters(
            store.lazy_crashes().unwrap(),
            Some(store.lazy_drivers().unwrap()),
            store.inventory().unwrap(),
            &ClusterOptions {
                scope,
                ..cluster_opts()
            },
        )
    };
    // --site nyc: fleet 5 hosts; csagent hit h05 only.
    let nyc = run(Scope {
        inventory_filters: vec![("site".into(), "nyc".into())],
        ..Scope::default()
    })
    .unwrap();
    assert_eq!(nyc.fleet_hosts, Some(5));
    let cs = nyc
        .clusters
        .iter()
        .find(|c| c.cause == "csagent.sys")
        .unwrap();
    assert_eq!(cs.hosts, 1);
    assert!(close(cs.fleet_share.unwrap(), 0.2));
    // Exposure counts nyc hosts only: h05, h06 load csagent; h05, h06, h07 have driver data.
    assert_eq!(cs.exposed_hosts, Some(2));
    assert_eq!(nyc.hosts_with_driver_data, Some(3));

    // --cluster by driver key, by signature id.
    let only = run(Scope {
        cluster: Some("csagent.sys".into()),
        ..Scope::default()
    })
    .unwrap();
    assert_eq!(only.clusters.len(), 1);
    assert_eq!(only.clusters[0].hosts, 7);
    let sig_id = only.clusters[0].children[0].children[1].id.clone();
    let one = run(Scope {
        cluster: Some(sig_id),
        ..Scope::default()
    })
    .unwrap();
    assert_eq!(one.clusters.len(), 1);
    assert_eq!((one.clusters[0].hosts, one.clusters[0].crashes), (1, 1));
    assert!(run(Scope {
        cluster: Some("nosuch".into()),
        ..Scope::default()
    })
    .is_err());

    // --driver, and an inventory column that does not exist.
    let acme = run(Scope {
        driver: Some("ACMENET.SYS".into()),
        ..Scope::default()
    })
    .unwrap();
    assert_eq!(acme.clusters.len(), 1);
    assert_eq!(acme.clusters[0].cause, "acmenet.sys");
    assert!(run(Scope {
        inventory_filters: vec![("rack".into(), "1".into())],
        ..Scope::default()
    })
    .is_err());
}

#[test]
fn window_moves_the_end_of_the_data() {
    let (_dir, store) = fleet_store();
    let window = Window::parse(Some("2024-07-19T04:00:00Z"), Some("2024-07-19T04:30:00Z")).unwrap();
    let table = analytics::hosts(
        store.lazy_crashes().unwrap(),
        store.inventory().unwrap(),
        &HostOptions {
            scope: Scope {
                window,
                ..Scope::default()
            },
            ..HostOptions::default()
        },
    )
    .unwrap();
    let by_host: BTreeMap<&str, (HostState, u64)> = table
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), (h.state, h.crashes)))
        .collect();
    // Until 04:30: h00 has 04:09..04:29 (5 crashes, looping), h03 only 04:10 (single),
    // h04 04:30 (bound inclusive), h06/h07/h99 out of the window.
    assert_eq!(by_host["h00"], (HostState::BootLoop, 5));
    assert_eq!(by_host["h03"], (HostState::Single, 1));
    assert_eq!(by_host["h04"], (HostState::Single, 1));
    assert!(!by_host.contains_key("h07") && !by_host.contains_key("h99"));
    assert_eq!(table.window_end.as_deref(), Some("2024-07-19T04:30:00Z"));
}

#[test]
fn hosts_states_order_and_inventory() {
    let (_dir, store) = fleet_store();
    let table = analytics::hosts(
        store.lazy_crashes().unwrap(),
        store.inventory().unwrap(),
        &HostOptions::default(),
    )
    .unwrap();
    let order: Vec<(&str, &str, u64)> = table
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.state.as_str(), h.crashes))
        .collect();
    assert_eq!(
        order,
        [
            ("h00", "boot-loop", 19),
            ("h01", "boot-loop", 3),
            ("h02", "failing", 2),
            ("h03", "failing", 2),
            ("h04", "single", 1),
            ("h05", "single", 1),
            ("h99", "single", 1),
            ("h07", "recovered", 3),
            ("h06", "recovered", 1),
        ]
    );
    let h01 = &table.hosts[1];
    assert_eq!(h01.min_uptime_seconds, Some(120));
    assert_eq!(h01.first_crash.as_deref(), Some("2024-07-19T04:09:00Z"));
    assert_eq!(h01.last_crash.as_deref(), Some("2024-07-19T04:21:00Z"));
    assert_eq!(h01.boot_loop_since.as_deref(), Some("2024-07-19T04:09:00Z"));
    assert_eq!(h01.clusters, ["csagent.sys"]);
    assert!(h01.boot_looped);
    let h07 = table.hosts.iter().find(|h| h.host == "h07").unwrap();
    assert!(
        h07.boot_looped && h07.boot_loop_since.is_none(),
        "looped, then recovered"
    );
    let json = serde_json::to_value(h01).unwrap();
    assert_eq!(json["state"], "boot-loop");
    assert_eq!(json["site"], "fra");
    assert_eq!(json["ring"], "broad");
    let h99 = serde_json::to_value(&table.hosts[6]).unwrap();
    assert_eq!(h99["site"], "(not in inventory)");

    // --state boot-loop, and --cluster with --site.
    let looping = analytics::hosts(
        store.lazy_crashes().unwrap(),
        store.inventory().unwrap(),
        &HostOptions {
            state: Some(HostState::BootLoop),
            ..HostOptions::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = looping.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, ["h00", "h01"]);
    let nyc_cs = analytics::hosts(
        store.lazy_crashes().unwrap(),
        store.inventory().unwrap(),
        &HostOptions {
            scope: Scope {
                cluster: Some("csagent.sys".into()),
                inventory_filters: vec![("site".into(), "nyc".into())],
                ..Scope::default()
            },
            ..HostOptions::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = nyc_cs.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, ["h05"]);
}

#[test]
fn drivers_exposure_and_versions() {
    let (_dir, store) = fleet_store();
    let table = analytics::drivers(
        store.lazy_crashes().unwrap(),
        store.lazy_drivers().unwrap(),
        store.inventory().unwrap(),
        &TestCatalog,
        &DriverOptions::default(),
    )
    .unwrap();
    assert_eq!(table.hosts_with_driver_data, 9);
    assert_eq!(table.crashes, 33);
    let names: Vec<&str> = table.drivers.iter().map(|d| d.driver.as_str()).collect();
    assert_eq!(
        names,
        ["csagent.sys", "acmenet.sys"],
        "ntoskrnl.exe is Microsoft's"
    );
    let cs = &table.drivers[0];
    assert_eq!(cs.vendor.as_deref(), Some("CrowdStrike"));
    assert_eq!(cs.category.as_deref(), Some("security"));
    assert_eq!((cs.hosts_loaded, cs.crashes), (8, 29));
    assert!(close(cs.loaded_share.unwrap(), 8.0 / 9.0));
    assert!(close(cs.crash_share.unwrap(), 29.0 / 33.0));
    let versions: Vec<(&str, u64, u64)> = cs
        .versions
        .iter()
        .map(|v| (v.timestamp.as_str(), v.hosts, v.crashes))
        .collect();
    // h05's other-offset crash runs the newer build; h06 loads the older one and never
    // crashed on it.
    assert_eq!(versions, [("0x66a0b1c4", 1, 1), ("0x66a0b1c3", 7, 28)]);
    let acme = &table.drivers[1];
    assert_eq!(
        (acme.hosts_loaded, acme.crashes, acme.vendor.clone()),
        (2, 3, None)
    );

    let with_ms = analytics::drivers(
        store.lazy_crashes().unwrap(),
        store.lazy_drivers().unwrap(),
        None,
        &TestCatalog,
        &DriverOptions {
            include_microsoft: true,
            ..DriverOptions::default()
        },
    )
    .unwrap();
    let nt = with_ms
        .drivers
        .iter()
        .find(|d| d.driver == "ntoskrnl.exe")
        .unwrap();
    assert_eq!((nt.hosts_loaded, nt.crashes), (9, 0));
}

#[test]
fn bcubed_of_the_fleet_against_its_truth() {
    let (_dir, store) = fleet_store();
    let assignments = cluster_assignments(store.lazy_crashes().unwrap(), &cluster_opts()).unwrap();
    assert_eq!(assignments.height(), 33);
    // Truth: one problem per kind; the other-offset csagent crash is the same bug.
    let truth: BTreeMap<String, &str> = {
        let mut counter = 0usize;
        crashes_of_fleet()
            .iter()
            .map(|(host, c)| {
                counter += 1;
                let label = match c.kind {
                    Kind::Csagent | Kind::CsagentOtherOffset => "channel-file-291",
                    Kind::Acmenet => "acmenet",
                    Kind::PowerButton => "power",
                };
                (format!("{host}-{counter:03}"), label)
            })
            .collect()
    };
    let dump = assignments.column("dump_id").unwrap().str().unwrap();
    let score = |column: &str| {
        let labels = assignments.column(column).unwrap().str().unwrap();
        bcubed((0..dump.len()).map(|i| {
            let d = dump.get(i).unwrap();
            (labels.get(i).unwrap().to_string(), truth[d])
        }))
    };
    // Signature level splits the csagent bug in two (28 + 1): recall < 1, precision 1.
    let sig = score("signature_cluster");
    assert!(close(sig.precision, 1.0));
    // Recall: 28 items at 28/29, 1 at 1/29, 4 others at 1 -> (28·28/29 + 1/29 + 4) / 33.
    assert!(
        close(sig.recall, (28.0 * 28.0 / 29.0 + 1.0 / 29.0 + 4.0) / 33.0),
        "{sig:?}"
    );
    // Merging related signatures recovers the truth exactly.
    let related = score("related_group");
    assert!(close(related.f1, 1.0), "{related:?}");
    assert!(close(score("driver_cluster").f1, 1.0));
}

fn run_cli(args: &[&str]) -> (i32, String, String) {
    crate::common::run_binary(args)
}

#[test]
fn cli_clusters_hosts_drivers_end_to_end() {
    let (dir, _store) = fleet_store();
    let store = dir.path().to_str().unwrap();
    let (code, text, err) = run_cli(&["clusters", "--store", store]);
    assert_eq!(code, 0, "{err}");
    let first = text.lines().nth(1).unwrap();
    // Columns are padded to the widest cell (POWER_BUTTON_HOLD); compare cell by cell.
    let cells: Vec<&str> = first
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        &cells[..6],
        [
            "csagent.sys",
            "7",
            "60.0 %",
            "2",
            "29",
            "2024-07-19 04:09–05:41"
        ],
        "{first}"
    );
    assert!(text
        .lines()
        .rev()
        .nth(1)
        .unwrap()
        .starts_with("3 clusters, 33 crashes on 9 hosts; fleet 10 hosts"));

    let (code, json, err) = run_cli(&[
        "clusters", "--store", store, "--format", "json", "--site", "fra",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["fleet_hosts"], 5);
    assert_eq!(v["clusters"][0]["hosts"], 5);

    let (code, csv, err) = run_cli(&["clusters", "--store", store, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    // 3 drivers + 3 buckets + 4 signatures, after the header.
    assert_eq!(csv.lines().count(), 1 + 3 + 3 + 4);
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .starts_with("id,level,parent_id,cause,driver"));

    let (code, json, err) = run_cli(&[
        "hosts",
        "--store",
        store,
        "--state",
        "boot-loop",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let hosts: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["h00", "h01"]);
    let (code, text, err) = run_cli(&["hosts", "--store", store, "--where", "ring=canary"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("HOST"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("h00 ")
            && l.contains(" boot-loop* ")
            && l.contains(" 19  csagent.sys  2024-07-19 04:")),
        "{text}"
    );
    assert!(
        text.contains("\nh05   single*           1  csagent.sys"),
        "{text}"
    );
    assert!(
        text.contains("\n2 hosts: 1 boot-loop, 1 single; data ends 2024-07-19T05:41:00Z\n"),
        "{text}"
    );

    let (code, json, err) = run_cli(&["drivers", "--store", store, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["driver"], "csagent.sys");
    assert_eq!(v[0]["vendor"], "CrowdStrike");
    assert_eq!(v[0]["category"], "security");
    assert_eq!(v[0]["hosts_loaded"], 8);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["driver"] != "ntoskrnl.exe"),
        "the built-in rules know ntoskrnl.exe is Microsoft's"
    );

    let (code, _, err) = run_cli(&["hosts", "--store", store, "--state", "sleepy"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_cli(&["clusters", "--store", store, "--where", "rack=1"]);
    assert_eq!(code, 2);
    assert!(err.contains("rack"), "{err}");
}

#[test]
fn hostile_driver_names_are_defanged_in_text_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let mut batch = BatchBuilder::new();
    let mut r = report(
        "h01",
        1,
        &Crash {
            time: Some(at("04:09")),
            uptime: 100,
            kind: Kind::Acmenet,
        },
    );
    r.blame.module = Some("=cmd|'-C calc'!A0\u{1b}[2J.sys".into());
    r.bucket_id = "AV_W_\u{1b}]0;owned\u{7}x!y".into();
    batch.push_crash(&r, "h01");
    store.commit(batch.finish(Utc::now()).unwrap()).unwrap();
    drop(store);
    let path = dir.path().to_str().unwrap();
    // Every column (--width 0): the hostile bucket id is the last one.
    let (code, text, err) = run_cli(&["clusters", "--store", path, "--width", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("=cmd|'-c calc'!a0[2j.sys      1      -")
                && l.ends_with("0xD1             AV_W_]0;ownedx!y")),
        "{text}"
    );
    let (code, csv, err) = run_cli(&["clusters", "--store", path, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(",'=cmd|'-c calc'!a0[2j.sys,'=cmd|"), "{row}");
    assert!(!csv.contains('\u{1b}'));
}

#[test]
fn reprocess_rederives_and_a_rule_change_moves_the_blame() {
    use blastradius::commands::reprocess::reprocess_store;
    use blastradius::triage::Rules;

    let (dir, _) = fleet_store();
    let builtin = Rules::builtin();
    // Expected: what a fresh triage of the same reports says.
    let mut expected: BTreeMap<String, (Option<String>, String, String)> = BTreeMap::new();
    let mut counter = 0usize;
    for (host, crash) in crashes_of_fleet() {
        counter += 1;
        let mut r = report(&host, counter, &crash);
        blastradius::triage::apply(&mut r, &builtin);
        expected.insert(
            r.dump_id.clone(),
            (
                r.blame
                    .module
                    .as_deref()
                    .map(blastradius::fleet::store::module_key),
                r.bucket_id,
                r.signature,
            ),
        );
    }
    let mut store = Store::open(dir.path()).unwrap();
    let summary = reprocess_store(&mut store, &builtin, false, 10).unwrap();
    assert_eq!(summary.crashes, 33);
    let stored = store
        .lazy_crashes()
        .unwrap()
        .select([
            col("dump_id"),
            col("blame_module_lc"),
            col("bucket_id"),
            col("signature"),
        ])
        .collect()
        .unwrap();
    let ids = stored.column("dump_id").unwrap().str().unwrap();
    let lc = stored.column("blame_module_lc").unwrap().str().unwrap();
    let buckets = stored.column("bucket_id").unwrap().str().unwrap();
    let sigs = stored.column("signature").unwrap().str().unwrap();
    for i in 0..stored.height() {
        let want = &expected[ids.get(i).unwrap()];
        assert_eq!(lc.get(i).map(str::to_string), want.0, "row {i}");
        assert_eq!(buckets.get(i).unwrap(), want.1, "row {i}");
        assert_eq!(sigs.get(i).unwrap(), want.2, "row {i}");
    }
    // Reprocessing again with the same rules changes nothing.
    let again = reprocess_store(&mut store, &builtin, false, 10).unwrap();
    assert_eq!((again.changed, again.written), (0, false));

    // A rule change: csagent frames are "ignore" (as if someone decided the driver is not at
    // fault). No csagent crash may blame csagent.sys afterwards.
    let mut changed_rules = Rules::builtin();
    changed_rules
        .merge_toml("[owners]\n\"csagent\" = \"ignore\"\n")
        .unwrap();
    let dry = reprocess_store(&mut store, &changed_rules, true, 10).unwrap();
    assert_eq!((dry.changed, dry.written), (29, false));
    let done = reprocess_store(&mut store, &changed_rules, false, 10).unwrap();
    assert_eq!((done.changed, done.written), (29, true));
    let table = analytics::clusters(
        store.lazy_crashes().unwrap(),
        None,
        None,
        &ClusterOptions::default(),
    )
    .unwrap();
    assert!(table.clusters.iter().all(|c| c.cause != "csagent.sys"));
    assert_eq!(table.crashes, 33, "no row lost by the rewrite");
}

/// End to end on simulated fleets: `simulate` writes real-format dumps and `truth.json`,
/// `scan` ingests them, and the clustering must match the truth with B-cubed F1 >= 0.98, the
/// blamed driver must match for >= 98 % of the dumps, and the hosts that boot-looped must be
/// exactly the truth's.
#[test]
fn simulated_fleets_match_their_truth() {
    use blastradius::simulate::Truth;
    use std::collections::{HashMap, HashSet};

    let root = crate::common::project_root();
    let symbols = root.join("symbols-cache");
    let runs = [
        ("channel-file-291", "120", "3"),
        ("baseline,gpu-tdr,staged-rollout", "150", "5"),
        (
            "channel-file-291,baseline,gpu-tdr,staged-rollout",
            "100",
            "11",
        ),
    ];
    for (scenarios, hosts, seed) in runs {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("sim");
        let store_dir = dir.path().join("store");
        let (code, _, err) = run_cli(&[
            "simulate",
            "--scenario",
            scenarios,
            "--hosts",
            hosts,
            "--seed",
            seed,
            "--out",
            sim.to_str().unwrap(),
            // The triage is the same either way (tests/it/simulate.rs checks); small files
            // keep the suite fast.
            "--captured-memory",
            "minimal",
        ]);
        assert_eq!(code, 0, "simulate {scenarios}: {err}");
        let mut scan_args = vec![
            "scan".to_string(),
            sim.join("dumps").to_string_lossy().into_owned(),
            "--store".into(),
            store_dir.to_string_lossy().into_owned(),
            "--inventory".into(),
            sim.join("inventory.csv").to_string_lossy().into_owned(),
            "--format".into(),
            "json".into(),
        ];
        if symbols.is_dir() {
            scan_args.push("--symbols".into());
            scan_args.push(symbols.to_string_lossy().into_owned());
        }
        let scan_refs: Vec<&str> = scan_args.iter().map(String::as_str).collect();
        let (code, _, err) = run_cli(&scan_refs);
        assert_eq!(code, 0, "scan {scenarios}: {err}");

        let truth: Truth =
            serde_json::from_str(&std::fs::read_to_string(sim.join("truth.json")).unwrap())
                .unwrap();
        let by_path: HashMap<&str, &blastradius::simulate::DumpTruth> =
            truth.dumps.iter().map(|d| (d.path.as_str(), d)).collect();

        let store = Store::open(&store_dir).unwrap();
        let rows = store
            .lazy_crashes()
            .unwrap()
            .select([col("dump_id"), col("path"), col("blame_module_lc")])
            .collect()
            .unwrap();
        assert_eq!(
            rows.height(),
            truth.dumps.len(),
            "{scenarios}: every dump stored once"
        );
        let paths = rows.column("path").unwrap().str().unwrap();
        let ids = rows.column("dump_id").unwrap().str().unwrap();
        let blamed = rows.column("blame_module_lc").unwrap().str().unwrap();
        // Store paths are as scanned; the truth's are relative to the output folder.
        let mut truth_of_dump: HashMap<String, &blastradius::simulate::DumpTruth> = HashMap::new();
        let mut blame_ok = 0usize;
        let mut blame_wrong: Vec<String> = Vec::new();
        for i in 0..rows.height() {
            let path = paths.get(i).unwrap().replace('\\', "/");
            let rel = &path[path.rfind("dumps/").expect("dump under dumps/")..];
            let t = by_path[rel];
            truth_of_dump.insert(ids.get(i).unwrap().to_string(), t);
            if blamed.get(i) == t.blamed_driver.as_deref() {
                blame_ok += 1;
            } else if blame_wrong.len() < 5 {
                blame_wrong.push(format!(
                    "{rel}: {:?} vs truth {:?} ({})",
                    blamed.get(i),
                    t.blamed_driver,
                    t.cause
                ));
            }
        }
        let blame_share = blame_ok as f64 / rows.height() as f64;
        assert!(
            blame_share >= 0.98,
            "{scenarios}: blame right for {blame_share:.4}: {blame_wrong:?}"
        );

        let assignments =
            cluster_assignments(store.lazy_crashes().unwrap(), &cluster_opts()).unwrap();
        let dump = assignments.column("dump_id").unwrap().str().unwrap();
        let score = |column: &str| {
            let labels = assignments.column(column).unwrap().str().unwrap();
            bcubed((0..dump.len()).map(|i| {
                let t = truth_of_dump[dump.get(i).unwrap()];
                (labels.get(i).unwrap().to_string(), t.cluster.as_str())
            }))
        };
        let buckets = score("bucket_cluster");
        eprintln!(
            "{scenarios}: bucket level {buckets:?}; related-merged {:?}",
            score("related_group")
        );
        assert!(buckets.f1 >= 0.98, "{scenarios}: {buckets:?}");

        // Hosts that boot-looped, against the truth's list.
        let hosts = analytics::hosts(
            store.lazy_crashes().unwrap(),
            store.inventory().unwrap(),
            &HostOptions::default(),
        )
        .unwrap();
        let looped: HashSet<&str> = hosts
            .hosts
            .iter()
            .filter(|h| h.boot_looped)
            .map(|h| h.host.as_str())
            .collect();
        let want: HashSet<&str> = truth.boot_loop_hosts.iter().map(String::as_str).collect();
        assert_eq!(looped, want, "{scenarios}: boot-looped hosts");

        // Cluster figures against the truth's clusters (label -> dumps, hosts).
        let table = analytics::clusters(
            store.lazy_crashes().unwrap(),
            Some(store.lazy_drivers().unwrap()),
            store.inventory().unwrap(),
            &cluster_opts(),
        )
        .unwrap();
        let mut ours: HashMap<String, (u64, u64)> = HashMap::new();
        for d in &table.clusters {
            for b in &d.children {
                ours.insert(b.bucket_id.clone(), (b.crashes, b.hosts));
            }
        }
        for c in &truth.clusters {
            assert_eq!(
                ours.get(&c.label).copied(),
                Some((c.dumps, c.hosts)),
                "{scenarios}: cluster {} (crashes, hosts)",
                c.label
            );
        }
        assert_eq!(table.fleet_hosts, Some(truth.hosts as u64));
    }
}

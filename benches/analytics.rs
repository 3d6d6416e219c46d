//! Analytics benchmark: `clusters` + `hosts` + `drivers` over a crash store of 1,000,000 rows.
//!
//! Two phases, so that peak RSS can be measured for the analytics alone (see
//! `scripts/bench-analytics.sh`, which runs both under `/usr/bin/time -v`):
//!
//! ```text
//! cargo bench --bench analytics -- generate <DIR> [ROWS]   # write the store (once)
//! cargo bench --bench analytics -- run <DIR>               # time the three analyses
//! ```
//!
//! The generator writes store rows directly (no dump files), through the store's own
//! `BatchBuilder` and `Store::commit`, so the Parquet files have exactly the columns `scan`
//! writes. Cardinalities follow the channel-file-291 morning on a large fleet:
//! - 200,000 inventory hosts (20 sites, 8 roles, rings canary 1 % / early 9 % / broad 90 %,
//!   4 OS builds, 3 criticality levels);
//! - the incident: ~55 % of the crash rows; 100,000 hosts crash in csagent.sys from 04:09 UTC
//!   on, 70 % of them boot-loop (3..12 crashes 2..6 min apart, uptime 60..300 s); 5 % of the
//!   csagent crashes fault at a second offset (a near-duplicate signature);
//! - the background: the rest of the rows over the 7 days before, spread over 16 causes / 47
//!   signatures with Zipf-like weights, on random hosts;
//! - every dump lists its blamed driver as loaded, plus one other third-party driver (of 150)
//!   in 1 dump out of 8: a drivers table of ~1,0M rows;
//! - every dump has a 10-frame stack (what `related` reads for representatives).

use std::path::Path;
use std::time::Instant;

use blastradius::fleet::analytics::{
    self, ClusterOptions, DriverCatalog, DriverOptions, HostOptions, SimilarityParams,
};
use blastradius::fleet::store::{BatchBuilder, Store};
use blastradius::record::{
    Blame, BugcheckRecord, CrashReport, DumpFormat, Fault, FrameTrust, ModuleRecord, StackFrame,
};
use blastradius::triage::Rules;
use chrono::{DateTime, Utc};
use polars::prelude::*;

const HOSTS: usize = 200_000;
const DEFAULT_ROWS: usize = 1_000_000;
const BATCH: usize = 100_000;
/// 2024-07-19T04:09:00Z.
const T0: i64 = 1_721_362_140;

/// xorshift64*: deterministic, fast, good enough for a benchmark fleet.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// One background signature: cause, bucket, signature, code, blamed driver.
struct Background {
    driver: Option<String>,
    class: String,
    bucket: String,
    signature: String,
    code: u32,
    weight: u64,
}

fn background_signatures() -> Vec<Background> {
    let causes: [(&str, &str, u32, usize); 16] = [
        ("nvlddmkm.sys", "0x116", 0x116, 4),
        ("igdkmd64.sys", "0x116", 0x116, 3),
        ("acmenet.sys", "AV_W", 0xD1, 3),
        ("acmeflt.sys", "AV", 0x7E, 3),
        ("smartpqi.sys", "0x133_DPC", 0x133, 2),
        ("iastorac.sys", "0x133_DPC", 0x133, 2),
        ("e1d68x64.sys", "AV_R_INVALID", 0x50, 3),
        ("vmhgfs.sys", "AV_R_INVALID", 0x50, 3),
        ("bdselfpr.sys", "AV", 0x3B, 4),
        ("easyanticheat.sys", "AV", 0x3B, 4),
        ("rtkvhd64.sys", "AV_R_INVALID", 0x50, 3),
        ("klif.sys", "AV", 0x1E, 3),
        ("ntoskrnl.exe", "0x1A_41790", 0x1A, 2),
        ("", "POWER_BUTTON_HOLD", 0x1C8, 1),
        ("", "0x124_WHEA", 0x124, 1),
        ("wdfilter.sys", "AV", 0x3B, 6),
    ];
    let mut out = Vec::new();
    let mut weight = 1000u64;
    for (driver, class, code, sigs) in causes {
        let stem = driver.split('.').next().unwrap_or("").to_string();
        for s in 0..sigs {
            let (bucket, signature) = if driver.is_empty() {
                (class.to_string(), class.to_string())
            } else {
                (
                    format!("{class}_{stem}!Routine{}", s / 2),
                    format!("{stem}!Routine{} | {stem}!Dispatch{} | nt!IofCallDriver", s / 2, s),
                )
            };
            out.push(Background {
                driver: (!driver.is_empty()).then(|| driver.to_string()),
                class: class.to_string(),
                bucket,
                signature,
                code,
                weight,
            });
            // Zipf-like: each signature ~0.85 as frequent as the previous.
            weight = (weight * 85 / 100).max(5);
        }
    }
    out
}

fn stack(driver: Option<&str>, top: &str) -> Vec<StackFrame> {
    let module = driver.unwrap_or("ntoskrnl.exe");
    let mut frames = vec![
        ("ntoskrnl.exe", Some("KeBugCheckEx"), "0x3f5a10".to_string()),
        ("ntoskrnl.exe", Some("KiPageFault"), "0x42c3b0".to_string()),
        (module, None, top.to_string()),
    ];
    for off in ["0xe0010", "0xd2200", "0x3a400", "0x1200"] {
        frames.push((module, None, off.to_string()));
    }
    frames.push(("ntoskrnl.exe", Some("IofCallDriver"), "0x6a1c2".into()));
    frames.push(("ntoskrnl.exe", Some("PspSystemThreadStartup"), "0x55aa0".into()));
    frames.push(("ntoskrnl.exe", Some("KiStartSystemThread"), "0x41c7c".into()));
    frames
        .into_iter()
        .enumerate()
        .map(|(i, (m, f, off))| StackFrame {
            index: i as u32,
            address: format!("0xfffff806{:08x}", 0x1000 * i),
            module: Some(m.to_string()),
            offset: Some(off),
            function: f.map(str::to_string),
            function_offset: None,
            source_line: None,
            trust: FrameTrust::Cfi,
        })
        .collect()
}

fn module(name: &str, timestamp: u32) -> ModuleRecord {
    ModuleRecord {
        name: name.to_string(),
        path: format!("\\SystemRoot\\System32\\drivers\\{name}"),
        base: "0xfffff80671430000".into(),
        size: 0x10_0000,
        timestamp,
        checksum: 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    n: usize,
    unix: i64,
    uptime: u64,
    driver: Option<&str>,
    class: &str,
    bucket: &str,
    signature: &str,
    code: u32,
    top_offset: &str,
    extra_driver: Option<String>,
    version: u32,
) -> CrashReport {
    let mut modules = Vec::new();
    if let Some(d) = driver {
        modules.push(module(d, version));
    }
    if let Some(d) = extra_driver {
        modules.push(module(&d, 0x6000_0000));
    }
    CrashReport {
        path: format!("dumps/{n}.dmp"),
        dump_id: format!("{n:016x}"),
        size_bytes: 1 << 20,
        format: DumpFormat::KernelTriage,
        arch: "amd64".into(),
        os_build: Some(22631),
        os_version: None,
        processors: Some(8),
        product_type: Some("workstation".into()),
        crash_time: DateTime::<Utc>::from_timestamp(unix, 0).map(|t| t.to_rfc3339()),
        uptime_seconds: Some(uptime),
        boot_id: None,
        bugcheck: Some(BugcheckRecord {
            code,
            code_hex: format!("0x{code:X}"),
            name: "BUGCHECK".into(),
            parameters: vec!["0xffff840500000074".into(), "0x0".into(), "0xfffff806715114ed".into(), "0x2".into()],
        }),
        exception: None,
        fault: Fault::default(),
        blame: Blame {
            module: driver.map(str::to_string),
            owner: driver.map(|_| "ThirdParty".to_string()),
            third_party: driver.is_some(),
            frame_index: driver.map(|_| 2),
            reason: "first frame not owned by the kernel".into(),
        },
        failure_class: class.into(),
        bucket_id: bucket.into(),
        signature: signature.into(),
        stack: stack(driver, top_offset),
        modules,
        unloaded_modules: Vec::new(),
        warnings: Vec::new(),
    }
}

fn inventory() -> DataFrame {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut host = Vec::with_capacity(HOSTS);
    let (mut site, mut role, mut ring, mut os, mut crit) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let roles = ["kiosk", "pos", "office", "dev", "sql", "web", "dc", "file"];
    let builds = ["19045", "22621", "22631", "26100"];
    for i in 0..HOSTS {
        host.push(format!("host-{i:06}"));
        site.push(format!("site-{:02}", rng.below(20)));
        role.push(roles[rng.below(8) as usize]);
        let r = rng.below(100);
        ring.push(if r < 1 { "canary" } else if r < 10 { "early" } else { "broad" });
        os.push(builds[rng.below(4) as usize]);
        crit.push(["low", "medium", "high"][rng.below(3) as usize]);
    }
    DataFrame::new(
        HOSTS,
        vec![
            Column::new("host".into(), host),
            Column::new("site".into(), site),
            Column::new("role".into(), role),
            Column::new("ring".into(), ring),
            Column::new("os_build".into(), os),
            Column::new("criticality".into(), crit),
        ],
    )
    .expect("inventory columns have one length")
}

fn generate(dir: &Path, rows: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut store = Store::open_or_create(dir)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let background = background_signatures();
    let total_weight: u64 = background.iter().map(|b| b.weight).sum();
    let third_party: Vec<String> = (0..150).map(|i| format!("vendor{i:03}.sys")).collect();

    let incident_rows = rows * 55 / 100;
    let mut batch = BatchBuilder::new();
    let mut written = 0usize;
    let flush = |batch: &mut BatchBuilder, store: &mut Store| -> anyhow::Result<()> {
        let full = std::mem::take(batch);
        store.commit(full.finish(Utc::now())?)?;
        Ok(())
    };
    let extra = |rng: &mut Rng| rng.chance(0.125).then(|| third_party[rng.below(150) as usize].clone());

    // The incident: hosts in order from a random start, until the incident's share is used.
    let mut host_i = 0usize;
    while written < incident_rows && host_i < HOSTS {
        let host = format!("host-{:06}", (host_i * 7919) % HOSTS);
        host_i += 1;
        let mut t = T0 + rng.below(15 * 60) as i64;
        let loops = rng.chance(0.7);
        let crashes = if loops { 3 + rng.below(10) as usize } else { 1 };
        for k in 0..crashes {
            let second = rng.chance(0.05);
            let (off, sig) = if second {
                ("0xe14f3", "csagent.sys@0xe14f3")
            } else {
                ("0xe14ed", "csagent.sys@0xe14ed")
            };
            let uptime = if k == 0 { 3600 + rng.below(500_000) } else { 60 + rng.below(240) };
            let r = report(
                written,
                t,
                uptime,
                Some("csagent.sys"),
                "AV_R_INVALID",
                "AV_R_INVALID_csagent!unknown_function",
                sig,
                0x50,
                off,
                extra(&mut rng),
                0x66A0_B1C3,
            );
            batch.push_crash(&r, &host);
            written += 1;
            t += 120 + rng.below(240) as i64;
            if batch.crash_rows() >= BATCH {
                flush(&mut batch, &mut store)?;
            }
        }
    }
    // The background week.
    while written < rows {
        let host = format!("host-{:06}", rng.below(HOSTS as u64));
        let mut pick = rng.below(total_weight);
        let mut chosen = &background[0];
        for b in &background {
            if pick < b.weight {
                chosen = b;
                break;
            }
            pick -= b.weight;
        }
        let t = T0 - 7 * 86_400 + rng.below(7 * 86_400) as i64;
        let r = report(
            written,
            t,
            600 + rng.below(1_000_000),
            chosen.driver.as_deref(),
            &chosen.class,
            &chosen.bucket,
            &chosen.signature,
            chosen.code,
            "0x1a2b3",
            extra(&mut rng),
            0x5F00_0000 + rng.below(3) as u32,
        );
        batch.push_crash(&r, &host);
        written += 1;
        if batch.crash_rows() >= BATCH {
            flush(&mut batch, &mut store)?;
        }
    }
    if batch.crash_rows() > 0 {
        flush(&mut batch, &mut store)?;
    }
    store.save_inventory(inventory())?;
    println!(
        "generated {written} crash rows into {} in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The figures the analyses must reproduce, so a fast wrong answer cannot pass.
fn run(dir: &Path) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let rules = Rules::builtin();
    let catalog: &dyn DriverCatalog = &rules;

    let t = Instant::now();
    let clusters = analytics::clusters(
        store.lazy_crashes()?,
        Some(store.lazy_drivers()?),
        store.inventory()?,
        &ClusterOptions {
            similarity: Some(SimilarityParams::default()),
            ..ClusterOptions::default()
        },
    )?;
    let t_clusters = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let hosts = analytics::hosts(store.lazy_crashes()?, store.inventory()?, &HostOptions::default())?;
    let t_hosts = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let drivers = analytics::drivers(
        store.lazy_crashes()?,
        store.lazy_drivers()?,
        store.inventory()?,
        catalog,
        &DriverOptions::default(),
    )?;
    let t_drivers = t.elapsed().as_secs_f64();

    let signatures: usize = clusters
        .clusters
        .iter()
        .map(|d| d.children.iter().map(|b| b.children.len()).sum::<usize>())
        .sum();
    let top = clusters.clusters.first();
    println!(
        "{}",
        serde_json::json!({
            "crash_rows": clusters.crashes,
            "hosts_with_crashes": clusters.hosts,
            "fleet_hosts": clusters.fleet_hosts,
            "driver_clusters": clusters.clusters.len(),
            "signature_clusters": signatures,
            "top_cluster": top.map(|c| &c.cause),
            "top_hosts": top.map(|c| c.hosts),
            "top_boot_loop_hosts": top.map(|c| c.boot_loop_hosts),
            "top_related": top.map(|c| c.children.first().map(|b| b.children.first().map(|s| s.related.len()))),
            "host_rows": hosts.hosts.len(),
            "hosts_by_state": hosts.by_state.iter().map(|(s, n)| (s.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
            "driver_rows": drivers.drivers.len(),
            "hosts_with_driver_data": drivers.hosts_with_driver_data,
            "seconds": {
                "clusters": t_clusters,
                "hosts": t_hosts,
                "drivers": t_drivers,
                "total": t_clusters + t_hosts + t_drivers,
            }
        })
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "generate" => generate(Path::new(dir), DEFAULT_ROWS),
        [cmd, dir, rows] if cmd == "generate" => generate(Path::new(dir), rows.parse()?),
        [cmd, dir] if cmd == "run" => run(Path::new(dir)),
        _ => {
            eprintln!("usage: analytics generate <DIR> [ROWS] | analytics run <DIR>");
            Ok(())
        }
    }
}

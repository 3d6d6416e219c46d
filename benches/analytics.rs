//! Analytics benchmark: `clusters` + `hosts` + `drivers` over a crash store of 1,000,000 rows.
//!
//! Two phases, so that peak RSS can be measured for the analytics alone (see
//! `scripts/bench-analytics.sh`, which runs both under `/usr/bin/time -v`):
//!
//! ```text
//! cargo bench --bench analytics -- generate <DIR> [ROWS]   # write the store (once)
//! cargo bench --bench analytics -- run <DIR> [both|shared|one-shot]   # time the analyses
//! ```
//!
//! The rows come from the simulator's record generator (`simulate::simulate_reports`: the
//! `CrashReport`s a scan of a simulated fleet would produce, no dump files), all four
//! scenarios on a 200,000-host fleet, the first 1,000,000 reports; they go through the
//! store's own `BatchBuilder` and `Store::commit`, so the Parquet files have exactly the
//! columns `scan` writes, and the fleet's `inventory.csv` (25 columns) is saved with them.
//!
//! Loaded drivers: a simulated kernel dump lists ~160 modules, which for a million dumps would
//! be a 160-million-row drivers table. The benchmark keeps, per dump, the blamed module, and
//! for the first dump of each host also the modules the rules know as third-party drivers
//! (vendor and category): a drivers table of about a million rows.

use std::path::Path;
use std::time::Instant;

use blastradius::fleet::analytics::{
    self, Analysis, ClusterOptions, DriverCatalog, DriverOptions, HostOptions, HostStateParams,
    SimilarityParams, Window,
};
use blastradius::fleet::inventory::read_inventory;
use blastradius::fleet::store::{BatchBuilder, Store};
use blastradius::simulate::{fleet, simulate_reports, ReportOptions, Scenario};
use blastradius::triage::Rules;
use chrono::Utc;

const HOSTS: usize = 200_000;
const SEED: u64 = 42;
const DEFAULT_ROWS: usize = 1_000_000;
const BATCH: usize = 100_000;

fn generate(dir: &Path, rows: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut store = Store::open_or_create(dir)?;
    let rules = Rules::builtin();
    let reports = simulate_reports(&Scenario::ALL, HOSTS, SEED, ReportOptions::default());
    let mut batch = BatchBuilder::new();
    let mut written = 0usize;
    let mut driver_rows = 0usize;
    let mut last_host = String::new();
    for (host, mut report) in reports.take(rows) {
        let first_of_host = host != last_host;
        let blamed = report.blame.module.as_deref().map(str::to_ascii_lowercase);
        report.modules.retain(|m| {
            let name = m.name.to_ascii_lowercase();
            blamed.as_deref() == Some(name.as_str())
                || (first_of_host && rules.driver_info(&name).is_some())
        });
        driver_rows += report.modules.len();
        batch.push_crash(&report, &host);
        written += 1;
        if first_of_host {
            last_host = host;
        }
        if batch.crash_rows() >= BATCH {
            let full = std::mem::take(&mut batch);
            store.commit(full.finish(Utc::now())?)?;
        }
    }
    if batch.crash_rows() > 0 {
        store.commit(batch.finish(Utc::now())?)?;
    }
    let csv = dir.join("inventory.csv");
    std::fs::write(&csv, fleet::inventory_csv(&fleet::hosts(SEED, HOSTS)))?;
    store.save_inventory(read_inventory(&csv)?)?;
    println!(
        "generated {written} crash rows and {driver_rows} driver rows into {} in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the three analyses twice: as three one-shot calls (what three CLI commands do, each
/// reading the store), then from one shared `Analysis` (one read). Prints the figures (so a
/// fast wrong answer cannot pass unnoticed) and the timings as JSON.
fn run(dir: &Path, mode: &str) -> anyhow::Result<()> {
    if mode != "both" {
        return run_one_mode(dir, mode == "shared");
    }
    let store = Store::open(dir)?;
    let rules = Rules::builtin();
    let catalog: &dyn DriverCatalog = &rules;
    let cluster_opts = ClusterOptions {
        similarity: Some(SimilarityParams::default()),
        ..ClusterOptions::default()
    };

    let t = Instant::now();
    let clusters = analytics::clusters(
        store.lazy_crashes()?,
        Some(store.lazy_drivers()?),
        store.inventory()?,
        &cluster_opts,
    )?;
    let t_clusters = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hosts = analytics::hosts(
        store.lazy_crashes()?,
        store.inventory()?,
        &HostOptions::default(),
    )?;
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

    let t = Instant::now();
    let shared = Analysis::new(
        store.lazy_crashes()?,
        store.inventory()?,
        Window::default(),
        HostStateParams::default(),
    )?;
    let t_prepare = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let clusters2 = shared.clusters(Some(store.lazy_drivers()?), &cluster_opts)?;
    let t_clusters2 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hosts2 = shared.hosts(&HostOptions::default())?;
    let t_hosts2 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let drivers2 = shared.drivers(store.lazy_drivers()?, catalog, &DriverOptions::default())?;
    let t_drivers2 = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        clusters2 == clusters && hosts2 == hosts && drivers2 == drivers,
        "the shared analysis must give the one-shot results"
    );

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
            "host_rows": hosts.hosts.len(),
            "hosts_by_state": hosts.by_state.iter().map(|(s, n)| (s.as_str(), n)).collect::<std::collections::BTreeMap<_, _>>(),
            "driver_rows": drivers.drivers.len(),
            "hosts_with_driver_data": drivers.hosts_with_driver_data,
            "seconds_one_shot": {
                "clusters": t_clusters,
                "hosts": t_hosts,
                "drivers": t_drivers,
                "total": t_clusters + t_hosts + t_drivers,
            },
            "seconds_shared": {
                "prepare": t_prepare,
                "clusters": t_clusters2,
                "hosts": t_hosts2,
                "drivers": t_drivers2,
                "total": t_prepare + t_clusters2 + t_hosts2 + t_drivers2,
            }
        })
    );
    Ok(())
}

/// One way only (for a clean peak-RSS figure of each): `shared` or the three one-shot calls.
fn run_one_mode(dir: &Path, shared: bool) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let rules = Rules::builtin();
    let cluster_opts = ClusterOptions {
        similarity: Some(SimilarityParams::default()),
        ..ClusterOptions::default()
    };
    let t = Instant::now();
    let (clusters, hosts, drivers) = if shared {
        let a = Analysis::new(
            store.lazy_crashes()?,
            store.inventory()?,
            Window::default(),
            HostStateParams::default(),
        )?;
        (
            a.clusters(Some(store.lazy_drivers()?), &cluster_opts)?,
            a.hosts(&HostOptions::default())?,
            a.drivers(store.lazy_drivers()?, &rules, &DriverOptions::default())?,
        )
    } else {
        (
            analytics::clusters(
                store.lazy_crashes()?,
                Some(store.lazy_drivers()?),
                store.inventory()?,
                &cluster_opts,
            )?,
            analytics::hosts(
                store.lazy_crashes()?,
                store.inventory()?,
                &HostOptions::default(),
            )?,
            analytics::drivers(
                store.lazy_crashes()?,
                store.lazy_drivers()?,
                store.inventory()?,
                &rules,
                &DriverOptions::default(),
            )?,
        )
    };
    println!(
        "{}",
        serde_json::json!({
            "mode": if shared { "shared" } else { "one-shot" },
            "seconds": t.elapsed().as_secs_f64(),
            "clusters": clusters.clusters.len(),
            "hosts": hosts.hosts.len(),
            "drivers": drivers.drivers.len(),
        })
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "generate" => generate(Path::new(dir), DEFAULT_ROWS),
        [cmd, dir, rows] if cmd == "generate" => generate(Path::new(dir), rows.parse()?),
        [cmd, dir] if cmd == "run" => run(Path::new(dir), "both"),
        [cmd, dir, mode] if cmd == "run" => run(Path::new(dir), mode),
        _ => {
            eprintln!("usage: analytics generate <DIR> [ROWS] | analytics run <DIR> [both|shared|one-shot]");
            Ok(())
        }
    }
}

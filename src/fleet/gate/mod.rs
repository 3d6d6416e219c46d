//! `gate`: may a staged rollout go on, from the crash data? The release pipeline's question,
//! answered per ring: `halt` when a crash cluster rose significantly on the ring's hosts after
//! they received the change, `proceed` when enough hosts have run it long enough without that,
//! `insufficient-data` otherwise.
//!
//! - [`rollout`]: the rollout file (who got which change when), checked line by line;
//! - [`decide`]: the ring, the comparison groups and the verdict (pure);
//! - [`stats`]: the exact test.
//!
//! This module joins them to the crash store: crashes with their bucket-level cluster come
//! from `analytics::cluster_assignments`, so the cluster ids are the ones `clusters` prints.

pub mod decide;
pub mod rollout;
pub mod stats;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use polars::prelude::*;

use crate::fleet::analytics::{cluster_assignments, AnalyticsError, ClusterOptions, Scope, Window};

pub use decide::{CrashEvent, GateOptions, GateReport, Reason, Verdict};
pub use rollout::{read_rollout, Rollout, RolloutError};

/// Why no verdict could be given (the CLI exits 2: never a guess).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    #[error("reading the crash store: {0}")]
    Polars(#[from] PolarsError),
    #[error("the store has no inventory: the gate needs the whole fleet to count the hosts without the change (scan once with --inventory FILE)")]
    NoInventory,
    #[error("the crash store holds no crash with a time, so there is no end of the data: pass --now TIME")]
    NoData,
    #[error("{path} has several changes ({changes}): pass --change with one of them")]
    WhichChange { path: PathBuf, changes: String },
    #[error("--change '{change}' is not in {path} (changes there: {changes})")]
    UnknownChange {
        change: String,
        path: PathBuf,
        changes: String,
    },
    #[error("--ring '{ring}' has no host with change '{change}' (rings: {rings})")]
    UnknownRing {
        ring: String,
        change: String,
        rings: String,
    },
    #[error("{0}")]
    BadOption(String),
}

/// Checks the thresholds' ranges.
fn check_options(opts: &GateOptions) -> Result<(), GateError> {
    if !(opts.alpha > 0.0 && opts.alpha <= 1.0) {
        return Err(GateError::BadOption(format!(
            "--alpha {} must be in (0, 1]",
            opts.alpha
        )));
    }
    if !(0.0..1.0).contains(&opts.min_rate) {
        return Err(GateError::BadOption(format!(
            "--min-rate {} must be in [0, 1) (a share of the ring's hosts: 0.01 or 1%)",
            opts.min_rate
        )));
    }
    Ok(())
}

/// Decides for `rollout` on the store's `crashes` (store columns) and `inventory`.
pub fn gate(
    crashes: LazyFrame,
    inventory: Option<&DataFrame>,
    rollout: &Rollout,
    opts: &GateOptions,
) -> Result<GateReport, GateError> {
    check_options(opts)?;
    let inventory = inventory.ok_or(GateError::NoInventory)?;
    let host_column = inventory.column("host")?.str()?;
    let site_column = match inventory.column("site") {
        Ok(c) => Some(c.str()?),
        Err(_) => None,
    };
    let mut fleet: HashSet<&str> = HashSet::with_capacity(inventory.height());
    let mut sites: HashMap<&str, &str> = HashMap::new();
    for i in 0..inventory.height() {
        let Some(host) = host_column.get(i) else {
            continue;
        };
        fleet.insert(host);
        if let Some(site) = site_column.as_ref().and_then(|s| s.get(i)) {
            sites.insert(host, site);
        }
    }
    rollout.check_hosts(&fleet)?;
    let now_ms = match opts.now_ms {
        Some(t) => t,
        None => data_end_ms(crashes.clone())?.ok_or(GateError::NoData)?,
    };
    let plan = decide::plan(rollout, &fleet, now_ms, opts)?;
    let events = match plan.crash_window() {
        Some((since, until)) => crash_events(crashes, since, until)?,
        None => Vec::new(),
    };
    Ok(decide::evaluate(&plan, &events, &sites, opts))
}

/// `crash_time` as milliseconds, whatever unit the store used.
fn time_ms() -> Expr {
    col("crash_time").dt().timestamp(TimeUnit::Milliseconds)
}

/// The latest crash time in the store (the default decision moment).
pub fn data_end_ms(crashes: LazyFrame) -> Result<Option<i64>, GateError> {
    let df = crashes.select([time_ms().max().alias("end")]).collect()?;
    Ok(df.column("end")?.i64()?.get(0))
}

/// Every crash in `[since_ms, until_ms]` with its host, bucket-level cluster, driver and
/// bucket id.
pub fn crash_events(
    crashes: LazyFrame,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<CrashEvent>, GateError> {
    let window = Window {
        since_ms: Some(since_ms),
        until_ms: Some(until_ms),
        now_ms: None,
    };
    let opts = ClusterOptions {
        scope: Scope {
            window,
            ..Scope::default()
        },
        ..ClusterOptions::default()
    };
    let assignments = cluster_assignments(crashes.clone(), &opts)?;
    let ids = assignments.column("dump_id")?.str()?;
    let buckets = assignments.column("bucket_cluster")?.str()?;
    let cluster_of: HashMap<&str, &str> = ids
        .iter()
        .zip(buckets.iter())
        .filter_map(|(d, b)| Some((d?, b?)))
        .collect();
    let rows = crashes
        .select([
            col("dump_id"),
            col("host"),
            time_ms().alias("t"),
            col("blame_module_lc"),
            col("bucket_id"),
        ])
        .filter(
            col("t")
                .gt_eq(lit(since_ms))
                .and(col("t").lt_eq(lit(until_ms))),
        )
        .collect()?;
    let dump = rows.column("dump_id")?.str()?;
    let host = rows.column("host")?.str()?;
    let time = rows.column("t")?.i64()?;
    let driver = rows.column("blame_module_lc")?.str()?;
    let bucket = rows.column("bucket_id")?.str()?;
    let mut out = Vec::with_capacity(rows.height());
    for i in 0..rows.height() {
        let (Some(d), Some(h), Some(t)) = (dump.get(i), host.get(i), time.get(i)) else {
            continue;
        };
        let Some(cluster) = cluster_of.get(d) else {
            continue;
        };
        out.push(CrashEvent {
            host: h.to_string(),
            time_ms: t,
            cluster: cluster.to_string(),
            driver: driver.get(i).filter(|s| !s.is_empty()).map(str::to_string),
            bucket_id: bucket.get(i).unwrap_or_default().to_string(),
        });
    }
    Ok(out)
}

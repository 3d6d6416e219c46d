//! Clusters ranked by blast radius, three levels deep: the blamed driver (or the non-driver
//! cause, e.g. `POWER_BUTTON_HOLD`) -> bucket id -> signature.
//!
//! Per cluster: crashes; distinct hosts; `fleet_share` = hosts / inventory hosts (the
//! inventory filtered like the crashes; null without an inventory; only hosts the inventory
//! lists count in the numerator: a crashing host it lacks is not part of that fleet); `exposed_hosts` = hosts
//! whose dumps in the window show the driver loaded, `exposed_share` = exposed hosts / hosts
//! whose driver list is known, `exposed_hit_share` = hosts / exposed hosts; hosts per value of
//! every inventory column (`breakdown`); first and last seen; the onset curve (crashes per time
//! bucket, bucket size chosen from the window's span: 1 min .. 1 day) and its peak; and host
//! states relative to the cluster:
//! - `boot_loop_hosts`: hosts that boot-looped on this cluster in the window: a crash of this
//!   cluster is part of one of the host's boot loops (`hoststate::loop_flags`; an old crash of
//!   another cluster does not make that cluster "boot-looping"). Counted whether the loop goes
//!   on at the end of the data or not: the blast radius of the incident morning does not shrink
//!   when the hosts are fixed;
//! - `recovered_hosts`: hosts whose last crash of this cluster is at least the recovery window
//!   before the end of the data (a host can have looped and recovered);
//! - `still_failing_hosts`: hosts not recovered from this cluster that have crashed more than
//!   once (host state boot-loop or failing); a host with one recent crash is neither recovered
//!   nor still failing: too early to say;
//! - `down_hosts`: hosts in state `down` (crashed, no heartbeat since: issue 15), which
//!   then do not count as recovered;
//! - `host_hours_lost`: the sum of the per-crash estimate of `hoststate` over the cluster's
//!   crashes.
//!
//! Sorted by hosts (blast radius), then crashes. Levels 1 and 2 show the bucket id and
//! signature of their largest child. Signature-level clusters inside one driver cluster whose
//! representative stacks are PDM-similar (`similarity`) list each other as `related`.

use std::collections::{BTreeMap, HashMap, HashSet};

use polars::prelude::*;
use serde::Serialize;

use super::hoststate::{HostState, HostStateParams};
use super::prepare::{self, Breakdown, Prepared};
use super::similarity::{self, FrameInterner, SimilarityParams};
use super::window::{bucket_seconds_for_span, rfc3339_utc};
use super::{AnalyticsError, Scope};
use crate::fleet::critical::CriticalRule;

/// Options of `clusters`.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub scope: Scope,
    pub host_states: HostStateParams,
    /// `None` skips the related-signature pass.
    pub similarity: Option<SimilarityParams>,
    /// Onset bucket size in seconds; `None` chooses from the span.
    pub bucket_seconds: Option<i64>,
    /// Values listed per inventory column in a breakdown (largest first; the rest are summed
    /// under "(other)"); 0 = all.
    pub breakdown_limit: usize,
    /// Who counts as a critical host (`critical_hosts`): `--critical`, the rule every
    /// command shares (`fleet::critical`).
    pub critical: CriticalRule,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            scope: Scope::default(),
            host_states: HostStateParams::default(),
            similarity: None,
            bucket_seconds: None,
            breakdown_limit: 50,
            critical: CriticalRule::default(),
        }
    }
}

/// Which level a cluster node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterLevel {
    Driver,
    Bucket,
    Signature,
}

/// Crashes per time bucket, from the cluster's first to its last non-empty bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Onset {
    pub bucket_seconds: i64,
    /// Start of the first bucket, RFC 3339 UTC.
    pub start: Option<String>,
    pub counts: Vec<u64>,
    /// The largest bucket and when it started.
    pub peak_crashes: u64,
    pub peak_at: Option<String>,
}

/// A near-duplicate signature in the same driver cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedSignature {
    pub id: String,
    pub signature: String,
    pub similarity: f64,
}

/// One cluster at any level; `children` holds the next level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterNode {
    pub id: String,
    pub level: ClusterLevel,
    /// The blamed driver (lower-case base name); null for non-driver causes.
    pub driver: Option<String>,
    /// The level-1 key: the driver, or the failure class of a non-driver cause.
    pub cause: String,
    pub owner: Option<String>,
    pub third_party: bool,
    pub failure_class: String,
    /// Stop codes seen, `0x50` form (upper-case hex digits as WinDbg prints them).
    pub bugcheck_codes: Vec<String>,
    pub bucket_id: String,
    pub signature: String,
    pub crashes: u64,
    pub hosts: u64,
    pub fleet_share: Option<f64>,
    pub exposed_hosts: Option<u64>,
    pub exposed_share: Option<f64>,
    pub exposed_hit_share: Option<f64>,
    pub boot_loop_hosts: u64,
    pub recovered_hosts: u64,
    pub still_failing_hosts: u64,
    /// Hosts of this cluster that are `down`: crashed, no heartbeat since (issue 15; 0
    /// without heartbeats).
    pub down_hosts: u64,
    /// Hosts of this cluster the critical rule selects (`ClusterOptions::critical`); null
    /// without an inventory column the rule names. Counted over the same hosts as `hosts`
    /// and `breakdown`.
    pub critical_hosts: Option<u64>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Milliseconds since the epoch of first/last seen (for tables; not serialized).
    #[serde(skip)]
    pub first_seen_ms: Option<i64>,
    #[serde(skip)]
    pub last_seen_ms: Option<i64>,
    pub host_hours_lost: f64,
    pub peak_rate_per_hour: f64,
    pub onset: Onset,
    pub breakdown: Breakdown,
    pub children: Vec<ClusterNode>,
    pub related: Vec<RelatedSignature>,
}

/// The `clusters` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterTable {
    /// Inventory hosts in scope; null without an inventory.
    pub fleet_hosts: Option<u64>,
    pub clusters: Vec<ClusterNode>,
    /// Crashes and distinct hosts in scope.
    pub crashes: u64,
    pub hosts: u64,
    /// Hosts whose loaded-driver list is known (the exposure denominator).
    pub hosts_with_driver_data: Option<u64>,
    /// The window actually covered (RFC 3339 UTC): `--since` or the first crash, `--until`
    /// or the last crash (the "end of the data" host states are judged against).
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    #[serde(skip)]
    pub window_end_ms: Option<i64>,
    /// Where `window_end` came from (`--until`, `--now`, the clock, the latest crash) and the
    /// clock-skewed hosts set aside (issue 18).
    pub data_end: super::window::DataEnd,
    /// What is odd about the data (clock skew), one line each.
    pub warnings: Vec<String>,
    /// The critical-host rule `critical_hosts` counts by (`criticality=critical`).
    pub critical_rule: String,
}

/// Clusters of `crashes` (store columns) in the scope of `opts`. `drivers` (the store's
/// loaded-driver rows) gives exposure; `inventory` gives fleet share and breakdowns.
pub fn clusters(
    crashes: LazyFrame,
    drivers: Option<LazyFrame>,
    inventory: Option<DataFrame>,
    opts: &ClusterOptions,
) -> Result<ClusterTable, AnalyticsError> {
    let prepared =
        super::heartbeat_states::prepare(crashes.clone(), &opts.scope, opts.host_states)?;
    let codes = match &inventory {
        Some(inv) => Some(prepared.host_inventory_codes(inv)?),
        None => None,
    };
    cluster_table(
        &prepared,
        crashes,
        drivers,
        inventory.as_ref(),
        codes.as_ref(),
        opts,
    )
}

/// Per-key aggregates of one level.
#[derive(Debug, Clone, Default)]
struct Counts {
    crashes: u64,
    hosts: u64,
    boot_loop: u64,
    recovered: u64,
    still_failing: u64,
    down: u64,
    lost_ms: i64,
    /// Of `hosts`, those the inventory names: the numerator of `fleet_share` (a crashing
    /// host the inventory does not list is not part of the fleet it is a share of).
    listed: Option<u64>,
    /// Of `hosts`, those counted only because they were looping with their dumps rotated
    /// away: no dump of theirs in the window shows their driver list, so they are left out
    /// of `exposed_hit_share` (hit hosts among the hosts whose dumps show the driver).
    rotated_only: u64,
    /// Of `hosts`, the critical ones (`None` when the rule's column is unknown).
    critical: Option<u64>,
}

/// Sets `listed` of each key's counts: its hosts whose `host_idx` the inventory names.
fn count_listed(
    pairs: &DataFrame,
    key: &str,
    counts: &mut HashMap<u32, Counts>,
    listed: &[bool],
) -> Result<(), AnalyticsError> {
    let keys = prepare::u32_values(pairs, key)?;
    let hosts = prepare::u32_values(pairs, "host_idx")?;
    for c in counts.values_mut() {
        c.listed = Some(0);
    }
    for (k, h) in keys.iter().zip(hosts.iter()) {
        if listed.get(*h as usize).copied().unwrap_or(false) {
            if let Some(n) = counts.get_mut(k).and_then(|c| c.listed.as_mut()) {
                *n += 1;
            }
        }
    }
    Ok(())
}

/// Adds the hosts looping at `--until` whose dumps up to it were rotated away (issue 18;
/// `prepare::mark_rotated_hosts`) to the clusters their kept dumps name: the same hosts
/// `hosts` lists as boot-loop ("looping, dumps rotated"), so both commands give one count.
/// `key_of` maps a rotated host's cluster key to the level's key; a host already counted as
/// looping on that key is not counted twice. Returns the (key, host) pairs it added, so the
/// breakdowns and critical counts cover the same hosts as `hosts`.
fn add_rotated_hosts(
    prepared: &Prepared,
    pairs: &DataFrame,
    key: &str,
    counts: &mut HashMap<u32, Counts>,
    allowed: Option<&HashSet<u32>>,
    listed: Option<&[bool]>,
    key_of: impl Fn(&prepare::HostInfo) -> Vec<u32>,
) -> Result<Vec<(u32, u32)>, AnalyticsError> {
    let mut added = Vec::new();
    let keys = prepare::u32_values(pairs, key)?;
    let hosts = prepare::u32_values(pairs, "host_idx")?;
    let looped: Vec<bool> = pairs
        .column("looped")?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let present: HashSet<(u32, u32)> = keys.iter().copied().zip(hosts.iter().copied()).collect();
    let looping: HashSet<(u32, u32)> = keys
        .iter()
        .zip(hosts.iter())
        .zip(looped.iter())
        .filter(|(_, l)| **l)
        .map(|((k, h), _)| (*k, *h))
        .collect();
    for (hidx, info) in prepared.hosts.iter().enumerate() {
        let Ok(hidx) = u32::try_from(hidx) else {
            break;
        };
        if !info.dumps_rotated || allowed.is_some_and(|a| !a.contains(&hidx)) {
            continue;
        }
        for k in key_of(info) {
            let Some(c) = counts.get_mut(&k) else {
                continue;
            };
            if present.contains(&(k, hidx)) {
                // Its crashes in the window are counted; the loop under way is not yet.
                if !looping.contains(&(k, hidx)) {
                    c.boot_loop += 1;
                }
                continue;
            }
            c.hosts += 1;
            c.rotated_only += 1;
            added.push((k, hidx));
            c.boot_loop += 1;
            c.still_failing += 1;
            if listed
                .and_then(|l| l.get(hidx as usize))
                .copied()
                .unwrap_or(false)
            {
                if let Some(n) = c.listed.as_mut() {
                    *n += 1;
                }
            }
        }
    }
    Ok(added)
}

/// The (key, host) pairs of one level: `pairs`' rows, then the rotated-dump hosts
/// [`add_rotated_hosts`] added.
fn level_pairs(
    pairs: &DataFrame,
    key: &str,
    added: &[(u32, u32)],
) -> Result<(Vec<u32>, Vec<u32>), AnalyticsError> {
    let mut keys = prepare::u32_values(pairs, key)?;
    let mut hosts = prepare::u32_values(pairs, "host_idx")?;
    keys.extend(added.iter().map(|(k, _)| *k));
    hosts.extend(added.iter().map(|(_, h)| *h));
    Ok((keys, hosts))
}

/// Sets `critical` of each key's counts: its hosts `critical_of` (by `host_idx`) marks.
fn count_critical(
    (keys, hosts): &(Vec<u32>, Vec<u32>),
    counts: &mut HashMap<u32, Counts>,
    critical_of: &[bool],
) {
    for c in counts.values_mut() {
        c.critical = Some(0);
    }
    for (k, h) in keys.iter().zip(hosts) {
        if critical_of.get(*h as usize).copied().unwrap_or(false) {
            if let Some(n) = counts.get_mut(k).and_then(|c| c.critical.as_mut()) {
                *n += 1;
            }
        }
    }
}

fn u64_at(df: &DataFrame, name: &str) -> Result<Vec<u64>, AnalyticsError> {
    let column = df.column(name)?.cast(&DataType::UInt64)?;
    Ok(column.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

/// Groups `pairs` (one row per cluster key × host) into per-key counts.
fn level_counts(
    pairs: &DataFrame,
    key: &str,
    end_ms: Option<i64>,
    p: &HostStateParams,
) -> Result<HashMap<u32, Counts>, AnalyticsError> {
    let recovered = match end_ms {
        Some(end) => {
            let cutoff = end.saturating_sub(
                (p.recovery_window_s.saturating_mul(1000)).min(i64::MAX as u64) as i64,
            );
            col("last").lt_eq(lit(cutoff)).fill_null(lit(false))
        }
        None => lit(false),
    };
    // A host down (no heartbeat since its last crash, issue 15) did not recover.
    let down = col("state").eq(lit(u32::from(HostState::Down.code())));
    let df = pairs
        .clone()
        .lazy()
        .with_columns([
            col("looped").fill_null(lit(false)).alias("boot"),
            recovered.and(down.clone().not()).alias("recovered"),
            down.alias("down"),
        ])
        .with_columns([col("recovered")
            .not()
            .and(col("host_crashes").gt(lit(1u32)))
            .alias("failing")])
        .group_by([col(key)])
        .agg([
            len().alias("hosts"),
            col("n").sum().alias("crashes"),
            col("boot").cast(DataType::UInt32).sum().alias("boot"),
            col("recovered")
                .cast(DataType::UInt32)
                .sum()
                .alias("recovered"),
            col("failing").cast(DataType::UInt32).sum().alias("failing"),
            col("down").cast(DataType::UInt32).sum().alias("down"),
            col("lost").sum().alias("lost"),
        ])
        .collect()?;
    let keys = prepare::u32_values(&df, key)?;
    let hosts = u64_at(&df, "hosts")?;
    let crashes = u64_at(&df, "crashes")?;
    let boot = u64_at(&df, "boot")?;
    let rec = u64_at(&df, "recovered")?;
    let fail = u64_at(&df, "failing")?;
    let down = u64_at(&df, "down")?;
    let lost: Vec<i64> = df
        .column("lost")?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let mut out = HashMap::with_capacity(keys.len());
    for i in 0..keys.len() {
        out.insert(
            keys[i],
            Counts {
                crashes: crashes[i],
                hosts: hosts[i],
                boot_loop: boot[i],
                recovered: rec[i],
                still_failing: fail[i],
                down: down[i],
                lost_ms: lost[i],
                listed: None,
                rotated_only: 0,
                critical: None,
            },
        );
    }
    Ok(out)
}

/// Aggregations that roll `pairs` of a finer level up to a coarser key.
fn pair_rollup(finer: &DataFrame, key: &str, carry: &[&str]) -> Result<DataFrame, AnalyticsError> {
    let mut aggs = vec![
        col("n").sum().alias("n"),
        col("last").max().alias("last"),
        col("lost").sum().alias("lost"),
        col("looped").any(true).alias("looped"),
        col("host_crashes").first().alias("host_crashes"),
        col("state").first().alias("state"),
    ];
    for c in carry {
        aggs.push(col(*c).first().alias(*c));
    }
    Ok(finer
        .clone()
        .lazy()
        .group_by([col(key), col("host_idx")])
        .agg(aggs)
        .collect()?)
}

/// Largest dense (key × value) counter array a breakdown allocates (8 bytes each).
const DENSE_COUNT_LIMIT: usize = 4_000_000;

/// Value name of the hosts summed over a column's less frequent values.
const OTHER_VALUES: &str = "(other)";

/// Hosts per inventory value, per key of one level. Counting walks the level's (key, host)
/// pairs once per inventory column, looking the host's value code up in a dense array: the
/// pairs are one per cluster and host (about the number of crashing hosts), and this is the
/// cheapest exact count. Per key and column, the `limit` largest values are kept and the rest
/// summed under "(other)" (a serial-number column would otherwise list every host).
fn level_breakdown(
    (keys, hosts): &(Vec<u32>, Vec<u32>),
    inventory: &prepare::InventoryCodes,
    limit: usize,
) -> Result<HashMap<u32, Breakdown>, AnalyticsError> {
    let mut out: HashMap<u32, Breakdown> = HashMap::new();
    for (codes, (column, dictionary)) in inventory.codes.iter().zip(inventory.dictionaries.iter()) {
        let mut per_key: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
        let width = dictionary.len().max(1);
        let key_count = keys.iter().max().map_or(0, |k| *k as usize + 1);
        if key_count.saturating_mul(width) <= DENSE_COUNT_LIMIT {
            // Few keys × few values (the usual case): a dense counter array.
            let mut counts = vec![0u64; key_count * width];
            for (k, h) in keys.iter().zip(hosts) {
                let code = codes.get(*h as usize).copied().unwrap_or(0) as usize;
                if let Some(slot) = counts.get_mut(*k as usize * width + code.min(width - 1)) {
                    *slot += 1;
                }
            }
            for (i, n) in counts.into_iter().enumerate() {
                if n > 0 {
                    per_key
                        .entry((i / width) as u32)
                        .or_default()
                        .push((n, (i % width) as u32));
                }
            }
        } else {
            let mut counts: PlHashMap<(u32, u32), u64> = PlHashMap::new();
            for (k, h) in keys.iter().zip(hosts) {
                let code = codes.get(*h as usize).copied().unwrap_or(0);
                *counts.entry((*k, code)).or_insert(0) += 1;
            }
            for ((k, code), n) in counts {
                per_key.entry(k).or_default().push((n, code));
            }
        }
        for (k, mut values) in per_key {
            // Largest first; ties by value name (codes follow host order, which is arbitrary).
            let name = |code: u32| dictionary.get(code as usize).map_or("", |v| &**v);
            values.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| name(a.1).cmp(name(b.1))));
            let mut map: BTreeMap<String, u64> = BTreeMap::new();
            let mut other = 0u64;
            for (i, (n, code)) in values.into_iter().enumerate() {
                if limit > 0 && i >= limit {
                    other += n;
                    continue;
                }
                let value = dictionary
                    .get(code as usize)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                *map.entry(value).or_insert(0) += n;
            }
            if other > 0 {
                *map.entry(OTHER_VALUES.to_string()).or_insert(0) += other;
            }
            out.entry(k).or_default().insert(column.to_string(), map);
        }
    }
    Ok(out)
}

/// First/last seen and the onset buckets of each signature.
struct SigTimes {
    first: HashMap<u32, i64>,
    last: HashMap<u32, i64>,
    onset: HashMap<u32, BTreeMap<i64, u64>>,
}

fn sig_times(rows: &DataFrame, origin_ms: i64, bucket_ms: i64) -> Result<SigTimes, AnalyticsError> {
    let extent = rows
        .clone()
        .lazy()
        .group_by([col("sig")])
        .agg([col("t").min().alias("first"), col("t").max().alias("last")])
        .collect()?;
    let sig = prepare::u32_values(&extent, "sig")?;
    let first = extent.column("first")?.i64()?;
    let last = extent.column("last")?.i64()?;
    let mut out = SigTimes {
        first: HashMap::new(),
        last: HashMap::new(),
        onset: HashMap::new(),
    };
    for (i, s) in sig.iter().enumerate() {
        if let Some(f) = first.get(i) {
            out.first.insert(*s, f);
        }
        if let Some(l) = last.get(i) {
            out.last.insert(*s, l);
        }
    }
    let buckets = rows
        .clone()
        .lazy()
        .filter(col("t").is_not_null())
        .with_column(((col("t") - lit(origin_ms)) / lit(bucket_ms)).alias("b"))
        .group_by([col("sig"), col("b")])
        .agg([len().alias("n")])
        .collect()?;
    let sig = prepare::u32_values(&buckets, "sig")?;
    let b = buckets.column("b")?.i64()?;
    let n = u64_at(&buckets, "n")?;
    for i in 0..sig.len() {
        if let Some(bucket) = b.get(i) {
            *out.onset
                .entry(sig[i])
                .or_default()
                .entry(bucket)
                .or_insert(0) += n[i];
        }
    }
    Ok(out)
}

/// Driver -> distinct hosts loading it, and the number of hosts with any driver data, in
/// the window and host scope.
fn exposure(
    drivers: LazyFrame,
    prepared: &Prepared,
    window_open: bool,
    scoped_hosts: Option<&DataFrame>,
    wanted: &[String],
) -> Result<(HashMap<String, u64>, u64), AnalyticsError> {
    let mut dl = drivers.select([
        col("dump_id"),
        col("host"),
        // Lower-case base names already (store contract).
        col("driver"),
    ]);
    if !window_open {
        let dumps = prepared
            .base
            .clone()
            .lazy()
            .select([col("dump_id")])
            .unique(None, UniqueKeepStrategy::Any);
        dl = dl.join(
            dumps,
            [col("dump_id")],
            [col("dump_id")],
            JoinArgs::new(JoinType::Inner),
        );
    }
    if let Some(hosts) = scoped_hosts {
        dl = dl.join(
            hosts.clone().lazy().select([col("host")]),
            [col("host")],
            [col("host")],
            JoinArgs::new(JoinType::Inner),
        );
    }
    let dl = dl.select([col("host"), col("driver")]).collect()?;
    let known = dl
        .clone()
        .lazy()
        .select([col("host").n_unique().cast(DataType::UInt64).alias("n")])
        .collect()?;
    let known = known.column("n")?.u64()?.get(0).unwrap_or(0);
    let wanted_df = DataFrame::new(
        wanted.len(),
        vec![Column::new("driver".into(), wanted.to_vec())],
    )?;
    let per_driver = dl
        .lazy()
        .join(
            wanted_df.lazy(),
            [col("driver")],
            [col("driver")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("driver")])
        .agg([col("host").n_unique().cast(DataType::UInt64).alias("hosts")])
        .collect()?;
    let names = per_driver.column("driver")?.str()?;
    let hosts = per_driver.column("hosts")?.u64()?;
    let mut out = HashMap::new();
    for i in 0..per_driver.height() {
        if let (Some(name), Some(h)) = (names.get(i), hosts.get(i)) {
            out.insert(name.to_string(), h);
        }
    }
    Ok((out, known))
}

/// Rows further apart than this are read by separate range scans (see below).
const REP_RANGE_GAP: IdxSize = 65_536;

/// Representative frames of each signature in `sigs`: the stack of the signature's first
/// dump in scan order, starting at the blamed frame (the frames above it are the bugcheck
/// machinery).
///
/// Reading list columns is the costly part: Parquet readers decode a nested column for a whole
/// row group even when a predicate keeps one row of it. So the representatives (first
/// occurrences, hence mostly early in the table) are grouped into row ranges, each range is
/// read with a slice (which the scan pushes down: row groups outside it are skipped) and
/// filtered on dump_id.
fn representative_stacks(
    crashes: LazyFrame,
    prepared: &Prepared,
    sigs: &[u32],
    interner: &mut FrameInterner,
) -> Result<HashMap<u32, Vec<u32>>, AnalyticsError> {
    let mut crashes = crashes;
    let schema = crashes.collect_schema()?;
    for c in [
        "stack_module",
        "stack_function",
        "stack_offset",
        "stack_address",
    ] {
        if schema.get(c).is_none() {
            return Ok(HashMap::new());
        }
    }
    // dump_id -> signatures it represents, and (row, dump_id) sorted by row.
    let mut wanted: HashMap<String, Vec<u32>> = HashMap::new();
    let mut by_row: Vec<(IdxSize, String)> = Vec::new();
    for &s in sigs {
        let Some(info) = prepared.sigs.get(s as usize) else {
            continue;
        };
        let (Some(d), Some(r)) = (info.rep_dump_id.clone(), info.rep_row) else {
            continue;
        };
        let entry = wanted.entry(d.clone()).or_default();
        if entry.is_empty() {
            by_row.push((r, d));
        }
        entry.push(s);
    }
    by_row.sort();
    let mut ranges: Vec<(IdxSize, IdxSize, Vec<String>)> = Vec::new();
    for (r, d) in by_row {
        match ranges.last_mut() {
            Some((_, end, dumps)) if r.saturating_sub(*end) <= REP_RANGE_GAP => {
                *end = r;
                dumps.push(d);
            }
            _ => ranges.push((r, r, vec![d])),
        }
    }
    let has_index = schema.get("blame_frame_index").is_some();
    let mut out = HashMap::new();
    for (start, end, dumps) in ranges {
        // A balanced OR of equalities (no `is_in` in this polars build) keeps the expression
        // tree shallow.
        let mut terms: Vec<Expr> = dumps
            .iter()
            .map(|d| col("dump_id").eq(lit(d.clone())))
            .collect();
        while terms.len() > 1 {
            let mut next = Vec::with_capacity(terms.len().div_ceil(2));
            let mut it = terms.into_iter();
            while let Some(a) = it.next() {
                match it.next() {
                    Some(b) => next.push(a.or(b)),
                    None => next.push(a),
                }
            }
            terms = next;
        }
        let Some(predicate) = terms.pop() else {
            continue;
        };
        let df = crashes
            .clone()
            .slice(i64::from(start), end - start + 1)
            .filter(predicate)
            .select([
                col("dump_id"),
                col("stack_module"),
                col("stack_function"),
                col("stack_offset"),
                col("stack_address"),
                if has_index {
                    col("blame_frame_index").cast(DataType::UInt32)
                } else {
                    lit(NULL).cast(DataType::UInt32).alias("blame_frame_index")
                },
            ])
            .collect()?;
        let dump = df.column("dump_id")?.str()?;
        let modules = df.column("stack_module")?.list()?;
        let functions = df.column("stack_function")?.list()?;
        let offsets = df.column("stack_offset")?.list()?;
        let addresses = df.column("stack_address")?.list()?;
        let index = df.column("blame_frame_index")?.u32()?;
        for i in 0..df.height() {
            let Some(d) = dump.get(i) else { continue };
            let Some(targets) = wanted.remove(d) else {
                continue;
            };
            let m = modules.get_as_series(i);
            let f = functions.get_as_series(i);
            let o = offsets.get_as_series(i);
            let a = addresses.get_as_series(i);
            let (Some(m), Some(f), Some(o), Some(a)) = (m, f, o, a) else {
                continue;
            };
            let (m, f, o, a) = (m.str()?, f.str()?, o.str()?, a.str()?);
            let len = m.len().min(f.len()).min(o.len()).min(a.len());
            let start = index
                .get(i)
                .map(|x| x as usize)
                .filter(|&x| x < len)
                .unwrap_or(0);
            let frames: Vec<u32> = (start..len)
                .map(|k| {
                    interner.intern(similarity::normalize_frame(
                        m.get(k),
                        f.get(k),
                        o.get(k),
                        a.get(k),
                    ))
                })
                .collect();
            for s in targets {
                out.insert(s, frames.clone());
            }
        }
    }
    Ok(out)
}

/// Related-signature links inside each driver cluster: sig -> [(other sig, similarity)].
fn related_links(
    crashes: LazyFrame,
    prepared: &Prepared,
    sig_crashes: &HashMap<u32, u64>,
    params: &SimilarityParams,
) -> Result<HashMap<u32, Vec<(u32, f64)>>, AnalyticsError> {
    // Signatures per driver cause, largest first.
    let mut by_cause: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&s, _) in sig_crashes.iter() {
        let Some(info) = prepared.sigs.get(s as usize) else {
            continue;
        };
        if prepared.causes[info.cause as usize].driver.is_some() {
            by_cause.entry(info.cause).or_default().push(s);
        }
    }
    let mut candidates: Vec<u32> = Vec::new();
    for sigs in by_cause.values_mut() {
        sigs.sort_by(|a, b| sig_crashes.get(b).cmp(&sig_crashes.get(a)).then(a.cmp(b)));
        sigs.truncate(params.max_signatures_per_driver);
        if sigs.len() >= 2 {
            candidates.extend(sigs.iter().copied());
        }
    }
    let mut out: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
    if candidates.is_empty() {
        return Ok(out);
    }
    let mut interner = FrameInterner::default();
    let stacks = representative_stacks(crashes, prepared, &candidates, &mut interner)?;
    for sigs in by_cause.values() {
        if sigs.len() < 2 {
            continue;
        }
        let present: Vec<u32> = sigs
            .iter()
            .copied()
            .filter(|s| stacks.contains_key(s))
            .collect();
        let frames: Vec<Vec<u32>> = present.iter().map(|s| stacks[s].clone()).collect();
        for link in similarity::link_related(&frames, params) {
            let (a, b) = (present[link.a], present[link.b]);
            out.entry(a).or_default().push((b, link.similarity));
            out.entry(b).or_default().push((a, link.similarity));
        }
    }
    Ok(out)
}

fn code_hex(code: u32) -> String {
    format!("0x{code:X}")
}

fn share(part: u64, whole: Option<u64>) -> Option<f64> {
    match whole {
        Some(w) if w > 0 => Some(part as f64 / w as f64),
        _ => None,
    }
}

/// Builds the onset curve from bucket -> count.
fn onset_of(buckets: &BTreeMap<i64, u64>, origin_ms: i64, bucket_ms: i64) -> Onset {
    let bucket_seconds = bucket_ms / 1000;
    let (Some((&first, _)), Some((&last, _))) = (buckets.iter().next(), buckets.iter().next_back())
    else {
        return Onset {
            bucket_seconds,
            start: None,
            counts: Vec::new(),
            peak_crashes: 0,
            peak_at: None,
        };
    };
    let counts: Vec<u64> = (first..=last)
        .map(|b| buckets.get(&b).copied().unwrap_or(0))
        .collect();
    let (peak_bucket, peak) =
        buckets.iter().fold(
            (first, 0u64),
            |(pb, pn), (&b, &n)| if n > pn { (b, n) } else { (pb, pn) },
        );
    let at = |b: i64| rfc3339_utc(origin_ms.saturating_add(b.saturating_mul(bucket_ms)));
    Onset {
        bucket_seconds,
        start: at(first),
        counts,
        peak_crashes: peak,
        peak_at: at(peak_bucket),
    }
}

/// Everything needed to assemble nodes.
struct Assembly<'a> {
    prepared: &'a Prepared,
    fleet_hosts: Option<u64>,
    exposure: Option<(HashMap<String, u64>, u64)>,
    origin_ms: i64,
    bucket_ms: i64,
}

/// Fields shared by the three levels, from the node's signatures.
struct NodeFacts {
    owner: Option<String>,
    third_party: bool,
    failure_class: String,
    codes: Vec<u32>,
    first: Option<i64>,
    last: Option<i64>,
    onset: BTreeMap<i64, u64>,
}

impl Assembly<'_> {
    fn facts(&self, sigs: &[u32], times: &SigTimes, by_crashes: &HashMap<u32, u64>) -> NodeFacts {
        let mut ordered: Vec<u32> = sigs.to_vec();
        ordered.sort_by(|a, b| by_crashes.get(b).cmp(&by_crashes.get(a)).then(a.cmp(b)));
        let infos: Vec<&prepare::SigInfo> = ordered
            .iter()
            .filter_map(|s| self.prepared.sigs.get(*s as usize))
            .collect();
        let mut codes: Vec<u32> = infos
            .iter()
            .flat_map(|i| i.bugcheck_codes.iter().copied())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        let mut onset: BTreeMap<i64, u64> = BTreeMap::new();
        for s in &ordered {
            if let Some(m) = times.onset.get(s) {
                for (&b, &n) in m {
                    *onset.entry(b).or_insert(0) += n;
                }
            }
        }
        NodeFacts {
            owner: infos.iter().find_map(|i| i.owner.clone()),
            third_party: infos.iter().any(|i| i.third_party),
            failure_class: infos
                .first()
                .map(|i| i.failure_class.clone())
                .unwrap_or_default(),
            codes,
            first: ordered
                .iter()
                .filter_map(|s| times.first.get(s))
                .min()
                .copied(),
            last: ordered
                .iter()
                .filter_map(|s| times.last.get(s))
                .max()
                .copied(),
            onset,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        level: ClusterLevel,
        id: String,
        cause: u32,
        bucket_id: String,
        signature: String,
        counts: &Counts,
        facts: NodeFacts,
        breakdown: Breakdown,
        children: Vec<ClusterNode>,
    ) -> ClusterNode {
        let cause_info = &self.prepared.causes[cause as usize];
        let exposed = match (&self.exposure, &cause_info.driver) {
            (Some((per_driver, _)), Some(d)) => Some(per_driver.get(d).copied().unwrap_or(0)),
            _ => None,
        };
        let known = self.exposure.as_ref().map(|(_, k)| *k);
        let onset = onset_of(&facts.onset, self.origin_ms, self.bucket_ms);
        let peak_rate_per_hour = if self.bucket_ms > 0 {
            onset.peak_crashes as f64 * 3_600_000.0 / self.bucket_ms as f64
        } else {
            0.0
        };
        ClusterNode {
            id,
            level,
            driver: cause_info.driver.clone(),
            cause: cause_info.key.clone(),
            owner: facts.owner,
            third_party: facts.third_party,
            failure_class: facts.failure_class,
            bugcheck_codes: facts.codes.iter().map(|c| code_hex(*c)).collect(),
            bucket_id,
            signature,
            crashes: counts.crashes,
            hosts: counts.hosts,
            fleet_share: share(counts.listed.unwrap_or(counts.hosts), self.fleet_hosts),
            exposed_hosts: exposed,
            exposed_share: exposed.and_then(|e| share(e, known)),
            exposed_hit_share: exposed
                .and_then(|e| share(counts.hosts.saturating_sub(counts.rotated_only), Some(e))),
            boot_loop_hosts: counts.boot_loop,
            recovered_hosts: counts.recovered,
            still_failing_hosts: counts.still_failing,
            down_hosts: counts.down,
            critical_hosts: counts.critical,
            first_seen: facts.first.and_then(rfc3339_utc),
            last_seen: facts.last.and_then(rfc3339_utc),
            first_seen_ms: facts.first,
            last_seen_ms: facts.last,
            host_hours_lost: counts.lost_ms as f64 / 3_600_000.0,
            peak_rate_per_hour,
            onset,
            breakdown,
            children,
            related: Vec::new(),
        }
    }
}

/// Blast-radius order: hosts, then crashes, then id (deterministic).
fn sort_nodes(nodes: &mut [ClusterNode]) {
    nodes.sort_by(|a, b| {
        b.hosts
            .cmp(&a.hosts)
            .then(b.crashes.cmp(&a.crashes))
            .then(a.cause.cmp(&b.cause))
            .then(a.bucket_id.cmp(&b.bucket_id))
            .then(a.signature.cmp(&b.signature))
    });
}

/// Assembles the table from a prepared window.
pub(crate) fn cluster_table(
    prepared: &Prepared,
    crashes: LazyFrame,
    drivers: Option<LazyFrame>,
    inventory: Option<&DataFrame>,
    codes: Option<&prepare::InventoryCodes>,
    opts: &ClusterOptions,
) -> Result<ClusterTable, AnalyticsError> {
    let mut phase = super::Phase::start("clusters: scope");
    let prepare::Scoped {
        rows,
        fleet_hosts,
        hosts: scoped_hosts,
    } = prepared.scoped_rows(&opts.scope, inventory)?;
    let end_ms = prepared.end_ms;

    // Onset bucket size from the window's span.
    let span = match (prepared.start_ms, prepared.end_ms) {
        (Some(s), Some(e)) => e.saturating_sub(s),
        _ => 0,
    };
    let bucket_s = match opts.bucket_seconds {
        Some(b) if b <= 0 => {
            return Err(AnalyticsError::BadArgument(
                "the onset bucket must be at least 1 s".into(),
            ))
        }
        Some(b) => {
            if span / 1000 / b > 10_000 {
                return Err(AnalyticsError::BadArgument(format!(
                    "an onset bucket of {b} s gives more than 10,000 buckets over this window; choose a larger one"
                )));
            }
            b
        }
        None => bucket_seconds_for_span(span),
    };
    let bucket_ms = bucket_s * 1000;
    let origin_ms = prepared
        .start_ms
        .map(|s| s.div_euclid(bucket_ms) * bucket_ms)
        .unwrap_or(0);

    // (cluster, host) pairs at the three levels.
    phase.next("clusters: pairs");
    let pairs3 = rows
        .clone()
        .lazy()
        .group_by([col("sig"), col("host_idx")])
        .agg([
            len().alias("n"),
            col("t").max().alias("last"),
            col("lost_ms").sum().alias("lost"),
            col("in_loop").any(true).alias("looped"),
            col("host_crashes").first().alias("host_crashes"),
            col("state").first().alias("state"),
            col("bkt").first().alias("bkt"),
            col("cause").first().alias("cause"),
        ])
        .collect()?;
    let pairs2 = pair_rollup(&pairs3, "bkt", &["cause"])?;
    let pairs1 = pair_rollup(&pairs2, "cause", &[])?;
    let p = &opts.host_states;
    let mut counts3 = level_counts(&pairs3, "sig", end_ms, p)?;
    let mut counts2 = level_counts(&pairs2, "bkt", end_ms, p)?;
    let mut counts1 = level_counts(&pairs1, "cause", end_ms, p)?;
    let listed = match inventory {
        Some(inv) => Some(prepared.listed_hosts(inv)?),
        None => None,
    };
    if let Some(listed) = &listed {
        count_listed(&pairs3, "sig", &mut counts3, listed)?;
        count_listed(&pairs2, "bkt", &mut counts2, listed)?;
        count_listed(&pairs1, "cause", &mut counts1, listed)?;
    }
    let allowed: Option<HashSet<u32>> = match &scoped_hosts {
        Some(df) => Some(prepare::u32_values(df, "host_idx")?.into_iter().collect()),
        None => None,
    };
    let cause_index: HashMap<&str, u32> = prepared
        .causes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| u32::try_from(i).ok().map(|i| (c.key.as_str(), i)))
        .collect();
    let bucket_index: HashMap<(u32, &str), u32> = prepared
        .buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            u32::try_from(i)
                .ok()
                .map(|i| ((b.cause, b.bucket_id.as_str()), i))
        })
        .collect();
    let added1 = add_rotated_hosts(
        prepared,
        &pairs1,
        "cause",
        &mut counts1,
        allowed.as_ref(),
        listed.as_deref(),
        |info| {
            info.rotated_clusters
                .iter()
                .filter_map(|k| cause_index.get(k.as_str()).copied())
                .collect()
        },
    )?;
    let added2 = add_rotated_hosts(
        prepared,
        &pairs2,
        "bkt",
        &mut counts2,
        allowed.as_ref(),
        listed.as_deref(),
        |info| {
            let causes: Vec<u32> = info
                .rotated_clusters
                .iter()
                .filter_map(|k| cause_index.get(k.as_str()).copied())
                .collect();
            info.rotated_buckets
                .iter()
                .flat_map(|b| {
                    causes
                        .iter()
                        .filter_map(|c| bucket_index.get(&(*c, b.as_str())).copied())
                })
                .collect()
        },
    )?;

    phase.next("clusters: breakdown");
    // Breakdowns and critical hosts over the same hosts as `hosts`: the rows' pairs plus the
    // hosts looping with their dumps rotated away.
    let level3 = level_pairs(&pairs3, "sig", &[])?;
    let level2 = level_pairs(&pairs2, "bkt", &added2)?;
    let level1 = level_pairs(&pairs1, "cause", &added1)?;
    let (bd3, bd2, bd1) = match codes {
        Some(codes) => {
            let limit = opts.breakdown_limit;
            (
                level_breakdown(&level3, codes, limit)?,
                level_breakdown(&level2, codes, limit)?,
                level_breakdown(&level1, codes, limit)?,
            )
        }
        None => (HashMap::new(), HashMap::new(), HashMap::new()),
    };
    if let Some(critical) = match inventory {
        Some(inv) => opts.critical.hosts(inv)?,
        None => None,
    } {
        let critical_of: Vec<bool> = prepared
            .hosts
            .iter()
            .map(|h| critical.contains(&h.name))
            .collect();
        count_critical(&level3, &mut counts3, &critical_of);
        count_critical(&level2, &mut counts2, &critical_of);
        count_critical(&level1, &mut counts1, &critical_of);
    }

    phase.next("clusters: onset");
    let times = sig_times(&rows, origin_ms, bucket_ms)?;
    let sig_crashes: HashMap<u32, u64> = counts3.iter().map(|(k, c)| (*k, c.crashes)).collect();

    phase.next("clusters: exposure");
    let exposure = match drivers {
        Some(d) => {
            let wanted: Vec<String> = counts1
                .keys()
                .filter_map(|c| {
                    prepared
                        .causes
                        .get(*c as usize)
                        .and_then(|x| x.driver.clone())
                })
                .collect();
            Some(exposure(
                d,
                prepared,
                opts.scope.window.is_open(),
                scoped_hosts.as_ref(),
                &wanted,
            )?)
        }
        None => None,
    };
    let hosts_with_driver_data = exposure.as_ref().map(|(_, k)| *k);

    phase.next("clusters: related");
    let related = match &opts.similarity {
        Some(params) => related_links(crashes, prepared, &sig_crashes, params)?,
        None => HashMap::new(),
    };

    phase.next("clusters: assemble");
    let asm = Assembly {
        prepared,
        fleet_hosts,
        exposure,
        origin_ms,
        bucket_ms,
    };

    // Signatures per bucket, buckets per cause, among those in scope.
    let mut sigs_of_bucket: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &s in counts3.keys() {
        if let Some(info) = prepared.sigs.get(s as usize) {
            sigs_of_bucket.entry(info.bkt).or_default().push(s);
        }
    }
    let mut buckets_of_cause: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &b in sigs_of_bucket.keys() {
        if let Some(info) = prepared.buckets.get(b as usize) {
            buckets_of_cause.entry(info.cause).or_default().push(b);
        }
    }

    let empty = Counts::default();
    let mut top: Vec<ClusterNode> = Vec::new();
    for (&cause, bkts) in &buckets_of_cause {
        let mut bucket_nodes = Vec::new();
        let mut cause_sigs: Vec<u32> = Vec::new();
        for &b in bkts {
            let sigs = sigs_of_bucket.get(&b).cloned().unwrap_or_default();
            cause_sigs.extend(sigs.iter().copied());
            let bucket_info = &prepared.buckets[b as usize];
            let mut sig_nodes = Vec::new();
            for &s in &sigs {
                let info = &prepared.sigs[s as usize];
                let facts = asm.facts(&[s], &times, &sig_crashes);
                let mut node = asm.node(
                    ClusterLevel::Signature,
                    info.id.clone(),
                    cause,
                    bucket_info.bucket_id.clone(),
                    info.signature.clone(),
                    counts3.get(&s).unwrap_or(&empty),
                    facts,
                    bd3.get(&s).cloned().unwrap_or_default(),
                    Vec::new(),
                );
                if let Some(links) = related.get(&s) {
                    let mut rel: Vec<RelatedSignature> = links
                        .iter()
                        .filter_map(|(other, sim)| {
                            prepared
                                .sigs
                                .get(*other as usize)
                                .map(|o| RelatedSignature {
                                    id: o.id.clone(),
                                    signature: o.signature.clone(),
                                    similarity: (*sim * 1000.0).round() / 1000.0,
                                })
                        })
                        .collect();
                    rel.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
                    node.related = rel;
                }
                sig_nodes.push(node);
            }
            sort_nodes(&mut sig_nodes);
            let top_sig = sig_nodes
                .first()
                .map(|n| n.signature.clone())
                .unwrap_or_default();
            let facts = asm.facts(&sigs, &times, &sig_crashes);
            bucket_nodes.push(asm.node(
                ClusterLevel::Bucket,
                bucket_info.id.clone(),
                cause,
                bucket_info.bucket_id.clone(),
                top_sig,
                counts2.get(&b).unwrap_or(&empty),
                facts,
                bd2.get(&b).cloned().unwrap_or_default(),
                sig_nodes,
            ));
        }
        sort_nodes(&mut bucket_nodes);
        let (top_bucket, top_sig) = bucket_nodes
            .first()
            .map(|n| (n.bucket_id.clone(), n.signature.clone()))
            .unwrap_or_default();
        let facts = asm.facts(&cause_sigs, &times, &sig_crashes);
        top.push(asm.node(
            ClusterLevel::Driver,
            prepared.causes[cause as usize].id.clone(),
            cause,
            top_bucket,
            top_sig,
            counts1.get(&cause).unwrap_or(&empty),
            facts,
            bd1.get(&cause).cloned().unwrap_or_default(),
            bucket_nodes,
        ));
    }
    sort_nodes(&mut top);

    drop(phase);
    let hosts_in_scope = rows
        .clone()
        .lazy()
        .select([col("host_idx").n_unique().cast(DataType::UInt64).alias("n")])
        .collect()?;
    let hosts = hosts_in_scope.column("n")?.u64()?.get(0).unwrap_or(0);
    Ok(ClusterTable {
        fleet_hosts,
        clusters: top,
        crashes: rows.height() as u64,
        hosts,
        hosts_with_driver_data,
        window_start: prepared.start_ms.and_then(rfc3339_utc),
        window_end: prepared.end_ms.and_then(rfc3339_utc),
        window_end_ms: prepared.end_ms,
        data_end: prepared.data_end.clone(),
        warnings: prepared.data_end.warnings(),
        critical_rule: opts.critical.describe(),
    })
}

/// Which cluster each dump landed in, at every level, for scoring against a reference
/// (`scoring::bcubed`). Columns: `dump_id`, `driver_cluster`, `bucket_cluster`,
/// `signature_cluster` (the ids of the three levels) and `related_group` (the id of the
/// largest signature among those linked to this one as related, transitively, inside its
/// driver cluster: the partition one gets by merging related signatures).
pub fn cluster_assignments(
    crashes: LazyFrame,
    opts: &ClusterOptions,
) -> Result<DataFrame, AnalyticsError> {
    let prepared = prepare::prepare(crashes.clone(), &opts.scope.window, opts.host_states)?;
    let sig_crashes: HashMap<u32, u64> = {
        let counts = prepared
            .rows
            .clone()
            .lazy()
            .group_by([col("sig")])
            .agg([len().alias("n")])
            .collect()?;
        let s = prepare::u32_values(&counts, "sig")?;
        let n = u64_at(&counts, "n")?;
        s.into_iter().zip(n).collect()
    };
    let links = match &opts.similarity {
        Some(params) => related_links(crashes, &prepared, &sig_crashes, params)?,
        None => HashMap::new(),
    };
    // Union-find over signatures; each group is named after its largest member.
    let n = prepared.sigs.len();
    let mut flat = Vec::new();
    for (&a, others) in &links {
        for (b, sim) in others {
            flat.push(similarity::Link {
                a: a as usize,
                b: *b as usize,
                similarity: *sim,
            });
        }
    }
    let roots = similarity::connected_groups(n, &flat);
    let mut leader: HashMap<usize, usize> = HashMap::new();
    for s in 0..n {
        let r = roots[s];
        let e = leader.entry(r).or_insert(s);
        let cur = sig_crashes.get(&(*e as u32)).copied().unwrap_or(0);
        let cand = sig_crashes.get(&(s as u32)).copied().unwrap_or(0);
        if cand > cur {
            *e = s;
        }
    }
    let sig_of_row = prepared
        .rows
        .clone()
        .lazy()
        .select([col("row"), col("sig")])
        .sort(["row"], SortMultipleOptions::default())
        .collect()?;
    let rows_idx = prepared.base.column("row")?.idx()?.clone();
    let mut sig_by_row: HashMap<u32, u32> = HashMap::with_capacity(sig_of_row.height());
    {
        let r = sig_of_row.column("row")?.idx()?;
        let s = sig_of_row.column("sig")?.u32()?;
        for (r, s) in r.iter().zip(s.iter()) {
            if let (Some(r), Some(s)) = (r, s) {
                sig_by_row.insert(r, s);
            }
        }
    }
    let dump = prepared.base.column("dump_id")?.str()?;
    let mut out_dump: Vec<Option<&str>> = Vec::with_capacity(dump.len());
    let (mut d1, mut d2, mut d3, mut d4) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, r) in rows_idx.iter().enumerate() {
        let Some(s) = r.and_then(|r| sig_by_row.get(&r)).copied() else {
            continue;
        };
        let Some(info) = prepared.sigs.get(s as usize) else {
            continue;
        };
        out_dump.push(dump.get(i));
        d1.push(prepared.causes[info.cause as usize].id.clone());
        d2.push(prepared.buckets[info.bkt as usize].id.clone());
        d3.push(info.id.clone());
        let root = roots
            .get(s as usize)
            .and_then(|r| leader.get(r))
            .copied()
            .unwrap_or(s as usize);
        d4.push(
            prepared
                .sigs
                .get(root)
                .map(|x| x.id.clone())
                .unwrap_or_default(),
        );
    }
    let height = out_dump.len();
    Ok(DataFrame::new(
        height,
        vec![
            Column::new("dump_id".into(), out_dump),
            Column::new("driver_cluster".into(), d1),
            Column::new("bucket_cluster".into(), d2),
            Column::new("signature_cluster".into(), d3),
            Column::new("related_group".into(), d4),
        ],
    )?)
}

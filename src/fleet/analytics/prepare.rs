//! The shared first stage of every analysis: read the window's crash rows once, give
//! signatures and hosts integer indexes, and run the host state machine.
//!
//! Output (`Prepared`):
//! - `base`: one row per crash in the window, the columns the analyses need (strings kept);
//! - `sigs` / `buckets` / `causes`: the three cluster levels as small tables (index = key);
//! - `hosts`: one entry per host with its verdict;
//! - `rows`: one row per crash, in `base` order, with integer keys only (`row`, `host_idx`,
//!   `t`, `sig`, `bkt`, `cause`) plus the per-crash outputs of the state machine (`lost_ms`,
//!   `in_loop`: the crash belongs to a boot loop) and the host's `state` / `host_crashes`
//!   repeated on each of its rows, so that later group-bys need no join to know a host's state.
//!
//! No join and no global sort: signature and host groups come from polars group-bys that
//! also return each group's row positions, and the per-crash results are scattered back by
//! position; only each host's own few crashes are sorted by time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use polars::prelude::*;

use super::hoststate::{self, HostCrashes, HostState, HostStateParams, HostVerdict};
use super::window::{self, DataEnd, EndBasis, SkewedHost, Window};
use super::{AnalyticsError, Scope};

/// Crash columns the analyses read (see the store contract).
const REQUIRED: [&str; 11] = [
    "dump_id",
    "host",
    "crash_time",
    "uptime_seconds",
    "blame_module_lc",
    "blame_owner",
    "blame_third_party",
    "failure_class",
    "bucket_id",
    "signature",
    "bugcheck_code",
];

/// Placeholder host name for rows without one (the store always sets a host; be safe).
pub(crate) const UNKNOWN_HOST: &str = "(unknown host)";
/// Cause of a crash that names neither a driver nor a failure class.
pub(crate) const UNKNOWN_CAUSE: &str = "UNKNOWN";
/// Breakdown value of a host the inventory does not list.
pub(crate) const NOT_IN_INVENTORY: &str = "(not in inventory)";
/// Breakdown value of an empty inventory cell.
pub(crate) const EMPTY_VALUE: &str = "(none)";

/// The three cluster levels' identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Driver,
    Bucket,
    Signature,
}

/// A stable short id for a cluster: 12 hex digits of BLAKE3 over the level and its keys.
/// Stable across runs and stores, so a script can pass it back with `--cluster`.
pub(crate) fn cluster_id(level: Level, cause: &str, bucket: &str, signature: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    match level {
        Level::Driver => {
            hasher.update(b"driver\0");
            hasher.update(cause.as_bytes());
        }
        Level::Bucket => {
            hasher.update(b"bucket\0");
            hasher.update(cause.as_bytes());
            hasher.update(b"\0");
            hasher.update(bucket.as_bytes());
        }
        Level::Signature => {
            hasher.update(b"signature\0");
            hasher.update(cause.as_bytes());
            hasher.update(b"\0");
            hasher.update(bucket.as_bytes());
            hasher.update(b"\0");
            hasher.update(signature.as_bytes());
        }
    }
    hasher.finalize().to_hex()[..12].to_string()
}

/// A signature-level cluster.
#[derive(Debug, Clone)]
pub(crate) struct SigInfo {
    pub cause: u32,
    pub bkt: u32,
    pub signature: String,
    pub failure_class: String,
    pub owner: Option<String>,
    pub third_party: bool,
    pub bugcheck_codes: Vec<u32>,
    /// The signature's first dump (scan order), whose stack represents it in the similarity
    /// pass, and its row number in the crash table's scan order.
    pub rep_dump_id: Option<String>,
    pub rep_row: Option<IdxSize>,
    pub id: String,
}

/// A bucket-level cluster.
#[derive(Debug, Clone)]
pub(crate) struct BucketInfo {
    pub cause: u32,
    pub bucket_id: String,
    pub id: String,
}

/// A driver-level cluster: a blamed driver, or a non-driver cause (failure class).
#[derive(Debug, Clone)]
pub(crate) struct CauseInfo {
    /// The level-1 key: the driver's lower-case base name, or the failure class.
    pub key: String,
    /// The driver, when the cause is one.
    pub driver: Option<String>,
    pub id: String,
}

/// A host and what its crashes in the window say.
#[derive(Debug, Clone)]
pub(crate) struct HostInfo {
    pub name: String,
    /// Some of its crashes in the window form a boot loop (now or earlier).
    pub looped: bool,
    pub verdict: HostVerdict,
    pub crashes: u32,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub min_uptime_s: Option<u64>,
    /// No crash in the window, but its kept dumps right after `--until` are a boot loop
    /// under way: it was looping at the end and its earlier dumps were rotated away (Windows
    /// keeps only the newest `MinidumpsCount`). Such a host has no rows.
    pub dumps_rotated: bool,
    /// The clusters (level-1 keys) and the buckets of those kept dumps.
    pub rotated_clusters: Vec<String>,
    pub rotated_buckets: Vec<String>,
    /// What the state rests on: heartbeats, or crash silence (set by `heartbeat_states`).
    pub state_basis: hoststate::StateBasis,
}

/// Rows in scope (`Prepared::scoped_rows`).
pub(crate) struct Scoped {
    pub rows: DataFrame,
    /// Inventory hosts that pass the inventory filters (`None` without an inventory).
    pub fleet_hosts: Option<u64>,
    /// `host_idx`, `host` of the hosts an inventory filter keeps (`None` = no such filter).
    pub hosts: Option<DataFrame>,
}

/// The prepared window (see the module doc).
pub(crate) struct Prepared {
    pub base: DataFrame,
    pub sigs: Vec<SigInfo>,
    pub buckets: Vec<BucketInfo>,
    pub causes: Vec<CauseInfo>,
    pub hosts: Vec<HostInfo>,
    pub rows: DataFrame,
    /// Earliest crash time in scope (or `--since`), latest (or `--until`).
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Where `end_ms` came from, and the clock-skewed hosts set aside.
    pub data_end: DataEnd,
}

/// `crash_time` as i64 milliseconds whatever its stored unit.
fn time_ms_expr(schema: &Schema) -> Result<Expr, AnalyticsError> {
    let dtype = schema
        .get("crash_time")
        .ok_or_else(|| AnalyticsError::MissingColumn {
            column: "crash_time".into(),
        })?;
    let physical = col("crash_time").cast(DataType::Int64);
    Ok(match dtype {
        DataType::Datetime(TimeUnit::Nanoseconds, _) => physical / lit(1_000_000i64),
        DataType::Datetime(TimeUnit::Microseconds, _) => physical / lit(1_000i64),
        _ => physical,
    })
}

/// Which columns `load_base` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseColumns {
    /// Everything the cluster and host analyses need.
    All,
    /// `dump_id`, `host`, `driver`, `t`, `row`, `pos`: enough for the exposure table, and
    /// the Parquet scan then decodes no signature or bucket strings.
    Exposure,
}

/// Reads the window's crash rows: the `base` frame, with a `row` index.
pub(crate) fn load_base(
    crashes: LazyFrame,
    window: &Window,
    columns: BaseColumns,
) -> Result<DataFrame, AnalyticsError> {
    let mut crashes = crashes;
    let schema = crashes.collect_schema()?;
    for column in REQUIRED {
        if schema.get(column).is_none() {
            return Err(AnalyticsError::MissingColumn {
                column: column.into(),
            });
        }
    }
    let t = time_ms_expr(&schema)?;
    // A driver key is a non-empty lower-case name; anything else means "no driver".
    let driver = when(col("blame_module_lc").str().len_bytes().gt(lit(0u32)))
        .then(col("blame_module_lc"))
        .otherwise(lit(NULL).cast(DataType::String));
    let failure_class = when(col("failure_class").str().len_bytes().gt(lit(0u32)))
        .then(col("failure_class"))
        .otherwise(lit(UNKNOWN_CAUSE));
    let mut select = vec![
        col("dump_id"),
        col("host").fill_null(lit(UNKNOWN_HOST)),
        t.alias("t"),
        col("uptime_seconds").cast(DataType::UInt64).alias("uptime"),
        driver.clone().alias("driver"),
        when(driver.clone().is_not_null())
            .then(driver)
            .otherwise(failure_class.clone())
            .alias("cause"),
        failure_class.alias("failure_class"),
        col("bucket_id").fill_null(lit("")),
        col("signature").fill_null(lit("")),
        col("blame_owner"),
        col("blame_third_party").fill_null(lit(false)),
        col("bugcheck_code").cast(DataType::UInt32),
    ];
    // `row` numbers the crash table in scan order before the window filter: it identifies a
    // crash in `base`, and addresses the same row in a later scan of the same store (see
    // `clusters::representative_stacks`).
    select.push(col("row"));
    if columns == BaseColumns::Exposure {
        select = vec![
            col("dump_id"),
            col("host").fill_null(lit(UNKNOWN_HOST)),
            time_ms_expr(&schema)?.alias("t"),
            when(col("blame_module_lc").str().len_bytes().gt(lit(0u32)))
                .then(col("blame_module_lc"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("driver"),
            col("row"),
        ];
    }
    let mut lf = crashes.with_row_index("row", None).select(select);
    if let Some(since) = window.since_ms {
        lf = lf.filter(col("t").gt_eq(lit(since)));
    }
    if let Some(until) = window.until_ms {
        lf = lf.filter(col("t").lt_eq(lit(until)));
    }
    // `pos` = position in `base` (0..n), for scattering per-crash results back.
    Ok(lf.with_row_index("pos", None).collect()?)
}

fn str_at<'a>(ca: &'a StringChunked, i: usize) -> Option<&'a str> {
    ca.get(i)
}

/// Builds the signature / bucket / cause tables from `base`.
/// Also returns the signature index of every crash of `base`, by position.
#[allow(clippy::type_complexity)]
fn cluster_tables(
    base: &DataFrame,
) -> Result<(Vec<SigInfo>, Vec<BucketInfo>, Vec<CauseInfo>, Vec<u32>), AnalyticsError> {
    let table = base
        .clone()
        .lazy()
        .group_by([col("cause"), col("bucket_id"), col("signature")])
        .agg([
            col("driver").first().alias("driver"),
            col("failure_class").first().alias("failure_class"),
            col("blame_owner").drop_nulls().first().alias("owner"),
            col("blame_third_party").any(true).alias("third_party"),
            col("bugcheck_code").drop_nulls().unique().alias("codes"),
            col("dump_id").first().alias("rep_dump_id"),
            col("row").first().alias("rep_row"),
            col("pos").alias("positions"),
        ])
        .sort(
            ["cause", "bucket_id", "signature"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?;
    let cause_col = table.column("cause")?.str()?;
    let bucket_col = table.column("bucket_id")?.str()?;
    let sig_col = table.column("signature")?.str()?;
    let driver_col = table.column("driver")?.str()?;
    let class_col = table.column("failure_class")?.str()?;
    let owner_col = table.column("owner")?.str()?;
    let third_col = table.column("third_party")?.bool()?;
    let codes_col = table.column("codes")?.list()?;
    let rep_dump_col = table.column("rep_dump_id")?.str()?;
    let rep_row_col = table.column("rep_row")?.idx()?;
    let positions_col = table.column("positions")?.list()?;
    let mut sig_of_pos: Vec<u32> = vec![0; base.height()];

    let mut causes: Vec<CauseInfo> = Vec::new();
    let mut cause_index: HashMap<String, u32> = HashMap::new();
    let mut buckets: Vec<BucketInfo> = Vec::new();
    let mut bucket_index: HashMap<(u32, String), u32> = HashMap::new();
    let mut sigs: Vec<SigInfo> = Vec::with_capacity(table.height());
    for i in 0..table.height() {
        let cause = str_at(cause_col, i).unwrap_or(UNKNOWN_CAUSE).to_string();
        let bucket = str_at(bucket_col, i).unwrap_or("").to_string();
        let signature = str_at(sig_col, i).unwrap_or("").to_string();
        let driver = str_at(driver_col, i).map(str::to_string);
        let c = match cause_index.get(&cause) {
            Some(&c) => c,
            None => {
                let c = causes.len() as u32;
                causes.push(CauseInfo {
                    key: cause.clone(),
                    driver: driver.clone(),
                    id: cluster_id(Level::Driver, &cause, "", ""),
                });
                cause_index.insert(cause.clone(), c);
                c
            }
        };
        let b = match bucket_index.get(&(c, bucket.clone())) {
            Some(&b) => b,
            None => {
                let b = buckets.len() as u32;
                buckets.push(BucketInfo {
                    cause: c,
                    bucket_id: bucket.clone(),
                    id: cluster_id(Level::Bucket, &cause, &bucket, ""),
                });
                bucket_index.insert((c, bucket.clone()), b);
                b
            }
        };
        let mut codes: Vec<u32> = match codes_col.get_as_series(i) {
            Some(series) => series.u32()?.iter().flatten().collect(),
            None => Vec::new(),
        };
        codes.sort_unstable();
        let s = sigs.len() as u32;
        sigs.push(SigInfo {
            cause: c,
            bkt: b,
            id: cluster_id(Level::Signature, &cause, &bucket, &signature),
            signature: signature.clone(),
            failure_class: str_at(class_col, i).unwrap_or(UNKNOWN_CAUSE).to_string(),
            owner: str_at(owner_col, i).map(str::to_string),
            third_party: third_col.get(i).unwrap_or(false),
            bugcheck_codes: codes,
            rep_dump_id: str_at(rep_dump_col, i).map(str::to_string),
            rep_row: rep_row_col.get(i),
        });
        if let Some(positions) = positions_col.get_as_series(i) {
            for p in positions.idx()?.iter().flatten() {
                if let Some(slot) = sig_of_pos.get_mut(p as usize) {
                    *slot = s;
                }
            }
        }
    }
    Ok((sigs, buckets, causes, sig_of_pos))
}

/// Runs the whole preparation (see the module doc).
pub(crate) fn prepare(
    crashes: LazyFrame,
    window: &Window,
    params: HostStateParams,
) -> Result<Prepared, AnalyticsError> {
    let phase = super::Phase::start("prepare: load");
    let after_window = window.until_ms.map(|until| (crashes.clone(), until));
    let base = load_base(crashes, window, BaseColumns::All)?;
    drop(phase);
    let phase = super::Phase::start("prepare: cluster tables");
    let (sigs, buckets, causes, sig_of_pos) = cluster_tables(&base)?;
    drop(phase);

    let _phase = super::Phase::start("prepare: host states");
    let (start_data, _) = time_extent(&base)?;
    let data_end = data_end(&base, window, chrono::Utc::now().timestamp_millis())?;
    let end_ms = data_end.end_ms;
    let start_ms = window.since_ms.or(start_data);
    // Crashes of clock-skewed hosts beyond the end cannot take part in the time rules.
    let skewed: HashSet<&str> = data_end.skewed.iter().map(|s| s.host.as_str()).collect();
    let (mut hosts, host_columns) = run_host_states(&base, end_ms, &skewed, &params)?;
    if let Some((crashes, until)) = after_window {
        mark_rotated_hosts(crashes, until, &mut hosts, &params)?;
    }

    let bkt: Vec<u32> = sig_of_pos
        .iter()
        .map(|s| sigs.get(*s as usize).map_or(0, |x| x.bkt))
        .collect();
    let cause: Vec<u32> = sig_of_pos
        .iter()
        .map(|s| sigs.get(*s as usize).map_or(0, |x| x.cause))
        .collect();
    let height = base.height();
    let mut columns = vec![
        base.column("row")?.clone(),
        base.column("t")?.clone(),
        Column::new("sig".into(), sig_of_pos),
        Column::new("bkt".into(), bkt),
        Column::new("cause".into(), cause),
    ];
    columns.extend(host_columns);
    let rows = DataFrame::new(height, columns)?;
    Ok(Prepared {
        base,
        sigs,
        buckets,
        causes,
        hosts,
        rows,
        start_ms,
        end_ms,
        data_end,
    })
}

/// Kept dumps read after `--until` per host, to judge a host with none before it.
const ROTATED_LOOK_AHEAD: usize = 3;

/// Hosts not boot-looping up to `until` whose first kept dumps after it are a boot loop
/// under way (see `HostInfo::dumps_rotated`): the first came less than `loop_gap` after
/// `until` and less than `loop_uptime` after boot, and the next ones continue the loop, at
/// least 3 crashes in all. A responder at `until` had those hosts' earlier dumps; the store,
/// written later, does not. Hosts in `hosts` are marked; hosts without any crash up to
/// `until` are added (with no rows).
fn mark_rotated_hosts(
    crashes: LazyFrame,
    until: i64,
    hosts_info: &mut Vec<HostInfo>,
    params: &HostStateParams,
) -> Result<(), AnalyticsError> {
    let index: HashMap<String, usize> = hosts_info
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.clone(), i))
        .collect();
    let mut crashes = crashes;
    let schema = crashes.collect_schema()?;
    let t = time_ms_expr(&schema)?;
    let cause = when(col("blame_module_lc").str().len_bytes().gt(lit(0u32)))
        .then(col("blame_module_lc"))
        .otherwise(col("failure_class"));
    let after = crashes
        .select([
            col("host"),
            t.alias("t"),
            col("uptime_seconds").cast(DataType::UInt64).alias("uptime"),
            cause.alias("cause"),
            col("bucket_id"),
        ])
        .filter(col("t").gt(lit(until)))
        .sort(["host", "t"], SortMultipleOptions::default())
        .collect()?;
    let hosts = after.column("host")?.str()?;
    let times = after.column("t")?.i64()?;
    let uptimes = after.column("uptime")?.u64()?;
    let causes = after.column("cause")?.str()?;
    let buckets = after.column("bucket_id")?.str()?;
    let loop_uptime_ms =
        i64::try_from(params.loop_uptime_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let loop_gap_ms = i64::try_from(params.loop_gap_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut i = 0;
    while i < after.height() {
        let host = hosts.get(i).unwrap_or(UNKNOWN_HOST);
        let mut j = i;
        while j < after.height() && hosts.get(j).unwrap_or(UNKNOWN_HOST) == host {
            j += 1;
        }
        let first = i;
        i = j;
        let existing = index.get(host).copied();
        if existing.is_some_and(|e| hosts_info[e].verdict.state == HostState::BootLoop) {
            continue;
        }
        let run: Vec<usize> = (first..j.min(first + ROTATED_LOOK_AHEAD)).collect();
        let boot_time = |k: usize| matches!(uptimes.get(k), Some(u) if i64::try_from(u).unwrap_or(i64::MAX).saturating_mul(1000) < loop_uptime_ms);
        let looping = run.len() >= ROTATED_LOOK_AHEAD
            && run.iter().all(|&k| boot_time(k))
            && times
                .get(first)
                .is_some_and(|t| t.saturating_sub(until) < loop_gap_ms)
            && run
                .windows(2)
                .all(|w| match (times.get(w[0]), times.get(w[1])) {
                    (Some(a), Some(b)) => b.saturating_sub(a) < loop_gap_ms,
                    _ => false,
                });
        if !looping {
            continue;
        }
        let distinct = |column: &StringChunked| {
            let mut keys: Vec<String> = Vec::new();
            for key in run.iter().filter_map(|&k| column.get(k)) {
                if !key.is_empty() && !keys.iter().any(|c| c == key) {
                    keys.push(key.to_string());
                }
            }
            keys
        };
        let verdict = HostVerdict {
            state: HostState::BootLoop,
            loop_start_ms: None,
            loop_crashes: 0,
        };
        match existing.and_then(|e| hosts_info.get_mut(e)) {
            Some(info) => {
                info.verdict = verdict;
                info.looped = true;
                info.dumps_rotated = true;
                info.rotated_clusters = distinct(causes);
                info.rotated_buckets = distinct(buckets);
            }
            None => hosts_info.push(HostInfo {
                name: host.to_string(),
                looped: true,
                verdict,
                crashes: 0,
                first_ms: None,
                last_ms: None,
                min_uptime_s: None,
                dumps_rotated: true,
                rotated_clusters: distinct(causes),
                rotated_buckets: distinct(buckets),
                state_basis: hoststate::StateBasis::CrashSilence,
            }),
        }
    }
    Ok(())
}

/// The end of the data (see `window::DataEnd`): `--until`, else `--now`, else the clock when
/// the data is recent, else the latest crash of every host but a few clock-skewed outliers.
pub(crate) fn data_end(
    base: &DataFrame,
    window: &Window,
    clock_ms: i64,
) -> Result<DataEnd, AnalyticsError> {
    let fixed = |end_ms, basis| DataEnd {
        end_ms: Some(end_ms),
        basis,
        hosts_reaching_end: 0,
        skewed: Vec::new(),
    };
    if let Some(until) = window.until_ms {
        return Ok(fixed(until, EndBasis::Until));
    }
    if let Some(now) = window.now_ms {
        return Ok(fixed(now, EndBasis::Now));
    }
    let latest = base
        .clone()
        .lazy()
        .filter(col("t").is_not_null())
        .group_by([col("host")])
        .agg([col("t").max().alias("latest")])
        .sort(
            ["latest", "host"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()?;
    let names = latest.column("host")?.str()?;
    let times: Vec<i64> = latest.column("latest")?.i64()?.iter().flatten().collect();
    let Some(&newest) = times.first() else {
        return Ok(DataEnd {
            end_ms: None,
            basis: EndBasis::None,
            hosts_reaching_end: 0,
            skewed: Vec::new(),
        });
    };
    let cut = window::skewed_outliers(&times);
    // The latest time by which several hosts have crashed: one host's late crash (a wrong
    // clock that is not far enough off to be called skew) does not decide alone.
    let rest = times.len().saturating_sub(cut);
    let corroborating = window::corroborating_hosts(rest);
    let end = times
        .get(cut + corroborating.saturating_sub(1))
        .copied()
        .unwrap_or(newest);
    if cut == 0 && clock_ms.saturating_sub(end) < window::RECENT_DATA_MS {
        return Ok(fixed(clock_ms.max(end), EndBasis::Clock));
    }
    let skewed = (0..cut)
        .map(|i| SkewedHost {
            host: names.get(i).unwrap_or(UNKNOWN_HOST).to_string(),
            latest_crash: window::format_utc(times[i]),
        })
        .collect();
    Ok(DataEnd {
        end_ms: Some(end),
        basis: EndBasis::LatestCrash,
        hosts_reaching_end: corroborating,
        skewed,
    })
}

/// Earliest and latest crash time in `base`.
fn time_extent(base: &DataFrame) -> Result<(Option<i64>, Option<i64>), AnalyticsError> {
    let t = base.column("t")?.i64()?;
    Ok((t.min(), t.max()))
}

/// The host state machine over every host: `base` is grouped by host (positions per host),
/// each host's crashes are sorted by time (untimed last) and classified, and the per-crash
/// results are scattered back to `base` order. Returns the host table and the per-crash
/// columns `host_idx`, `lost_ms`, `state`, `in_loop`, `host_crashes` (in `base` order).
fn run_host_states(
    base: &DataFrame,
    end_ms: Option<i64>,
    skewed: &HashSet<&str>,
    params: &HostStateParams,
) -> Result<(Vec<HostInfo>, Vec<Column>), AnalyticsError> {
    let n = base.height();
    let t: Vec<Option<i64>> = base.column("t")?.i64()?.iter().collect();
    let uptime: Vec<Option<u64>> = base.column("uptime")?.u64()?.iter().collect();
    let groups = base
        .clone()
        .lazy()
        .group_by([col("host")])
        .agg([col("pos").alias("positions")])
        .collect()?;
    let names = groups.column("host")?.str()?;
    let positions = groups.column("positions")?.list()?;

    let mut host_idx: Vec<u32> = vec![0; n];
    let mut lost_ms: Vec<i64> = vec![0; n];
    let mut state: Vec<u32> = vec![0; n];
    let mut in_loop: Vec<bool> = vec![false; n];
    let mut host_crashes: Vec<u32> = vec![0; n];
    let mut hosts: Vec<HostInfo> = Vec::with_capacity(groups.height());

    // Reused per-host buffers.
    let mut order: Vec<usize> = Vec::new();
    let mut times: Vec<i64> = Vec::new();
    let mut ups: Vec<Option<u64>> = Vec::new();
    let mut lost: Vec<i64> = Vec::new();
    let mut flags: Vec<bool> = Vec::new();

    for g in 0..groups.height() {
        order.clear();
        if let Some(list) = positions.get_as_series(g) {
            order.extend(
                list.idx()?
                    .iter()
                    .flatten()
                    .map(|p| p as usize)
                    .filter(|p| *p < n),
            );
        }
        if order.is_empty() {
            continue;
        }
        let name = names.get(g).unwrap_or(UNKNOWN_HOST);
        // A clock-skewed host's crashes beyond the end of the data have no usable time.
        let beyond = |time: Option<i64>| match (time, end_ms) {
            (Some(time), Some(end)) if skewed.contains(name) && time > end => None,
            _ => time,
        };
        // Timed crashes by time (ties by position, for determinism), untimed last.
        order.sort_unstable_by_key(|&p| (beyond(t[p]).is_none(), beyond(t[p]), p));
        times.clear();
        ups.clear();
        let mut untimed = 0usize;
        let mut min_up: Option<u64> = None;
        for &p in &order {
            match beyond(t[p]) {
                Some(time) => {
                    times.push(time);
                    ups.push(uptime[p]);
                }
                None => untimed += 1,
            }
            if let Some(u) = uptime[p] {
                min_up = Some(min_up.map_or(u, |m| m.min(u)));
            }
        }
        let crashes = HostCrashes {
            times_ms: &times,
            uptimes_s: &ups,
            untimed,
        };
        let verdict = hoststate::classify(&crashes, end_ms, params);
        lost.clear();
        let untimed_cost =
            hoststate::lost_ms_per_crash(&crashes, &verdict, end_ms, params, &mut lost);
        flags.clear();
        hoststate::loop_flags(&crashes, params, &mut flags);
        let idx = hosts.len() as u32;
        let count = order.len() as u32;
        for (k, &p) in order.iter().enumerate() {
            host_idx[p] = idx;
            lost_ms[p] = lost.get(k).copied().unwrap_or(untimed_cost);
            state[p] = u32::from(verdict.state.code());
            in_loop[p] = flags.get(k).copied().unwrap_or(false);
            host_crashes[p] = count;
        }
        hosts.push(HostInfo {
            name: name.to_string(),
            looped: flags.iter().any(|f| *f),
            first_ms: times.first().copied(),
            last_ms: times.last().copied(),
            min_uptime_s: min_up,
            crashes: count,
            verdict,
            dumps_rotated: false,
            rotated_clusters: Vec::new(),
            rotated_buckets: Vec::new(),
            state_basis: hoststate::StateBasis::CrashSilence,
        });
    }

    let columns = vec![
        Column::new("host_idx".into(), host_idx),
        Column::new("lost_ms".into(), lost_ms),
        Column::new("state".into(), state),
        Column::new("in_loop".into(), in_loop),
        Column::new("host_crashes".into(), host_crashes),
    ];
    Ok((hosts, columns))
}

impl Prepared {
    /// `host_idx` -> host name, as a frame for joins.
    pub fn host_frame(&self) -> Result<DataFrame, AnalyticsError> {
        let idx: Vec<u32> = (0..self.hosts.len() as u32).collect();
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        Ok(DataFrame::new(
            self.hosts.len(),
            vec![
                Column::new("host_idx".into(), idx),
                Column::new("host".into(), names),
            ],
        )?)
    }

    /// The signatures a `--cluster` / `--driver` filter keeps (`None` = no such filter).
    pub fn selected_sigs(&self, scope: &Scope) -> Result<Option<Vec<u32>>, AnalyticsError> {
        if scope.cluster.is_none() && scope.driver.is_none() {
            return Ok(None);
        }
        let driver = scope.driver.as_deref().map(str::to_ascii_lowercase);
        let mut keep = Vec::new();
        for (i, sig) in self.sigs.iter().enumerate() {
            let cause = &self.causes[sig.cause as usize];
            let bucket = &self.buckets[sig.bkt as usize];
            if let Some(d) = &driver {
                if cause
                    .driver
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    != Some(d)
                {
                    continue;
                }
            }
            if let Some(c) = &scope.cluster {
                let hit = cause.id == *c
                    || cause.key == *c
                    || bucket.id == *c
                    || bucket.bucket_id == *c
                    || sig.id == *c
                    || sig.signature == *c;
                if !hit {
                    continue;
                }
            }
            keep.push(i as u32);
        }
        if keep.is_empty() {
            if let Some(c) = &scope.cluster {
                let any = self.sigs.iter().any(|sig| {
                    let cause = &self.causes[sig.cause as usize];
                    let bucket = &self.buckets[sig.bkt as usize];
                    cause.id == *c
                        || cause.key == *c
                        || bucket.id == *c
                        || bucket.bucket_id == *c
                        || sig.id == *c
                        || sig.signature == *c
                });
                if !any {
                    return Err(AnalyticsError::BadArgument(format!(
                        "--cluster '{c}': no cluster with that id, driver, bucket id or signature in the window"
                    )));
                }
            }
        }
        Ok(Some(keep))
    }

    /// The hosts an inventory filter keeps (`host_idx`, `host`; `None` = no such filter), and
    /// the fleet size:
    /// the inventory's distinct hosts that pass the filter (`None` without an inventory).
    pub fn selected_hosts(
        &self,
        scope: &Scope,
        inventory: Option<&DataFrame>,
    ) -> Result<(Option<DataFrame>, Option<u64>), AnalyticsError> {
        let Some(inventory) = inventory else {
            if let Some((column, _)) = scope.inventory_filters.first() {
                return Err(AnalyticsError::UnknownInventoryColumn {
                    column: column.clone(),
                    available: "there is no inventory (give one to `scan --inventory`)".into(),
                });
            }
            return Ok((None, None));
        };
        let filtered = filter_inventory(inventory, &scope.inventory_filters)?;
        let fleet = filtered
            .clone()
            .lazy()
            .select([col("host").n_unique().cast(DataType::UInt64)])
            .collect()?;
        let mut fleet_hosts = fleet.column("host")?.u64()?.get(0);
        // A share of an inventory that names none of the crashing hosts is no share at all
        // (issue 18: host names written differently); `scan` warns about it.
        if !self.hosts.is_empty() && !self.any_host_in(inventory)? {
            fleet_hosts = None;
        }
        if scope.inventory_filters.is_empty() {
            return Ok((None, fleet_hosts));
        }
        let hosts = self
            .host_frame()?
            .lazy()
            .join(
                filtered
                    .lazy()
                    .select([col("host")])
                    .unique(None, UniqueKeepStrategy::Any),
                [col("host")],
                [col("host")],
                JoinArgs::new(JoinType::Inner),
            )
            .select([col("host_idx"), col("host")])
            .collect()?;
        Ok((Some(hosts), fleet_hosts))
    }

    /// Per `host_idx`: whether the inventory names the host (the hosts a fleet share may
    /// count: one the inventory lacks is not part of the fleet).
    pub fn listed_hosts(&self, inventory: &DataFrame) -> Result<Vec<bool>, AnalyticsError> {
        let names = inventory.column("host")?.cast(&DataType::String)?;
        let names: HashSet<&str> = names.str()?.iter().flatten().collect();
        Ok(self
            .hosts
            .iter()
            .map(|h| names.contains(h.name.as_str()))
            .collect())
    }

    /// Whether any host with crashes in the window is named by the inventory.
    fn any_host_in(&self, inventory: &DataFrame) -> Result<bool, AnalyticsError> {
        let names = inventory.column("host")?.cast(&DataType::String)?;
        let names: HashSet<&str> = names.str()?.iter().flatten().collect();
        Ok(self.hosts.iter().any(|h| names.contains(h.name.as_str())))
    }

    /// `rows` narrowed by the scope's filters, with what `selected_hosts` returned.
    pub fn scoped_rows(
        &self,
        scope: &Scope,
        inventory: Option<&DataFrame>,
    ) -> Result<Scoped, AnalyticsError> {
        let (hosts, fleet_hosts) = self.selected_hosts(scope, inventory)?;
        let sigs = self.selected_sigs(scope)?;
        if hosts.is_none() && sigs.is_none() {
            return Ok(Scoped {
                rows: self.rows.clone(),
                fleet_hosts,
                hosts,
            });
        }
        let mut lf = self.rows.clone().lazy();
        if let Some(hosts) = &hosts {
            lf = lf.join(
                hosts.clone().lazy().select([col("host_idx")]),
                [col("host_idx")],
                [col("host_idx")],
                JoinArgs::new(JoinType::Inner),
            );
        }
        if let Some(sigs) = sigs {
            let n = sigs.len();
            let keep = DataFrame::new(n, vec![Column::new("sig".into(), sigs)])?;
            lf = lf.join(
                keep.lazy(),
                [col("sig")],
                [col("sig")],
                JoinArgs::new(JoinType::Inner),
            );
        }
        Ok(Scoped {
            rows: lf.collect()?,
            fleet_hosts,
            hosts,
        })
    }
}

/// Per inventory column: its name and the value of each code.
pub type Dictionaries = Vec<(Arc<str>, Vec<Arc<str>>)>;

/// Every host's inventory values as small integer codes, one column per inventory column
/// (all but `host`): what breakdowns count on and what the hosts table prints. Code 0 is
/// "(not in inventory)" (a crashing host the inventory lacks), code 1 "(none)" (an empty or
/// null cell); values are interned once, so 100,000 hosts × 25 columns cost 25 small
/// dictionaries, not 2.5 million strings.
pub(crate) struct InventoryCodes {
    /// Per inventory column: the code of each host, indexed by `host_idx`.
    pub codes: Vec<Vec<u32>>,
    /// Per inventory column: its name and the value of each code.
    pub dictionaries: Arc<Dictionaries>,
}

impl Prepared {
    /// Codes the inventory of every host in `hosts` (see `InventoryCodes`).
    pub fn host_inventory_codes(
        &self,
        inventory: &DataFrame,
    ) -> Result<InventoryCodes, AnalyticsError> {
        // The inventory row of each host_idx: one join on the host name.
        let inv_rows = inventory
            .clone()
            .lazy()
            .with_row_index("__inv_row", None)
            .select([col("host").cast(DataType::String), col("__inv_row")])
            .unique_stable(Some(cols(["host"])), UniqueKeepStrategy::First);
        let mapped = self
            .host_frame()?
            .lazy()
            .join(
                inv_rows,
                [col("host")],
                [col("host")],
                JoinArgs::new(JoinType::Left),
            )
            .select([col("host_idx"), col("__inv_row")])
            .collect()?;
        let mut row_of_host: Vec<Option<IdxSize>> = vec![None; self.hosts.len()];
        {
            let h = mapped.column("host_idx")?.u32()?;
            let r = mapped.column("__inv_row")?.idx()?;
            for (h, r) in h.iter().zip(r.iter()) {
                if let Some(slot) = h.and_then(|h| row_of_host.get_mut(h as usize)) {
                    *slot = r;
                }
            }
        }
        let mut inventory = inventory.clone();
        inventory.rechunk_mut_par();
        let mut codes = Vec::new();
        let mut dictionaries = Vec::new();
        for name in inventory.get_column_names() {
            if name.as_str() == "host" {
                continue;
            }
            let column = inventory.column(name.as_str())?.cast(&DataType::String)?;
            let values = column.str()?;
            let mut dictionary: Vec<Arc<str>> =
                vec![Arc::from(NOT_IN_INVENTORY), Arc::from(EMPTY_VALUE)];
            let mut index: PlHashMap<&str, u32> = PlHashMap::new();
            let host_codes: Vec<u32> = row_of_host
                .iter()
                .map(|row| match row.map(|r| values.get(r as usize)) {
                    None => 0,
                    Some(None) | Some(Some("")) => 1,
                    Some(Some(v)) => *index.entry(v).or_insert_with(|| {
                        dictionary.push(Arc::from(v));
                        (dictionary.len() - 1) as u32
                    }),
                })
                .collect();
            codes.push(host_codes);
            dictionaries.push((Arc::from(name.as_str()), dictionary));
        }
        Ok(InventoryCodes {
            codes,
            dictionaries: Arc::new(dictionaries),
        })
    }
}

/// The inventory rows matching every `column = value` filter.
pub(crate) fn filter_inventory(
    inventory: &DataFrame,
    filters: &[(String, String)],
) -> Result<DataFrame, AnalyticsError> {
    let names: Vec<String> = inventory
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mut lf = inventory.clone().lazy();
    for (column, value) in filters {
        if !names.iter().any(|n| n == column) {
            return Err(AnalyticsError::UnknownInventoryColumn {
                column: column.clone(),
                available: format!("inventory columns: {}", names.join(", ")),
            });
        }
        lf = lf.filter(
            col(column.as_str())
                .cast(DataType::String)
                .str()
                .to_lowercase()
                .eq(lit(value.to_lowercase())),
        );
    }
    Ok(lf.collect()?)
}

/// Reads a u32 column into a Vec (nulls as 0; the analyses' own integer keys are never null).
pub(crate) fn u32_values(df: &DataFrame, name: &str) -> Result<Vec<u32>, AnalyticsError> {
    Ok(df
        .column(name)?
        .u32()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

/// Groups `(key, value)` counts into `{column: {value: hosts}}` form.
pub(crate) type Breakdown = BTreeMap<String, BTreeMap<String, u64>>;

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    /// A `base`-like frame: one crash per (host, hour).
    fn base(crashes: &[(&str, i64)]) -> DataFrame {
        let hosts: Vec<&str> = crashes.iter().map(|c| c.0).collect();
        let times: Vec<i64> = crashes.iter().map(|c| c.1 * H).collect();
        df!("host" => hosts, "t" => times).unwrap()
    }

    #[test]
    fn the_end_of_the_data_resists_one_late_clock() {
        let clock = 10_000 * H;
        // 12 hosts crashing between hour 0 and 11; one more host a week ahead.
        let mut crashes: Vec<(String, i64)> = (0..12).map(|i| (format!("h{i}"), i)).collect();
        crashes.push(("late".into(), 11 + 7 * 24));
        let refs: Vec<(&str, i64)> = crashes.iter().map(|(h, t)| (h.as_str(), *t)).collect();
        let end = data_end(&base(&refs), &Window::default(), clock).unwrap();
        assert_eq!(end.basis, EndBasis::LatestCrash);
        assert_eq!(end.skewed.len(), 1);
        assert_eq!(end.skewed[0].host, "late");
        // The latest time 3 hosts reached: h9 at hour 9.
        assert_eq!(end.end_ms, Some(9 * H));
        assert_eq!(end.hosts_reaching_end, 3);

        // --until and --now win; recent data is judged at the clock.
        let until = Window::parse(None, Some("1970-01-01T05:00:00Z")).unwrap();
        assert_eq!(
            data_end(&base(&refs), &until, clock).unwrap().end_ms,
            Some(5 * H)
        );
        let now = Window::default().with_now(Some(50 * H));
        let e = data_end(&base(&refs), &now, clock).unwrap();
        assert_eq!((e.end_ms, e.basis), (Some(50 * H), EndBasis::Now));
        let e = data_end(&base(&refs[..12]), &Window::default(), 20 * H).unwrap();
        assert_eq!((e.end_ms, e.basis), (Some(20 * H), EndBasis::Clock));
        // A handful of hosts: the plain latest crash.
        let e = data_end(&base(&[("a", 1), ("b", 500)]), &Window::default(), clock).unwrap();
        assert_eq!((e.end_ms, e.skewed.len()), (Some(500 * H), 0));
    }
}

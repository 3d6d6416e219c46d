//! The shared first stage of every analysis: read the window's crash rows once, give
//! signatures and hosts integer indexes, and run the host state machine.
//!
//! Output (`Prepared`):
//! - `base`: one row per crash in the window, the columns the analyses need (strings kept);
//! - `sigs` / `buckets` / `causes`: the three cluster levels as small tables (index = key);
//! - `hosts`: one entry per host with its verdict;
//! - `rows`: one row per crash with integer keys only (`row` into `base`, `host_idx`, `t`,
//!   `sig`, `bkt`, `cause`) plus the per-crash outputs of the state machine (`lost_ms`) and
//!   `in_loop` (the crash belongs to a boot loop), and the host's `state` / `host_crashes`
//!   repeated on each of its rows, so that
//!   later group-bys need no join to know a host's state.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;

use super::hoststate::{self, HostCrashes, HostStateParams, HostVerdict};
use super::window::Window;
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
    /// The row number (crash table scan order) of the signature's first dump, whose stack
    /// represents it in the similarity pass.
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

/// Reads the window's crash rows: the `base` frame, with a `row` index.
pub(crate) fn load_base(crashes: LazyFrame, window: &Window) -> Result<DataFrame, AnalyticsError> {
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
    // `row` numbers the crash table in scan order before the window filter, so it addresses
    // the same row in a later scan of the same store (see `clusters::representative_stacks`).
    select.push(col("row"));
    let mut lf = crashes.with_row_index("row", None).select(select);
    if let Some(since) = window.since_ms {
        lf = lf.filter(col("t").gt_eq(lit(since)));
    }
    if let Some(until) = window.until_ms {
        lf = lf.filter(col("t").lt_eq(lit(until)));
    }
    Ok(lf.collect()?)
}

fn str_at<'a>(ca: &'a StringChunked, i: usize) -> Option<&'a str> {
    ca.get(i)
}

/// Builds the signature / bucket / cause tables from `base`.
fn cluster_tables(
    base: &DataFrame,
) -> Result<(Vec<SigInfo>, Vec<BucketInfo>, Vec<CauseInfo>, DataFrame), AnalyticsError> {
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
            col("row").first().alias("rep_row"),
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
    let rep_row_col = table.column("rep_row")?.idx()?;

    let mut causes: Vec<CauseInfo> = Vec::new();
    let mut cause_index: HashMap<String, u32> = HashMap::new();
    let mut buckets: Vec<BucketInfo> = Vec::new();
    let mut bucket_index: HashMap<(u32, String), u32> = HashMap::new();
    let mut sigs: Vec<SigInfo> = Vec::with_capacity(table.height());
    let (mut m_cause, mut m_bucket, mut m_sig) = (Vec::new(), Vec::new(), Vec::new());
    let (mut m_sig_idx, mut m_bkt_idx, mut m_cause_idx) = (Vec::new(), Vec::new(), Vec::new());
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
            rep_row: rep_row_col.get(i),
        });
        m_cause.push(cause);
        m_bucket.push(bucket);
        m_sig.push(signature);
        m_sig_idx.push(s);
        m_bkt_idx.push(b);
        m_cause_idx.push(c);
    }
    let height = sigs.len();
    let map = DataFrame::new(
        height,
        vec![
            Column::new("cause".into(), m_cause),
            Column::new("bucket_id".into(), m_bucket),
            Column::new("signature".into(), m_sig),
            Column::new("sig".into(), m_sig_idx),
            Column::new("bkt".into(), m_bkt_idx),
            Column::new("cause_idx".into(), m_cause_idx),
        ],
    )?;
    Ok((sigs, buckets, causes, map))
}

/// Runs the whole preparation (see the module doc).
pub(crate) fn prepare(
    crashes: LazyFrame,
    window: &Window,
    params: HostStateParams,
) -> Result<Prepared, AnalyticsError> {
    let phase = super::Phase::start("prepare: load");
    let base = load_base(crashes, window)?;
    drop(phase);
    let phase = super::Phase::start("prepare: cluster tables");
    let (sigs, buckets, causes, sig_map) = cluster_tables(&base)?;
    drop(phase);
    let phase = super::Phase::start("prepare: join + sort");

    let sorted = base
        .clone()
        .lazy()
        .select([
            col("row"),
            col("host"),
            col("t"),
            col("uptime"),
            col("cause"),
            col("bucket_id"),
            col("signature"),
        ])
        .join(
            sig_map.lazy(),
            [col("cause"), col("bucket_id"), col("signature")],
            [col("cause"), col("bucket_id"), col("signature")],
            JoinArgs::new(JoinType::Inner),
        )
        .select([
            col("row"),
            col("host"),
            col("t"),
            col("uptime"),
            col("sig"),
            col("bkt"),
            col("cause_idx").alias("cause"),
        ])
        .sort(
            ["host", "t"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?;

    drop(phase);
    let _phase = super::Phase::start("prepare: host states");
    let (start_data, end_data) = time_extent(&base)?;
    let end_ms = window.until_ms.or(end_data);
    let start_ms = window.since_ms.or(start_data);

    let (hosts, derived) = run_host_states(&sorted, end_ms, &params)?;
    let mut rows = sorted.drop("host")?;
    for column in derived {
        rows.with_column(column)?;
    }
    Ok(Prepared {
        base,
        sigs,
        buckets,
        causes,
        hosts,
        rows,
        start_ms,
        end_ms,
    })
}

/// Earliest and latest crash time in `base`.
fn time_extent(base: &DataFrame) -> Result<(Option<i64>, Option<i64>), AnalyticsError> {
    let t = base.column("t")?.i64()?;
    Ok((t.min(), t.max()))
}

/// The one per-row pass: rows sorted by (host, t) with untimed rows last in each host.
/// Returns the host table and the per-row columns `host_idx`, `lost_ms`, `state`,
/// `in_loop`, `host_crashes`.
fn run_host_states(
    sorted: &DataFrame,
    end_ms: Option<i64>,
    params: &HostStateParams,
) -> Result<(Vec<HostInfo>, Vec<Column>), AnalyticsError> {
    let n = sorted.height();
    let host = sorted.column("host")?.str()?;
    let t = sorted.column("t")?.i64()?;
    let uptime = sorted.column("uptime")?.u64()?;

    let mut host_idx: Vec<u32> = Vec::with_capacity(n);
    let mut lost_ms: Vec<i64> = Vec::with_capacity(n);
    let mut state: Vec<u32> = Vec::with_capacity(n);
    let mut in_loop: Vec<bool> = Vec::with_capacity(n);
    let mut host_crashes: Vec<u32> = Vec::with_capacity(n);
    let mut hosts: Vec<HostInfo> = Vec::new();

    // Reused per-host buffers.
    let mut times: Vec<i64> = Vec::new();
    let mut ups: Vec<Option<u64>> = Vec::new();
    let mut lost: Vec<i64> = Vec::new();

    let mut host_iter = host.iter();
    let mut t_iter = t.iter();
    let mut up_iter = uptime.iter();
    let mut current: Option<&str> = None;
    let mut group_len = 0usize;
    let mut untimed = 0usize;
    let mut min_up: Option<u64> = None;

    let mut flush = |name: &str,
                     times: &mut Vec<i64>,
                     ups: &mut Vec<Option<u64>>,
                     untimed: usize,
                     min_up: Option<u64>,
                     group_len: usize| {
        let crashes = HostCrashes {
            times_ms: times,
            uptimes_s: ups,
            untimed,
        };
        let verdict = hoststate::classify(&crashes, end_ms, params);
        lost.clear();
        let untimed_cost =
            hoststate::lost_ms_per_crash(&crashes, &verdict, end_ms, params, &mut lost);
        let idx = hosts.len() as u32;
        for &l in &lost {
            lost_ms.push(l);
        }
        for _ in 0..untimed {
            lost_ms.push(untimed_cost);
        }
        let flags_from = in_loop.len();
        hoststate::loop_flags(&crashes, params, &mut in_loop);
        in_loop.extend(std::iter::repeat_n(false, untimed));
        let looped = in_loop[flags_from..].iter().any(|f| *f);
        for _ in 0..group_len {
            host_idx.push(idx);
            state.push(u32::from(verdict.state.code()));
            host_crashes.push(group_len as u32);
        }
        hosts.push(HostInfo {
            name: name.to_string(),
            looped,
            first_ms: times.first().copied(),
            last_ms: times.last().copied(),
            min_uptime_s: min_up,
            crashes: group_len as u32,
            verdict,
        });
        times.clear();
        ups.clear();
    };

    for _ in 0..n {
        let h = host_iter.next().flatten().unwrap_or(UNKNOWN_HOST);
        let time = t_iter.next().flatten();
        let up = up_iter.next().flatten();
        if current != Some(h) {
            if let Some(prev) = current {
                flush(prev, &mut times, &mut ups, untimed, min_up, group_len);
            }
            current = Some(h);
            group_len = 0;
            untimed = 0;
            min_up = None;
        }
        group_len += 1;
        min_up = match (min_up, up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match time {
            Some(time) => {
                times.push(time);
                ups.push(up);
            }
            None => untimed += 1,
        }
    }
    if let Some(prev) = current {
        flush(prev, &mut times, &mut ups, untimed, min_up, group_len);
    }
    drop(flush);

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
        let fleet_hosts = fleet.column("host")?.u64()?.get(0);
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

    /// `rows` narrowed by the scope's filters, with what `selected_hosts` returned.
    pub fn scoped_rows(&self, scope: &Scope, inventory: Option<&DataFrame>) -> Result<Scoped, AnalyticsError> {
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

    /// Inventory columns per `host_idx` (every column but `host`), for breakdowns and the
    /// hosts table: hosts the inventory lacks get "(not in inventory)", empty cells "(none)".
    pub fn host_inventory(
        &self,
        inventory: &DataFrame,
    ) -> Result<(DataFrame, Vec<String>), AnalyticsError> {
        let columns: Vec<String> = inventory
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .filter(|c| c != "host")
            .collect();
        let inv = inventory
            .clone()
            .lazy()
            .select(
                std::iter::once(col("host"))
                    .chain(
                        columns
                            .iter()
                            .map(|c| col(c.as_str()).cast(DataType::String)),
                    )
                    .collect::<Vec<_>>(),
            )
            .unique(Some(cols(["host"])), UniqueKeepStrategy::First)
            .with_column(lit(true).alias("__listed"));
        let fills: Vec<Expr> = columns
            .iter()
            .map(|c| {
                when(col("__listed").is_null())
                    .then(lit(NOT_IN_INVENTORY))
                    .otherwise(col(c.as_str()).fill_null(lit(EMPTY_VALUE)))
                    .alias(c.as_str())
            })
            .collect();
        let joined = self
            .host_frame()?
            .lazy()
            .join(
                inv,
                [col("host")],
                [col("host")],
                JoinArgs::new(JoinType::Left),
            )
            .with_columns(fills)
            .drop(cols(["__listed", "host"]))
            .collect()?;
        Ok((joined, columns))
    }
}

/// Inventory values as integer codes, for breakdowns on integer keys.
pub(crate) struct InventoryCodes {
    /// One u32 code column per inventory column, row i = host_idx i.
    pub codes: DataFrame,
    /// Per column: its name and the value of each code.
    pub dictionaries: Vec<(String, Vec<String>)>,
}

impl Prepared {
    /// The inventory of every host (see `host_inventory`) as dense integer codes.
    pub fn host_inventory_codes(
        &self,
        inventory: &DataFrame,
    ) -> Result<InventoryCodes, AnalyticsError> {
        let (host_inv, columns) = self.host_inventory(inventory)?;
        let host_inv = host_inv
            .lazy()
            .sort(["host_idx"], SortMultipleOptions::default())
            .collect()?;
        let mut code_columns = Vec::with_capacity(columns.len());
        let mut dictionaries = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let values = host_inv
                .clone()
                .lazy()
                .select([col(column.as_str()).alias("value")])
                .unique_stable(None, UniqueKeepStrategy::First)
                .with_row_index("code", None)
                .collect()?;
            let dictionary: Vec<String> = values
                .column("value")?
                .str()?
                .iter()
                .map(|v| v.unwrap_or(EMPTY_VALUE).to_string())
                .collect();
            let name = format!("c{i}");
            let coded = host_inv
                .clone()
                .lazy()
                .select([col("host_idx"), col(column.as_str()).alias("value")])
                .join(
                    values.lazy(),
                    [col("value")],
                    [col("value")],
                    JoinArgs::new(JoinType::Left),
                )
                .sort(["host_idx"], SortMultipleOptions::default())
                .select([col("code").cast(DataType::UInt32).alias(name.as_str())])
                .collect()?;
            code_columns.push(coded.column(name.as_str())?.clone());
            dictionaries.push((column.clone(), dictionary));
        }
        let height = host_inv.height();
        Ok(InventoryCodes {
            codes: DataFrame::new(height, code_columns)?,
            dictionaries,
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
                .eq(lit(value.clone())),
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

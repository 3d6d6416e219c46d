//! `blastradius clusters`: crash clusters ranked by blast radius (driver -> bucket ->
//! signature), as a terminal table, JSON or CSV.
//!
//! The text table's first line on the channel-file-291 fleet reads like
//! `csagent.sys  AV_R_INVALID_csagent!unknown_function  0x50  3,812 hosts (76.2 % of fleet)  2,904 boot-looping  04:09–05:41 UTC`.

use anyhow::Context;

use crate::fleet::analytics::{
    self, window, ClusterNode, ClusterOptions, ClusterTable, SimilarityParams,
};
use crate::fleet::critical::CriticalRule;
use crate::report::cluster_detail::{render as render_detail, DetailExtras};
pub use crate::report::cluster_table::{render_text, render_text_with, write_csv};
use crate::report::table::{output_width, wrap, TextLayout};

use super::fail_if::{self, describe, FailIf, Value};

use super::scope_args::{
    emit, note_data_end, note_warnings, open_store, HostStateArgs, ScopeArgs, TableFormat,
};

/// Arguments of `blastradius clusters`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only this cluster: an id (any level), a driver (`csagent.sys`), a non-driver cause
    /// (`POWER_BUTTON_HOLD`), a bucket id or a signature.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Levels shown in the text table: 1 drivers, 2 + buckets, 3 + signatures.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub depth: u8,
    /// At most this many top-level clusters in the text table (0 = all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
    /// Onset-curve bucket size (default: from the window's span, 1 min .. 1 day).
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// Values listed per inventory column in a breakdown (largest first, the rest summed as
    /// "(other)"); 0 = all.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub breakdown_values: usize,
    /// Skip the related-signature (stack similarity) pass.
    #[arg(long)]
    pub no_related: bool,
    /// Similarity threshold in [0, 1] for `related` signatures.
    #[arg(long, default_value_t = SimilarityParams::default().threshold, value_name = "X")]
    pub similarity: f64,
    #[command(flatten)]
    pub states: HostStateArgs,
    /// Which hosts are critical (`critical_hosts`): inventory COLUMN=VALUE[,VALUE]
    /// (default criticality=critical), the rule `report`, `exposure` and `tui` take too.
    #[arg(long, value_name = "COLUMN=VALUE[,VALUE]")]
    pub critical: Option<String>,
    /// Text table without its header row (for scripts).
    #[arg(long)]
    pub no_header: bool,
    /// Lay the text out for N columns (0: no limit, whole cells); default: $COLUMNS, else
    /// the terminal's width, else 80. Columns that do not fit are cut or left out.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Exit 1 when any driver-level cluster matches FILTER, e.g. `boot_loop_hosts>=1` or
    /// `age_hours<24,hosts>=10` (see the fields below).
    #[arg(long, value_name = "FILTER", value_parser = fail_if::parse)]
    pub fail_if: Option<FailIf>,
}

/// Bucket sizes (seconds) the one-cluster onset curve chooses from.
const DETAIL_BUCKETS_S: [i64; 12] = [
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
];

/// Most buckets of the one-cluster curve: a sparkline that fits an 80-column terminal.
const DETAIL_MAX_BUCKETS: i64 = 60;

/// The onset bucket of a cluster spanning `span_ms`: the finest size that keeps at most
/// [`DETAIL_MAX_BUCKETS`] buckets, so a 90-minute incident gets ~45 two-minute buckets rather
/// than the one 6-hour bucket the window's span would choose.
pub fn detail_bucket_seconds(span_ms: i64) -> i64 {
    let span_s = span_ms.max(0) / 1000;
    DETAIL_BUCKETS_S
        .iter()
        .copied()
        .find(|size| span_s / size < DETAIL_MAX_BUCKETS)
        .unwrap_or(86_400)
}

/// The smallest onset bucket (seconds) that keeps a window of `window_ms` under the
/// analytics' 10,000-bucket cap.
fn window_bucket_floor_seconds(window_ms: i64) -> i64 {
    let window_s = window_ms.max(0) / 1000;
    (window_s / 10_000 + 1).max(1)
}

/// The one-cluster view: the node, its hosts (states), its driver's versions, a few dump
/// paths and the top signature's frames.
fn detail_text(
    args: &Args,
    store: &crate::fleet::store::Store,
    opts: &ClusterOptions,
    table: &ClusterTable,
) -> anyhow::Result<String> {
    let Some(node) = table.clusters.first() else {
        return Ok(String::new());
    };
    let hosts = analytics::hosts(
        store.lazy_crashes()?,
        store.inventory()?,
        &analytics::HostOptions {
            scope: opts.scope.clone(),
            host_states: opts.host_states,
            state: None,
        },
    )?;
    let driver = match &node.driver {
        Some(d) => {
            let rules = store.rules()?;
            let drivers = analytics::drivers(
                store.lazy_crashes()?,
                store.lazy_drivers()?,
                store.inventory()?,
                &rules,
                &analytics::DriverOptions {
                    scope: analytics::Scope {
                        cluster: None,
                        ..opts.scope.clone()
                    },
                    include_microsoft: true,
                    driver_inventory: store.driver_inventory()?,
                },
            )?;
            drivers
                .drivers
                .into_iter()
                .find(|r| r.driver.eq_ignore_ascii_case(d))
        }
        None => None,
    };
    let (sample_dumps, frames) = samples(store, node)?;
    let extras = DetailExtras {
        driver,
        sample_dumps,
        frames,
    };
    let mut text = render_detail(node, &hosts, &extras);
    if table.clusters.len() > 1 {
        text.push_str(&format!(
            "({} more clusters match --cluster {}: --format json lists them)\n",
            table.clusters.len() - 1,
            args.cluster.as_deref().unwrap_or_default()
        ));
    }
    text.push_str(&format!("end of data: {}\n", table.data_end.describe()));
    Ok(text)
}

/// Sample dumps shown in the one-cluster view.
const SAMPLE_DUMPS: usize = 5;

/// Paths of the cluster's first dumps (by crash time) and the frames of one dump of its top
/// signature (`module!function`, innermost first).
fn samples(
    store: &crate::fleet::store::Store,
    node: &ClusterNode,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    use polars::prelude::*;
    let df = store
        .lazy_crashes()?
        .filter(col("signature").eq(lit(node.signature.clone())))
        .sort(["crash_time"], SortMultipleOptions::default())
        .select([
            col("path"),
            col("stack_module"),
            col("stack_function"),
            col("stack_offset"),
        ])
        .limit(SAMPLE_DUMPS as IdxSize)
        .collect()?;
    let paths: Vec<String> = df
        .column("path")?
        .str()?
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let mut frames = Vec::new();
    if df.height() > 0 {
        let modules = df.column("stack_module")?.list()?.get_as_series(0);
        let functions = df.column("stack_function")?.list()?.get_as_series(0);
        let offsets = df.column("stack_offset")?.list()?.get_as_series(0);
        if let (Some(m), Some(f), Some(o)) = (modules, functions, offsets) {
            let rows = m.str()?.iter().zip(f.str()?.iter()).zip(o.str()?.iter());
            for ((m, f), o) in rows.take(MAX_FRAMES) {
                frames.push(match (m, f) {
                    (Some(m), Some(f)) if !f.is_empty() => format!("{m}!{f}"),
                    (Some(m), _) => match o {
                        Some(o) if !o.is_empty() => format!("{m}+{o}"),
                        Some(_) => m.to_string(),
                        None => m.to_string(),
                    },
                    (None, Some(f)) => f.to_string(),
                    (None, None) => "?".into(),
                });
            }
        }
    }
    Ok((paths, frames))
}

/// Frames of the top signature shown (a stack walk can be long).
const MAX_FRAMES: usize = 16;

/// The fields `--fail-if` knows on a cluster.
pub const FAIL_IF_FIELDS: [&str; 13] = [
    "id",
    "cause",
    "driver",
    "hosts",
    "crashes",
    "fleet_share",
    "boot_loop_hosts",
    "recovered_hosts",
    "still_failing_hosts",
    "down_hosts",
    "critical_hosts",
    "host_hours_lost",
    "age_hours",
];

/// A cluster's value of a `--fail-if` field; `age_hours` is the time from its first crash to
/// the end of the data.
fn cluster_field(node: &ClusterNode, end_ms: Option<i64>, field: &str) -> Option<Value> {
    let num = |x: u64| Some(Value::Num(x as f64));
    match field {
        "id" => Some(Value::Text(node.id.clone())),
        "cause" => Some(Value::Text(node.cause.clone())),
        "driver" => node.driver.clone().map(Value::Text),
        "hosts" => num(node.hosts),
        "crashes" => num(node.crashes),
        "fleet_share" => node.fleet_share.map(Value::Num),
        "boot_loop_hosts" => num(node.boot_loop_hosts),
        "recovered_hosts" => num(node.recovered_hosts),
        "still_failing_hosts" => num(node.still_failing_hosts),
        "down_hosts" => num(node.down_hosts),
        "critical_hosts" => node.critical_hosts.and_then(num),
        "host_hours_lost" => Some(Value::Num(node.host_hours_lost)),
        "age_hours" => {
            let (first, end) = (node.first_seen_ms?, end_ms?);
            Some(Value::Num(end.saturating_sub(first) as f64 / 3_600_000.0))
        }
        _ => None,
    }
}

/// How many driver-level clusters of `table` match `filter`.
pub fn count_matches(table: &ClusterTable, filter: &FailIf) -> anyhow::Result<usize> {
    let known: Vec<String> = FAIL_IF_FIELDS.iter().map(|f| f.to_string()).collect();
    filter.check_fields(&known).map_err(anyhow::Error::msg)?;
    let mut matched = 0;
    for node in &table.clusters {
        if filter
            .matches(|f| cluster_field(node, table.window_end_ms, f))
            .map_err(anyhow::Error::msg)?
        {
            matched += 1;
        }
    }
    Ok(matched)
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = open_store(&args.scope.store)?;
    let bucket_seconds = args
        .bucket
        .as_deref()
        .map(window::parse_duration)
        .transpose()?
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    if !(0.0..=1.0).contains(&args.similarity) {
        anyhow::bail!("--similarity must be between 0 and 1");
    }
    let opts = ClusterOptions {
        scope: args.scope.resolved_scope(&store, args.cluster.as_deref())?,
        host_states: args.states.params()?,
        similarity: (!args.no_related).then(|| SimilarityParams {
            threshold: args.similarity,
            ..SimilarityParams::default()
        }),
        bucket_seconds,
        breakdown_limit: args.breakdown_values,
        critical: CriticalRule::from_flag(args.critical.as_deref())?,
    };
    let compute = |opts: &ClusterOptions| -> anyhow::Result<ClusterTable> {
        analytics::clusters(
            store.lazy_crashes()?,
            Some(store.lazy_drivers()?),
            store.inventory()?,
            opts,
        )
        .with_context(|| format!("clusters of {}", args.scope.store.display()))
    };
    let mut table = compute(&opts)?;
    // One cluster: the onset bucket from the cluster's own span, fine enough for a curve.
    if args.cluster.is_some() && bucket_seconds.is_none() {
        if let Some(node) = table.clusters.first() {
            if let (Some(a), Some(b)) = (node.first_seen_ms, node.last_seen_ms) {
                // The curve spans the whole window, which may be far longer than the cluster
                // (a 7-day `--since`): the analytics cap it at 10,000 buckets, so the fine
                // bucket never goes below what keeps the window under that cap.
                let window_ms = table
                    .window_start
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .zip(table.window_end_ms)
                    .map(|(start, end)| end.saturating_sub(start.timestamp_millis()))
                    .unwrap_or(0);
                let fine = ClusterOptions {
                    bucket_seconds: Some(
                        detail_bucket_seconds(b.saturating_sub(a))
                            .max(window_bucket_floor_seconds(window_ms)),
                    ),
                    ..opts.clone()
                };
                table = compute(&fine)?;
            }
        }
    }
    let mut out: Vec<u8> = Vec::new();
    match args.scope.format {
        TableFormat::Text if args.cluster.is_some() && !table.clusters.is_empty() => out
            .extend_from_slice(
                wrap(
                    &detail_text(args, &store, &opts, &table)?,
                    output_width(args.width),
                )
                .as_bytes(),
            ),
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &table)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &table)?,
        TableFormat::Text => out.extend_from_slice(
            render_text_with(
                &table,
                args.depth,
                args.limit,
                TextLayout::for_stdout(args.no_header, args.width),
                chrono::Utc::now().date_naive(),
            )
            .as_bytes(),
        ),
    }
    if args.scope.format != TableFormat::Text {
        note_data_end(&table.data_end);
    } else {
        note_warnings(&table.data_end);
    }
    emit(&out)?;
    if let Some(filter) = &args.fail_if {
        let matched = count_matches(&table, filter)?;
        fail_if::report(matched, "cluster(s)", &describe(filter));
        return Ok(u8::from(matched > 0));
    }
    Ok(0)
}

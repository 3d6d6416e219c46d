//! `blastradius clusters`: crash clusters ranked by blast radius (driver -> bucket ->
//! signature), as a terminal table, JSON or CSV.
//!
//! The text table's first line on the channel-file-291 fleet reads like
//! `csagent.sys  AV_R_INVALID_csagent!unknown_function  0x50  3,812 hosts (76.2 % of fleet)  2,904 boot-looping  04:09–05:41 UTC`.

use std::io::Write;

use anyhow::Context;

use crate::fleet::analytics::{
    self, window, ClusterNode, ClusterOptions, ClusterTable, SimilarityParams,
};
use crate::fleet::store::Store;
use crate::report::csv::{self, Field};
use crate::report::table::{percent, thousands, Align, Table};

use super::scope_args::{emit, note_data_end, HostStateArgs, ScopeArgs, TableFormat};

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
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = Store::open(&args.scope.store)?;
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
    };
    let table = analytics::clusters(
        store.lazy_crashes()?,
        Some(store.lazy_drivers()?),
        store.inventory()?,
        &opts,
    )
    .with_context(|| format!("clusters of {}", args.scope.store.display()))?;
    let mut out: Vec<u8> = Vec::new();
    match args.scope.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &table)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &table)?,
        TableFormat::Text => {
            out.extend_from_slice(render_text(&table, args.depth, args.limit).as_bytes())
        }
    }
    note_data_end(&table.data_end);
    emit(&out)?;
    Ok(0)
}

/// `1 host`, `3,812 hosts`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `3,812 hosts (76.2 % of fleet)`, or without the share when there is no inventory.
fn hosts_cell(node: &ClusterNode) -> String {
    let hosts = count(node.hosts, "host", "hosts");
    match node.fleet_share {
        Some(share) => format!("{hosts} ({} of fleet)", percent(share)),
        None => hosts,
    }
}

fn span_cell(node: &ClusterNode) -> String {
    match (node.first_seen_ms, node.last_seen_ms) {
        (Some(a), Some(b)) => window::short_span_utc(a, b),
        _ => "time unknown".into(),
    }
}

fn row_of(node: &ClusterNode, label: String) -> Vec<String> {
    let mut extra = Vec::new();
    if node.still_failing_hosts > node.boot_loop_hosts {
        extra.push(format!(
            "{} still failing",
            thousands(node.still_failing_hosts)
        ));
    }
    if node.recovered_hosts > 0 {
        extra.push(format!("{} recovered", thousands(node.recovered_hosts)));
    }
    if !node.related.is_empty() {
        let ids: Vec<&str> = node.related.iter().map(|r| r.id.as_str()).collect();
        extra.push(format!("related: {}", ids.join(" ")));
    }
    vec![
        label,
        if node.level == analytics::ClusterLevel::Signature {
            node.signature.clone()
        } else {
            node.bucket_id.clone()
        },
        node.bugcheck_codes.join(","),
        hosts_cell(node),
        format!("{} boot-looping", thousands(node.boot_loop_hosts)),
        span_cell(node),
        count(node.crashes, "crash", "crashes"),
        node.id.clone(),
        extra.join(", "),
    ]
}

/// The terminal table: one line per driver-level cluster (plus buckets and signatures at
/// `depth` 2 and 3, indented), then a summary line.
pub fn render_text(table: &ClusterTable, depth: u8, limit: usize) -> String {
    let mut t = Table::new()
        .with_align(&[
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Left,
            Align::Right,
            Align::Left,
            Align::Left,
        ])
        .with_max_cell_chars(90);
    let shown = if limit == 0 {
        table.clusters.len()
    } else {
        limit.min(table.clusters.len())
    };
    for node in &table.clusters[..shown] {
        t.push(&row_of(node, node.cause.clone()));
        if depth >= 2 {
            for bucket in &node.children {
                t.push(&row_of(bucket, "  bucket".into()));
                if depth >= 3 {
                    for sig in &bucket.children {
                        t.push(&row_of(sig, "    signature".into()));
                    }
                }
            }
        }
    }
    let mut out = if t.is_empty() {
        "no crashes in scope\n".to_string()
    } else {
        t.render()
    };
    let fleet = match table.fleet_hosts {
        Some(f) => format!("; fleet {} hosts", thousands(f)),
        None => "; no inventory (fleet share unknown)".into(),
    };
    let end = table
        .window_end
        .as_deref()
        .map(|e| format!("; data ends {e}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "{}, {} on {}{fleet}{end}{}\n",
        count(table.clusters.len() as u64, "cluster", "clusters"),
        count(table.crashes, "crash", "crashes"),
        count(table.hosts, "host", "hosts"),
        if shown < table.clusters.len() {
            format!(" ({} shown)", shown)
        } else {
            String::new()
        }
    ));
    out
}

const CSV_HEADER: [&str; 25] = [
    "id",
    "level",
    "parent_id",
    "cause",
    "driver",
    "owner",
    "third_party",
    "failure_class",
    "bugcheck_codes",
    "bucket_id",
    "signature",
    "crashes",
    "hosts",
    "fleet_share",
    "exposed_hosts",
    "exposed_share",
    "boot_loop_hosts",
    "recovered_hosts",
    "still_failing_hosts",
    "first_seen",
    "last_seen",
    "host_hours_lost",
    "peak_rate_per_hour",
    "onset_bucket_seconds",
    "related",
];

fn csv_node<W: Write>(
    out: &mut W,
    node: &ClusterNode,
    parent: Option<&str>,
) -> std::io::Result<()> {
    let level = match node.level {
        analytics::ClusterLevel::Driver => "driver",
        analytics::ClusterLevel::Bucket => "bucket",
        analytics::ClusterLevel::Signature => "signature",
    };
    let related: Vec<&str> = node.related.iter().map(|r| r.id.as_str()).collect();
    csv::write_record(
        out,
        &[
            Field::text(&node.id),
            Field::text(level),
            Field::opt_text(parent),
            Field::text(&node.cause),
            Field::opt_text(node.driver.as_deref()),
            Field::opt_text(node.owner.as_deref()),
            Field::num(node.third_party),
            Field::text(&node.failure_class),
            Field::text(node.bugcheck_codes.join(" ")),
            Field::text(&node.bucket_id),
            Field::text(&node.signature),
            Field::num(node.crashes),
            Field::num(node.hosts),
            Field::opt_num(node.fleet_share),
            Field::opt_num(node.exposed_hosts),
            Field::opt_num(node.exposed_share),
            Field::num(node.boot_loop_hosts),
            Field::num(node.recovered_hosts),
            Field::num(node.still_failing_hosts),
            Field::opt_text(node.first_seen.as_deref()),
            Field::opt_text(node.last_seen.as_deref()),
            Field::num(node.host_hours_lost),
            Field::num(node.peak_rate_per_hour),
            Field::num(node.onset.bucket_seconds),
            Field::text(related.join(" ")),
        ],
    )?;
    for child in &node.children {
        csv_node(out, child, Some(&node.id))?;
    }
    Ok(())
}

/// Every node of every level, parents before their children.
pub fn write_csv<W: Write>(out: &mut W, table: &ClusterTable) -> std::io::Result<()> {
    csv::write_header(out, &CSV_HEADER)?;
    for node in &table.clusters {
        csv_node(out, node, None)?;
    }
    Ok(())
}

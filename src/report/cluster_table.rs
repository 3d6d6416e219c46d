//! The `clusters` table as people and programs read it: an aligned terminal table
//! ([`render_text`]) and spreadsheet-safe CSV ([`write_csv`]). Shared by the `clusters`
//! command, `report` and the terminal UI.

use std::io::Write;

use crate::fleet::analytics::{self, ClusterNode, ClusterTable};

use super::csv::{self, Field};
use super::table::{cut_note, percent, thousands, wrap, Align, DatedTimes, Fit, Table, TextLayout};

/// `1 host`, `3,812 hosts`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The text table's columns, in order; BUCKET (a signature at level 3) is last and the one
/// cut to fit a terminal.
const TEXT_HEADER: [&str; 10] = [
    "CAUSE",
    "HOSTS",
    "FLEET",
    "BOOT-LOOP",
    "CRASHES",
    "FIRST–LAST (UTC)",
    "ID",
    "BUGCHECK",
    "NOTES",
    "BUCKET / SIGNATURE",
];

const TEXT_ALIGN: [Align; 10] = [
    Align::Left,
    Align::Right,
    Align::Right,
    Align::Right,
    Align::Right,
    Align::Left,
    Align::Left,
    Align::Left,
    Align::Left,
    Align::Left,
];

/// How the columns give way to a narrow terminal: cause, hosts, fleet share and boot loops
/// stay; the onset span and crash count go late; the bucket id is cut before it goes;
/// id, bugcheck and notes go first (JSON, CSV and `--cluster X` carry them). At `--depth` 2
/// and 3 the bucket / signature column names the indented rows, so it stays (cut).
fn text_fit(depth: u8) -> [Fit; 10] {
    let bucket = if depth >= 2 {
        Fit::cut(24, 0)
    } else {
        Fit::cut(24, 4)
    };
    [
        Fit::cut(16, 0),
        Fit::KEEP,
        Fit::drop(1),
        Fit::drop(1),
        Fit::drop(3),
        Fit::drop(2),
        Fit::drop(5),
        Fit::drop(6),
        Fit::drop(7),
        bucket,
    ]
}

fn row_of(node: &ClusterNode, label: String, times: &mut DatedTimes) -> Vec<String> {
    let mut notes = Vec::new();
    if node.still_failing_hosts > node.boot_loop_hosts {
        notes.push(format!(
            "{} still failing",
            thousands(node.still_failing_hosts)
        ));
    }
    if node.recovered_hosts > 0 {
        notes.push(format!("{} recovered", thousands(node.recovered_hosts)));
    }
    if !node.related.is_empty() {
        let ids: Vec<&str> = node.related.iter().map(|r| r.id.as_str()).collect();
        notes.push(format!("related: {}", ids.join(" ")));
    }
    let span = match (node.first_seen_ms, node.last_seen_ms) {
        (Some(a), Some(b)) => times.span(a, b),
        _ => "time unknown".into(),
    };
    vec![
        label,
        thousands(node.hosts),
        node.fleet_share.map(percent).unwrap_or_else(|| "-".into()),
        thousands(node.boot_loop_hosts),
        thousands(node.crashes),
        span,
        node.id.clone(),
        node.bugcheck_codes.join(","),
        notes.join(", "),
        if node.level == analytics::ClusterLevel::Signature {
            node.signature.clone()
        } else {
            node.bucket_id.clone()
        },
    ]
}

/// The terminal table with a header, every row (no terminal width): what `report` and
/// tests read.
pub fn render_text(table: &ClusterTable, depth: u8, limit: usize) -> String {
    render_text_with(
        table,
        depth,
        limit,
        TextLayout {
            header: true,
            width: None,
        },
        chrono::Utc::now().date_naive(),
    )
}

/// The terminal table: a header row (unless `layout` says not), one line per driver-level
/// cluster (plus buckets and signatures at `depth` 2 and 3, indented), a note when `limit`
/// cut it, then a summary line. Times carry their date when it differs from the row
/// before (the first row: from `today`).
pub fn render_text_with(
    table: &ClusterTable,
    depth: u8,
    limit: usize,
    layout: TextLayout,
    today: chrono::NaiveDate,
) -> String {
    let mut t = Table::new()
        .with_header(&TEXT_HEADER)
        .show_header(layout.header)
        .with_align(&TEXT_ALIGN)
        .with_fit(&text_fit(depth))
        .with_max_cell_chars(90);
    let shown = if limit == 0 {
        table.clusters.len()
    } else {
        limit.min(table.clusters.len())
    };
    let mut times = DatedTimes::new(today);
    for node in &table.clusters[..shown] {
        t.push(&row_of(node, node.cause.clone(), &mut times));
        if depth >= 2 {
            for bucket in &node.children {
                t.push(&row_of(bucket, "  bucket".into(), &mut times));
                if depth >= 3 {
                    for sig in &bucket.children {
                        t.push(&row_of(sig, "    signature".into(), &mut times));
                    }
                }
            }
        }
    }
    let mut out = if t.is_empty() {
        "no crashes in scope\n".to_string()
    } else {
        t.render_for(layout)
    };
    let mut summary = String::new();
    if let Some(note) = cut_note(shown, table.clusters.len(), "clusters", "--limit 0") {
        summary.push_str(&note);
    }
    let fleet = match table.fleet_hosts {
        Some(f) => format!("; fleet {} hosts", thousands(f)),
        None => "; no inventory (fleet share unknown)".into(),
    };
    summary.push_str(&format!(
        "{}, {} on {}{fleet}\n",
        count(table.clusters.len() as u64, "cluster", "clusters"),
        count(table.crashes, "crash", "crashes"),
        count(table.hosts, "host", "hosts"),
    ));
    summary.push_str(&format!("end of data: {}\n", table.data_end.describe()));
    out.push_str(&wrap(&summary, layout.width));
    out
}

const CSV_HEADER: [&str; 27] = [
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
    "down_hosts",
    "critical_hosts",
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
            Field::num(node.down_hosts),
            Field::opt_num(node.critical_hosts),
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

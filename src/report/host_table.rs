//! The `hosts` table: an aligned terminal table ([`render_text`]) and spreadsheet-safe CSV
//! ([`write_csv`]). Shared by the `hosts` command, `report` and the terminal UI.

use std::io::Write;

use crate::fleet::analytics::hoststate::StateBasis;
use crate::fleet::analytics::{HostRow, HostState, HostTable};

use super::csv::{self, Field};
use super::table::{human_seconds, thousands, wrap, Align, DatedTimes, Fit, Table, TextLayout};

/// `2024-07-19T04:09:00Z` -> `2024-07-19 04:09:00`.
pub fn short_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .map(|t| t.trim_end_matches('Z').replacen('T', " ", 1))
        .unwrap_or_else(|| "-".into())
}

/// The footnote of a state marked `*`.
pub const CRASH_SILENCE_NOTE: &str =
    "* state inferred from crash silence (no heartbeat known for the host; see scan --heartbeats)";

/// The state as the text table shows it: marked `*` when it rests on crash silence rather
/// than heartbeats.
fn state_cell(h: &HostRow) -> String {
    match h.state_basis {
        StateBasis::Heartbeat => state_name(h).to_string(),
        StateBasis::CrashSilence => format!("{}*", state_name(h)),
    }
}

/// The host's state as every output names it: `looping, dumps rotated` for a boot-loop host
/// whose dumps up to the end were rotated away (Windows keeps the newest few) but whose kept
/// dumps show the loop under way.
pub fn state_name(h: &HostRow) -> &'static str {
    if h.dumps_rotated && h.state == HostState::BootLoop {
        "looping, dumps rotated"
    } else {
        h.state.as_str()
    }
}

/// The fixed (non-inventory) columns of the text table, as `--columns` names them.
pub const FIXED_COLUMNS: [&str; 8] = [
    "host",
    "state",
    "crashes",
    "clusters",
    "min_uptime",
    "first",
    "last",
    "boot_loop_since",
];

/// What the text table shows without `--columns`: it fits a terminal (the inventory's
/// site, role and criticality when it has them).
pub const DEFAULT_COLUMNS: [&str; 9] = [
    "host",
    "state",
    "crashes",
    "clusters",
    "first",
    "last",
    "site",
    "role",
    "criticality",
];

/// The columns `--columns` asks for (`all`: every one), checked against the table's: an
/// unknown name is an error listing the known ones. `None`: [`DEFAULT_COLUMNS`] that exist.
pub fn pick_columns(table: &HostTable, wanted: Option<&str>) -> Result<Vec<String>, String> {
    let known: Vec<String> = FIXED_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(table.inventory_columns.iter().cloned())
        .collect();
    match wanted.map(str::trim) {
        None => Ok(DEFAULT_COLUMNS
            .iter()
            .filter(|c| known.iter().any(|k| k == *c))
            .map(|c| c.to_string())
            .collect()),
        Some("all") => Ok(known),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                known
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(c))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "--columns: unknown column '{c}'; columns: all, {}",
                            known.join(", ")
                        )
                    })
            })
            .collect(),
    }
}

/// How a column gives way to a narrow terminal when the columns are the default ones:
/// host and state stay, the crash count and the cluster list (cut) next, then site and
/// criticality (who to send, what first), then the times and the role. Columns asked for
/// with `--columns` are never left out, only cut.
fn default_fit(column: &str) -> Fit {
    match column {
        "host" => Fit::cut(16, 0),
        "state" => Fit::KEEP,
        "crashes" => Fit::drop(1),
        "clusters" => Fit::cut(12, 2),
        "site" | "criticality" => Fit::drop(3),
        "last" => Fit::drop(4),
        "first" => Fit::drop(5),
        "role" => Fit::cut(12, 6),
        _ => Fit::cut(12, 7),
    }
}

/// As [`default_fit`] for columns the reader asked for: long text is cut, nothing left out.
fn asked_fit(column: &str) -> Fit {
    match default_fit(column) {
        Fit {
            cut_to: Some(min), ..
        } => Fit::cut(min, 0),
        _ => Fit::KEEP,
    }
}

fn millis(rfc3339: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The terminal table (times UTC, dated when the day changes) and a summary line, with
/// every column (what `report` and the terminal UI show).
pub fn render_text(table: &HostTable) -> String {
    let columns = pick_columns(table, Some("all")).unwrap_or_default();
    render_text_with(
        table,
        &columns,
        TextLayout {
            header: true,
            width: None,
        },
        chrono::Utc::now().date_naive(),
    )
}

/// The terminal table with `columns` (from [`pick_columns`]), laid out per `layout`, then
/// a summary line and the end of the data.
pub fn render_text_with(
    table: &HostTable,
    columns: &[String],
    layout: TextLayout,
    today: chrono::NaiveDate,
) -> String {
    let header: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "first" => "FIRST (UTC)".to_string(),
            "last" => "LAST (UTC)".to_string(),
            other => other.replace('_', " ").to_uppercase(),
        })
        .collect();
    let align: Vec<Align> = columns
        .iter()
        .map(|c| match c.as_str() {
            "crashes" | "min_uptime" => Align::Right,
            _ => Align::Left,
        })
        .collect();
    let defaults = pick_columns(table, None).is_ok_and(|d| d == columns);
    let fit: Vec<Fit> = columns
        .iter()
        .map(|c| {
            if defaults {
                default_fit(c)
            } else {
                asked_fit(c)
            }
        })
        .collect();
    let mut t = Table::new()
        .with_header(&header)
        .show_header(layout.header)
        .with_align(&align)
        .with_fit(&fit)
        .with_max_cell_chars(60);
    // Each time column dates its cells against the row above in the same column, so a
    // column left out to fit the terminal takes no date with it.
    let mut times = vec![DatedTimes::new(today); columns.len()];
    for h in &table.hosts {
        let row: Vec<String> = columns
            .iter()
            .zip(times.iter_mut())
            .map(|(c, times)| match c.as_str() {
                "host" => h.host.clone(),
                "state" => state_cell(h),
                "crashes" => thousands(h.crashes),
                "clusters" => h.clusters.join(" "),
                "min_uptime" => h
                    .min_uptime_seconds
                    .map(human_seconds)
                    .unwrap_or_else(|| "-".into()),
                "first" | "last" | "boot_loop_since" => {
                    let value = match c.as_str() {
                        "first" => h.first_crash.as_deref(),
                        "last" => h.last_crash.as_deref(),
                        _ => h.boot_loop_since.as_deref(),
                    };
                    match millis(value) {
                        Some(ms) => times.show(ms),
                        None => short_time(value),
                    }
                }
                column => h
                    .inventory
                    .iter()
                    .find(|(k, _)| *k == column)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
            })
            .collect();
        t.push(&row);
    }
    let mut out = if t.is_empty() {
        "no hosts in scope\n".to_string()
    } else {
        t.render_for(layout)
    };
    let mut summary = String::new();
    let rotated = table.hosts.iter().filter(|h| h.dumps_rotated).count();
    let states: Vec<String> = table
        .by_state
        .iter()
        .map(|(s, n)| {
            if *s == HostState::BootLoop && rotated > 0 {
                format!(
                    "{} {} ({} looping, dumps rotated)",
                    thousands(*n),
                    s.as_str(),
                    thousands(rotated as u64)
                )
            } else {
                format!("{} {}", thousands(*n), s.as_str())
            }
        })
        .collect();
    if table
        .hosts
        .iter()
        .any(|h| h.state_basis == StateBasis::CrashSilence)
    {
        summary.push_str(CRASH_SILENCE_NOTE);
        summary.push('\n');
    }
    summary.push_str(&format!(
        "{} hosts{}{}\n",
        thousands(table.hosts.len() as u64),
        if states.is_empty() {
            String::new()
        } else {
            format!(": {}", states.join(", "))
        },
        table
            .window_end
            .as_deref()
            .map(|e| format!("; data ends {e}"))
            .unwrap_or_default()
    ));
    summary.push_str(&format!("end of data: {}\n", table.data_end.describe()));
    out.push_str(&wrap(&summary, layout.width));
    out
}

/// One record per host; inventory columns follow the fixed ones.
pub fn write_csv<W: Write>(out: &mut W, table: &HostTable) -> std::io::Result<()> {
    let mut header: Vec<&str> = vec![
        "host",
        "state",
        "crashes",
        "clusters",
        "min_uptime_seconds",
        "first_crash",
        "last_crash",
        "boot_loop_since",
        "boot_looped",
        "state_basis",
        "last_seen",
    ];
    header.extend(table.inventory_columns.iter().map(String::as_str));
    csv::write_header(out, &header)?;
    for h in &table.hosts {
        let mut fields = vec![
            Field::text(&h.host),
            Field::text(state_name(h)),
            Field::num(h.crashes),
            Field::text(h.clusters.join(" ")),
            Field::opt_num(h.min_uptime_seconds),
            Field::opt_text(h.first_crash.as_deref()),
            Field::opt_text(h.last_crash.as_deref()),
            Field::opt_text(h.boot_loop_since.as_deref()),
            Field::num(h.boot_looped),
            Field::text(h.state_basis.as_str()),
            Field::opt_text(h.last_seen.as_deref()),
        ];
        fields.extend(h.inventory.iter().map(|(_, v)| Field::text(v)));
        csv::write_record(out, &fields)?;
    }
    Ok(())
}

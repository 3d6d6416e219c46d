//! The `hosts` table: an aligned terminal table ([`render_text`]) and spreadsheet-safe CSV
//! ([`write_csv`]). Shared by the `hosts` command, `report` and the terminal UI.

use std::io::Write;

use crate::fleet::analytics::hoststate::StateBasis;
use crate::fleet::analytics::{HostRow, HostTable};

use super::csv::{self, Field};
use super::table::{human_seconds, thousands, Align, Table};

/// `2024-07-19T04:09:00Z` -> `2024-07-19 04:09:00`.
pub fn short_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .map(|t| t.trim_end_matches('Z').replacen('T', " ", 1))
        .unwrap_or_else(|| "-".into())
}

/// The footnote of a state marked `*`.
pub const CRASH_SILENCE_NOTE: &str =
    "* state inferred from crash silence (no heartbeat known for the host; see scan --heartbeats)";

/// The state, marked `*` when it rests on crash silence rather than heartbeats (issue 15).
fn state_cell(h: &HostRow) -> String {
    match h.state_basis {
        StateBasis::Heartbeat => h.state.as_str().to_string(),
        StateBasis::CrashSilence => format!("{}*", h.state.as_str()),
    }
}

/// The terminal table (times UTC) and a summary line.
pub fn render_text(table: &HostTable) -> String {
    let mut header = vec![
        "HOST".to_string(),
        "STATE".into(),
        "CRASHES".into(),
        "CLUSTERS".into(),
        "MIN UPTIME".into(),
        "FIRST (UTC)".into(),
        "LAST (UTC)".into(),
    ];
    header.extend(table.inventory_columns.iter().map(|c| c.to_uppercase()));
    let mut t = Table::new()
        .with_header(&header)
        .with_align(&[Align::Left, Align::Left, Align::Right])
        .with_max_cell_chars(60);
    for h in &table.hosts {
        let mut row = vec![
            h.host.clone(),
            state_cell(h),
            thousands(h.crashes),
            h.clusters.join(" "),
            h.min_uptime_seconds
                .map(human_seconds)
                .unwrap_or_else(|| "-".into()),
            short_time(h.first_crash.as_deref()),
            short_time(h.last_crash.as_deref()),
        ];
        row.extend(h.inventory.iter().map(|(_, v)| v.to_string()));
        t.push(&row);
    }
    let mut out = if t.is_empty() {
        "no hosts in scope\n".to_string()
    } else {
        t.render()
    };
    let states: Vec<String> = table
        .by_state
        .iter()
        .map(|(s, n)| format!("{} {}", thousands(*n), s.as_str()))
        .collect();
    if table
        .hosts
        .iter()
        .any(|h| h.state_basis == StateBasis::CrashSilence)
    {
        out.push_str(CRASH_SILENCE_NOTE);
        out.push('\n');
    }
    out.push_str(&format!(
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
            Field::text(h.state.as_str()),
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

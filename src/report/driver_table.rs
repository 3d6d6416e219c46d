//! The `drivers` table (third-party kernel drivers: exposure and crash share): an aligned
//! terminal table ([`render_text`]) and spreadsheet-safe CSV ([`write_csv`]). Shared by the
//! `drivers` command, `report` and the terminal UI.

use std::io::Write;

use crate::fleet::analytics::{self, DriverTable};

use super::csv::{self, Field};
use super::table::{cut_note, percent, thousands, wrap, Align, Fit, Table, TextLayout};

pub fn opt_percent(share: Option<f64>) -> String {
    share.map(percent).unwrap_or_else(|| "-".into())
}

/// Versions newest first: `0x66a0b1c4 (1 host, 1 crash)`.
fn versions_cell(d: &analytics::DriverRow) -> String {
    d.versions
        .iter()
        .map(|v| {
            format!(
                "{} ({} {}, {} {})",
                v.timestamp,
                thousands(v.hosts),
                if v.hosts == 1 { "host" } else { "hosts" },
                thousands(v.crashes),
                if v.crashes == 1 { "crash" } else { "crashes" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The terminal table with a header and a summary line.
pub fn render_text(table: &DriverTable, limit: usize) -> String {
    render_text_with(
        table,
        limit,
        TextLayout {
            header: true,
            width: None,
        },
    )
}

/// The terminal table laid out per `layout` (header, terminal width: VERSIONS is cut
/// first), a note when `limit` cut it, and a summary line.
pub fn render_text_with(table: &DriverTable, limit: usize, layout: TextLayout) -> String {
    let header = [
        "DRIVER",
        "VENDOR",
        "CATEGORY",
        "HOSTS",
        "LOADED",
        "CRASHES",
        "CRASH SHARE",
        "VERSIONS",
    ];
    // Driver, hosts, load and crash shares stay; versions are cut, then go first, then the
    // category, then the vendor (cut before it goes).
    let mut t = Table::new()
        .with_header(&header)
        .show_header(layout.header)
        .with_fit(&[
            Fit::cut(16, 0),
            Fit::cut(12, 3),
            Fit::drop(4),
            Fit::KEEP,
            Fit::drop(1),
            Fit::drop(1),
            Fit::drop(2),
            Fit::cut(24, 5),
        ])
        .with_align(&[
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Left,
        ])
        .with_max_cell_chars(100);
    let shown = if limit == 0 {
        table.drivers.len()
    } else {
        limit.min(table.drivers.len())
    };
    for d in &table.drivers[..shown] {
        t.push(&[
            d.driver.clone(),
            d.vendor.clone().unwrap_or_else(|| "-".into()),
            d.category.clone().unwrap_or_else(|| "-".into()),
            thousands(d.hosts_loaded),
            opt_percent(d.loaded_share),
            thousands(d.crashes),
            opt_percent(d.crash_share),
            versions_cell(d),
        ]);
    }
    let mut out = if table.drivers.is_empty() {
        "no third-party drivers in scope\n".to_string()
    } else {
        t.render_for(layout)
    };
    let mut summary = String::new();
    if let Some(note) = cut_note(shown, table.drivers.len(), "drivers", "--limit 0") {
        summary.push_str(&note);
    }
    summary.push_str(&format!(
        "{} drivers; {} hosts with a known driver list; {} crashes in scope\n",
        thousands(table.drivers.len() as u64),
        thousands(table.hosts_with_driver_data),
        thousands(table.crashes)
    ));
    out.push_str(&wrap(&summary, layout.width));
    out
}

/// One record per driver; versions as `timestamp:hosts:crashes` separated by spaces.
pub fn write_csv<W: Write>(out: &mut W, table: &DriverTable) -> std::io::Result<()> {
    csv::write_header(
        out,
        &[
            "driver",
            "vendor",
            "category",
            "hosts_loaded",
            "loaded_share",
            "crashes",
            "crash_share",
            "versions",
        ],
    )?;
    for d in &table.drivers {
        let versions: Vec<String> = d
            .versions
            .iter()
            .map(|v| format!("{}:{}:{}", v.timestamp, v.hosts, v.crashes))
            .collect();
        csv::write_record(
            out,
            &[
                Field::text(&d.driver),
                Field::opt_text(d.vendor.as_deref()),
                Field::opt_text(d.category.as_deref()),
                Field::num(d.hosts_loaded),
                Field::opt_num(d.loaded_share),
                Field::num(d.crashes),
                Field::opt_num(d.crash_share),
                Field::text(versions.join(" ")),
            ],
        )?;
    }
    Ok(())
}

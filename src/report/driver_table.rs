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

/// Crashes per installed host, to 2 decimals (`0.03`); `-` when unknown.
fn per_host(rate: Option<f64>) -> String {
    rate.map(|r| format!("{r:.2}"))
        .unwrap_or_else(|| "-".into())
}

/// Which columns the text table shows.
struct Columns {
    header: &'static [&'static str],
    align: &'static [Align],
    /// How each column gives way on a narrow terminal (cut, then left out by rank).
    fit: &'static [Fit],
    cells: fn(&analytics::DriverRow) -> Vec<String>,
}

/// Without a driver inventory: who loads it (in dumps), its crash share, its versions.
const LOADED_COLUMNS: Columns = Columns {
    header: &[
        "DRIVER",
        "VENDOR",
        "CATEGORY",
        "HOSTS",
        "LOADED",
        "CRASHES",
        "CRASH SHARE",
        "VERSIONS",
    ],
    align: &[
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Left,
    ],
    // Driver, hosts, load and crash shares stay; versions are cut, then go first, then the
    // category, then the vendor (cut before it goes).
    fit: &[
        Fit::cut(16, 0),
        Fit::cut(12, 3),
        Fit::drop(4),
        Fit::KEEP,
        Fit::drop(1),
        Fit::drop(1),
        Fit::drop(2),
        Fit::cut(24, 5),
    ],
    cells: |d| {
        vec![
            d.driver.clone(),
            d.vendor.clone().unwrap_or_else(|| "-".into()),
            d.category.clone().unwrap_or_else(|| "-".into()),
            thousands(d.hosts_loaded),
            opt_percent(d.loaded_share),
            thousands(d.crashes),
            opt_percent(d.crash_share),
            versions_cell(d),
        ]
    },
};

/// With the fleet's driver inventory the installed base comes first and, to fit an
/// 80-column terminal, CATEGORY, the dump-based HOSTS / LOADED and VERSIONS give way to
/// INSTALLED (hosts), FLEET (their share of the inventory) and PER HOST (crashes per
/// installed host); `--format json` or `csv` carry every field. VENDOR is cut first.
const INSTALLED_COLUMNS: Columns = Columns {
    header: &[
        "DRIVER",
        "VENDOR",
        "INSTALLED",
        "FLEET",
        "CRASHES",
        "SHARE",
        "PER HOST",
    ],
    align: &[
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
    ],
    // Driver, installed base and crashes stay; the vendor is cut, then goes first, then
    // crashes per host, then the two shares.
    fit: &[
        Fit::cut(16, 0),
        Fit::cut(12, 4),
        Fit::KEEP,
        Fit::drop(1),
        Fit::KEEP,
        Fit::drop(2),
        Fit::drop(3),
    ],
    cells: |d| {
        vec![
            d.driver.clone(),
            d.vendor.clone().unwrap_or_else(|| "-".into()),
            d.hosts_installed
                .map(thousands)
                .unwrap_or_else(|| "-".into()),
            opt_percent(d.installed_share),
            thousands(d.crashes),
            opt_percent(d.crash_share),
            per_host(d.crashes_per_installed_host),
        ]
    },
};

/// The terminal table laid out per `layout` (header, terminal width: long columns are cut,
/// then the least important left out), a note when `limit` cut it, and a summary line. The columns are the installed
/// base's when the driver inventory is known ([`INSTALLED_COLUMNS`]).
pub fn render_text_with(table: &DriverTable, limit: usize, layout: TextLayout) -> String {
    let installed = table.drivers.iter().any(|d| d.hosts_installed.is_some());
    let columns = if installed {
        &INSTALLED_COLUMNS
    } else {
        &LOADED_COLUMNS
    };
    let mut t = Table::new()
        .with_header(columns.header)
        .show_header(layout.header)
        .with_fit(columns.fit)
        .with_align(columns.align)
        .with_max_cell_chars(100);
    let shown = if limit == 0 {
        table.drivers.len()
    } else {
        limit.min(table.drivers.len())
    };
    for d in &table.drivers[..shown] {
        t.push(&(columns.cells)(d));
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
    if installed {
        summary.push_str(
            "INSTALLED: hosts the driver inventory lists it on; FLEET: share of the fleet;\n\
             SHARE: of the crashes in scope; PER HOST: crashes per installed host\n",
        );
    }
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
            "hosts_installed",
            "installed_share",
            "crashes_per_installed_host",
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
                Field::opt_num(d.hosts_installed),
                Field::opt_num(d.installed_share),
                Field::opt_num(d.crashes_per_installed_host),
            ],
        )?;
    }
    Ok(())
}

//! `blastradius drivers`: third-party kernel drivers seen loaded — who runs in our kernel,
//! on what share of hosts, and what share of crashes they cause — as a terminal table, JSON
//! (an array) or CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::fleet::analytics::{self, DriverOptions, DriverTable};
use crate::fleet::store::Store;
use crate::report::csv::{self, Field};
use crate::report::table::{percent, thousands, Align, Table};
use crate::triage::Rules;

use super::scope_args::{emit, ScopeArgs, TableFormat};

/// Arguments of `blastradius drivers`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// A rules file (TOML) merged over the built-in rules (driver vendors and categories,
    /// Microsoft's modules).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Also list Microsoft's own drivers.
    #[arg(long)]
    pub include_microsoft: bool,
    /// At most this many drivers in the text table (0 = all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = Store::open(&args.scope.store)?;
    let rules = Rules::from_cli(args.rules.as_deref())?;
    let opts = DriverOptions {
        scope: args.scope.resolved_scope(&store, None)?,
        include_microsoft: args.include_microsoft,
    };
    let table = analytics::drivers(
        store.lazy_crashes()?,
        store.lazy_drivers()?,
        store.inventory()?,
        &rules,
        &opts,
    )
    .with_context(|| format!("drivers of {}", args.scope.store.display()))?;
    let mut out: Vec<u8> = Vec::new();
    match args.scope.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &table.drivers)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &table)?,
        TableFormat::Text => out.extend_from_slice(render_text(&table, args.limit).as_bytes()),
    }
    emit(&out)?;
    Ok(0)
}

fn opt_percent(share: Option<f64>) -> String {
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

/// The terminal table and a summary line.
pub fn render_text(table: &DriverTable, limit: usize) -> String {
    let mut t = Table::new()
        .with_header(&[
            "DRIVER",
            "VENDOR",
            "CATEGORY",
            "HOSTS",
            "LOADED",
            "CRASHES",
            "CRASH SHARE",
            "VERSIONS",
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
        t.render()
    };
    out.push_str(&format!(
        "{} drivers; {} hosts with a known driver list; {} crashes in scope\n",
        thousands(table.drivers.len() as u64),
        thousands(table.hosts_with_driver_data),
        thousands(table.crashes)
    ));
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

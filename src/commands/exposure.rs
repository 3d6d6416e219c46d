//! `blastradius exposure DRIVER`: the what-if blast radius of a driver (see
//! `fleet::analytics::exposure`), as one sentence and a breakdown, JSON or CSV.

use std::path::PathBuf;

use crate::fleet::analytics::exposure::{exposure, CriticalRule, Exposure};
use crate::fleet::store::{DEFAULT_STORE_DIR, STORE_ENV};
use crate::report::csv::{self, Field};
use crate::report::table::{output_width, wrap};

use super::scope_args::{emit, open_store, ScopeArgs, TableFormat};

/// Arguments of `blastradius exposure`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The driver: `csagent.sys`, `CSAgent` or a path.
    #[arg(value_name = "DRIVER")]
    pub driver: String,
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// Which hosts are critical: inventory COLUMN=VALUE[,VALUE] (default criticality=critical).
    #[arg(long, value_name = "COLUMN=VALUE[,VALUE]")]
    pub critical: Option<String>,
    /// Only hosts of this site (the inventory's `site` column): the fleet is that site.
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Only hosts whose inventory column has this value; repeatable (all must hold).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub conditions: Vec<String>,
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
    /// Lay the text out for N columns (0: no limit, whole cells); default: $COLUMNS, else
    /// the terminal's width, else 80. Columns that do not fit are cut or left out.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let critical = CriticalRule::from_flag(args.critical.as_deref())?;
    let store = open_store(&args.store)?;
    // The same parser and strict matching as the table commands: a site or value the
    // inventory does not have is an error, not an empty answer.
    let scope = ScopeArgs {
        store: args.store.clone(),
        since: None,
        until: None,
        now: None,
        site: args.site.clone(),
        conditions: args.conditions.clone(),
        driver: None,
        format: args.format,
    }
    .resolved_scope(&store, None)?;
    let driver_inventory = store.driver_inventory()?;
    let loaded = match driver_inventory {
        Some(_) => None,
        None => Some(store.lazy_drivers()?),
    };
    let inventory = store.inventory()?;
    let result = exposure(
        &args.driver,
        driver_inventory.as_ref(),
        loaded,
        inventory.as_ref(),
        &scope.inventory_filters,
        &critical,
    )?;
    let mut out: Vec<u8> = Vec::new();
    match args.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &result)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &result)?,
        TableFormat::Text => {
            out.extend_from_slice(render_text(&result, output_width(args.width)).as_bytes())
        }
    }
    emit(&out)?;
    Ok(0)
}

/// The sentence (wrapped to `width`), then the breakdown and versions, one
/// `column value hosts` line each (43 characters: they fit any terminal).
pub fn render_text(e: &Exposure, width: Option<usize>) -> String {
    let mut out = wrap(
        &format!("if {} fails at boot: {}", e.driver, e.sentence()),
        width,
    );
    for (column, values) in &e.breakdown {
        out.push_str(&format!("\nby {column}:\n"));
        for (value, hosts) in values {
            out.push_str(&format!("  {:<32} {:>8}\n", value, hosts.hosts));
        }
    }
    if !e.versions.is_empty() {
        out.push_str("\nby version:\n");
        for (version, hosts) in &e.versions {
            out.push_str(&format!("  {:<32} {:>8}\n", version, hosts));
        }
    }
    out
}

/// `dimension,value,hosts`: the totals first (`total`), then each breakdown and `version`.
pub fn write_csv<W: std::io::Write>(out: &mut W, e: &Exposure) -> std::io::Result<()> {
    csv::write_header(out, &["driver", "basis", "dimension", "value", "hosts"])?;
    let basis = match e.basis {
        crate::fleet::analytics::exposure::ExposureBasis::DriverInventory => "driver-inventory",
        crate::fleet::analytics::exposure::ExposureBasis::Dumps => "dumps",
    };
    let mut row = |dimension: &str, value: &str, hosts: u64| {
        csv::write_record(
            out,
            &[
                Field::text(&e.driver),
                Field::text(basis),
                Field::text(dimension),
                Field::text(value),
                Field::num(hosts),
            ],
        )
    };
    row("total", "installed", e.hosts_installed)?;
    if let Some(b) = e.boot_start_hosts {
        row("total", "boot_start", b)?;
    }
    if let Some(c) = e.critical_hosts {
        row("total", "critical", c)?;
    }
    for (column, values) in &e.breakdown {
        for (value, hosts) in values {
            row(column, value, hosts.hosts)?;
        }
    }
    for (version, hosts) in &e.versions {
        row("version", version, *hosts)?;
    }
    Ok(())
}

//! `blastradius drivers`: third-party kernel drivers seen loaded — who runs in our kernel,
//! on what share of hosts, and what share of crashes they cause — as a terminal table, JSON
//! (an array) or CSV.

use std::path::PathBuf;

use anyhow::Context;

use crate::fleet::analytics::{self, DriverOptions};
pub use crate::report::driver_table::{render_text, render_text_with, write_csv};
use crate::report::table::TextLayout;

use super::scope_args::{emit, open_store, ScopeArgs, TableFormat};

/// Arguments of `blastradius drivers`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// A rules file (TOML) merged over the built-in rules (driver vendors and categories,
    /// Microsoft's modules); default: the rules the store's scan used.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Also list Microsoft's own drivers.
    #[arg(long)]
    pub include_microsoft: bool,
    /// At most this many drivers in the text table (0 = all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
    /// Text table without its header row (for scripts).
    #[arg(long)]
    pub no_header: bool,
    /// Lay the text out for N columns (0: no limit, whole cells); default: $COLUMNS, else
    /// the terminal's width, else 80. Columns that do not fit are cut or left out.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = open_store(&args.scope.store)?;
    let rules = super::scope_args::reading_rules(&store, args.rules.as_deref())?;
    let opts = DriverOptions {
        scope: args.scope.resolved_scope(&store, None)?,
        include_microsoft: args.include_microsoft,
        driver_inventory: store.driver_inventory()?,
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
        TableFormat::Text => out.extend_from_slice(
            render_text_with(
                &table,
                args.limit,
                TextLayout::for_stdout(args.no_header, args.width),
            )
            .as_bytes(),
        ),
    }
    emit(&out)?;
    Ok(0)
}

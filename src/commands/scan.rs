//! `blastradius scan`: ingest trees of dumps into the crash store, in parallel and
//! incrementally, then print a summary (text or JSON).
//!
//! Exit codes: 0 when the scan ran, even if some files were quarantined (a warning line on
//! stderr says so); 2 when it could not run (no such path, store not writable, bad options).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use polars::prelude::*;
use serde::Serialize;

use crate::fleet::inventory::read_inventory;
use crate::fleet::scan::{
    scan, HostFrom, HostMap, ScanOptions, ScanProgress, ScanSummary, Shard, DEFAULT_BATCH_SIZE,
};
use crate::fleet::store::{Store, DEFAULT_STORE_DIR, STORE_ENV};
use crate::pipeline::Pipeline;
use crate::symbols::SymbolCache;

/// How many blamed drivers the summary lists.
const TOP_BLAMED: usize = 5;

/// Output format of `scan`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Arguments of `blastradius scan`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Folders (walked recursively) or files. Dumps are recognised by content, not extension.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The crash store folder (created when absent).
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// Inventory (CSV or .parquet) with a `host` column; saved in the store.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Where the host of a dump comes from: `parent` (dumps/<host>/*.dmp) or `manifest:FILE`
    /// (a CSV with columns path,host).
    #[arg(long, default_value = "parent", value_name = "parent|manifest:FILE")]
    pub host_from: HostFrom,
    /// Symbol store folder or `_NT_SYMBOL_PATH`-style path.
    #[arg(long, value_name = "PATH")]
    pub symbols: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Scan only shard I of N (0-based; by a hash of the path under the scan root), e.g.
    /// `--shard $JOB_COMPLETION_INDEX/8`. Merge the shards' stores with `store merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Crash + quarantine rows per commit (one Parquet file per table per batch).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,
}

/// One line of the "top blamed drivers" list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BlamedDriver {
    pub driver: String,
    pub crashes: u64,
    pub hosts: u64,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    #[serde(flatten)]
    summary: &'a ScanSummary,
    top_blamed_drivers: &'a [BlamedDriver],
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    // Everything that can make the scan impossible is checked before the store is touched.
    for path in &args.paths {
        if !path.exists() {
            anyhow::bail!("{}: no such file or folder", path.display());
        }
    }
    if args.jobs == Some(0) {
        anyhow::bail!("--jobs must be at least 1");
    }
    let hosts = HostMap::load(&args.host_from)?;
    let inventory = args.inventory.as_deref().map(read_inventory).transpose()?;
    let symbols =
        SymbolCache::from_cli(args.symbols.as_deref()).context("cannot open the symbols")?;
    let pipeline = Pipeline::new(Arc::new(symbols));

    let mut store = Store::open_or_create(&args.store)
        .with_context(|| format!("cannot write the crash store {}", args.store.display()))?;
    if let Some(inventory) = inventory {
        store.save_inventory(inventory)?;
    }
    let options = ScanOptions {
        roots: args.paths.clone(),
        hosts,
        shard: args.shard,
        batch_size: args.batch_size,
    };
    let progress = Bar::new();
    let summary = match args.jobs {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
            pool.install(|| scan(&mut store, &pipeline, &options, &progress))
        }
        None => scan(&mut store, &pipeline, &options, &progress),
    };
    progress.finish();
    let summary = summary?;
    let top = top_blamed_drivers(&store, TOP_BLAMED)?;

    match args.format {
        Format::Json => {
            let out = JsonOutput {
                summary: &summary,
                top_blamed_drivers: &top,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => print!("{}", render_text(&summary, &top)),
    }
    if summary.quarantined > 0 {
        eprintln!(
            "blastradius: warning: {} file(s) could not be read and were quarantined (see the quarantine table in {}, or --format json)",
            summary.quarantined,
            store.dir().display()
        );
    }
    Ok(0)
}

/// The drivers blamed for the most crashes in the whole store, with distinct hosts.
pub fn top_blamed_drivers(store: &Store, n: usize) -> anyhow::Result<Vec<BlamedDriver>> {
    let df = store
        .lazy_crashes()?
        .filter(col("blame_module_lc").is_not_null())
        .group_by([col("blame_module_lc")])
        .agg([
            len().cast(DataType::UInt64).alias("crashes"),
            col("host").n_unique().cast(DataType::UInt64).alias("hosts"),
        ])
        .sort(
            ["crashes", "blame_module_lc"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .limit(n as IdxSize)
        .collect()?;
    let drivers = df.column("blame_module_lc")?.str()?.clone();
    let crashes = df.column("crashes")?.u64()?.clone();
    let hosts = df.column("hosts")?.u64()?.clone();
    Ok(drivers
        .iter()
        .zip(crashes.iter())
        .zip(hosts.iter())
        .map(|((d, c), h)| BlamedDriver {
            driver: d.unwrap_or_default().to_string(),
            crashes: c.unwrap_or(0),
            hosts: h.unwrap_or(0),
        })
        .collect())
}

fn render_text(s: &ScanSummary, top: &[BlamedDriver]) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<22}{value}\n"));
    line("store", printable(&s.store));
    line("files seen", s.files_seen.to_string());
    line("new dumps", s.ingested.to_string());
    line("already known", s.skipped_known.to_string());
    line("quarantined", s.quarantined.to_string());
    line("skipped (not a dump)", s.skipped_not_dump.to_string());
    if s.skipped_other_shard > 0 {
        line("other shards", s.skipped_other_shard.to_string());
    }
    line(
        "elapsed",
        format!(
            "{:.2} s ({:.1} dumps/s)",
            s.elapsed_seconds, s.dumps_per_second
        ),
    );
    if !s.quarantine.is_empty() {
        out.push_str("\nquarantined files:\n");
        for q in s.quarantine.iter().take(20) {
            out.push_str(&format!("  {}\n", printable(&q.error)));
        }
        if s.quarantine.len() > 20 {
            out.push_str(&format!(
                "  ... and {} more (--format json lists them)\n",
                s.quarantined - 20
            ));
        }
    }
    if !top.is_empty() {
        out.push_str("\ntop blamed drivers (whole store):\n");
        for d in top {
            out.push_str(&format!(
                "  {:<28} {:>8} crashes {:>8} hosts\n",
                printable(&d.driver),
                d.crashes,
                d.hosts
            ));
        }
    }
    out
}

/// File names and dump strings are attacker-controlled: no control characters or escape
/// sequences reach the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The progress bar: drawn on stderr only when stderr is a terminal.
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files  {per_sec}  ETA {eta}",
        ) {
            bar.set_style(style);
        }
        Bar(Some(bar))
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl ScanProgress for Bar {
    fn start(&self, files: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(files);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_summary_lists_counts_and_strips_control_characters() {
        let summary = ScanSummary {
            files_seen: 12,
            ingested: 9,
            skipped_known: 1,
            skipped_not_dump: 1,
            quarantined: 1,
            elapsed_seconds: 2.0,
            dumps_per_second: 4.5,
            store: "s".into(),
            quarantine: vec![crate::fleet::scan::QuarantinedFile {
                path: "/d/x\u{1b}[31m.dmp".into(),
                error: "/d/x\u{1b}[31m.dmp: truncated".into(),
            }],
            ..ScanSummary::default()
        };
        let top = [BlamedDriver {
            driver: "csagent.sys".into(),
            crashes: 8,
            hosts: 7,
        }];
        let text = render_text(&summary, &top);
        assert!(text.contains("new dumps             9\n"), "{text}");
        assert!(text.contains("2.00 s (4.5 dumps/s)"), "{text}");
        assert!(text.contains("/d/x?[31m.dmp: truncated"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("csagent.sys"));
    }
}

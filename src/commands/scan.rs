//! `blastradius scan`: ingest trees of dumps into the crash store, in parallel and
//! incrementally, then print a summary (text or JSON).
//!
//! Exit codes: 0 when the scan ran, even if some files were quarantined (a warning line on
//! stderr says so); 2 when it could not run (no such path, store not writable, bad options).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::fleet::analytics::window::{parse_instant, DataEnd};
use crate::fleet::analytics::{clusters, ClusterOptions};
use crate::fleet::driver_inventory::read_driver_inventory;
use crate::fleet::heartbeats::{hosts_absent_from, read_heartbeats};
use crate::fleet::inventory::{read_inventory, InventoryMatch};
use crate::fleet::scan::{
    scan, HostFrom, HostMap, ScanOptions, ScanProgress, ScanSummary, Shard, Unlisted,
    DEFAULT_BATCH_SIZE,
};
use crate::fleet::store::{Store, DEFAULT_STORE_DIR, STORE_ENV};
use crate::pipeline::Pipeline;
use crate::report::driver_table::opt_percent;
use crate::report::table::{output_width, thousands, wrap, Align, Fit, Table, TextLayout};
use crate::symbols::SymbolCache;
use crate::triage::Rules;

/// How many clusters the summary lists.
const TOP_CLUSTERS: usize = 5;

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
    /// Heartbeats (CSV or .parquet: `host, seen_at` RFC 3339), repeatable; appended to the
    /// store (deduplicated). They tell hosts that came back from hosts stuck down.
    #[arg(long, value_name = "FILE")]
    pub heartbeats: Vec<PathBuf>,
    /// The fleet's driver inventory (CSV or .parquet: `host, driver` + optional `path,
    /// start_mode, state, version`; `driverquery /v /fo csv` and `Win32_SystemDriver` column
    /// names with a host column accepted); saved in the store, replacing an earlier one.
    #[arg(long, value_name = "FILE")]
    pub driver_inventory: Option<PathBuf>,
    /// Where the host of a dump comes from: `parent` (dumps/<host>/*.dmp) or `manifest:FILE`
    /// (a CSV with columns path,host).
    #[arg(long, default_value = "parent", value_name = "parent|manifest:FILE")]
    pub host_from: HostFrom,
    /// With `--host-from manifest:`, dumps the manifest does not list: `skip` them (counted,
    /// listed, warned about) or take their parent `folder` as host.
    #[arg(long, value_enum, default_value_t = Unlisted::Skip)]
    pub unlisted: Unlisted,
    /// Judge the summary's host states as of this time (UTC; default: the clock when the data
    /// is less than a day old, else the latest crash time several hosts reached).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// A rules file (TOML) merged over the built-in rules; saved in the store, so later scans
    /// and `reprocess` use it (without `--rules`, the store's saved rules are used).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Symbol store folder or `_NT_SYMBOL_PATH`-style path.
    #[arg(long, value_name = "PATH")]
    pub symbols: Option<String>,
    /// Fit the text summary into N columns (0: no limit); default: $COLUMNS, else the
    /// terminal's width, else 80.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Worker threads (default: one per core; 1 .. 4x the cores, more is capped).
    #[arg(long, value_name = "N", value_parser = super::limits::parse_jobs)]
    pub jobs: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Scan only shard I of N (0-based; by a hash of the path under the scan root), e.g.
    /// `--shard $JOB_COMPLETION_INDEX/8`. Merge the shards' stores with `store merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Crash + quarantine rows per commit (one Parquet file per table per batch).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_name = "N", value_parser = super::limits::parse_batch_size)]
    pub batch_size: usize,
}

/// One line of the summary's "top clusters" list: a driver-level cluster of the whole store.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopCluster {
    pub id: String,
    /// The blamed driver, or the failure class of a non-driver cause.
    pub cause: String,
    /// The cluster's most common bucket.
    pub bucket_id: String,
    pub crashes: u64,
    pub hosts: u64,
    /// Share of the inventory's hosts, when an inventory is saved.
    pub fleet_share: Option<f64>,
    pub boot_loop_hosts: u64,
    /// Hosts crashed and silent since (heartbeats in the store; issue 15).
    #[serde(default)]
    pub down_hosts: u64,
}

/// What the summary says about the whole store after the scan.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StoreOverview {
    pub top_clusters: Vec<TopCluster>,
    /// The end of the data later commands judge host states against, and the clock-skewed
    /// hosts set aside (`None` for an empty store).
    pub data_end: Option<DataEnd>,
    /// How the hosts with crashes matched the saved inventory (`None` without one).
    pub inventory_match: Option<InventoryMatch>,
    /// What is odd about the data, one line each (clock skew, inventory mismatch).
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    #[serde(flatten)]
    summary: &'a ScanSummary,
    #[serde(flatten)]
    overview: &'a StoreOverview,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    // Everything that can make the scan impossible is checked before the store is touched.
    for path in &args.paths {
        if !path.exists() {
            anyhow::bail!("{}: no such file or folder", path.display());
        }
    }
    super::scope_args::check_store_path(&args.store)?;
    if let Some(path) = args.inventory.as_deref() {
        if !path.is_file() {
            anyhow::bail!(
                "{}: no such inventory file; pass the CMDB export (CSV or Parquet) to --inventory",
                path.display()
            );
        }
    }
    let now = args.now.as_deref().map(parse_instant).transpose()?;
    let hosts = HostMap::load(&args.host_from)?;
    let inventory = args.inventory.as_deref().map(read_inventory).transpose()?;
    let symbols =
        SymbolCache::from_cli(args.symbols.as_deref()).context("cannot open the symbols")?;
    let mut store = Store::open_or_create(&args.store)
        .with_context(|| format!("cannot write the crash store {}", args.store.display()))?;
    let rules = store_rules(&store, args.rules.as_deref())?;
    if let Some(text) = &rules.new_text {
        if store.rules_text()?.as_deref() != Some(text.as_str())
            && !store.manifest().crashes.is_empty()
        {
            eprintln!(
                "blastradius: warning: new rules apply to the dumps of this scan; `blastradius reprocess --store {}` applies them to the stored crashes",
                store.dir().display()
            );
        }
        store.save_rules(text)?;
    }
    let pipeline = Pipeline::new(Arc::new(symbols)).with_rules(Arc::new(rules.rules));
    if let Some(inventory) = inventory {
        store.save_inventory(inventory)?;
    }
    // Bad side input is reported and the dumps are still ingested (exit 2 at the end).
    let mut input_failed = false;
    if let Some(path) = &args.driver_inventory {
        match read_driver_inventory(path) {
            Ok(file) => {
                note_side_input(&store, path, &file.notes, &file.rows)?;
                store.save_driver_inventory(file.rows)?;
            }
            Err(err) => input_failed = report_bad_input(&err),
        }
    }
    for path in &args.heartbeats {
        match read_heartbeats(path) {
            Ok(file) => {
                note_side_input(&store, path, &file.notes, &file.rows)?;
                store.append_heartbeats(file.rows)?;
            }
            Err(err) => input_failed = report_bad_input(&err),
        }
    }
    let options = ScanOptions {
        roots: args.paths.clone(),
        hosts,
        unlisted: args.unlisted,
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
    let overview = store_overview(&store, TOP_CLUSTERS, now)?;

    match args.format {
        Format::Json => {
            let out = JsonOutput {
                summary: &summary,
                overview: &overview,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => print!(
            "{}",
            render_text(&summary, &overview, output_width(args.width))
        ),
    }
    if summary.unlisted > 0 {
        eprintln!(
            "blastradius: warning: {} dump(s) not in the --host-from manifest were {} (first: {})",
            summary.unlisted,
            match args.unlisted {
                Unlisted::Skip => "left out (--unlisted folder takes their parent folder as host)",
                Unlisted::Folder => "given their parent folder as host",
            },
            printable(&summary.unlisted_paths.join(", "))
        );
    }
    for warning in &overview.warnings {
        eprintln!("blastradius: warning: {}", printable(warning));
    }
    if summary.quarantined > 0 {
        eprintln!(
            "blastradius: warning: {} file(s) could not be read and were quarantined (see the quarantine table in {}, or --format json)",
            summary.quarantined,
            store.dir().display()
        );
    }
    Ok(if input_failed { 2 } else { 0 })
}

/// Prints a side input's notes (ignored columns, skipped rows) and names its hosts that the
/// saved inventory does not list.
fn note_side_input(
    store: &Store,
    path: &Path,
    notes: &[String],
    rows: &polars::prelude::DataFrame,
) -> anyhow::Result<()> {
    for note in notes {
        eprintln!("blastradius: note: {}", printable(note));
    }
    if let Some(inventory) = store.saved_inventory()? {
        let absent = hosts_absent_from(rows, &inventory)?;
        if !absent.is_empty() {
            let first: Vec<&str> = absent.iter().take(5).map(String::as_str).collect();
            eprintln!(
                "blastradius: warning: {}: {} host(s) are not in the inventory (first: {})",
                path.display(),
                absent.len(),
                printable(&first.join(", "))
            );
        }
    }
    Ok(())
}

/// Prints why a side input was unusable; returns true (the scan then exits 2).
fn report_bad_input(err: &dyn std::error::Error) -> bool {
    eprintln!("blastradius: error: {}", printable(&err.to_string()));
    true
}

/// The triage rules a command runs with, and the text to save in the store.
pub struct StoreRules {
    pub rules: Rules,
    /// The `--rules` file's text when one was given (to save as the rules in force).
    pub new_text: Option<String>,
}

/// `--rules FILE` when given, else the rules saved in the store, else the built-in rules:
/// each merged over the built-in set. Stored crashes and new ones are then triaged alike.
pub fn store_rules(store: &Store, cli: Option<&Path>) -> anyhow::Result<StoreRules> {
    let Some(path) = cli else {
        return Ok(StoreRules {
            rules: store.rules()?,
            new_text: None,
        });
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the rules", path.display()))?;
    let mut rules = Rules::builtin();
    rules
        .merge_toml(&text)
        .map_err(|e| anyhow::anyhow!("rules: {e}"))?;
    Ok(StoreRules {
        rules,
        new_text: Some(text),
    })
}

/// The `n` largest driver-level clusters of the whole store, ranked by blast radius (hosts,
/// then crashes), as `blastradius clusters` ranks them. Without the drivers table: exposure is
/// not part of the summary, and reading ~150 driver rows per dump made the summary, not the
/// scan, the peak of a scan's memory.
pub fn store_overview(
    store: &Store,
    n: usize,
    now_ms: Option<i64>,
) -> anyhow::Result<StoreOverview> {
    if store.manifest().crashes.is_empty() {
        return Ok(StoreOverview::default());
    }
    let (inventory, inventory_match) = store.inventory_matched()?.unzip();
    let mut options = ClusterOptions::default();
    options.scope.window = options.scope.window.with_now(now_ms);
    let heartbeats = store.heartbeats()?;
    options.scope.heartbeats = (!heartbeats.is_empty()).then(|| Arc::new(heartbeats));
    let table = clusters(store.lazy_crashes()?, None, inventory, &options)?;
    let top_clusters = table
        .clusters
        .into_iter()
        .take(n)
        .map(|c| TopCluster {
            id: c.id,
            cause: c.cause,
            bucket_id: c.bucket_id,
            crashes: c.crashes,
            hosts: c.hosts,
            fleet_share: c.fleet_share,
            boot_loop_hosts: c.boot_loop_hosts,
            down_hosts: c.down_hosts,
        })
        .collect();
    let mut warnings = table.warnings;
    warnings.extend(inventory_match.as_ref().and_then(InventoryMatch::warning));
    Ok(StoreOverview {
        top_clusters,
        warnings,
        inventory_match,
        data_end: Some(table.data_end),
    })
}

fn render_text(s: &ScanSummary, overview: &StoreOverview, width: Option<usize>) -> String {
    let top = &overview.top_clusters;
    let mut out = String::new();
    line_to(&mut out, "store", printable(&s.store));
    line_to(&mut out, "files seen", s.files_seen.to_string());
    line_to(&mut out, "new dumps", s.ingested.to_string());
    line_to(&mut out, "already known", s.skipped_known.to_string());
    line_to(&mut out, "quarantined", s.quarantined.to_string());
    line_to(
        &mut out,
        "skipped (not a dump)",
        s.skipped_not_dump.to_string(),
    );
    if s.unlisted > 0 {
        line_to(&mut out, "not in host manifest", s.unlisted.to_string());
    }
    if s.skipped_other_shard > 0 {
        line_to(&mut out, "other shards", s.skipped_other_shard.to_string());
    }
    line_to(
        &mut out,
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
    if let Some(m) = &overview.inventory_match {
        let mut text = format!("{} of {} hosts with crashes", m.matched, m.crash_hosts);
        if m.matched_loosely > 0 {
            text.push_str(&format!(" ({} by case or short name)", m.matched_loosely));
        }
        if !m.unmatched_hosts.is_empty() {
            text.push_str(&format!("; not in it: {}", m.unmatched_hosts.join(", ")));
            if m.unmatched as usize > m.unmatched_hosts.len() {
                text.push_str(&format!(
                    " and {} more",
                    m.unmatched as usize - m.unmatched_hosts.len()
                ));
            }
        }
        line_to(&mut out, "inventory matches", printable(&text));
    }
    if let Some(end) = &overview.data_end {
        out.push_str(&format!(
            "{:<22}{}\n",
            "end of data",
            printable(&end.describe())
        ));
    }
    if !top.is_empty() {
        out.push_str("\ntop clusters (whole store):\n");
        out.push_str(&top_clusters_table(top, width));
    }
    wrap_long_lines(&out, width)
}

/// The summary's top clusters as a table that fits `width`: cause, crashes, hosts and the
/// boot-looping and down counts stay; the bucket id is cut, then left out, before the fleet
/// share goes.
fn top_clusters_table(top: &[TopCluster], width: Option<usize>) -> String {
    let mut t = Table::new()
        .with_header(&[
            "CAUSE",
            "CRASHES",
            "HOSTS",
            "FLEET",
            "BOOT-LOOP",
            "DOWN",
            "BUCKET",
        ])
        .with_fit(&[
            Fit::cut(16, 0),
            Fit::KEEP,
            Fit::KEEP,
            Fit::drop(2),
            Fit::KEEP,
            Fit::KEEP,
            Fit::cut(12, 3),
        ])
        .with_align(&[
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Left,
        ]);
    for c in top {
        t.push(&[
            c.cause.clone(),
            thousands(c.crashes),
            thousands(c.hosts),
            opt_percent(c.fleet_share),
            thousands(c.boot_loop_hosts),
            thousands(c.down_hosts),
            c.bucket_id.clone(),
        ]);
    }
    // Indented by two: fitted to two less.
    let table = t.render_for(TextLayout {
        header: true,
        width: width.map(|w| w.saturating_sub(2)),
    });
    table.lines().map(|line| format!("  {line}\n")).collect()
}

/// Wraps the summary's long `label   value` lines (the inventory match, the end of data)
/// to `width`, continuing under the value; table lines are already fitted.
fn wrap_long_lines(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let indent = " ".repeat(22);
    let mut out = String::new();
    for line in text.lines() {
        if line.chars().count() <= width || line.starts_with("  ") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let wrapped = wrap(line, Some(width.saturating_sub(2).max(40)));
        for (i, part) in wrapped.lines().enumerate() {
            if i > 0 {
                out.push_str(&indent);
            }
            out.push_str(part);
            out.push('\n');
        }
    }
    out
}

/// One `label   value` line of the text summary.
fn line_to(out: &mut String, label: &str, value: String) {
    out.push_str(&format!("{label:<22}{value}\n"));
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
        let top = [TopCluster {
            id: "c1".into(),
            cause: "csagent.sys".into(),
            bucket_id: "AV_R_INVALID_csagent!unknown_function".into(),
            crashes: 8,
            hosts: 7,
            fleet_share: Some(0.5),
            boot_loop_hosts: 2,
            down_hosts: 0,
        }];
        let overview = StoreOverview {
            top_clusters: top.to_vec(),
            ..StoreOverview::default()
        };
        let text = render_text(&summary, &overview, None);
        assert!(text.contains("new dumps             9\n"), "{text}");
        assert!(text.contains("2.00 s (4.5 dumps/s)"), "{text}");
        assert!(text.contains("/d/x?[31m.dmp: truncated"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("csagent.sys"), "{text}");
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("csagent.sys"))
            .unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "csagent.sys",
                "8",
                "7",
                "50.0",
                "%",
                "2",
                "0",
                "AV_R_INVALID_csagent!unknown_function"
            ],
            "{text}"
        );
        // At 80 columns every line fits and the counts stay.
        let narrow = render_text(&summary, &overview, Some(80));
        assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
        assert!(narrow.contains("BOOT-LOOP"), "{narrow}");
    }
}

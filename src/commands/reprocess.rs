//! `blastradius reprocess`: re-derive blame, failure class, bucket id and signature of every
//! stored crash with the current rules (built-in, or `--rules FILE` merged over them), without
//! re-reading any dump — the store keeps the bugcheck, fault and the stack's frames, the way
//! Socorro keeps its proto-signature — then rewrite the crash table atomically
//! (`Store::replace_crashes`).
//!
//! Each row is turned back into the parts of a `CrashReport` that triage reads, and
//! `triage::apply` runs on it: the same code path as a fresh scan, so a reprocessed store and
//! a rescanned one agree. The summary lists how many crashes changed and the most common
//! bucket/signature moves ("original / new", as Socorro's `signature` command shows them).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use polars::prelude::*;
use serde::Serialize;

use crate::fleet::store::{module_key, Store, Table, DEFAULT_STORE_DIR, STORE_ENV};
use crate::record::{
    Blame, BugcheckRecord, CrashReport, DumpFormat, ExceptionRecord, Fault, FrameTrust, StackFrame,
};
use crate::report::table::terminal_safe;
use crate::triage::{self, Rules};

use super::scan::Format;

/// Arguments of `blastradius reprocess`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The crash store folder.
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// A rules file (TOML) merged over the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Report what would change without rewriting the store.
    #[arg(long)]
    pub dry_run: bool,
    /// How many of the most common changes to list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// One kind of change and how many crashes made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub old_bucket_id: String,
    pub new_bucket_id: String,
    pub old_signature: String,
    pub new_signature: String,
    pub crashes: u64,
}

/// What `reprocess` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReprocessSummary {
    pub crashes: u64,
    /// Crashes whose blamed module, failure class, bucket id or signature changed.
    pub changed: u64,
    pub written: bool,
    /// The most common changes, largest first.
    pub changes: Vec<Change>,
}

/// The re-derived triage columns of the whole crash table.
struct Rederived {
    blame_module: Vec<Option<String>>,
    blame_module_lc: Vec<Option<String>>,
    blame_owner: Vec<Option<String>>,
    blame_third_party: Vec<bool>,
    blame_frame_index: Vec<Option<u32>>,
    blame_reason: Vec<String>,
    failure_class: Vec<String>,
    bucket_id: Vec<String>,
    signature: Vec<String>,
}

fn strings_of(list: &ListChunked, i: usize) -> PolarsResult<Vec<Option<String>>> {
    match list.get_as_series(i) {
        Some(s) => Ok(s.str()?.iter().map(|v| v.map(str::to_string)).collect()),
        None => Ok(Vec::new()),
    }
}

fn opt_str(ca: &StringChunked, i: usize) -> Option<String> {
    ca.get(i).map(str::to_string)
}

/// Rebuilds the triage-relevant part of row `i` as a report.
fn report_of_row(df: &DataFrame, i: usize) -> PolarsResult<CrashReport> {
    let s = |name: &str| df.column(name).and_then(|c| c.str());
    let code = df.column("bugcheck_code")?.u32()?.get(i);
    let parameters = strings_of(df.column("bugcheck_parameters")?.list()?, i)?;
    let exception_code = df.column("exception_code")?.u32()?.get(i);
    let addresses = strings_of(df.column("stack_address")?.list()?, i)?;
    let modules = strings_of(df.column("stack_module")?.list()?, i)?;
    let offsets = strings_of(df.column("stack_offset")?.list()?, i)?;
    let functions = strings_of(df.column("stack_function")?.list()?, i)?;
    let stack = addresses
        .into_iter()
        .enumerate()
        .map(|(k, address)| StackFrame {
            index: k as u32,
            address: address.unwrap_or_default(),
            module: modules.get(k).cloned().flatten(),
            offset: offsets.get(k).cloned().flatten(),
            function: functions.get(k).cloned().flatten(),
            function_offset: None,
            source_line: None,
            inlines: Vec::new(),
            trust: FrameTrust::Scan,
        })
        .collect();
    Ok(CrashReport {
        path: opt_str(s("path")?, i).unwrap_or_default(),
        dump_id: opt_str(s("dump_id")?, i).unwrap_or_default(),
        size_bytes: 0,
        format: DumpFormat::KernelTriage,
        arch: opt_str(s("arch")?, i).unwrap_or_default(),
        os_build: df.column("os_build")?.u32()?.get(i),
        os_version: None,
        processors: None,
        product_type: None,
        crash_time: None,
        uptime_seconds: None,
        boot_id: None,
        bugcheck: code.map(|code| BugcheckRecord {
            code,
            code_hex: format!("0x{code:X}"),
            name: String::new(),
            parameters: parameters
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
        }),
        exception: exception_code.map(|code| ExceptionRecord {
            code,
            name: String::new(),
            address: String::new(),
        }),
        fault: Fault {
            address: opt_str(s("fault_address")?, i),
            module: opt_str(s("fault_module")?, i),
            module_base: None,
            offset: opt_str(s("fault_offset")?, i),
            symbol: opt_str(s("fault_symbol")?, i),
            access: opt_str(s("fault_access")?, i),
            referenced_address: opt_str(s("fault_referenced_address")?, i),
        },
        blame: Blame::default(),
        failure_class: String::new(),
        bucket_id: String::new(),
        signature: String::new(),
        stack,
        modules: Vec::new(),
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules: Vec::new(),
        warnings: Vec::new(),
    })
}

/// Runs triage over every row of `crashes` (the store's crash table).
fn rederive(crashes: &DataFrame, rules: &Rules) -> PolarsResult<Rederived> {
    let n = crashes.height();
    let mut out = Rederived {
        blame_module: Vec::with_capacity(n),
        blame_module_lc: Vec::with_capacity(n),
        blame_owner: Vec::with_capacity(n),
        blame_third_party: Vec::with_capacity(n),
        blame_frame_index: Vec::with_capacity(n),
        blame_reason: Vec::with_capacity(n),
        failure_class: Vec::with_capacity(n),
        bucket_id: Vec::with_capacity(n),
        signature: Vec::with_capacity(n),
    };
    for i in 0..n {
        let mut report = report_of_row(crashes, i)?;
        triage::apply(&mut report, rules);
        out.blame_module_lc
            .push(report.blame.module.as_deref().map(module_key));
        out.blame_module.push(report.blame.module);
        out.blame_owner.push(report.blame.owner);
        out.blame_third_party.push(report.blame.third_party);
        out.blame_frame_index.push(report.blame.frame_index);
        out.blame_reason.push(report.blame.reason);
        out.failure_class.push(report.failure_class);
        out.bucket_id.push(report.bucket_id);
        out.signature.push(report.signature);
    }
    Ok(out)
}

/// Compares old and new triage columns; returns (changed rows, changes by frequency).
fn diff(crashes: &DataFrame, new: &Rederived, show: usize) -> PolarsResult<(u64, Vec<Change>)> {
    let old_lc = crashes.column("blame_module_lc")?.str()?;
    let old_class = crashes.column("failure_class")?.str()?;
    let old_bucket = crashes.column("bucket_id")?.str()?;
    let old_sig = crashes.column("signature")?.str()?;
    let mut changed = 0u64;
    let mut moves: HashMap<(String, String, String, String), u64> = HashMap::new();
    for i in 0..crashes.height() {
        let same = old_lc.get(i) == new.blame_module_lc[i].as_deref()
            && old_class.get(i) == Some(new.failure_class[i].as_str())
            && old_bucket.get(i) == Some(new.bucket_id[i].as_str())
            && old_sig.get(i) == Some(new.signature[i].as_str());
        if same {
            continue;
        }
        changed += 1;
        let key = (
            old_bucket.get(i).unwrap_or("").to_string(),
            new.bucket_id[i].clone(),
            old_sig.get(i).unwrap_or("").to_string(),
            new.signature[i].clone(),
        );
        *moves.entry(key).or_insert(0) += 1;
    }
    let mut changes: Vec<Change> = moves
        .into_iter()
        .map(|((ob, nb, os, ns), crashes)| Change {
            old_bucket_id: ob,
            new_bucket_id: nb,
            old_signature: os,
            new_signature: ns,
            crashes,
        })
        .collect();
    changes.sort_by(|a, b| {
        b.crashes
            .cmp(&a.crashes)
            .then(a.old_signature.cmp(&b.old_signature))
            .then(a.new_signature.cmp(&b.new_signature))
    });
    changes.truncate(show);
    Ok((changed, changes))
}

/// The crash table with the re-derived columns in place (same schema, same order).
fn with_rederived(mut crashes: DataFrame, new: Rederived) -> PolarsResult<DataFrame> {
    crashes.with_column(Column::new("blame_module".into(), new.blame_module))?;
    crashes.with_column(Column::new("blame_module_lc".into(), new.blame_module_lc))?;
    crashes.with_column(Column::new("blame_owner".into(), new.blame_owner))?;
    crashes.with_column(Column::new(
        "blame_third_party".into(),
        new.blame_third_party,
    ))?;
    crashes.with_column(Column::new(
        "blame_frame_index".into(),
        new.blame_frame_index,
    ))?;
    crashes.with_column(Column::new("blame_reason".into(), new.blame_reason))?;
    crashes.with_column(Column::new("failure_class".into(), new.failure_class))?;
    crashes.with_column(Column::new("bucket_id".into(), new.bucket_id))?;
    crashes.with_column(Column::new("signature".into(), new.signature))?;
    Ok(crashes)
}

/// Re-derives the store's triage columns with `rules`; writes them unless `dry_run`.
pub fn reprocess_store(
    store: &mut Store,
    rules: &Rules,
    dry_run: bool,
    show: usize,
) -> anyhow::Result<ReprocessSummary> {
    let mut crashes = store.read_table(Table::Crashes)?;
    // One chunk per column: per-row reads below are then plain index lookups.
    crashes.rechunk_mut_par();
    let new = anyhow::Context::context(rederive(&crashes, rules), "re-deriving triage columns")?;
    let (changed, changes) = diff(&crashes, &new, show)?;
    let total = crashes.height() as u64;
    let written = !dry_run && changed > 0;
    if written {
        let updated = with_rederived(crashes, new)?;
        store.replace_crashes(updated)?;
    }
    Ok(ReprocessSummary {
        crashes: total,
        changed,
        written,
        changes,
    })
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let rules = Rules::from_cli(args.rules.as_deref())?;
    let mut store = Store::open(&args.store)?;
    let summary = reprocess_store(&mut store, &rules, args.dry_run, args.show)
        .with_context(|| format!("reprocess {}", args.store.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &summary)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(
                out,
                "{} crashes, {} changed{}",
                summary.crashes,
                summary.changed,
                if summary.written {
                    "; store rewritten"
                } else if args.dry_run {
                    "; dry run, store unchanged"
                } else {
                    "; nothing to write"
                }
            )?;
            for c in &summary.changes {
                writeln!(
                    out,
                    "{:>8}  original: {}  |  {}",
                    c.crashes,
                    terminal_safe(&c.old_bucket_id),
                    terminal_safe(&c.old_signature)
                )?;
                writeln!(
                    out,
                    "{:>8}  new:      {}  |  {}",
                    "",
                    terminal_safe(&c.new_bucket_id),
                    terminal_safe(&c.new_signature)
                )?;
            }
        }
    }
    Ok(0)
}

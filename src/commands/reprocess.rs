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
use std::sync::Arc;

use anyhow::Context;
use polars::prelude::*;
use serde::Serialize;

use crate::dump::{content_id, DumpFile};
use crate::fleet::store::{
    module_key, CrashRows, Store, Table, TriageColumns, DEFAULT_STORE_DIR, STORE_ENV,
};
use crate::pipeline::Pipeline;
use crate::record::{Address, Blame, CrashReport, FrameTrust, StackFrame};
use crate::report::table::terminal_safe;
use crate::symbols::{ModuleId, ModuleSymbols, SymbolCache};
use crate::triage::{self, Rules};

use super::scan::{store_rules, Format};

/// Arguments of `blastradius reprocess`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The crash store folder.
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// A rules file (TOML) merged over the built-in rules. Saved in the store: later scans
    /// and reprocess runs use it until another `--rules` replaces it.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Re-symbolize the stored frames that have no function name with this symbol store or
    /// `_NT_SYMBOL_PATH`-style path (e.g. after a vendor's PDB arrived), then re-triage.
    #[arg(long, value_name = "PATH")]
    pub symbols: Option<String>,
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
    /// Crashes now in another cluster (driver or cause, bucket id or signature).
    pub changed_cluster: u64,
    /// Stored frames that gained a function name from `--symbols`, and their crashes.
    pub symbolized_frames: u64,
    pub symbolized_crashes: u64,
    /// Dumps reopened and walked again (a module's image arrived; see `Resymbolizer`).
    pub reopened_dumps: u64,
    pub written: bool,
    /// The most common changes, largest first.
    pub changes: Vec<Change>,
}

/// What re-deriving the whole crash table gave: the new columns and what changed.
struct Rederived {
    columns: TriageColumns,
    changed: u64,
    changed_cluster: u64,
    /// (old bucket, new bucket, old signature, new signature) -> crashes.
    moves: HashMap<(String, String, String, String), u64>,
    symbolized_frames: u64,
    symbolized_crashes: u64,
    reopened_dumps: u64,
}

/// Symbolizes stored kernel frames again: a frame keeps module + offset, and the store's
/// drivers table keeps each loaded driver's TimeDateStamp and SizeOfImage, which is all a
/// symbol store needs to find the image and its PDB. Frames alone are not enough when a
/// module's image arrived and the walk had to scan past that module's frame (no unwind data
/// then): only such dumps are reopened and walked again, if the file is still there with
/// the same content.
struct Resymbolizer<'a> {
    symbols: &'a SymbolCache,
    /// Walks reopened dumps with the new symbols.
    pipeline: Pipeline,
    /// (dump_id, driver key) -> (timestamp, size).
    modules: HashMap<(String, String), (u32, u32)>,
}

/// What re-symbolizing one crash did.
#[derive(Default)]
struct Resymbolized {
    /// Frames that gained a function name.
    named: u64,
    /// The dump was reopened and its stack walked again.
    reopened: bool,
}

impl<'a> Resymbolizer<'a> {
    fn new(symbols: &'a Arc<SymbolCache>, drivers: &DataFrame) -> PolarsResult<Resymbolizer<'a>> {
        let ids = drivers.column("dump_id")?.str()?;
        let names = drivers.column("driver")?.str()?;
        let stamps = drivers.column("timestamp")?.u32()?;
        let sizes = drivers.column("size")?.u32()?;
        let mut modules = HashMap::new();
        for i in 0..drivers.height() {
            if let (Some(id), Some(name), Some(ts), Some(size)) =
                (ids.get(i), names.get(i), stamps.get(i), sizes.get(i))
            {
                modules.insert((id.to_string(), name.to_string()), (ts, size));
            }
        }
        Ok(Resymbolizer {
            symbols,
            pipeline: Pipeline::new(symbols.clone()),
            modules,
        })
    }

    /// The symbols of a frame's module in this dump, when the store knows the module.
    fn module_of(&self, dump_id: &str, module: &str) -> Option<Arc<ModuleSymbols>> {
        let &(timestamp, size) = self
            .modules
            .get(&(dump_id.to_string(), module_key(module)))?;
        self.symbols.module(&ModuleId {
            name: module,
            timestamp,
            size,
            header_page: None,
        })
    }

    /// Whether a frame's module now has its image while the frame after it was only found by
    /// scanning: a walk with the image's unwind data may find other frames.
    fn needs_rewalk(&self, report: &CrashReport) -> bool {
        report.stack.windows(2).any(|pair| {
            pair[1].trust == FrameTrust::Scan
                && pair[0].trust != FrameTrust::Scan
                && pair[0].module.as_deref().is_some_and(|m| {
                    self.module_of(&report.dump_id, m)
                        .is_some_and(|s| s.image().is_some())
                })
        })
    }

    /// The stack and fault symbol of the dump at `report.path` walked again, when the file
    /// still holds the stored content.
    fn rewalk(&self, report: &CrashReport) -> Option<(Vec<StackFrame>, Option<String>)> {
        let path = std::path::Path::new(&report.path);
        let file = DumpFile::open(path).ok()?;
        let bytes = file.bytes();
        let id = content_id(bytes);
        if id != report.dump_id {
            return None;
        }
        let fresh = self.pipeline.process_bytes_with_id(path, bytes, id).ok()?;
        Some((fresh.stack, fresh.fault.symbol))
    }

    /// Re-symbolizes `report`'s frames (see the type's doc).
    fn apply(&self, report: &mut CrashReport) -> Resymbolized {
        let functions = |r: &CrashReport| r.stack.iter().filter(|f| f.function.is_some()).count();
        if self.needs_rewalk(report) {
            let before = functions(report);
            if let Some((stack, symbol)) = self.rewalk(report) {
                report.stack = stack;
                report.fault.symbol = symbol;
                return Resymbolized {
                    named: functions(report).saturating_sub(before) as u64,
                    reopened: true,
                };
            }
        }
        Resymbolized {
            named: self.name_frames(report),
            reopened: false,
        }
    }

    /// Fills the functions of `report`'s frames that have none; returns how many it named.
    fn name_frames(&self, report: &mut CrashReport) -> u64 {
        let mut named = 0;
        for frame in &mut report.stack {
            if frame.function.is_some() {
                continue;
            }
            let (Some(module), Some(offset)) = (&frame.module, frame.offset) else {
                continue;
            };
            let Ok(rva) = u32::try_from(offset.0) else {
                continue;
            };
            // Callers are looked up inside their call instruction, as the stack walk does.
            let adjust = u32::from(frame.trust != FrameTrust::Context && rva > 0);
            let Some(symbols) = self.module_of(&report.dump_id, module) else {
                continue;
            };
            if let Some(hit) = symbols.lookup(rva - adjust) {
                frame.function = Some(hit.function.to_string());
                frame.function_offset =
                    Some(Address(u64::from(hit.function_offset) + u64::from(adjust)));
                named += 1;
            }
        }
        if named > 0 {
            let address = report.fault.address;
            if let Some(f) = report.stack.iter().find(|f| Some(f.address) == address) {
                if let Some(function) = &f.function {
                    report.fault.symbol = Some(match &f.function_offset {
                        Some(off) => format!("{function}+{off}"),
                        None => function.clone(),
                    });
                }
            }
        }
        named
    }
}

/// The cluster key of a crash as analytics derive it: the blamed driver, else the class.
fn cause(blame_module_lc: Option<&str>, failure_class: &str) -> String {
    blame_module_lc
        .filter(|d| !d.is_empty())
        .unwrap_or(failure_class)
        .to_string()
}

/// Runs triage over every row of `crashes` (the store's crash table), after re-symbolizing
/// its frames when `resymbolizer` is given, and counts what changed.
fn rederive(
    crashes: &DataFrame,
    rules: &Rules,
    resymbolizer: Option<&Resymbolizer>,
) -> PolarsResult<Rederived> {
    let rows = CrashRows::new(crashes)?;
    let mut out = Rederived {
        columns: TriageColumns::new(resymbolizer.is_some()),
        changed: 0,
        changed_cluster: 0,
        moves: HashMap::new(),
        symbolized_frames: 0,
        symbolized_crashes: 0,
        reopened_dumps: 0,
    };
    for i in 0..rows.len() {
        let mut report = rows.report(i)?;
        let old_lc = rows.blame_module_lc(i).map(str::to_string);
        let old = (
            cause(old_lc.as_deref(), &report.failure_class),
            std::mem::take(&mut report.failure_class),
            std::mem::take(&mut report.bucket_id),
            std::mem::take(&mut report.signature),
        );
        report.blame = Blame::default();
        if let Some(resymbolizer) = resymbolizer {
            let done = resymbolizer.apply(&mut report);
            out.symbolized_frames += done.named;
            out.symbolized_crashes += u64::from(done.named > 0);
            out.reopened_dumps += u64::from(done.reopened);
        }
        triage::apply(&mut report, rules);
        out.columns.push(&report);
        let new_lc = report.blame.module.as_deref().map(module_key);
        let (old_cause, old_class, old_bucket, old_sig) = old;
        if old_lc == new_lc
            && old_class == report.failure_class
            && old_bucket == report.bucket_id
            && old_sig == report.signature
        {
            continue;
        }
        out.changed += 1;
        if old_cause != cause(new_lc.as_deref(), &report.failure_class)
            || old_bucket != report.bucket_id
            || old_sig != report.signature
        {
            out.changed_cluster += 1;
        }
        *out.moves
            .entry((old_bucket, report.bucket_id, old_sig, report.signature))
            .or_insert(0) += 1;
    }
    Ok(out)
}

/// The most common moves, largest first.
fn top_changes(moves: HashMap<(String, String, String, String), u64>, show: usize) -> Vec<Change> {
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
    changes
}

/// Re-derives the store's triage columns with `rules`; writes them unless `dry_run`.
pub fn reprocess_store(
    store: &mut Store,
    rules: &Rules,
    dry_run: bool,
    show: usize,
) -> anyhow::Result<ReprocessSummary> {
    reprocess_store_with(store, rules, None, dry_run, show)
}

/// `reprocess_store`, re-symbolizing the stored frames with `symbols` first when given.
pub fn reprocess_store_with(
    store: &mut Store,
    rules: &Rules,
    symbols: Option<&Arc<SymbolCache>>,
    dry_run: bool,
    show: usize,
) -> anyhow::Result<ReprocessSummary> {
    let mut crashes = store.read_table(Table::Crashes)?;
    // One chunk per column: per-row reads below are then plain index lookups.
    crashes.rechunk_mut_par();
    let resymbolizer = match symbols {
        Some(symbols) => Some(Resymbolizer::new(
            symbols,
            &store.read_table(Table::Drivers)?,
        )?),
        None => None,
    };
    let new = anyhow::Context::context(
        rederive(&crashes, rules, resymbolizer.as_ref()),
        "re-deriving triage columns",
    )?;
    let (changed, changed_cluster) = (new.changed, new.changed_cluster);
    let (symbolized_frames, symbolized_crashes, reopened_dumps) = (
        new.symbolized_frames,
        new.symbolized_crashes,
        new.reopened_dumps,
    );
    let changes = top_changes(new.moves, show);
    let total = crashes.height() as u64;
    let written = !dry_run && (changed > 0 || symbolized_frames > 0 || reopened_dumps > 0);
    if written {
        let updated = new.columns.replace_in(crashes)?;
        store.replace_crashes(updated)?;
    }
    Ok(ReprocessSummary {
        crashes: total,
        changed,
        changed_cluster,
        symbolized_frames,
        symbolized_crashes,
        reopened_dumps,
        written,
        changes,
    })
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let mut store = Store::open(&args.store)?;
    let rules = store_rules(&store, args.rules.as_deref())?;
    let symbols = args
        .symbols
        .as_deref()
        .map(|spec| SymbolCache::from_cli(Some(spec)).map(Arc::new))
        .transpose()
        .context("cannot open the symbols")?;
    let summary = reprocess_store_with(
        &mut store,
        &rules.rules,
        symbols.as_ref(),
        args.dry_run,
        args.show,
    )
    .with_context(|| format!("reprocess {}", args.store.display()))?;
    if !args.dry_run {
        if let Some(text) = &rules.new_text {
            store.save_rules(text)?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &summary)?;
            writeln!(out)?;
        }
        Format::Text => {
            if args.symbols.is_some() {
                writeln!(
                    out,
                    "{} frames of {} crashes gained a function name; {} dumps reopened to walk their stacks again",
                    summary.symbolized_frames, summary.symbolized_crashes, summary.reopened_dumps
                )?;
            }
            writeln!(
                out,
                "{} crashes, {} changed, {} moved to another cluster{}",
                summary.crashes,
                summary.changed,
                summary.changed_cluster,
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

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
    append_nullable, module_key, Store, Table, DEFAULT_STORE_DIR, STORE_ENV,
};
use crate::pipeline::Pipeline;
use crate::record::{
    hex, parse_hex, Blame, BugcheckRecord, CrashReport, DumpFormat, ExceptionRecord, Fault,
    FrameTrust, StackFrame,
};
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
    /// With `--symbols`: every row's frames and fault symbol, re-symbolized.
    stacks: Option<Vec<Vec<StackFrame>>>,
    fault_symbol: Option<Vec<Option<String>>>,
    symbolized_frames: u64,
    symbolized_crashes: u64,
    reopened_dumps: u64,
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

/// The stored name of a frame's trust, back to the enum (unknown names: the least trust).
fn trust_of(name: &str) -> FrameTrust {
    [
        FrameTrust::Context,
        FrameTrust::Cfi,
        FrameTrust::FramePointer,
        FrameTrust::Scan,
    ]
    .into_iter()
    .find(|t| t.as_str() == name)
    .unwrap_or(FrameTrust::Scan)
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
            let (Some(module), Some(offset)) = (&frame.module, frame.offset.as_deref()) else {
                continue;
            };
            let Some(rva) = parse_hex(offset).and_then(|o| u32::try_from(o).ok()) else {
                continue;
            };
            // Callers are looked up inside their call instruction, as the stack walk does.
            let adjust = u32::from(frame.trust != FrameTrust::Context && rva > 0);
            let Some(symbols) = self.module_of(&report.dump_id, module) else {
                continue;
            };
            if let Some(hit) = symbols.lookup(rva - adjust) {
                frame.function = Some(hit.function.to_string());
                frame.function_offset = Some(hex(u64::from(hit.function_offset + adjust)));
                named += 1;
            }
        }
        if named > 0 {
            let address = report.fault.address.clone();
            if let Some(f) = report
                .stack
                .iter()
                .find(|f| Some(&f.address) == address.as_ref())
            {
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
    // Each frame keeps the trust it was found with (issue 13: all became `scan`).
    let trusts = match df.column("stack_trust") {
        Ok(c) => strings_of(c.list()?, i)?,
        Err(_) => Vec::new(),
    };
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
            trust: trusts
                .get(k)
                .cloned()
                .flatten()
                .as_deref()
                .map_or(FrameTrust::Scan, trust_of),
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

/// Runs triage over every row of `crashes` (the store's crash table), after re-symbolizing
/// its frames when `resymbolizer` is given.
fn rederive(
    crashes: &DataFrame,
    rules: &Rules,
    resymbolizer: Option<&Resymbolizer>,
) -> PolarsResult<Rederived> {
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
        stacks: resymbolizer.map(|_| Vec::with_capacity(n)),
        fault_symbol: resymbolizer.map(|_| Vec::with_capacity(n)),
        symbolized_frames: 0,
        symbolized_crashes: 0,
        reopened_dumps: 0,
    };
    for i in 0..n {
        let mut report = report_of_row(crashes, i)?;
        if let Some(resymbolizer) = resymbolizer {
            let done = resymbolizer.apply(&mut report);
            out.symbolized_frames += done.named;
            out.symbolized_crashes += u64::from(done.named > 0);
            out.reopened_dumps += u64::from(done.reopened);
        }
        if let Some(stacks) = &mut out.stacks {
            stacks.push(report.stack.clone());
        }
        if let Some(symbols) = &mut out.fault_symbol {
            symbols.push(report.fault.symbol.clone());
        }
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

/// Compares old and new triage columns; returns (changed rows, rows whose cluster changed,
/// changes by frequency).
fn diff(
    crashes: &DataFrame,
    new: &Rederived,
    show: usize,
) -> PolarsResult<(u64, u64, Vec<Change>)> {
    let old_lc = crashes.column("blame_module_lc")?.str()?;
    let old_class = crashes.column("failure_class")?.str()?;
    let old_bucket = crashes.column("bucket_id")?.str()?;
    let old_sig = crashes.column("signature")?.str()?;
    let mut changed = 0u64;
    let mut changed_cluster = 0u64;
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
        // The cluster keys as analytics derive them: the driver, else the failure class.
        let old_cause = old_lc.get(i).filter(|d| !d.is_empty()).or(old_class.get(i));
        let new_cause = new.blame_module_lc[i]
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or(new.failure_class[i].as_str());
        if old_cause != Some(new_cause)
            || old_bucket.get(i) != Some(new.bucket_id[i].as_str())
            || old_sig.get(i) != Some(new.signature[i].as_str())
        {
            changed_cluster += 1;
        }
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
    Ok((changed, changed_cluster, changes))
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
    if let Some(stacks) = new.stacks {
        // The stack columns as the batch writer lays them out (one list per crash).
        let column = |name: &str, value: &dyn Fn(&StackFrame) -> Option<&str>| {
            let mut builder = ListStringChunkedBuilder::new(name.into(), 0, 0);
            for stack in &stacks {
                append_nullable(&mut builder, stack.iter().map(value));
            }
            builder.finish().into_column()
        };
        crashes.with_column(column("stack_address", &|f| Some(f.address.as_str())))?;
        crashes.with_column(column("stack_module", &|f| f.module.as_deref()))?;
        crashes.with_column(column("stack_offset", &|f| f.offset.as_deref()))?;
        crashes.with_column(column("stack_function", &|f| f.function.as_deref()))?;
        crashes.with_column(column("stack_trust", &|f| Some(f.trust.as_str())))?;
    }
    if let Some(symbols) = new.fault_symbol {
        crashes.with_column(Column::new("fault_symbol".into(), symbols))?;
    }
    Ok(crashes)
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
    let (changed, changed_cluster, changes) = diff(&crashes, &new, show)?;
    let (symbolized_frames, symbolized_crashes, reopened_dumps) = (
        new.symbolized_frames,
        new.symbolized_crashes,
        new.reopened_dumps,
    );
    let total = crashes.height() as u64;
    let written = !dry_run && (changed > 0 || symbolized_frames > 0 || reopened_dumps > 0);
    if written {
        let updated = with_rederived(crashes, new)?;
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

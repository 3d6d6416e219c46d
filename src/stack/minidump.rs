//! User-mode minidumps (`MDMP`): full processing with `minidump-processor`, symbolized through
//! our own symbol cache (PDBs and Breakpad `.sym` files from the same stores as kernel dumps).
//!
//! `minidump-processor` does the stack walking (context, CFI where a symbol file provides it,
//! frame pointers, scanning); [`CacheSymbolProvider`] answers its symbol questions from
//! [`SymbolCache::module_by_debug_id`]. The result, [`MinidumpStack`], holds the walked
//! threads as `StackFrame`s; the dump-level facts come from `dump::minidump`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use minidump::{Minidump, MinidumpModule, Module};
use minidump_processor::ProcessState;
use minidump_unwind::{
    CallStack, FileError, FileKind, FillSymbolError, FrameSymbolizer, FrameTrust as WalkTrust,
    FrameWalker, SymbolProvider,
};

use crate::dump::modules::base_name;
use crate::dump::DumpError;
use crate::record::{Address, FrameTrust, InlineFrame, StackFrame};
use crate::symbols::{ModuleSymbols, SymbolCache};

use super::minidump_cfi::unwind_records;
use super::pe_image::PeLayout;
use super::x64_unwind::{unwind_frame, LoadedImage, StackMemory, X64Registers, RSP};

/// One thread's symbolized frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStack {
    pub thread_id: u32,
    pub thread_name: Option<String>,
    pub frames: Vec<StackFrame>,
}

/// The walked threads of a minidump. Dump-level facts (system, exception, modules) are read
/// by `dump::minidump`; this is only what walking adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinidumpStack {
    /// The crashing (or dump-requesting) thread, when the dump names one.
    pub crashing_thread: Option<ThreadStack>,
    /// Its position in the dump's thread list (`other_threads` leaves it out, so the
    /// crashing thread goes back at this index to rebuild the dump's order).
    pub crashing_thread_index: Option<usize>,
    /// Every other thread, only when asked for.
    pub other_threads: Vec<ThreadStack>,
    pub warnings: Vec<String>,
}

/// Processes one minidump. `bytes` is the whole file (a `Vec`, or an mmap's slice); `path`
/// only names the file in errors. `all_threads` also returns every other thread's frames
/// (the walk covers all threads either way; this only controls what is returned).
pub fn process_minidump(
    path: &Path,
    bytes: &[u8],
    symbols: &SymbolCache,
    all_threads: bool,
) -> Result<MinidumpStack, DumpError> {
    let dump = Minidump::read(bytes).map_err(|e| match e {
        minidump::Error::HeaderMismatch | minidump::Error::MissingHeader => DumpError::NotADump {
            path: path.to_path_buf(),
        },
        other => DumpError::malformed(path, format!("unreadable minidump: {other}")),
    })?;
    let provider = CacheSymbolProvider::new(symbols);
    let state = futures_executor::block_on(minidump_processor::process_minidump(&dump, &provider))
        .map_err(|e| DumpError::malformed(path, format!("minidump processing failed: {e}")))?;
    let mut stack = summarize(&state, all_threads);
    stack.warnings.extend(provider.symbol_warnings());
    Ok(stack)
}

impl MinidumpStack {
    /// Every returned thread in the dump's order: the crashing thread put back among the
    /// others at its index.
    pub fn threads_in_dump_order(&self) -> Vec<ThreadStack> {
        let mut threads = self.other_threads.clone();
        if let (Some(thread), Some(index)) = (&self.crashing_thread, self.crashing_thread_index) {
            threads.insert(index.min(threads.len()), thread.clone());
        }
        threads
    }
}

/// Turns minidump-processor's state into our records.
fn summarize(state: &ProcessState, all_threads: bool) -> MinidumpStack {
    let mut warnings = Vec::new();
    let mut crashing_thread = None;
    let mut crashing_thread_index = None;
    let mut other_threads = Vec::new();
    for (index, thread) in state.threads.iter().enumerate() {
        if Some(index) == state.requesting_thread {
            crashing_thread = Some(thread_stack(thread));
            crashing_thread_index = Some(index);
        } else if all_threads {
            other_threads.push(thread_stack(thread));
        }
    }
    if crashing_thread.is_none() {
        warnings.push("the minidump names no crashing or requesting thread".to_string());
    }
    MinidumpStack {
        crashing_thread,
        crashing_thread_index,
        other_threads,
        warnings,
    }
}

fn thread_stack(thread: &CallStack) -> ThreadStack {
    ThreadStack {
        thread_id: thread.thread_id,
        // Unnamed threads come as empty strings from some writers.
        thread_name: thread.thread_name.clone().filter(|name| !name.is_empty()),
        frames: thread
            .frames
            .iter()
            .enumerate()
            .map(|(i, f)| stack_frame(u32::try_from(i).unwrap_or(u32::MAX), f))
            .collect(),
    }
}

/// One minidump-processor frame as our record. The address is the resume address (the
/// return address for callers, the IP for frame 0), and offsets are relative to it, the same
/// convention kernel frames use.
fn stack_frame(index: u32, frame: &minidump_unwind::StackFrame) -> StackFrame {
    let address = frame.resume_address;
    let module: Option<&MinidumpModule> = frame.module.as_ref();
    StackFrame {
        index,
        address: Address(address),
        module: module.map(|m| base_name(&m.code_file()).to_string()),
        offset: module.map(|m| Address(address.wrapping_sub(m.base_address()))),
        function: frame.function_name.clone(),
        function_offset: frame
            .function_base
            .map(|base| Address(address.wrapping_sub(base))),
        source_line: file_line(frame.source_file_name.as_deref(), frame.source_line),
        trust: match frame.trust {
            WalkTrust::Context => FrameTrust::Context,
            WalkTrust::CallFrameInfo | WalkTrust::PreWalked => FrameTrust::Cfi,
            WalkTrust::FramePointer => FrameTrust::FramePointer,
            WalkTrust::CfiScan | WalkTrust::Scan | WalkTrust::None => FrameTrust::Scan,
        },
        // minidump-processor has already put them innermost first.
        inlines: frame
            .inlines
            .iter()
            .map(|inline| InlineFrame {
                function: inline.function_name.clone(),
                source_line: file_line(inline.source_file_name.as_deref(), inline.source_line),
            })
            .collect(),
    }
}

/// Symbol warnings kept per dump.
const MAX_SYMBOL_WARNINGS: usize = 20;

/// `file:line`, the form every source location in a report takes.
fn file_line(file: Option<&str>, line: Option<u32>) -> Option<String> {
    Some(format!("{}:{}", file?, line?))
}

/// Answers minidump-processor's symbol questions from the shared [`SymbolCache`].
///
/// Modules are keyed by their debug file + debug id; each is asked of the cache once per dump
/// (the cache itself shares parsed files across dumps and threads).
pub struct CacheSymbolProvider<'a> {
    cache: &'a SymbolCache,
    /// Base address -> what the cache had, for this dump.
    resolved: Mutex<HashMap<u64, Arc<ProviderModule>>>,
}

/// One module as this provider sees it: the cache's answer and, when the store had the
/// image, its parsed PE layout (for x64 `.pdata` unwinding).
struct ProviderModule {
    symbols: Option<Arc<ModuleSymbols>>,
    layout: Option<PeLayout>,
}

impl ProviderModule {
    /// The cache entry when it has a PDB or `.sym` (the only case `fill_symbol` says Ok).
    fn with_symbols(&self) -> Option<&Arc<ModuleSymbols>> {
        self.symbols.as_ref().filter(|s| s.has_symbols())
    }
}

impl<'a> CacheSymbolProvider<'a> {
    pub fn new(cache: &'a SymbolCache) -> CacheSymbolProvider<'a> {
        CacheSymbolProvider {
            cache,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// The cache's answer for a module, asked once per module per dump.
    fn module_entry(&self, module: &(dyn Module + Sync)) -> Arc<ProviderModule> {
        let base = module.base_address();
        if let Some(known) = self
            .resolved
            .lock()
            .ok()
            .and_then(|r| r.get(&base).cloned())
        {
            return known;
        }
        let symbols = self.lookup(module);
        let layout = symbols
            .as_ref()
            .and_then(|s| s.image())
            .and_then(PeLayout::parse);
        let entry = Arc::new(ProviderModule { symbols, layout });
        if let Ok(mut resolved) = self.resolved.lock() {
            resolved.insert(base, entry.clone());
        }
        entry
    }

    /// What the symbol cache said about the modules of this dump: symbol files it found
    /// but refused (wrong id, corrupt), failed downloads, refused names. Deduplicated, in a
    /// stable order.
    pub fn symbol_warnings(&self) -> Vec<String> {
        let Ok(resolved) = self.resolved.lock() else {
            return Vec::new();
        };
        let mut warnings: Vec<String> = resolved
            .values()
            .filter_map(|entry| entry.symbols.as_ref())
            .flat_map(|symbols| symbols.warnings().iter().cloned())
            .collect();
        warnings.sort();
        warnings.dedup();
        // An unreachable server fails once per module: a few say it, hundreds bury the rest.
        if warnings.len() > MAX_SYMBOL_WARNINGS {
            let more = warnings.len() - MAX_SYMBOL_WARNINGS;
            warnings.truncate(MAX_SYMBOL_WARNINGS);
            warnings.push(format!("... and {more} more symbol warnings"));
        }
        warnings
    }

    fn lookup(&self, module: &(dyn Module + Sync)) -> Option<Arc<ModuleSymbols>> {
        let debug_file = module.debug_file()?;
        let debug_id = module.debug_identifier()?;
        // The CodeView record may hold the build machine's full path; stores key on the leaf.
        let debug_file = base_name(&debug_file).to_string();
        let code_file = module.code_file();
        let code_id = module.code_identifier().map(|id| id.to_string());
        self.cache.module_by_debug_id(
            &debug_file,
            &debug_id.breakpad().to_string(),
            Some(base_name(&code_file)),
            code_id.as_deref(),
        )
    }
}

#[async_trait]
impl SymbolProvider for CacheSymbolProvider<'_> {
    /// `Ok(())` means "this module has symbols" (the scan heuristic relies on it), whether or
    /// not a function covers this particular address.
    async fn fill_symbol(
        &self,
        module: &(dyn Module + Sync),
        frame: &mut (dyn FrameSymbolizer + Send),
    ) -> Result<(), FillSymbolError> {
        let entry = self.module_entry(module);
        let symbols = entry.with_symbols().ok_or(FillSymbolError {})?;
        let base = module.base_address();
        let Some(rva) = frame
            .get_instruction()
            .checked_sub(base)
            .and_then(|r| u32::try_from(r).ok())
        else {
            return Ok(());
        };
        if let Some(hit) = symbols.lookup(rva) {
            let function_rva = rva.saturating_sub(hit.function_offset);
            let function_start = base.saturating_add(u64::from(function_rva));
            frame.set_function(hit.function, function_start, 0);
            // The line records describe the innermost inlined function; each inlined call
            // records where its caller called it. So the physical function is at the
            // outermost call site, each inlined function at the next call site, and the
            // innermost one at the line record (the Breakpad processor's reading).
            let calls = symbols.inlined_calls(rva, function_rva);
            let innermost = (hit.file, hit.line.filter(|&line| line != 0));
            match calls.first() {
                None => {
                    if let (Some(file), Some(line)) = innermost {
                        frame.set_source_file(file, line, function_start);
                    }
                }
                Some(outermost) => {
                    if let Some(file) = outermost.call_file {
                        frame.set_source_file(file, outermost.call_line, function_start);
                    }
                    for (depth, call) in calls.iter().enumerate() {
                        let (file, line) = match calls.get(depth + 1) {
                            Some(next) => (next.call_file, Some(next.call_line)),
                            None => innermost,
                        };
                        frame.add_inline_frame(call.function, file, line);
                    }
                }
            }
        }
        Ok(())
    }

    /// Unwinds with what the store has for the module: the `STACK WIN` / `STACK CFI` records
    /// of a `.sym`, or the x86 frame tables of a PDB (see `minidump_cfi`); else, for x64
    /// images, the image's `.pdata`. `None` lets minidump-processor fall back to frame
    /// pointers and scanning.
    async fn walk_frame(
        &self,
        module: &(dyn Module + Sync),
        walker: &mut (dyn FrameWalker + Send),
    ) -> Option<()> {
        let entry = self.module_entry(module);
        let records = entry
            .with_symbols()
            .and_then(|s| s.symbol_file())
            .and_then(unwind_records);
        if let Some(records) = records {
            if records.walk_frame(module, walker).is_some() {
                return Some(());
            }
        }
        let image = entry.symbols.as_ref()?.image()?;
        let layout = entry.layout.as_ref()?;
        if layout.machine != object::pe::IMAGE_FILE_MACHINE_AMD64 {
            return None;
        }
        let loaded = LoadedImage {
            layout,
            bytes: image,
            base: module.base_address(),
        };
        walk_x64_with_pdata(&loaded, walker)
    }

    async fn get_file_path(
        &self,
        _module: &(dyn Module + Sync),
        _file_kind: FileKind,
    ) -> Result<PathBuf, FileError> {
        Err(FileError::NotFound)
    }
}

/// minidump-processor's register names in UNWIND_CODE register order.
const X64_REGISTER_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// Registers a Windows x64 callee must preserve (RSP is handled as the CFA).
const X64_NONVOLATILE: [usize; 8] = [3, 5, 6, 7, 12, 13, 14, 15];

/// A minidump thread's stack as the x64 unwinder reads it.
struct WalkerStack<'w>(&'w (dyn FrameWalker + Send));

impl StackMemory for WalkerStack<'_> {
    fn read_stack_u64(&self, address: u64) -> Option<u64> {
        self.0.get_register_at_address(address)
    }
}

/// One x64 frame unwound with the image's `.pdata`, written back through minidump-processor's
/// walker: callee-saved registers the unwind restored, the caller's RSP (as the CFA) and RIP.
/// minidump-processor itself has no PE unwinder, so without this x64 Windows frames fall back
/// to frame pointers and scanning.
pub fn walk_x64_with_pdata(
    image: &LoadedImage<'_>,
    walker: &mut (dyn FrameWalker + Send),
) -> Option<()> {
    let rip = walker.get_callee_register("rip")?;
    let mut gprs = [0u64; 16];
    let mut valid = 0u16;
    for (i, name) in X64_REGISTER_NAMES.iter().enumerate() {
        if let Some(value) = walker.get_callee_register(name) {
            gprs[i] = value;
            valid |= 1 << i;
        }
    }
    if valid & (1 << RSP) == 0 {
        return None;
    }
    let callee = X64Registers { rip, gprs, valid };
    // The callee is the context frame exactly when it has no callee of its own.
    let is_context_frame = !walker.has_grand_callee();
    let caller = unwind_frame(image, &callee, is_context_frame, &WalkerStack(&*walker))?;
    for &reg in &X64_NONVOLATILE {
        if caller.valid & (1 << reg) != 0 {
            walker.set_caller_register(X64_REGISTER_NAMES[reg], caller.gprs[reg])?;
        }
    }
    walker.set_cfa(caller.rsp())?;
    walker.set_ra(caller.rip)
}

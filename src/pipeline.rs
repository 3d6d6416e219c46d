//! One dump file end to end: read -> walk and symbolize the stack -> blame, bucket, signature.

use std::path::Path;
use std::sync::Arc;

use crate::dump::kernel::KernelDump;
use crate::dump::{content_id, fault_context, kernel_report, sniff, DumpError, DumpFile, DumpKind};
use crate::record::Address;
use crate::record::{CrashReport, ThreadRecord};
use crate::stack::{
    symbolize_kernel_address, walk_kernel_stack, KernelStackInput, DEFAULT_MAX_FRAMES,
};
use crate::symbols::SymbolCache;
use crate::triage::{self, Rules};

/// What processing one file needs; cheap to clone, shared by all worker threads.
#[derive(Clone)]
pub struct Pipeline {
    pub symbols: Arc<SymbolCache>,
    pub rules: Arc<Rules>,
    /// Walk every thread of user-mode minidumps, not only the crashing one.
    pub all_threads: bool,
    pub max_frames: usize,
}

impl Default for Pipeline {
    fn default() -> Pipeline {
        Pipeline::new(Arc::new(SymbolCache::empty()))
    }
}

impl Pipeline {
    pub fn new(symbols: Arc<SymbolCache>) -> Pipeline {
        Pipeline {
            symbols,
            rules: Arc::new(Rules::builtin()),
            all_threads: false,
            max_frames: DEFAULT_MAX_FRAMES,
        }
    }

    pub fn with_rules(mut self, rules: Arc<Rules>) -> Pipeline {
        self.rules = rules;
        self
    }

    /// Reads and analyses one dump. The error names the file and what is wrong with it.
    pub fn process_file(&self, path: &Path) -> Result<CrashReport, DumpError> {
        let file = DumpFile::open(path)?;
        self.process_bytes(path, file.bytes())
    }

    /// The same for bytes already in memory; `path` names them in the report and errors.
    pub fn process_bytes(&self, path: &Path, bytes: &[u8]) -> Result<CrashReport, DumpError> {
        self.process_bytes_with_id(path, bytes, content_id(bytes))
    }

    /// `process_bytes` when the caller already computed `content_id(bytes)` (scan hashes
    /// every file first to skip stored ones; hashing twice was 5 % of a scan's CPU).
    ///
    /// This is the one panic boundary of the per-file pipeline: a reader bug becomes
    /// `DumpError::Internal` for this file (the panic message still goes to stderr through the
    /// panic hook), so a batch goes on and `inspect` and `scan` say the same thing.
    pub fn process_bytes_with_id(
        &self,
        path: &Path,
        bytes: &[u8],
        id: String,
    ) -> Result<CrashReport, DumpError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.process_unguarded(path, bytes, id)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(DumpError::Internal {
                path: path.to_path_buf(),
                what,
            })
        })
    }

    fn process_unguarded(
        &self,
        path: &Path,
        bytes: &[u8],
        id: String,
    ) -> Result<CrashReport, DumpError> {
        let kind = sniff(bytes).ok_or_else(|| {
            if bytes.is_empty() {
                DumpError::malformed(path, "empty file")
            } else {
                DumpError::NotADump {
                    path: path.to_path_buf(),
                }
            }
        })?;
        let mut report = match kind {
            DumpKind::Kernel64 | DumpKind::Kernel32 => self.kernel(path, bytes, id)?,
            DumpKind::Minidump => self.minidump(path, bytes, id)?,
        };
        triage::apply(&mut report, &self.rules);
        Ok(report)
    }

    fn kernel(&self, path: &Path, bytes: &[u8], id: String) -> Result<CrashReport, DumpError> {
        let dump = KernelDump::parse(path, bytes)?;
        // Recovered once: the report's fault address and the walk both start from it.
        let fault = fault_context::recover(&dump, bytes, kernel_report::parameter_fault_ip(&dump));
        let mut report = kernel_report::build_report(path, bytes, &dump, id, fault.as_ref());
        let memory = dump.memory(bytes);
        if let (Some(fault), Some(stack_range)) = (fault.as_ref(), dump.stack_range()) {
            let context = &fault.context;
            let mut max_frames = self.max_frames;
            if fault.at_fault && (context.sp < stack_range.0 || context.sp >= stack_range.1) {
                // What the captured stack holds are not this frame's callers.
                max_frames = max_frames.min(1);
                report.warnings.push(format!(
                    "the faulting context's stack ({:#x}) is not in the captured stack [{:#x}, {:#x}): only the faulting frame is known",
                    context.sp, stack_range.0, stack_range.1
                ));
            }
            let input = KernelStackInput {
                context,
                memory: &memory,
                stack_range,
                modules: dump.drivers(),
                link_register: fault.link_register,
            };
            report.stack = walk_kernel_stack(&input, &self.symbols, max_frames);
            fill_fault_symbol(&mut report);
        }
        // The fault's own symbol comes from its address, whether or not a frame holds it
        // (looked up again only when no walked frame did).
        if report.fault.symbol.is_none() {
            if let Some(Address(address)) = report.fault.address {
                report.fault.symbol =
                    symbolize_kernel_address(dump.drivers(), &memory, &self.symbols, address);
            }
        }
        Ok(report)
    }

    fn minidump(&self, path: &Path, bytes: &[u8], id: String) -> Result<CrashReport, DumpError> {
        let mut report = crate::dump::minidump::build_report(path, bytes, id)?;
        match crate::stack::minidump::process_minidump(path, bytes, &self.symbols, self.all_threads)
        {
            Ok(stack) => {
                if self.all_threads {
                    report.threads = stack
                        .threads_in_dump_order()
                        .into_iter()
                        .map(|t| ThreadRecord {
                            id: t.thread_id,
                            name: t.thread_name,
                            frames: t.frames,
                        })
                        .collect();
                }
                report.crashing_thread_index = stack
                    .crashing_thread_index
                    .and_then(|i| u32::try_from(i).ok());
                report.crashing_thread_id = stack.crashing_thread.as_ref().map(|t| t.thread_id);
                report.stack = stack.crashing_thread.map(|t| t.frames).unwrap_or_default();
                report.warnings.extend(stack.warnings);
                fill_fault_symbol(&mut report);
            }
            Err(e) => report.warnings.push(format!("stack not walked: {e}")),
        }
        Ok(report)
    }
}

/// Copies the symbol of the frame at the faulting address into `fault.symbol`, unless the
/// address itself was already symbolized.
fn fill_fault_symbol(report: &mut CrashReport) {
    let Some(address) = report.fault.address.as_ref() else {
        return;
    };
    if report.fault.symbol.is_some() {
        return;
    }
    if let Some(f) = report.stack.iter().find(|f| &f.address == address) {
        if let Some(func) = &f.function {
            report.fault.symbol = Some(match &f.function_offset {
                Some(off) => format!("{func}+{off}"),
                None => func.clone(),
            });
        }
    }
}

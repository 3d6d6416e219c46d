//! One dump file end to end: read -> walk and symbolize the stack -> blame, bucket, signature.

use std::path::Path;
use std::sync::Arc;

use crate::dump::kernel::KernelDump;
use crate::dump::{content_id, kernel_report, sniff, DumpError, DumpFile, DumpKind};
use crate::record::{CrashReport, ThreadRecord};
use crate::stack::{walk_kernel_stack, KernelStackInput, DEFAULT_MAX_FRAMES};
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
    pub fn process_bytes_with_id(
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
        let mut report = kernel_report::build_report(path, bytes, &dump, id);
        let (Some(context), Some(stack_range)) = (
            kernel_report::fault_context(&dump, bytes),
            dump.stack_range(),
        ) else {
            return Ok(report);
        };
        let memory = dump.memory(bytes);
        let input = KernelStackInput {
            context: &context,
            memory: &memory,
            stack_range,
            modules: dump.drivers(),
        };
        report.stack = walk_kernel_stack(&input, &self.symbols, self.max_frames);
        fill_fault_symbol(&mut report);
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

/// Copies the symbol of the frame at the faulting address into `fault.symbol`.
fn fill_fault_symbol(report: &mut CrashReport) {
    let Some(address) = report.fault.address.as_ref() else {
        return;
    };
    if let Some(f) = report.stack.iter().find(|f| &f.address == address) {
        if let Some(func) = &f.function {
            report.fault.symbol = Some(match &f.function_offset {
                Some(off) => format!("{func}+{off}"),
                None => func.clone(),
            });
        }
    }
}

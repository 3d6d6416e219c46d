//! Stack frames of the crashing thread.
//!
//! Kernel dumps: [`walk_kernel_stack`] walks the captured kernel stack from a context (IP, SP,
//! registers). Per frame it uses the best method available and records it as the frame's
//! trust:
//! - frame 0 is the context's IP (`context`);
//! - x64, module image in the symbol store: `.pdata` / UNWIND_INFO virtual unwinding (`cfi`);
//! - x86: the EBP chain, ARM64: the FP/LR frame-record chain (`frame_pointer`), each caller
//!   checked to be a plausible return address;
//! - otherwise a scan up the stack for a return address into a loaded module's code, right
//!   after a call instruction when the code bytes are known (`scan`).
//!
//! The walk never loops (SP strictly increases frame to frame), stays inside the captured
//! stack, stops at a frame cap, and treats every byte of the dump and of the store's images as
//! untrusted. User-mode minidumps go through `minidump-processor` instead: see [`minidump`].

pub mod frame_pointer;
pub mod minidump;
pub mod minidump_cfi;
pub mod pe_image;
pub mod resolver;
pub mod scan;
pub mod x64_unwind;

use crate::dump::{Arch, CpuContext, DriverEntry, MemoryRead};
use crate::record::{FrameTrust, StackFrame};
use crate::symbols::SymbolCache;

use self::frame_pointer::{unwind_frame_pointer, FrameRegisters};
use self::resolver::ModuleResolver;
use self::scan::{is_plausible_return_address, scan_for_return_address};
use self::x64_unwind::{unwind_frame, LoadedImage, X64Registers};

/// The frame cap callers use unless they have a reason not to: deeper kernel stacks exist,
/// but triage needs the top of the stack.
pub const DEFAULT_MAX_FRAMES: usize = 64;

/// What a kernel stack walk starts from.
pub struct KernelStackInput<'a> {
    /// The faulting context: IP, SP, FP and, on x64, the sixteen general registers. For
    /// exception bugchecks (0x7E, 0x8E, ...) this is the dump header's context record.
    pub context: &'a CpuContext,
    /// The dump's captured memory (stack, data blocks). Module PE header pages are read from
    /// it too, so a PDB can be found for a module whose image is not in the store.
    pub memory: &'a dyn MemoryRead,
    /// The captured stack, `[TopOfStack, TopOfStack + SizeOfCallStack)`: scans and frame
    /// pointers are confined to it.
    pub stack_range: (u64, u64),
    /// The loaded-module list of the dump.
    pub modules: &'a [DriverEntry],
    /// ARM64: the context's link register (from a trap frame or CONTEXT record), the
    /// caller of a faulting leaf function that the frame-record chain skips.
    pub link_register: Option<u64>,
}

/// Walks the crashing thread's kernel stack and returns at most `max_frames` symbolized
/// frames (at least frame 0 when `max_frames > 0`).
///
/// Each frame carries the module base name, the offset into it, and function, function offset
/// and `file:line` when `symbols` has a PDB for the module. Caller frames hold return
/// addresses; their function is looked up at the address minus one.
pub fn walk_kernel_stack(
    input: &KernelStackInput<'_>,
    symbols: &SymbolCache,
    max_frames: usize,
) -> Vec<StackFrame> {
    let resolver = ModuleResolver::new(input.modules, input.memory, symbols);
    let mut frames = Vec::new();
    if max_frames == 0 {
        return frames;
    }
    let context = input.context;
    frames.push(resolver.frame(0, context.ip, FrameTrust::Context));
    if frames.len() < max_frames {
        if let Some(caller) = leaf_caller(input, &resolver, &frames[0]) {
            frames.push(caller);
        }
    }

    let mut state = WalkState {
        regs: FrameRegisters {
            ip: context.ip,
            sp: context.sp,
            fp: context.fp,
        },
        x64: match (context.arch, context.x64_gprs) {
            (Arch::Amd64, Some(gprs)) => Some(X64Registers::from_context(context.ip, gprs)),
            (Arch::Amd64, None) => Some(X64Registers::from_ip_sp(context.ip, context.sp)),
            _ => None,
        },
    };
    let walker = Walker {
        arch: context.arch,
        input,
        resolver: &resolver,
    };
    let mut is_context_frame = true;
    while frames.len() < max_frames {
        let Some((next, trust)) = walker.step(&state, is_context_frame) else {
            break;
        };
        // Each caller frame sits higher on the stack than its callee; anything else is a loop
        // or garbage, and ends the walk.
        if next.regs.sp <= state.regs.sp || next.regs.ip == 0 {
            break;
        }
        let index = u32::try_from(frames.len()).unwrap_or(u32::MAX);
        frames.push(resolver.frame(index, next.regs.ip, trust));
        state = next;
        is_context_frame = false;
    }
    frames
}

/// ARM64: the link register as the caller of frame 0, when the frame-record chain does not
/// already name it. A leaf function keeps its return address in LR and never writes a frame
/// record, so the chain from the context's FP starts at the caller's caller (what Breakpad's
/// ARM64 walker does with LR too). Not taken when LR is no plausible return address, when
/// the chain's first caller is LR itself (the function saved it), or when symbols put LR in
/// frame 0's own function (a stale LR left by a call the faulting function made earlier).
fn leaf_caller(
    input: &KernelStackInput<'_>,
    resolver: &ModuleResolver<'_>,
    here: &StackFrame,
) -> Option<StackFrame> {
    let context = input.context;
    if context.arch != Arch::Arm64 {
        return None;
    }
    let lr = scan::strip_pointer_auth(Arch::Arm64, input.link_register?);
    if lr == 0 || lr == context.ip || !is_plausible_return_address(Arch::Arm64, lr, resolver) {
        return None;
    }
    let regs = FrameRegisters {
        ip: context.ip,
        sp: context.sp,
        fp: context.fp,
    };
    let chain_caller = unwind_frame_pointer(Arch::Arm64, &regs, input.stack_range, input.memory);
    if chain_caller.is_some_and(|c| c.ip == lr) {
        return None;
    }
    let there = resolver.frame(1, lr, FrameTrust::FramePointer);
    if here.function.is_some() && here.module == there.module && here.function == there.function {
        return None;
    }
    Some(there)
}

/// `function+0xoffset` of an exact instruction address (a fault site) in a kernel dump's
/// modules, when the symbol store knows the module; `None` otherwise.
pub fn symbolize_kernel_address(
    modules: &[DriverEntry],
    memory: &dyn MemoryRead,
    symbols: &SymbolCache,
    address: u64,
) -> Option<String> {
    let resolver = ModuleResolver::new(modules, memory, symbols);
    let frame = resolver.frame(0, address, FrameTrust::Context);
    let function = frame.function?;
    Some(match frame.function_offset {
        Some(off) => format!("{function}+{off}"),
        None => function,
    })
}

/// Where the walk is: the generic registers, plus the x64 register file when on x64.
#[derive(Debug, Clone, Copy)]
struct WalkState {
    regs: FrameRegisters,
    x64: Option<X64Registers>,
}

struct Walker<'w, 'a> {
    arch: Arch,
    input: &'w KernelStackInput<'a>,
    resolver: &'w ModuleResolver<'a>,
}

impl Walker<'_, '_> {
    /// The caller of the frame at `state` and how it was found.
    fn step(&self, state: &WalkState, is_context_frame: bool) -> Option<(WalkState, FrameTrust)> {
        let structured = match self.arch {
            Arch::Amd64 => self
                .unwind_x64(state, is_context_frame)
                .or_else(|| self.call_into_nowhere(state, is_context_frame))
                .map(|s| (s, FrameTrust::Cfi)),
            Arch::X86 | Arch::Arm64 => self
                .unwind_frame_pointer(state)
                .map(|s| (s, FrameTrust::FramePointer)),
            Arch::Other(_) => None,
        };
        structured.or_else(|| self.scan(state).map(|s| (s, FrameTrust::Scan)))
    }

    /// `.pdata` unwinding, when the module's image is in the store.
    fn unwind_x64(&self, state: &WalkState, is_context_frame: bool) -> Option<WalkState> {
        let regs = state.x64?;
        let (index, entry) = self.resolver.module_at(regs.rip)?;
        let (bytes, layout) = self.resolver.resolved(index)?.image()?;
        let image = LoadedImage {
            layout,
            bytes,
            base: entry.base,
        };
        let caller = unwind_frame(&image, &regs, is_context_frame, self.input.memory)?;
        // The unwound frame must stay on the captured stack and return into known code;
        // otherwise the unwind info or the stack is damaged and a scan does better.
        let sp = caller.rsp();
        if sp > self.input.stack_range.1
            || self
                .resolver
                .module_at(caller.rip.checked_sub(1)?)
                .is_none()
        {
            return None;
        }
        Some(WalkState {
            regs: FrameRegisters {
                ip: caller.rip,
                sp,
                fp: caller.gprs[5],
            },
            x64: Some(caller),
        })
    }

    /// A fault at an IP in no module is a call through a bad pointer: the faulting "function"
    /// never ran a prologue, so, as for an x64 leaf function, [RSP] is the return address into
    /// the caller. Only taken when that value is a plausible return address.
    fn call_into_nowhere(&self, state: &WalkState, is_context_frame: bool) -> Option<WalkState> {
        if !is_context_frame || self.resolver.module_at(state.regs.ip).is_some() {
            return None;
        }
        let sp = state.regs.sp;
        let end = sp.checked_add(8)?;
        if sp < self.input.stack_range.0 || end > self.input.stack_range.1 {
            return None;
        }
        let ip = self.input.memory.read_u64(sp)?;
        if !is_plausible_return_address(self.arch, ip, self.resolver) {
            return None;
        }
        Some(WalkState {
            regs: FrameRegisters {
                ip,
                sp: end,
                fp: state.regs.fp,
            },
            x64: Some(X64Registers::from_ip_sp(ip, end)),
        })
    }

    fn unwind_frame_pointer(&self, state: &WalkState) -> Option<WalkState> {
        let caller = unwind_frame_pointer(
            self.arch,
            &state.regs,
            self.input.stack_range,
            self.input.memory,
        )?;
        // A broken chain (a function without a frame) yields garbage: keep only callers that
        // look like return addresses.
        is_plausible_return_address(self.arch, caller.ip, self.resolver).then_some(WalkState {
            regs: caller,
            x64: None,
        })
    }

    fn scan(&self, state: &WalkState) -> Option<WalkState> {
        // A context SP below the captured stack (a context from another stack) would make the
        // scan spend its slot budget on uncaptured memory: start where the capture starts.
        let hit = scan_for_return_address(
            self.arch,
            state.regs.sp.max(self.input.stack_range.0),
            self.input.stack_range.1,
            self.input.memory,
            self.resolver,
        )?;
        let sp = hit.slot.checked_add(self.arch.pointer_size() as u64)?;
        Some(WalkState {
            // The callee may or may not have changed the frame pointer; keeping it lets the
            // next frame-pointer step try (its checks reject a stale one).
            regs: FrameRegisters {
                ip: hit.return_address,
                sp,
                fp: state.regs.fp,
            },
            // After a scan only RIP and RSP are known on x64.
            x64: state
                .x64
                .map(|_| X64Registers::from_ip_sp(hit.return_address, sp)),
        })
    }
}

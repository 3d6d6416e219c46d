//! The register state at the fault, recovered the way WinDbg's `.trap` and `.cxr` do.
//!
//! On real Windows 10+ small dumps the header's context record is `KeBugCheckEx`'s own frame,
//! not the faulting one (KERNEL-DUMP-FORMAT §8): a walk started there shows the bugcheck
//! machinery and, at best, stale return addresses of the faulting code. What the bugcheck
//! left on the captured stack says where the fault really was:
//! - 0x7E / 0x1000007E: P4 is the original `CONTEXT`; 0x3B: P3 is the `CONTEXT`;
//! - 0x8E / 0x1000008E: P3 is the `KTRAP_FRAME`;
//! - page faults (0x50, 0xD1, 0x0A) and exceptions raised by a fault (0x1E): `KiPageFault` or
//!   another trap handler saved a `KTRAP_FRAME` on the same stack, found by scanning for one
//!   whose instruction pointer is the faulting address.
//!
//! Every candidate is validated (code and stack selectors, the instruction pointer equal to
//! the faulting address the bugcheck names, the stack pointer inside the captured stack), so a
//! parameter that points at garbage, or garbage that looks like a trap frame, is not trusted.
//! When nothing validates, the header context is used, as before.

use crate::dump::kernel::{parse_context, KernelDump, AMD64_CONTEXT_SIZE};
use crate::dump::memory::MemoryRead;
use crate::dump::{Arch, CpuContext};

/// Size of the x64 `KTRAP_FRAME`.
pub const X64_TRAP_FRAME_SIZE: u64 = 0x190;
/// Bytes of an x86 `KTRAP_FRAME` read for a kernel-mode fault (up to and including EFlags).
pub const X86_TRAP_FRAME_KERNEL_SIZE: u64 = 0x74;
/// Size of the x86 `CONTEXT` read for 0x7E / 0x3B (up to SegSs).
const X86_CONTEXT_SIZE: usize = 0xCC;
/// Size of the ARM64 `CONTEXT` read for 0x7E / 0x3B.
const ARM64_CONTEXT_SIZE: usize = 0x390;

/// x64 `KTRAP_FRAME` field offsets (ntoskrnl public symbols; stable since Windows 7).
mod x64_trap {
    pub const RAX: u64 = 0x30;
    pub const RCX: u64 = 0x38;
    pub const RDX: u64 = 0x40;
    pub const R8: u64 = 0x48;
    pub const R9: u64 = 0x50;
    pub const R10: u64 = 0x58;
    pub const R11: u64 = 0x60;
    /// `FaultAddress`: the data address of a page fault (0x50 P1).
    pub const FAULT_ADDRESS: u64 = 0xD0;
    pub const RBX: u64 = 0x140;
    pub const RDI: u64 = 0x148;
    pub const RSI: u64 = 0x150;
    pub const RBP: u64 = 0x158;
    pub const RIP: u64 = 0x168;
    pub const SEG_CS: u64 = 0x170;
    pub const EFLAGS: u64 = 0x178;
    pub const RSP: u64 = 0x180;
    pub const SEG_SS: u64 = 0x188;
}

/// x86 `KTRAP_FRAME` field offsets.
mod x86_trap {
    pub const EBP: u64 = 0x60;
    pub const EIP: u64 = 0x68;
    pub const SEG_CS: u64 = 0x6C;
    pub const EFLAGS: u64 = 0x70;
    /// `HardwareEsp`: pushed by the CPU only for a fault from user mode; for a kernel-mode
    /// fault the faulting ESP is the address of this field.
    pub const HARDWARE_ESP: u64 = 0x74;
}

/// Where the faulting context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// A `KTRAP_FRAME` at this address on the captured stack (`.trap`).
    TrapFrame { address: u64 },
    /// A `CONTEXT` record at this address named by the bugcheck parameters (`.cxr`).
    ContextRecord { address: u64 },
    /// The dump header's context record: the faulting context on older dumps and for some
    /// exception bugchecks, `KeBugCheckEx`'s frame otherwise.
    Header,
}

/// A register context to start the stack walk from, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultContext {
    pub context: CpuContext,
    pub source: ContextSource,
    /// Whether the context's instruction pointer is the faulting instruction (a header
    /// context that is `KeBugCheckEx`'s frame is not).
    pub at_fault: bool,
}

/// The bugcheck facts recovery uses; all values are untrusted.
#[derive(Debug, Clone, Copy)]
struct Clues {
    arch: Arch,
    /// The faulting instruction address the bugcheck names, masked to the arch's width.
    fault_ip: Option<u64>,
    /// 0x50's P1, the data address of the page fault (when P3 does not name the IP).
    fault_data_address: Option<u64>,
    stack: (u64, u64),
}

/// The best context for the fault of `dump`, or `None` when the dump has none at all.
///
/// `fault_ip` is the faulting instruction the bugcheck parameters name (already masked).
pub fn recover(dump: &KernelDump, bytes: &[u8], fault_ip: Option<u64>) -> Option<FaultContext> {
    let h = &dump.header;
    let base = h.bugcheck_code & !0x1000_0000;
    let p = h.bugcheck_parameters;
    let header = dump.context.clone();
    let header_at_fault = |c: &CpuContext| fault_ip.is_some_and(|ip| ip == c.ip);

    if let Some(stack) = dump.stack_range() {
        let memory = dump.memory(bytes);
        let clues = Clues {
            arch: h.arch,
            fault_ip,
            fault_data_address: (base == 0x50).then_some(p[0]).filter(|&a| a != 0),
            stack,
        };
        // 1. What the bugcheck parameters point at.
        let pointed = match base {
            0x7E => context_record_at(&memory, &clues, p[3]),
            0x3B => context_record_at(&memory, &clues, p[2]),
            0x8E => trap_frame_at(&memory, &clues, p[2]),
            _ => None,
        };
        if pointed.is_some() {
            return pointed;
        }
        // 2. The header context, when it is already the faulting one (Windows 7, and the
        //    exception bugchecks of some builds): it has every register.
        if let Some(c) = header.as_ref().filter(|c| header_at_fault(c)) {
            return Some(FaultContext {
                context: c.clone(),
                source: ContextSource::Header,
                at_fault: true,
            });
        }
        // 3. A trap frame on the captured stack whose IP is the faulting address.
        if let Some(found) = find_trap_frame(&memory, &clues) {
            return Some(found);
        }
        // 4. A CONTEXT record the exception dispatcher left on the stack for that IP.
        if let Some(found) = find_context_record(&memory, &clues) {
            return Some(found);
        }
    }
    header.map(|c| FaultContext {
        at_fault: header_at_fault(&c),
        context: c,
        source: ContextSource::Header,
    })
}

fn in_stack(stack: (u64, u64), address: u64) -> bool {
    address >= stack.0 && address < stack.1
}

/// A `CONTEXT` record at `va` (0x7E P4, 0x3B P3), if it is one: readable, its SP inside the
/// captured stack, and its IP the faulting address when the bugcheck names one.
fn context_record_at(memory: &dyn MemoryRead, clues: &Clues, va: u64) -> Option<FaultContext> {
    let size = match clues.arch {
        Arch::Amd64 => AMD64_CONTEXT_SIZE,
        Arch::X86 => X86_CONTEXT_SIZE,
        Arch::Arm64 => ARM64_CONTEXT_SIZE,
        Arch::Other(_) => return None,
    };
    let context = parse_context(memory.read_bytes(va, size)?, clues.arch)?;
    let ip_ok = clues
        .fault_ip
        .map_or(context.ip != 0, |ip| ip == context.ip);
    (ip_ok && in_stack(clues.stack, context.sp)).then_some(FaultContext {
        at_fault: clues.fault_ip.is_some(),
        context,
        source: ContextSource::ContextRecord { address: va },
    })
}

/// x64 `CONTEXT` fields checked when a record is found by scanning rather than named by a
/// bugcheck parameter.
mod x64_context {
    pub const CONTEXT_FLAGS: u64 = 0x30;
    pub const SEG_CS: u64 = 0x38;
    pub const SEG_SS: u64 = 0x42;
    pub const EFLAGS: u64 = 0x44;
    /// `CONTEXT_AMD64 | CONTEXT_CONTROL`.
    pub const FLAGS_AMD64_CONTROL: u32 = 0x10_0001;
}

/// Scans the captured stack for an x64 `CONTEXT` whose RIP is the faulting IP, with kernel
/// selectors and its flags saying it holds the control registers: what `KiDispatchException`
/// and the bugcheck path store for an exception (0x1E). Its RSP may be on a stack the dump
/// did not capture (then the walk has the faulting frame and no callers).
fn find_context_record(memory: &dyn MemoryRead, clues: &Clues) -> Option<FaultContext> {
    let ip = clues.fault_ip?;
    if clues.arch != Arch::Amd64 {
        return None;
    }
    let (low, high) = clues.stack;
    let mut at = low.checked_add(15)? & !15;
    while at.checked_add(AMD64_CONTEXT_SIZE as u64)? <= high {
        let u16_field = |off: u64| {
            memory
                .read_bytes(at.checked_add(off)?, 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let plausible = memory.read_u64(at.checked_add(0xF8)?) == Some(ip)
            && memory
                .read_u32(at.checked_add(x64_context::CONTEXT_FLAGS)?)
                .is_some_and(|f| {
                    f & x64_context::FLAGS_AMD64_CONTROL == x64_context::FLAGS_AMD64_CONTROL
                })
            && u16_field(x64_context::SEG_CS) == Some(0x10)
            && u16_field(x64_context::SEG_SS) == Some(0x18)
            && memory
                .read_u32(at.checked_add(x64_context::EFLAGS)?)
                .is_some_and(|f| f & 2 != 0);
        if plausible {
            let context = parse_context(memory.read_bytes(at, AMD64_CONTEXT_SIZE)?, clues.arch)?;
            // A kernel stack pointer, 8-byte aligned, in the kernel half.
            if context.sp % 8 == 0 && context.sp >> 47 == 0x1FFFF {
                return Some(FaultContext {
                    context,
                    source: ContextSource::ContextRecord { address: at },
                    at_fault: true,
                });
            }
        }
        at = at.checked_add(16)?;
    }
    None
}

/// A trap frame at `va` (0x8E P3), if it validates.
fn trap_frame_at(memory: &dyn MemoryRead, clues: &Clues, va: u64) -> Option<FaultContext> {
    match clues.arch {
        Arch::Amd64 => x64_trap_frame(memory, clues, va),
        Arch::X86 => x86_trap_frame(memory, clues, va),
        _ => None,
    }
}

/// Scans the captured stack for the trap frame of the fault: the lowest (most recent) place
/// where a trap frame validates against the faulting IP (or, for a 0x50 whose P3 is zero,
/// against the faulting data address).
fn find_trap_frame(memory: &dyn MemoryRead, clues: &Clues) -> Option<FaultContext> {
    let (step, size) = match clues.arch {
        // The x64 ABI keeps trap frames 16-byte aligned.
        Arch::Amd64 => (16u64, X64_TRAP_FRAME_SIZE),
        Arch::X86 => (4u64, X86_TRAP_FRAME_KERNEL_SIZE),
        // ARM64 trap frames have their own layout; no real sample shows one yet.
        _ => return None,
    };
    if clues.fault_ip.is_none() && clues.fault_data_address.is_none() {
        return None;
    }
    let (low, high) = clues.stack;
    let mut at = low.checked_add(step - 1)? & !(step - 1);
    // The captured stack is bounded by the dump (a few pages), and the loop is bounded by it.
    while at.checked_add(size)? <= high {
        if let Some(found) = trap_frame_at(memory, clues, at) {
            return Some(found);
        }
        at = at.checked_add(step)?;
    }
    None
}

fn x64_trap_frame(memory: &dyn MemoryRead, clues: &Clues, va: u64) -> Option<FaultContext> {
    let field = |off: u64| memory.read_u64(va.checked_add(off)?);
    let rip = field(x64_trap::RIP)?;
    let cs = field(x64_trap::SEG_CS)? & 0xFFFF;
    let ss = field(x64_trap::SEG_SS)? & 0xFFFF;
    let eflags = field(x64_trap::EFLAGS)?;
    let rsp = field(x64_trap::RSP)?;
    // Kernel code selector (0x10 on every x64 Windows), kernel stack selector 0x18 (0 after a
    // SYSCALL-era transition), EFLAGS bit 1 always set and nothing in the upper half.
    if cs != 0x10 || !(ss == 0x18 || ss == 0) || eflags & 2 == 0 || eflags >> 32 != 0 {
        return None;
    }
    // The faulting frame's stack is above the trap frame the CPU pushed below it.
    if rsp < va.checked_add(X64_TRAP_FRAME_SIZE)? || !in_stack(clues.stack, rsp) {
        return None;
    }
    let matches = match clues.fault_ip {
        Some(ip) => rip == ip,
        None => clues
            .fault_data_address
            .is_some_and(|a| field(x64_trap::FAULT_ADDRESS) == Some(a) && rip != 0),
    };
    if !matches {
        return None;
    }
    let mut gprs = [0u64; 16];
    for (slot, off) in [
        (0, x64_trap::RAX),
        (1, x64_trap::RCX),
        (2, x64_trap::RDX),
        (3, x64_trap::RBX),
        (5, x64_trap::RBP),
        (6, x64_trap::RSI),
        (7, x64_trap::RDI),
        (8, x64_trap::R8),
        (9, x64_trap::R9),
        (10, x64_trap::R10),
        (11, x64_trap::R11),
    ] {
        gprs[slot] = field(off).unwrap_or(0);
    }
    gprs[4] = rsp;
    Some(FaultContext {
        context: CpuContext {
            arch: Arch::Amd64,
            ip: rip,
            sp: rsp,
            fp: gprs[5],
            x64_gprs: Some(gprs),
        },
        source: ContextSource::TrapFrame { address: va },
        at_fault: true,
    })
}

fn x86_trap_frame(memory: &dyn MemoryRead, clues: &Clues, va: u64) -> Option<FaultContext> {
    let field = |off: u64| memory.read_u32(va.checked_add(off)?).map(u64::from);
    let eip = field(x86_trap::EIP)?;
    let cs = field(x86_trap::SEG_CS)? & 0xFFFF;
    let eflags = field(x86_trap::EFLAGS)?;
    // Kernel code selector 0x8; EFLAGS bit 1 set, not virtual-8086 mode (bit 17).
    if cs != 0x8 || eflags & 2 == 0 || eflags & (1 << 17) != 0 {
        return None;
    }
    if clues.fault_ip != Some(eip) {
        return None;
    }
    let esp = va.checked_add(x86_trap::HARDWARE_ESP)?;
    if !in_stack(clues.stack, esp) {
        return None;
    }
    Some(FaultContext {
        context: CpuContext {
            arch: Arch::X86,
            ip: eip,
            sp: esp,
            fp: field(x86_trap::EBP).unwrap_or(0),
            x64_gprs: None,
        },
        source: ContextSource::TrapFrame { address: va },
        at_fault: true,
    })
}

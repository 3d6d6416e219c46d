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
//! ARM64 trap frames (`KiSynchronousException` / `KiPageFault` on ARM64) are found the same
//! way; they carry the link register, which names the caller of a leaf function that never
//! saved it in a frame record.
//!
//! Every candidate is validated (code and stack selectors, the instruction pointer equal to
//! the faulting address the bugcheck names, the stack pointer inside the captured stack), so a
//! parameter that points at garbage, or garbage that looks like a trap frame, is not trusted.
//! When nothing validates, the header context is used, as before.

use crate::dump::kernel::{arm64_link_register, parse_context, KernelDump, AMD64_CONTEXT_SIZE};
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
/// Size of the ARM64 `KTRAP_FRAME` (ksarm64.h `KTRAP_FRAME_LENGTH`).
pub const ARM64_TRAP_FRAME_SIZE: u64 = 0x150;

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

/// ARM64 `KTRAP_FRAME` field offsets (ntoskrnl ksarm64.h). Between FaultAddress and Spsr
/// lie VfpState and the debug registers (Bcr, Bvr, Wcr, Wvr), between Sp and Lr X0..X18.
mod arm64_trap {
    /// `ExceptionActive` (u8): 0 interrupt, 1 exception, 2 service; more is not a trap frame.
    pub const EXCEPTION_ACTIVE: u64 = 0x0;
    /// `FaultAddress`: the data address of a page fault (0x50 P1).
    pub const FAULT_ADDRESS: u64 = 0x8;
    /// `Spsr` (u32): the interrupted PSTATE; M[4:0] is the mode (and M[4] = AArch32).
    pub const SPSR: u64 = 0x90;
    pub const SP: u64 = 0x98;
    pub const LR: u64 = 0x138;
    pub const FP: u64 = 0x140;
    pub const PC: u64 = 0x148;
    /// The highest `ExceptionActive` value Windows writes.
    pub const MAX_EXCEPTION_ACTIVE: u8 = 2;
    /// SPSR M[4:0] of an interrupted kernel: EL1 with SP_EL0 (EL1t) or SP_EL1 (EL1h).
    pub const MODE_EL1T: u32 = 0x4;
    pub const MODE_EL1H: u32 = 0x5;
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
    /// ARM64: the link register (X30) of the context, the return address into the caller
    /// while the faulting function has not saved it (a leaf). `None` on other arches and
    /// where the source does not carry it.
    pub link_register: Option<u64>,
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
                link_register: None,
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
        link_register: None,
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
    let bytes = memory.read_bytes(va, size)?;
    let context = parse_context(bytes, clues.arch)?;
    let ip_ok = clues
        .fault_ip
        .map_or(context.ip != 0, |ip| ip == context.ip);
    (ip_ok && in_stack(clues.stack, context.sp)).then(|| FaultContext {
        at_fault: clues.fault_ip.is_some(),
        context,
        source: ContextSource::ContextRecord { address: va },
        link_register: (clues.arch == Arch::Arm64)
            .then(|| arm64_link_register(bytes))
            .flatten(),
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
                    link_register: None,
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
        Arch::Arm64 => arm64_trap_frame(memory, clues, va),
        Arch::Other(_) => None,
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
        // ARM64 keeps SP, and so the trap frame, 16-byte aligned.
        Arch::Arm64 => (16u64, ARM64_TRAP_FRAME_SIZE),
        Arch::Other(_) => return None,
    };
    if clues.fault_ip.is_none() && clues.fault_data_address.is_none() {
        return None;
    }
    // An x86 trap frame validates only against the faulting IP (it records no data
    // address): without one, no slot of the scan could match.
    if clues.arch == Arch::X86 && clues.fault_ip.is_none() {
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
        link_register: None,
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
        link_register: None,
    })
}

/// An ARM64 trap frame at `va`, validated like the x64 one: a kernel-mode SPSR (EL1t or
/// EL1h, AArch64), a plausible `ExceptionActive`, PC equal to the faulting address the
/// bugcheck names (or, for a 0x50 whose P3 is zero, `FaultAddress` equal to P1), and SP
/// inside the captured stack, above the frame itself (the handler allocated the frame below
/// the interrupted SP).
fn arm64_trap_frame(memory: &dyn MemoryRead, clues: &Clues, va: u64) -> Option<FaultContext> {
    let field = |off: u64| memory.read_u64(va.checked_add(off)?);
    let exception_active = memory
        .read_bytes(va.checked_add(arm64_trap::EXCEPTION_ACTIVE)?, 1)?
        .first()
        .copied()?;
    let spsr = memory.read_u32(va.checked_add(arm64_trap::SPSR)?)?;
    if exception_active > arm64_trap::MAX_EXCEPTION_ACTIVE
        || !matches!(spsr & 0x1F, arm64_trap::MODE_EL1T | arm64_trap::MODE_EL1H)
    {
        return None;
    }
    let pc = field(arm64_trap::PC)?;
    let sp = field(arm64_trap::SP)?;
    if sp < va.checked_add(ARM64_TRAP_FRAME_SIZE)? || !in_stack(clues.stack, sp) {
        return None;
    }
    let matches = match clues.fault_ip {
        Some(ip) => pc == ip,
        None => clues
            .fault_data_address
            .is_some_and(|a| field(arm64_trap::FAULT_ADDRESS) == Some(a) && pc != 0),
    };
    if !matches {
        return None;
    }
    Some(FaultContext {
        context: CpuContext {
            arch: Arch::Arm64,
            ip: pc,
            sp,
            fp: field(arm64_trap::FP).unwrap_or(0),
            x64_gprs: None,
        },
        source: ContextSource::TrapFrame { address: va },
        at_fault: true,
        link_register: field(arm64_trap::LR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A captured stack: `bytes` mapped at `base`.
    struct Stack {
        base: u64,
        bytes: Vec<u8>,
    }

    impl MemoryRead for Stack {
        fn read_bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
            let start = usize::try_from(address.checked_sub(self.base)?).ok()?;
            self.bytes.get(start..start.checked_add(len)?)
        }
    }

    const STACK: u64 = 0xffff_8a80_6bfb_0000;
    const STACK_SIZE: u64 = 0x2000;
    const PC: u64 = 0xffff_f806_6b60_c224;
    const LR: u64 = 0xffff_f806_6b60_1a10;
    const FP: u64 = STACK + 0x1800;
    /// Where the trap frame sits in the test stack.
    const TRAP: u64 = STACK + 0x6a0;

    struct Arm64Trap {
        exception_active: u8,
        spsr: u32,
        sp: u64,
        pc: u64,
        fault_address: u64,
    }

    impl Default for Arm64Trap {
        fn default() -> Arm64Trap {
            Arm64Trap {
                exception_active: 1,
                // EL1h, interrupts masked (DAIF bits 6..9), as a kernel data abort leaves it.
                spsr: 0x3c5,
                sp: TRAP + ARM64_TRAP_FRAME_SIZE,
                pc: PC,
                fault_address: 0x28,
            }
        }
    }

    /// A stack holding one ARM64 KTRAP_FRAME at `TRAP`, laid out from the ksarm64.h offsets.
    fn stack_with(trap: &Arm64Trap) -> Stack {
        let mut bytes = vec![0u8; STACK_SIZE as usize];
        let at = (TRAP - STACK) as usize;
        let mut put = |off: u64, value: &[u8]| {
            let start = at + off as usize;
            bytes[start..start + value.len()].copy_from_slice(value);
        };
        put(arm64_trap::EXCEPTION_ACTIVE, &[trap.exception_active]);
        put(0x3, &[0]); // PreviousMode: kernel
        put(0x4, &0x9600_0006u32.to_le_bytes()); // FaultStatus
        put(arm64_trap::FAULT_ADDRESS, &trap.fault_address.to_le_bytes());
        put(arm64_trap::SPSR, &trap.spsr.to_le_bytes());
        put(0x94, &0x9600_0006u32.to_le_bytes()); // Esr: data abort, same EL
        put(arm64_trap::SP, &trap.sp.to_le_bytes());
        for x in 0..19u64 {
            put(0xA0 + 8 * x, &(0x1000 + x).to_le_bytes());
        }
        put(arm64_trap::LR, &LR.to_le_bytes());
        put(arm64_trap::FP, &FP.to_le_bytes());
        put(arm64_trap::PC, &trap.pc.to_le_bytes());
        Stack { base: STACK, bytes }
    }

    fn clues(fault_ip: Option<u64>, fault_data_address: Option<u64>) -> Clues {
        Clues {
            arch: Arch::Arm64,
            fault_ip,
            fault_data_address,
            stack: (STACK, STACK + STACK_SIZE),
        }
    }

    #[test]
    fn arm64_trap_frame_is_found_by_scanning_and_gives_pc_sp_fp_lr() {
        let stack = stack_with(&Arm64Trap::default());
        let found = find_trap_frame(&stack, &clues(Some(PC), None)).expect("the trap frame");
        assert_eq!(found.source, ContextSource::TrapFrame { address: TRAP });
        assert!(found.at_fault);
        assert_eq!(found.link_register, Some(LR));
        assert_eq!(
            found.context,
            CpuContext {
                arch: Arch::Arm64,
                ip: PC,
                sp: TRAP + ARM64_TRAP_FRAME_SIZE,
                fp: FP,
                x64_gprs: None,
            }
        );
        // A 0x50 whose P3 is zero: the data address identifies the frame instead.
        let by_data = find_trap_frame(&stack, &clues(None, Some(0x28))).expect("by P1");
        assert_eq!(by_data.source, ContextSource::TrapFrame { address: TRAP });
        // EL1t is a kernel mode too.
        let el1t = stack_with(&Arm64Trap {
            spsr: 0x3c4,
            ..Arm64Trap::default()
        });
        assert!(find_trap_frame(&el1t, &clues(Some(PC), None)).is_some());
    }

    #[test]
    fn arm64_trap_frames_that_do_not_validate_are_refused() {
        let refused = |trap: Arm64Trap, why: &str| {
            let stack = stack_with(&trap);
            assert_eq!(
                find_trap_frame(&stack, &clues(Some(PC), None)),
                None,
                "{why}"
            );
        };
        refused(
            Arm64Trap {
                spsr: 0x3c0,
                ..Arm64Trap::default()
            },
            "EL0t: a user-mode fault",
        );
        refused(
            Arm64Trap {
                spsr: 0x3d5,
                ..Arm64Trap::default()
            },
            "M[4] set: AArch32",
        );
        refused(
            Arm64Trap {
                spsr: 0x3c9,
                ..Arm64Trap::default()
            },
            "EL2h",
        );
        refused(
            Arm64Trap {
                pc: PC + 4,
                ..Arm64Trap::default()
            },
            "PC is not the faulting address",
        );
        refused(
            Arm64Trap {
                sp: STACK + STACK_SIZE + 0x100,
                ..Arm64Trap::default()
            },
            "SP beyond the captured stack",
        );
        refused(
            Arm64Trap {
                sp: TRAP + 0x10,
                ..Arm64Trap::default()
            },
            "SP inside the trap frame itself",
        );
        refused(
            Arm64Trap {
                exception_active: 7,
                ..Arm64Trap::default()
            },
            "ExceptionActive out of range",
        );
        // No faulting address at all: nothing to match a frame against.
        let stack = stack_with(&Arm64Trap::default());
        assert_eq!(find_trap_frame(&stack, &clues(None, None)), None);
        // 0x8E names the frame directly; a wrong address is refused too.
        assert!(trap_frame_at(&stack, &clues(Some(PC), None), TRAP).is_some());
        assert_eq!(
            trap_frame_at(&stack, &clues(Some(PC), None), TRAP + 0x10),
            None
        );
    }
}

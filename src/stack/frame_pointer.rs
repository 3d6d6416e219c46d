//! Frame-pointer chains: x86 `EBP` frames and ARM64 frame records.
//!
//! x86: a function with a frame does `push ebp; mov ebp, esp`, so `[ebp]` is the caller's EBP
//! and `[ebp+4]` the return address; the caller's ESP is `ebp + 8`.
//! ARM64: `stp x29, x30, [sp, #-n]!; mov x29, sp` makes `[fp]` the caller's FP and `[fp+8]` the
//! return address (LR); the caller's SP is at least `fp + 16`.

use crate::dump::{Arch, MemoryRead};

use super::scan::strip_pointer_auth;

/// Registers of one frame as a frame-pointer walk sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRegisters {
    pub ip: u64,
    pub sp: u64,
    pub fp: u64,
}

/// One step up the frame-pointer chain. The frame pointer must lie in the captured stack at
/// or above SP (below SP it belongs to no live frame); the caller is not validated here.
pub fn unwind_frame_pointer(
    arch: Arch,
    regs: &FrameRegisters,
    stack_range: (u64, u64),
    memory: &dyn MemoryRead,
) -> Option<FrameRegisters> {
    let fp = regs.fp;
    let slot = arch.pointer_size() as u64;
    let record_end = fp.checked_add(2 * slot)?;
    if fp < regs.sp || fp < stack_range.0 || record_end > stack_range.1 || fp % slot != 0 {
        return None;
    }
    let (caller_fp, return_address) = match arch {
        Arch::X86 => (
            u64::from(memory.read_u32(fp)?),
            u64::from(memory.read_u32(fp.checked_add(4)?)?),
        ),
        Arch::Arm64 => (
            memory.read_u64(fp)?,
            strip_pointer_auth(arch, memory.read_u64(fp.checked_add(8)?)?),
        ),
        // x64 code does not keep a frame-pointer chain; it unwinds with `.pdata` or scans.
        Arch::Amd64 | Arch::Other(_) => return None,
    };
    Some(FrameRegisters {
        ip: return_address,
        sp: record_end,
        fp: caller_fp,
    })
}

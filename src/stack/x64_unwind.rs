//! x64 virtual unwinding with an image's `.pdata` (RUNTIME_FUNCTION) and `UNWIND_INFO`, the
//! way `RtlVirtualUnwind` does it, reading the stack through `StackMemory` (captured dump memory or a minidump walker).
//!
//! Layout (Microsoft "x64 exception handling"):
//! `UNWIND_INFO { u8 Version:3, Flags:5; u8 SizeOfProlog; u8 CountOfCodes;
//! u8 FrameRegister:4, FrameOffset:4; UNWIND_CODE UnwindCode[CountOfCodes (rounded up to
//! even)]; then, with UNW_FLAG_CHAININFO, a RUNTIME_FUNCTION of the parent }`, and
//! `UNWIND_CODE { u8 CodeOffset; u8 UnwindOp:4, OpInfo:4 }` (some ops take 1 or 2 more
//! 16-bit slots). Codes are listed from the last prolog instruction to the first, so undoing
//! them in list order walks the prolog backwards.

use crate::dump::MemoryRead;

use super::pe_image::{read_u16, read_u32, PeLayout, RuntimeFunction, RUNTIME_FUNCTION_SIZE};

/// Where the unwinder reads saved registers and return addresses: a kernel dump's captured
/// memory, or minidump-processor's view of a thread's stack.
pub trait StackMemory {
    fn read_stack_u64(&self, address: u64) -> Option<u64>;
}

impl<T: MemoryRead + ?Sized> StackMemory for T {
    fn read_stack_u64(&self, address: u64) -> Option<u64> {
        self.read_u64(address)
    }
}

/// Register numbers as UNWIND_CODE operands spell them (same order as `CpuContext::x64_gprs`).
pub const RSP: usize = 4;

const UWOP_PUSH_NONVOL: u8 = 0;
const UWOP_ALLOC_LARGE: u8 = 1;
const UWOP_ALLOC_SMALL: u8 = 2;
const UWOP_SET_FPREG: u8 = 3;
const UWOP_SAVE_NONVOL: u8 = 4;
const UWOP_SAVE_NONVOL_FAR: u8 = 5;
/// Version 2 epilog descriptor (was UWOP_SAVE_XMM in version 1): nothing to undo.
const UWOP_EPILOG: u8 = 6;
/// Was UWOP_SAVE_XMM_FAR in version 1: nothing to undo for integer registers.
const UWOP_SPARE_CODE: u8 = 7;
const UWOP_SAVE_XMM128: u8 = 8;
const UWOP_SAVE_XMM128_FAR: u8 = 9;
const UWOP_PUSH_MACHFRAME: u8 = 10;

const UNW_FLAG_CHAININFO: u8 = 0x4;

/// Chained unwind info can, in a damaged image, point back at itself; real chains are 1-2 deep.
const MAX_CHAIN_DEPTH: usize = 32;

/// The integer registers of one frame, with which of them are known.
///
/// After a stack-scan frame only RIP and RSP are known; an unwind that needs an unknown
/// register (a frame pointer) fails instead of inventing a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X64Registers {
    pub rip: u64,
    /// Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8..R15.
    pub gprs: [u64; 16],
    /// Bit n set = `gprs[n]` is known.
    pub valid: u16,
}

impl X64Registers {
    /// All sixteen registers known (a context record).
    pub fn from_context(rip: u64, gprs: [u64; 16]) -> X64Registers {
        X64Registers {
            rip,
            gprs,
            valid: u16::MAX,
        }
    }

    /// Only RIP and RSP known (a frame found by scanning, or a context without registers).
    pub fn from_ip_sp(rip: u64, rsp: u64) -> X64Registers {
        let mut gprs = [0u64; 16];
        gprs[RSP] = rsp;
        X64Registers {
            rip,
            gprs,
            valid: 1 << RSP,
        }
    }

    pub fn rsp(&self) -> u64 {
        self.gprs[RSP]
    }

    fn get(&self, reg: usize) -> Option<u64> {
        let value = *self.gprs.get(reg)?;
        (self.valid & (1 << reg) != 0).then_some(value)
    }

    fn set(&mut self, reg: usize, value: u64) {
        if let Some(slot) = self.gprs.get_mut(reg) {
            *slot = value;
            self.valid |= 1 << reg;
        }
    }

    fn set_rsp(&mut self, value: u64) {
        self.set(RSP, value);
    }
}

/// The code and tables of one image, with its load address.
#[derive(Clone, Copy)]
pub struct LoadedImage<'i> {
    pub layout: &'i PeLayout,
    pub bytes: &'i [u8],
    pub base: u64,
}

impl LoadedImage<'_> {
    fn rva_of(&self, address: u64) -> Option<u32> {
        u32::try_from(address.checked_sub(self.base)?).ok()
    }
}

/// A decoded UNWIND_INFO header plus its code slots.
struct UnwindInfo<'i> {
    flags: u8,
    size_of_prolog: u8,
    frame_register: u8,
    /// Scaled by 16 when used.
    frame_offset: u8,
    /// The raw 16-bit UNWIND_CODE slots, `CountOfCodes` of them.
    codes: &'i [u8],
    /// Where the chained RUNTIME_FUNCTION sits, when UNW_FLAG_CHAININFO is set.
    chained: Option<RuntimeFunction>,
}

impl<'i> UnwindInfo<'i> {
    fn read(image: &LoadedImage<'i>, rva: u32) -> Option<UnwindInfo<'i>> {
        let header = image.layout.read(image.bytes, rva, 4)?;
        let (version, flags) = (header[0] & 0x7, header[0] >> 3);
        // Versions 1 and 2 exist; anything else is not an unwind info we understand.
        if !(1..=2).contains(&version) {
            return None;
        }
        let count = usize::from(header[2]);
        let codes = image
            .layout
            .read(image.bytes, rva.checked_add(4)?, count * 2)?;
        let chained = if flags & UNW_FLAG_CHAININFO != 0 {
            // The parent entry follows the code array, which is padded to an even count.
            let at = rva.checked_add(4 + u32::try_from((count + 1) & !1).ok()? * 2)?;
            RuntimeFunction::decode(image.layout.read(image.bytes, at, RUNTIME_FUNCTION_SIZE)?)
        } else {
            None
        };
        Some(UnwindInfo {
            flags,
            size_of_prolog: header[1],
            frame_register: header[3] & 0xF,
            frame_offset: header[3] >> 4,
            codes,
            chained,
        })
    }

    fn count(&self) -> usize {
        self.codes.len() / 2
    }

    /// (CodeOffset, UnwindOp, OpInfo) of slot `i`.
    fn code(&self, i: usize) -> Option<(u8, u8, u8)> {
        let offset = *self.codes.get(i * 2)?;
        let op_byte = *self.codes.get(i * 2 + 1)?;
        Some((offset, op_byte & 0xF, op_byte >> 4))
    }

    /// The 16-bit slot `i` as a number (the operands of the multi-slot ops).
    fn slot_u16(&self, i: usize) -> Option<u16> {
        read_u16(self.codes, i * 2)
    }

    /// Slots `i` and `i + 1` as one little-endian u32.
    fn slot_u32(&self, i: usize) -> Option<u32> {
        read_u32(self.codes, i * 2)
    }
}

/// How many slots an unwind code takes (the op's own slot included).
fn slot_count(op: u8, info: u8) -> usize {
    match op {
        UWOP_ALLOC_LARGE if info == 0 => 2,
        UWOP_ALLOC_LARGE => 3,
        UWOP_SAVE_NONVOL | UWOP_EPILOG | UWOP_SAVE_XMM128 => 2,
        UWOP_SAVE_NONVOL_FAR | UWOP_SPARE_CODE | UWOP_SAVE_XMM128_FAR => 3,
        _ => 1,
    }
}

/// Unwinds one frame: from the registers at `regs.rip` (inside `image`) to the caller's.
///
/// `is_context_frame` is true for frame 0, whose RIP is the exact faulting instruction: only
/// there can RIP sit inside a prolog or an epilog. Caller frames hold return addresses, so
/// their function is looked up at `rip - 1` (a call to a no-return function can be the last
/// instruction of its caller).
///
/// Returns `None` when the image has no unwind table, the unwind info is malformed, or a
/// needed stack slot was not captured; the caller then falls back to scanning.
pub fn unwind_frame<M: StackMemory + ?Sized>(
    image: &LoadedImage<'_>,
    regs: &X64Registers,
    is_context_frame: bool,
    memory: &M,
) -> Option<X64Registers> {
    if !image.layout.has_unwind_table() {
        return None;
    }
    let rva = image.rva_of(regs.rip)?;
    let lookup_rva = if is_context_frame {
        rva
    } else {
        rva.checked_sub(1)?
    };
    let mut caller = *regs;
    let Some(function) = image.layout.runtime_function_for(image.bytes, lookup_rva) else {
        // No entry: a leaf function, which never moves RSP, so [RSP] is the return address.
        return pop_return_address(caller, memory);
    };

    let primary = UnwindInfo::read(image, function.unwind_info)?;
    let offset_in_function = lookup_rva.wrapping_sub(function.begin);
    if is_context_frame && offset_in_function > u32::from(primary.size_of_prolog) {
        if let Some(done) = unwind_epilog(image, &primary, function, regs, memory) {
            return Some(done);
        }
    }

    let mut info = primary;
    let mut machine_frame = false;
    for depth in 0..MAX_CHAIN_DEPTH {
        // Only the function's own prolog can be partly executed; a chained parent's prolog
        // ran completely before control reached this fragment.
        let executed_up_to = if depth == 0 {
            offset_in_function
        } else {
            u32::MAX
        };
        machine_frame |= apply_unwind_codes(&info, executed_up_to, &mut caller, memory)?;
        if machine_frame {
            break;
        }
        match info.chained {
            Some(parent) if info.flags & UNW_FLAG_CHAININFO != 0 => {
                info = UnwindInfo::read(image, parent.unwind_info)?;
            }
            _ => break,
        }
    }
    if machine_frame {
        Some(caller)
    } else {
        pop_return_address(caller, memory)
    }
}

/// RIP = [RSP], RSP += 8: what `ret` does.
fn pop_return_address<M: StackMemory + ?Sized>(
    mut regs: X64Registers,
    memory: &M,
) -> Option<X64Registers> {
    let rsp = regs.rsp();
    regs.rip = memory.read_stack_u64(rsp)?;
    regs.set_rsp(rsp.checked_add(8)?);
    Some(regs)
}

/// Undoes the codes of one UNWIND_INFO whose CodeOffset is at most `executed_up_to`.
/// Returns whether a machine frame was popped (then RIP and RSP are already the caller's).
fn apply_unwind_codes<M: StackMemory + ?Sized>(
    info: &UnwindInfo<'_>,
    executed_up_to: u32,
    regs: &mut X64Registers,
    memory: &M,
) -> Option<bool> {
    // SAVE_NONVOL offsets are relative to the frame base: RSP right after the fixed part of
    // the prolog, which is `frame register - FrameOffset*16` once SET_FPREG has run (the
    // body may move RSP after that, e.g. alloca), otherwise RSP itself.
    let mut set_fpreg_ran = false;
    let mut i = 0;
    while i < info.count() {
        let (offset, op, op_info) = info.code(i)?;
        if op == UWOP_SET_FPREG && u32::from(offset) <= executed_up_to {
            set_fpreg_ran = true;
        }
        i += slot_count(op, op_info);
    }
    let frame_base = if info.frame_register != 0 && set_fpreg_ran {
        regs.get(usize::from(info.frame_register))?
            .checked_sub(u64::from(info.frame_offset) * 16)?
    } else {
        regs.rsp()
    };

    let mut i = 0;
    while i < info.count() {
        let (offset, op, op_info) = info.code(i)?;
        let slots = slot_count(op, op_info);
        if u32::from(offset) > executed_up_to {
            // This prolog instruction had not run yet: nothing to undo.
            i += slots;
            continue;
        }
        let reg = usize::from(op_info);
        match op {
            UWOP_PUSH_NONVOL => {
                let rsp = regs.rsp();
                regs.set(reg, memory.read_stack_u64(rsp)?);
                regs.set_rsp(rsp.checked_add(8)?);
            }
            UWOP_ALLOC_LARGE => {
                let size = if op_info == 0 {
                    u64::from(info.slot_u16(i + 1)?) * 8
                } else {
                    u64::from(info.slot_u32(i + 1)?)
                };
                regs.set_rsp(regs.rsp().checked_add(size)?);
            }
            UWOP_ALLOC_SMALL => {
                regs.set_rsp(regs.rsp().checked_add(u64::from(op_info) * 8 + 8)?);
            }
            UWOP_SET_FPREG => regs.set_rsp(frame_base),
            UWOP_SAVE_NONVOL => {
                let at = frame_base.checked_add(u64::from(info.slot_u16(i + 1)?) * 8)?;
                regs.set(reg, memory.read_stack_u64(at)?);
            }
            UWOP_SAVE_NONVOL_FAR => {
                let at = frame_base.checked_add(u64::from(info.slot_u32(i + 1)?))?;
                regs.set(reg, memory.read_stack_u64(at)?);
            }
            // XMM registers are not tracked; the slots only need skipping.
            UWOP_EPILOG | UWOP_SPARE_CODE | UWOP_SAVE_XMM128 | UWOP_SAVE_XMM128_FAR => {}
            UWOP_PUSH_MACHFRAME => {
                // The CPU pushed SS, RSP, EFLAGS, CS, RIP (and an error code when OpInfo=1).
                let rsp = regs.rsp();
                let base = if op_info == 1 {
                    rsp.checked_add(8)?
                } else {
                    rsp
                };
                regs.rip = memory.read_stack_u64(base)?;
                regs.set_rsp(memory.read_stack_u64(base.checked_add(24)?)?);
                return Some(true);
            }
            // An op this decoder does not know: the rest cannot be trusted.
            _ => return None,
        }
        i += slots;
    }
    Some(false)
}

/// If RIP is inside an epilog, finishes it by emulation, as RtlVirtualUnwind does: an epilog
/// is `add rsp, imm` or `lea rsp, [frame_reg + disp]` (optional), `pop reg`*, then `ret` or a
/// jump out of the function. Inside an epilog part of the frame is already gone, so applying
/// the unwind codes would double-undo it.
fn unwind_epilog<M: StackMemory + ?Sized>(
    image: &LoadedImage<'_>,
    info: &UnwindInfo<'_>,
    function: RuntimeFunction,
    regs: &X64Registers,
    memory: &M,
) -> Option<X64Registers> {
    let rva = image.rva_of(regs.rip)?;
    // An epilog is short: 1 add/lea + at most 16 pops + a jump fits well within 64 bytes.
    let code = read_code_window(image, rva, 64)?;
    let mut at = 0usize;
    let mut rsp = regs.rsp();
    let mut caller = *regs;

    let byte = |i: usize| code.get(i).copied();
    // add rsp, imm8 / imm32
    if byte(0)? == 0x48 && byte(1)? == 0x83 && byte(2)? == 0xC4 {
        rsp = rsp.checked_add(u64::from(byte(3)?))?;
        at = 4;
    } else if byte(0)? == 0x48 && byte(1)? == 0x81 && byte(2)? == 0xC4 {
        rsp = rsp.checked_add(u64::from(read_u32(code, 3)?))?;
        at = 7;
    } else if (byte(0)? & 0xFE) == 0x48 && byte(1)? == 0x8D {
        // lea rsp, [reg + disp8/disp32]: ModRM reg field = 4 (RSP), mod = 01 or 10.
        let modrm = byte(2)?;
        let rm = usize::from((modrm & 7) | ((byte(0)? & 1) << 3));
        if (modrm >> 3) & 7 != 4
            || info.frame_register == 0
            || rm != usize::from(info.frame_register)
        {
            // Not `lea rsp, [frame register + x]`: not an epilog start.
            return None;
        }
        let base = regs.get(rm)?;
        match modrm >> 6 {
            1 => {
                let disp = i64::from(byte(3)? as i8);
                rsp = base.checked_add_signed(disp)?;
                at = 4;
            }
            2 => {
                let disp = i64::from(read_u32(code, 3)? as i32);
                rsp = base.checked_add_signed(disp)?;
                at = 7;
            }
            _ => return None,
        }
    }

    // pop reg (58+r, or 41 58+r for r8..r15), recorded but only applied if a return follows.
    let mut pops: [(usize, u64); 16] = [(0, 0); 16];
    let mut pop_count = 0;
    let mut pop_rsp = rsp;
    loop {
        let (reg, len) = match (byte(at)?, byte(at + 1)) {
            (b @ 0x58..=0x5F, _) => (usize::from(b - 0x58), 1),
            (0x41, Some(b @ 0x58..=0x5F)) => (usize::from(b - 0x58) + 8, 2),
            _ => break,
        };
        if pop_count == pops.len() {
            return None;
        }
        pops[pop_count] = (reg, pop_rsp);
        pop_count += 1;
        pop_rsp = pop_rsp.checked_add(8)?;
        at += len;
    }

    // The epilog must end in a return or a jump leaving the function (a tail call); a jump
    // that stays inside the function is ordinary control flow, not an epilog.
    let jump_leaves_function = |len: usize, displacement: i64| {
        let next = i64::from(rva) + i64::try_from(at + len).unwrap_or(i64::MAX);
        let target = next.saturating_add(displacement);
        target < i64::from(function.begin) || target >= i64::from(function.end)
    };
    let ends_epilog = match (byte(at)?, byte(at + 1)) {
        (0xC3, _) | (0xC2, _) => true,
        (0xF3, Some(0xC3)) => true,
        (0xE9, _) => {
            read_u32(code, at + 1).is_some_and(|d| jump_leaves_function(5, i64::from(d as i32)))
        }
        (0xEB, Some(d)) => jump_leaves_function(2, i64::from(d as i8)),
        (0xFF, Some(modrm)) => (modrm >> 3) & 7 == 4 && modrm >> 6 == 0 && modrm & 7 == 5,
        (0x48, Some(0xFF)) => byte(at + 2).is_some_and(|m| (m >> 3) & 7 == 4),
        _ => false,
    };
    if !ends_epilog {
        return None;
    }
    for &(reg, slot) in pops.iter().take(pop_count) {
        caller.set(reg, memory.read_stack_u64(slot)?);
    }
    caller.set_rsp(pop_rsp);
    pop_return_address(caller, memory)
}

/// Up to `max` code bytes at `rva` (fewer near the end of the section).
fn read_code_window<'i>(image: &LoadedImage<'i>, rva: u32, max: usize) -> Option<&'i [u8]> {
    let mut len = max;
    while len > 0 {
        if let Some(bytes) = image.layout.read(image.bytes, rva, len) {
            return Some(bytes);
        }
        len /= 2;
    }
    None
}

//! Stack scanning: when no unwind information gets us to the caller, look up the stack for a
//! value that is a plausible return address. Such frames get trust `scan`: they may be stale
//! return addresses left over from earlier calls.

use crate::dump::{Arch, MemoryRead};

use super::resolver::ModuleResolver;

/// How far one scan looks (in stack slots) before giving up; kernel stacks are 12-24 KB, so
/// this covers the whole captured stack of any real dump.
pub const MAX_SCAN_SLOTS: u64 = 4096;

/// A return address found on the stack and the slot it was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanHit {
    pub return_address: u64,
    /// The address of the stack slot holding it; the caller's SP is just above it.
    pub slot: u64,
}

/// Scans from `start` (inclusive) up to `stack_end` (exclusive) for the first slot holding a
/// plausible return address: inside a module's code and, where the code bytes are known,
/// right after a call instruction.
pub fn scan_for_return_address(
    arch: Arch,
    start: u64,
    stack_end: u64,
    memory: &dyn MemoryRead,
    resolver: &ModuleResolver<'_>,
) -> Option<ScanHit> {
    let slot_size = arch.pointer_size() as u64;
    // Slots are pointer-aligned; a misaligned SP would be damage, so round up.
    let mut slot = start.checked_add(slot_size - 1)? & !(slot_size - 1);
    for _ in 0..MAX_SCAN_SLOTS {
        if slot.checked_add(slot_size)? > stack_end {
            return None;
        }
        let value = match arch {
            Arch::X86 => memory.read_u32(slot).map(u64::from),
            _ => memory.read_u64(slot).map(|v| strip_pointer_auth(arch, v)),
        };
        if let Some(candidate) = value {
            if is_plausible_return_address(arch, candidate, resolver) {
                return Some(ScanHit {
                    return_address: candidate,
                    slot,
                });
            }
        }
        slot += slot_size;
    }
    None
}

/// Whether `address` looks like a return address: in a module's code, and preceded by a call
/// instruction when the code bytes before it can be read.
pub fn is_plausible_return_address(
    arch: Arch,
    address: u64,
    resolver: &ModuleResolver<'_>,
) -> bool {
    // The call instruction is before the return address and must be in the same module.
    if address == 0 || !resolver.is_code_address(address.saturating_sub(1)) {
        return false;
    }
    match arch {
        Arch::X86 | Arch::Amd64 => match resolver.code_bytes(address.saturating_sub(7), 7) {
            Some(bytes) => x86_call_precedes(bytes),
            // The code is not available (no image, page not captured): the module range is
            // the only evidence there is.
            None => true,
        },
        Arch::Arm64 => match resolver.code_bytes(address.saturating_sub(4), 4) {
            Some(bytes) => arm64_call_precedes(bytes),
            None => true,
        },
        Arch::Other(_) => true,
    }
}

/// Whether the 7 bytes before a return address end with an x86/x64 call: `E8 rel32`, or
/// `FF /2` (call r/m) in its register, memory, disp8, disp32, SIB and RIP-relative forms
/// (the form of `call [__guard_dispatch_icall_fptr]` and import calls), or an import call the
/// loader shortened in memory (the bytes may come from the store's file, not the dump).
pub fn x86_call_precedes(before: &[u8]) -> bool {
    let n = before.len();
    let at = |back: usize| -> Option<u8> { before.get(n.checked_sub(back)?).copied() };
    // ModRM of an `FF /2` whose opcode byte is `back` bytes before the return address.
    let ff2_modrm = |back: usize| -> Option<u8> {
        (at(back)? == 0xFF).then_some(())?;
        let modrm = at(back - 1)?;
        ((modrm >> 3) & 7 == 2).then_some(modrm)
    };
    let modrm_mod = |m: u8| m >> 6;
    let modrm_rm = |m: u8| m & 7;

    if at(5) == Some(0xE8) {
        return true;
    }
    // Import call optimization (Windows 10 1809+ kernels): the loader rewrites an import call
    // `FF 15 disp32` / `48 FF 15 disp32` into `E8 rel32` plus padding, so in the image file as
    // stored the call seems to end one or two bytes after the real return address.
    if (at(5) == Some(0xFF) && at(4) == Some(0x15))
        || (at(5) == Some(0x48) && at(4) == Some(0xFF) && at(3) == Some(0x15))
    {
        return true;
    }
    // FF /2, 2 bytes: call reg (mod 11) or call [reg] (mod 00, no SIB, not disp32).
    if let Some(m) = ff2_modrm(2) {
        let (md, rm) = (modrm_mod(m), modrm_rm(m));
        if md == 3 || (md == 0 && rm != 4 && rm != 5) {
            return true;
        }
    }
    // 3 bytes: [reg + disp8], or [SIB] without displacement.
    if let Some(m) = ff2_modrm(3) {
        let (md, rm) = (modrm_mod(m), modrm_rm(m));
        if (md == 1 && rm != 4) || (md == 0 && rm == 4 && at(1).is_some_and(|sib| sib & 7 != 5)) {
            return true;
        }
    }
    // 4 bytes: [SIB + disp8].
    if let Some(m) = ff2_modrm(4) {
        if modrm_mod(m) == 1 && modrm_rm(m) == 4 {
            return true;
        }
    }
    // 6 bytes: [rip + disp32] / [disp32] (mod 00 rm 101) or [reg + disp32] (mod 10).
    if let Some(m) = ff2_modrm(6) {
        let (md, rm) = (modrm_mod(m), modrm_rm(m));
        if (md == 0 && rm == 5) || (md == 2 && rm != 4) {
            return true;
        }
    }
    // 7 bytes: [SIB + disp32], or [SIB] with no base + disp32.
    if let Some(m) = ff2_modrm(7) {
        let (md, rm) = (modrm_mod(m), modrm_rm(m));
        if rm == 4 && (md == 2 || (md == 0 && at(5).is_some_and(|sib| sib & 7 == 5))) {
            return true;
        }
    }
    false
}

/// Whether the 4 bytes before a return address are an ARM64 `BL`, `BLR` or `BLRA*`.
pub fn arm64_call_precedes(before: &[u8]) -> bool {
    let Some(bytes) = before.get(before.len().saturating_sub(4)..) else {
        return false;
    };
    let Ok(word) = <[u8; 4]>::try_from(bytes) else {
        return false;
    };
    let insn = u32::from_le_bytes(word);
    insn & 0xFC00_0000 == 0x9400_0000 // BL imm26
        || insn & 0xFFFF_FC1F == 0xD63F_0000 // BLR Xn
        || insn & 0xFEFF_F800 == 0xD63F_0800 // BLRAA / BLRAB / BLRAAZ / BLRABZ
}

/// ARM64 return addresses may carry a pointer-authentication code in their upper bits; the
/// VA is the low 48 bits, extended with the kernel/user half bit 55 selects.
pub fn strip_pointer_auth(arch: Arch, value: u64) -> u64 {
    if arch != Arch::Arm64 {
        return value;
    }
    const VA_MASK: u64 = (1 << 48) - 1;
    if value & (1 << 55) != 0 {
        value | !VA_MASK
    } else {
        value & VA_MASK
    }
}

//! CPU `CONTEXT` records: enough of the x64, x86 and ARM64 layouts for a stack walk.
//!
//! AMD64 `CONTEXT` (0x4D0 bytes): Rax..R15 at 0x78 + 8*i in unwind-register order, Rsp at
//! 0x98, Rbp at 0xA0, Rip at 0xF8. x86 `CONTEXT`: Ebp 0xB4, Eip 0xB8, Esp 0xC4 (KERNEL-DUMP-FORMAT
//! §3). ARM64 `CONTEXT`: ContextFlags u32, Cpsr u32, X0..X28 from 0x08, Fp 0xF0, Lr 0xF8,
//! Sp 0x100, Pc 0x108 (winnt.h `ARM64_NT_CONTEXT`).

use crate::dump::source::{u32_at, u64_at};
use crate::dump::{Arch, CpuContext};

/// Size of the x64 CONTEXT structure.
pub const AMD64_CONTEXT_SIZE: usize = 0x4D0;
/// Size of the ARM64 CONTEXT structure.
#[allow(dead_code)]
pub const ARM64_CONTEXT_SIZE: usize = 0x390;
/// Size of the x86 CONTEXT structure (with extended registers).
#[allow(dead_code)]
pub const X86_CONTEXT_SIZE: usize = 0x2CC;

/// Reads a CONTEXT of `arch`'s layout from the start of `bytes`.
pub fn parse_context(bytes: &[u8], arch: Arch) -> Option<CpuContext> {
    match arch {
        Arch::Amd64 => {
            let mut gprs = [0u64; 16];
            for (i, r) in gprs.iter_mut().enumerate() {
                *r = u64_at(bytes, 0x78 + 8 * i)?;
            }
            Some(CpuContext {
                arch,
                ip: u64_at(bytes, 0xF8)?,
                sp: gprs[4],
                fp: gprs[5],
                x64_gprs: Some(gprs),
            })
        }
        Arch::X86 => Some(CpuContext {
            arch,
            ip: u64::from(u32_at(bytes, 0xB8)?),
            sp: u64::from(u32_at(bytes, 0xC4)?),
            fp: u64::from(u32_at(bytes, 0xB4)?),
            x64_gprs: None,
        }),
        Arch::Arm64 => Some(CpuContext {
            arch,
            ip: u64_at(bytes, 0x108)?,
            sp: u64_at(bytes, 0x100)?,
            fp: u64_at(bytes, 0xF0)?,
            x64_gprs: None,
        }),
        Arch::Other(_) => None,
    }
}

/// The ARM64 link register (X30), which a walk needs for a leaf frame.
pub fn arm64_link_register(bytes: &[u8]) -> Option<u64> {
    u64_at(bytes, 0xF8)
}

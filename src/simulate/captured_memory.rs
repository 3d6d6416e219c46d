//! The kernel memory a real triage dump captures besides the stack: pool and thread data
//! that the registers and stack point at, stored as `TRIAGE_DATA_BLOCK`s.
//!
//! Without it a simulated dump is ~55 KB, while the real Windows 10 x64 sample is 1.4 MB
//! (1,831 blocks, 1.15 MB of data: mostly 256-byte blocks, some whole pages, the rest 8-128
//! bytes) and the real Windows 7 x86 sample holds 12 blocks (23 KB: five pages and a few small
//! ones). File sizes matter to anyone measuring ingest against reading the bytes, so
//! `--captured-memory realistic` (the default) gives blocks of those counts and sizes;
//! `minimal` leaves them out to keep a committed demo fleet small.

use super::rng::Rng;
use crate::dump::Arch;

/// How much captured kernel memory a simulated triage dump carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CapturedMemory {
    /// Data blocks of the counts and sizes seen in real dumps of the same era and width.
    #[default]
    Realistic,
    /// Only the blocks the triage needs (the faulting code page, the module list head).
    Minimal,
}

impl CapturedMemory {
    pub fn as_str(self) -> &'static str {
        match self {
            CapturedMemory::Realistic => "realistic",
            CapturedMemory::Minimal => "minimal",
        }
    }
}

/// Windows 10 1507: from here 64-bit triage dumps carry the large block set.
const WIN10_FIRST_BUILD: u32 = 10240;

/// Pool data blocks for one dump, drawn from `rng` (its own stream, so `minimal` fleets keep
/// the bytes they had before this existed). Addresses are ascending and non-overlapping in
/// the kernel pool range, far from driver images, so no block shadows code.
pub fn pool_blocks(rng: &mut Rng, arch: Arch, os_build: u32) -> Vec<(u64, Vec<u8>)> {
    let wide = arch != Arch::X86;
    // (block count, whole pages among them)
    let (count, pages) = if wide && os_build >= WIN10_FIRST_BUILD {
        (rng.range(1400, 2000) as usize, rng.range(180, 300) as usize)
    } else {
        (rng.range(8, 16) as usize, rng.range(3, 7) as usize)
    };
    let mut address = if wide {
        0xffff_8000_0000_0000 | (rng.range(0x0400, 0x0600) << 32) | (rng.below(0x1_0000) << 16)
    } else {
        0xa200_0000 + (rng.below(0x400) << 16)
    };
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let size = if i < pages {
            4096
        } else if wide && rng.chance(0.75) {
            256
        } else {
            8 * rng.range(1, 17) as usize
        };
        let mut bytes = vec![0u8; size];
        fill_pool_like(rng, &mut bytes, wide);
        blocks.push((address, bytes));
        // The next block starts past this one, 16-aligned, with a gap of unrelated memory.
        address += ((size as u64 + 15) & !15) + 16 * rng.range(1, 64);
    }
    blocks
}

/// Pool-like content: runs of zeros, small integers and kernel pointers, not noise — the
/// kind of bytes a stack scan or a reader walks past in a real dump.
fn fill_pool_like(rng: &mut Rng, bytes: &mut [u8], wide: bool) {
    let word = if wide { 8 } else { 4 };
    for chunk in bytes.chunks_mut(word) {
        let value: u64 = match rng.below(4) {
            0 => 0,
            1 => rng.below(0x1_0000),
            2 if wide => 0xffff_8000_0000_0000 | (rng.next_u64() & 0x0000_7fff_ffff_fff0),
            2 => 0x8000_0000 | (rng.next_u64() & 0x7fff_fff0),
            _ => rng.next_u64(),
        };
        let le = value.to_le_bytes();
        chunk.copy_from_slice(&le[..chunk.len()]);
    }
}

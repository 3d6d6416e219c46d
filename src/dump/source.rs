//! Opening dump files and reading little-endian fields out of them with bounds checks.
//!
//! Dump files up to `READ_LIMIT` (every small-memory dump, most minidumps) are read into
//! memory with ordinary reads: a file that another process truncates or rewrites while it is
//! being read (a dump being copied into the share while `scan` runs) then gives a short,
//! damaged dump that is salvaged or quarantined, never a SIGBUS that kills the process, as a
//! memory map would. Larger files (complete kernel dumps, full-memory minidumps) are mapped,
//! because only their headers are read. Every read here returns `None` past the end instead of
//! panicking: offsets come from untrusted dumps.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::DumpError;

/// Files up to this size are read, not mapped: 64 MiB covers every small-memory dump (a few
/// MiB at most) and typical user-mode minidumps; the copy costs a read of the file, which a
/// parse touches most of anyway.
pub const READ_LIMIT: u64 = 64 * 1024 * 1024;

/// Overrides `READ_LIMIT` (bytes; `0` maps every non-empty file): only so that
/// `scripts/bench-scan.sh` can measure what reading instead of mapping costs on the same
/// fleet. Not for production: a mapped file truncated during the scan kills the process.
pub const READ_LIMIT_ENV: &str = "BLASTRADIUS_READ_LIMIT";

/// `READ_LIMIT`, or the benchmark's override, read once per process.
fn read_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var(READ_LIMIT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(READ_LIMIT)
    })
}

/// The bytes of one dump file: mapped when the file is non-empty, owned otherwise.
pub struct DumpFile {
    path: PathBuf,
    bytes: DumpBytes,
}

enum DumpBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Deref for DumpBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            DumpBytes::Mapped(m) => m,
            DumpBytes::Owned(v) => v,
        }
    }
}

impl DumpFile {
    /// Reads `path` (files up to `READ_LIMIT`) or maps it read-only (larger ones).
    pub fn open(path: &Path) -> Result<DumpFile, DumpError> {
        DumpFile::open_reusing(path, Vec::new())
    }

    /// `open`, reading into `buffer` (cleared first) rather than a new allocation: a scan
    /// worker passes the same buffer for every file (`into_buffer`) instead of allocating,
    /// faulting in and freeing about a megabyte per dump.
    pub fn open_reusing(path: &Path, mut buffer: Vec<u8>) -> Result<DumpFile, DumpError> {
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let limit = read_limit();
        let bytes = if len <= limit {
            // Read what is there now; a file growing or shrinking meanwhile gives what was
            // read, which the parsers treat as any other truncated dump.
            buffer.clear();
            buffer.reserve(usize::try_from(len).unwrap_or(0));
            file.take(limit).read_to_end(&mut buffer).map_err(io)?;
            DumpBytes::Owned(buffer)
        } else {
            // SAFETY: read-only private mapping. A file truncated by another process while it
            // is mapped would fault (SIGBUS); only files above READ_LIMIT are mapped, and of
            // those only the header pages are read (unless a benchmark lowered the limit).
            DumpBytes::Mapped(unsafe { Mmap::map(&file) }.map_err(io)?)
        };
        Ok(DumpFile {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Wraps bytes already in memory (tests, fuzzing, network input).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> DumpFile {
        DumpFile {
            path: path.to_path_buf(),
            bytes: DumpBytes::Owned(bytes),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The memory a read file was read into, for the next `open_reusing`.
    pub fn into_buffer(self) -> Option<Vec<u8>> {
        match self.bytes {
            DumpBytes::Owned(bytes) => Some(bytes),
            DumpBytes::Mapped(_) => None,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// `len` bytes at `offset`, or `None` when any of them lies past the end.
pub fn slice_at(bytes: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    let end = offset.checked_add(len)?;
    bytes.get(offset..end)
}

pub fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    let b = slice_at(bytes, offset, 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

pub fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = slice_at(bytes, offset, 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let b = slice_at(bytes, offset, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Decodes UTF-16LE, replacing invalid units, and drops control characters so that a name
/// read from a dump can be printed and used as a map key safely.
pub fn utf16_lossy(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .take_while(|&c| c != '\0')
        .filter(|c| !c.is_control())
        .collect()
}

//! Opening dump files and reading little-endian fields out of them with bounds checks.
//!
//! Files are memory-mapped so that parsing a triage dump touches only the pages it reads
//! (header, driver list, strings, stack), not the whole file. Every read here returns `None`
//! past the end instead of panicking: offsets come from untrusted dumps.

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::DumpError;

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
    /// Maps `path` read-only. (A file truncated by another process while mapped would fault;
    /// dump folders are written once by Windows and copied whole, so mapping is the right
    /// trade for reading only the pages a parse needs.)
    pub fn open(path: &Path) -> Result<DumpFile, DumpError> {
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let bytes = if len == 0 {
            DumpBytes::Owned(Vec::new())
        } else {
            // SAFETY: read-only private mapping; see the note above about concurrent truncation.
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

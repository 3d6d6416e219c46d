//! `TRIAGE_DUMP64` / `TRIAGE_DUMP32` and the structures it points at (KERNEL-DUMP-FORMAT §5–7).
//!
//! All `*Offset` fields are absolute file offsets. Each part is parsed on its own so that
//! damage to one (a bad string offset, a truncated driver list) leaves the others readable:
//! problems become warnings, the way a forgiving reader like BlueScreenView behaves.

use crate::dump::modules::base_name;
use crate::dump::source::{slice_at, u16_at, u32_at, u64_at, utf16_lossy};
use crate::dump::DriverEntry;

use super::header::HeaderWidth;

/// `TRIAGE_DUMP_VALID`: the bytes `TRGD` at `ValidOffset`.
pub const TRIAGE_VALID: u32 = 0x4447_5254;
/// `DUMP_DRIVER_ENTRY64` stride.
pub const DRIVER_ENTRY64_SIZE: usize = 0x90;
/// `DUMP_DRIVER_ENTRY32` stride.
pub const DRIVER_ENTRY32_SIZE: usize = 0x4C;
/// `TRIAGE_OPTION_OVERFLOWED`: the driver list did not fit.
pub const TRIAGE_OPTION_OVERFLOWED: u32 = 0x100;
/// Windows keeps at most 50 unloaded drivers (MI_UNLOADED_DRIVERS); more is damage.
const MAX_UNLOADED: usize = 50;
/// No real system loads this many drivers; a larger count is damage, not data.
const MAX_DRIVERS: usize = 4096;
/// The longest driver path we accept (UNICODE_STRING's limit is 32767 characters).
const MAX_NAME_CHARS: usize = 32767;
const MAX_DATA_BLOCKS: usize = 4096;
const MAX_BLOBS: usize = 1024;

/// `MiniDumpFields` bits (§5).
pub mod fields {
    pub const CONTEXT: u32 = 0x1;
    pub const EXCEPTION: u32 = 0x2;
    pub const STACK: u32 = 0x20;
    pub const DRIVER_LIST: u32 = 0x40;
    pub const DEBUGGER_DATA: u32 = 0x400;
    pub const DATA_BLOCKS: u32 = 0x800;
}

/// The `TRIAGE_DUMP64` (at 0x2000, 0x80 bytes) or `TRIAGE_DUMP32` (at 0x1000, 0x68 bytes)
/// header, widened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriageHeader {
    pub service_pack_build: u32,
    pub size_of_dump: u32,
    pub valid_offset: u32,
    pub context_offset: u32,
    pub exception_offset: u32,
    pub mm_offset: u32,
    pub unloaded_drivers_offset: u32,
    pub prcb_offset: u32,
    pub process_offset: u32,
    pub thread_offset: u32,
    pub call_stack_offset: u32,
    pub size_of_call_stack: u32,
    pub driver_list_offset: u32,
    pub driver_count: u32,
    pub string_pool_offset: u32,
    pub string_pool_size: u32,
    pub broken_driver_offset: u32,
    pub triage_options: u32,
    /// The LOWEST virtual address of the captured stack (the SP at capture time).
    pub top_of_stack: u64,
    pub data_page_address: u64,
    pub data_page_offset: u32,
    pub data_page_size: u32,
    pub debugger_data_offset: u32,
    pub debugger_data_size: u32,
    pub data_blocks_offset: u32,
    pub data_blocks_count: u32,
}

pub fn parse_triage_header(bytes: &[u8], at: usize, width: HeaderWidth) -> Option<TriageHeader> {
    let r = |o: usize| u32_at(bytes, at + o);
    let mut t = TriageHeader {
        service_pack_build: r(0x00)?,
        size_of_dump: r(0x04)?,
        valid_offset: r(0x08)?,
        context_offset: r(0x0C)?,
        exception_offset: r(0x10)?,
        mm_offset: r(0x14)?,
        unloaded_drivers_offset: r(0x18)?,
        prcb_offset: r(0x1C)?,
        process_offset: r(0x20)?,
        thread_offset: r(0x24)?,
        call_stack_offset: r(0x28)?,
        size_of_call_stack: r(0x2C)?,
        driver_list_offset: r(0x30)?,
        driver_count: r(0x34)?,
        string_pool_offset: r(0x38)?,
        string_pool_size: r(0x3C)?,
        broken_driver_offset: r(0x40)?,
        triage_options: r(0x44)?,
        ..TriageHeader::default()
    };
    match width {
        HeaderWidth::Bits64 => {
            t.top_of_stack = u64_at(bytes, at + 0x48)?;
            t.data_page_address = u64_at(bytes, at + 0x60)?;
            t.data_page_offset = r(0x68)?;
            t.data_page_size = r(0x6C)?;
            t.debugger_data_offset = r(0x70)?;
            t.debugger_data_size = r(0x74)?;
            t.data_blocks_offset = r(0x78)?;
            t.data_blocks_count = r(0x7C)?;
        }
        HeaderWidth::Bits32 => {
            t.top_of_stack = u64::from(r(0x48)?);
            t.data_page_address = u64::from(r(0x4C)?);
            t.data_page_offset = r(0x50)?;
            t.data_page_size = r(0x54)?;
            t.debugger_data_offset = r(0x58)?;
            t.debugger_data_size = r(0x5C)?;
            t.data_blocks_offset = r(0x60)?;
            t.data_blocks_count = r(0x64)?;
        }
    }
    Some(t)
}

/// A `DUMP_STRING` {u32 Length (in WCHARs, not bytes: §7); WCHAR Buffer[Length]; WCHAR 0}.
pub fn read_dump_string(bytes: &[u8], offset: usize) -> Result<String, String> {
    let chars = u32_at(bytes, offset).ok_or("string offset past the end of the file")? as usize;
    if chars > MAX_NAME_CHARS {
        return Err(format!("string length {chars} is implausible"));
    }
    let body =
        slice_at(bytes, offset + 4, chars * 2).ok_or("string runs past the end of the file")?;
    Ok(utf16_lossy(body))
}

/// The driver list: `DUMP_DRIVER_ENTRY64` {u32 DriverNameOffset; u32 pad; KLDR_DATA_TABLE_ENTRY64}
/// — DllBase at +0x38, SizeOfImage +0x48, CheckSum +0x80, TimeDateStamp +0x88 — or
/// `DUMP_DRIVER_ENTRY32` {u32 DriverNameOffset; KLDR_DATA_TABLE_ENTRY32} — DllBase +0x1C,
/// SizeOfImage +0x24, CheckSum +0x44, TimeDateStamp +0x48 (§6).
pub fn parse_driver_list(
    bytes: &[u8],
    t: &TriageHeader,
    width: HeaderWidth,
    warnings: &mut Vec<String>,
) -> Vec<DriverEntry> {
    let stride = match width {
        HeaderWidth::Bits64 => DRIVER_ENTRY64_SIZE,
        HeaderWidth::Bits32 => DRIVER_ENTRY32_SIZE,
    };
    let list = t.driver_list_offset as usize;
    let mut count = t.driver_count as usize;
    if count == 0 {
        return Vec::new();
    }
    // The string pool follows the list directly; the derived stride is a cross-check that
    // catches a damaged count or offset before we read garbage as drivers.
    if t.string_pool_offset as usize > list {
        let derived = (t.string_pool_offset as usize - list) / count;
        if derived != stride {
            warnings.push(format!(
                "driver list: entry stride derived from the string pool is {derived:#x}, expected {stride:#x}; reading with {stride:#x}"
            ));
        }
    }
    let fits = bytes.len().saturating_sub(list) / stride;
    if count > fits || count > MAX_DRIVERS {
        warnings.push(format!(
            "driver list: count {count} does not fit the file; reading the {} entries that do",
            fits.min(MAX_DRIVERS)
        ));
        count = fits.min(MAX_DRIVERS);
    }
    let (base_at, size_at, sum_at, time_at) = match width {
        HeaderWidth::Bits64 => (0x38, 0x48, 0x80, 0x88),
        HeaderWidth::Bits32 => (0x1C, 0x24, 0x44, 0x48),
    };
    let mut drivers = Vec::with_capacity(count);
    let mut bad_names = 0usize;
    for i in 0..count {
        let e = list + i * stride;
        let Some(entry) = slice_at(bytes, e, stride) else {
            break;
        };
        let name_offset = u32_at(entry, 0).unwrap_or(0) as usize;
        let base = match width {
            HeaderWidth::Bits64 => u64_at(entry, base_at).unwrap_or(0),
            HeaderWidth::Bits32 => u64::from(u32_at(entry, base_at).unwrap_or(0)),
        };
        let path = match read_dump_string(bytes, name_offset) {
            Ok(p) => p,
            Err(_) => {
                bad_names += 1;
                format!("driver_{i}")
            }
        };
        drivers.push(DriverEntry {
            name: base_name(&path).to_string(),
            path,
            base,
            size: u32_at(entry, size_at).unwrap_or(0),
            timestamp: u32_at(entry, time_at).unwrap_or(0),
            checksum: u32_at(entry, sum_at).unwrap_or(0),
        });
    }
    if bad_names > 0 {
        warnings.push(format!(
            "driver list: {bad_names} driver name(s) unreadable (bad string offset or length)"
        ));
    }
    drivers
}

/// An unloaded driver: `DUMP_UNLOADED_DRIVERS64` (0x38 bytes: UNICODE_STRING64 Name, WCHAR
/// DriverName[12], u64 Start, u64 End) after {u32 Count; u32 pad}, or the 32-bit form (40 bytes:
/// UNICODE_STRING32, WCHAR[12], u32 Start, u32 End) after {u32 Count} (§7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnloadedDriver {
    /// At most 12 characters: Windows truncates the name.
    pub name: String,
    pub start: u64,
    pub end: u64,
}

impl UnloadedDriver {
    pub fn contains(&self, address: u64) -> bool {
        address >= self.start && address < self.end
    }
}

pub fn parse_unloaded(
    bytes: &[u8],
    offset: usize,
    width: HeaderWidth,
    warnings: &mut Vec<String>,
) -> Vec<UnloadedDriver> {
    let Some(count) = u32_at(bytes, offset) else {
        warnings.push("unloaded drivers: offset past the end of the file".into());
        return Vec::new();
    };
    let (first, stride) = match width {
        HeaderWidth::Bits64 => (offset + 8, 0x38),
        HeaderWidth::Bits32 => (offset + 4, 40),
    };
    let mut count = count as usize;
    let fits = bytes.len().saturating_sub(first) / stride;
    if count > MAX_UNLOADED || count > fits {
        warnings.push(format!(
            "unloaded drivers: count {count} is implausible; reading {}",
            fits.min(MAX_UNLOADED)
        ));
        count = fits.min(MAX_UNLOADED);
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let e = first + i * stride;
        let Some(entry) = slice_at(bytes, e, stride) else {
            break;
        };
        let (len_bytes, name_at, start, end) = match width {
            HeaderWidth::Bits64 => (
                u16_at(entry, 0).unwrap_or(0) as usize,
                16,
                u64_at(entry, 0x28).unwrap_or(0),
                u64_at(entry, 0x30).unwrap_or(0),
            ),
            HeaderWidth::Bits32 => (
                u16_at(entry, 0).unwrap_or(0) as usize,
                8,
                u64::from(u32_at(entry, 32).unwrap_or(0)),
                u64::from(u32_at(entry, 36).unwrap_or(0)),
            ),
        };
        let chars = (len_bytes / 2).clamp(0, 12);
        let chars = if chars == 0 { 12 } else { chars };
        let name = slice_at(entry, name_at, chars * 2)
            .map(utf16_lossy)
            .unwrap_or_default();
        out.push(UnloadedDriver { name, start, end });
    }
    out
}

/// A `TRIAGE_DATA_BLOCK` {u64 Address; u32 Offset; u32 Size} — 16 bytes in both widths (§5);
/// or any other captured region (the stack, the debugger data block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    pub address: u64,
    pub file_offset: usize,
    pub size: usize,
}

pub fn parse_data_blocks(
    bytes: &[u8],
    t: &TriageHeader,
    width: HeaderWidth,
    warnings: &mut Vec<String>,
) -> Vec<MemoryRegion> {
    let at = t.data_blocks_offset as usize;
    let mut count = t.data_blocks_count as usize;
    if count == 0 || at == 0 {
        return Vec::new();
    }
    let fits = bytes.len().saturating_sub(at) / 16;
    if count > fits || count > MAX_DATA_BLOCKS {
        warnings.push(format!(
            "data blocks: count {count} does not fit the file; reading {}",
            fits.min(MAX_DATA_BLOCKS)
        ));
        count = fits.min(MAX_DATA_BLOCKS);
    }
    let mut out = Vec::with_capacity(count);
    let mut dropped = 0usize;
    for i in 0..count {
        let e = at + i * 16;
        let (Some(mut address), Some(offset), Some(size)) = (
            u64_at(bytes, e),
            u32_at(bytes, e + 8),
            u32_at(bytes, e + 12),
        ) else {
            break;
        };
        if width == HeaderWidth::Bits32 {
            // x86 addresses are stored sign-extended; the machine's addresses are 32-bit.
            address &= 0xFFFF_FFFF;
        }
        if slice_at(bytes, offset as usize, size as usize).is_none() {
            dropped += 1;
            continue;
        }
        out.push(MemoryRegion {
            address,
            file_offset: offset as usize,
            size: size as usize,
        });
    }
    if dropped > 0 {
        warnings.push(format!(
            "data blocks: {dropped} block(s) point past the end of the file"
        ));
    }
    out
}

/// One piece of secondary data after `SizeOfDump`: DUMP_BLOB_HEADER {u32 HeaderSize; GUID Tag;
/// u32 DataSize; u32 PrePad; u32 PostPad} (§7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpBlob {
    /// The tag GUID in registry form, `{xxxxxxxx-xxxx-...}`.
    pub tag: String,
    pub data_offset: usize,
    pub data_size: usize,
}

/// Walks the secondary data after the triage part: DUMP_BLOB_FILE_HEADER {'Dump','Blob',
/// u32 HeaderSize, u32 BuildNumber}, then blobs until EOF.
pub fn parse_blobs(bytes: &[u8], size_of_dump: usize, warnings: &mut Vec<String>) -> Vec<DumpBlob> {
    if bytes.len() <= size_of_dump {
        return Vec::new();
    }
    // 'Dump' 'Blob' as two little-endian u32s.
    if u32_at(bytes, size_of_dump) != Some(0x706D_7544)
        || u32_at(bytes, size_of_dump + 4) != Some(0x626F_6C42)
    {
        warnings.push(format!(
            "{} bytes after SizeOfDump are not DumpBlob secondary data",
            bytes.len() - size_of_dump
        ));
        return Vec::new();
    }
    let header_size = u32_at(bytes, size_of_dump + 8).unwrap_or(0x10) as usize;
    let mut at = size_of_dump.saturating_add(header_size.max(0x10));
    let mut out = Vec::new();
    while at < bytes.len() && out.len() < MAX_BLOBS {
        let (Some(hs), Some(g), Some(data), Some(pre), Some(post)) = (
            u32_at(bytes, at),
            slice_at(bytes, at + 4, 16),
            u32_at(bytes, at + 20),
            u32_at(bytes, at + 24),
            u32_at(bytes, at + 28),
        ) else {
            warnings.push("DumpBlob: truncated blob header".into());
            break;
        };
        let data_offset = at.saturating_add(hs as usize).saturating_add(pre as usize);
        let next = data_offset
            .saturating_add(data as usize)
            .saturating_add(post as usize);
        if hs < 0x20 || next > bytes.len() {
            warnings.push("DumpBlob: a blob runs past the end of the file".into());
            break;
        }
        out.push(DumpBlob {
            tag: guid_string(g),
            data_offset,
            data_size: data as usize,
        });
        at = next;
    }
    out
}

/// A GUID's 16 bytes as `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`.
pub fn guid_string(g: &[u8]) -> String {
    if g.len() < 16 {
        return String::new();
    }
    let d1 = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
    let d2 = u16::from_le_bytes([g[4], g[5]]);
    let d3 = u16::from_le_bytes([g[6], g[7]]);
    let tail: String = g[8..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{{{d1:08x}-{d2:04x}-{d3:04x}-{}-{}}}",
        &tail[..4],
        &tail[4..]
    )
}

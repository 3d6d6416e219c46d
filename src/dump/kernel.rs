//! Windows kernel crash dumps: `PAGEDU64` (x64, ARM64) and `PAGEDUMP` (x86).
//!
//! Small-memory ("triage", DumpType 4) dumps are read completely: header, triage header,
//! context, exception, driver lists, the captured stack, data blocks and the DumpBlob
//! secondary data. Full, summary and bitmap dumps (DumpType 1, 2, 5, 6, 7) are read at header
//! level — bugcheck, time, build, context — which is all fleet triage needs from them; their
//! memory runs are not read, and the report says so. Layout: KERNEL-DUMP-FORMAT.md.
//!
//! `KernelDump` holds parsed values and file-offset descriptors only; the bytes stay with the
//! caller (usually a memory map), so parsing copies nothing large.

mod context;
mod header;
mod triage;

use std::path::Path;

pub use context::{arm64_link_register, parse_context, AMD64_CONTEXT_SIZE};
pub use header::{
    parse_header, sniff_width, DumpHeader, DumpType, ExceptionRecord, HeaderWidth, PAGE,
};
pub use triage::{
    fields, guid_string, parse_triage_header, read_dump_string, DumpBlob, MemoryRegion,
    TriageHeader, UnloadedDriver, TRIAGE_VALID,
};

use crate::dump::memory::MemoryRead;
use crate::dump::source::{slice_at, u32_at};
use crate::dump::{CpuContext, DriverEntry, DumpError};

use header::{HEADER32_SIZE, HEADER64_SIZE};

/// A parsed kernel dump.
#[derive(Debug, Clone)]
pub struct KernelDump {
    pub header: DumpHeader,
    /// The header's context record, parsed for the dump's architecture.
    pub context: Option<CpuContext>,
    /// Present for triage dumps whose triage header is readable.
    pub triage: Option<TriageDump>,
    /// Damage found while parsing, and what this dump type does not carry.
    pub warnings: Vec<String>,
}

/// The triage part of a small-memory dump.
#[derive(Debug, Clone)]
pub struct TriageDump {
    pub header: TriageHeader,
    /// `TRGD` was found at `ValidOffset`: the dump was completely written.
    pub valid_marker: bool,
    pub drivers: Vec<DriverEntry>,
    pub unloaded: Vec<UnloadedDriver>,
    /// The crashing thread's captured kernel stack, `[TopOfStack, TopOfStack + size)`.
    pub call_stack: Option<MemoryRegion>,
    pub data_blocks: Vec<MemoryRegion>,
    /// The `KDDEBUGGER_DATA64` copy, mapped at the header's `KdDebuggerDataBlock` VA.
    pub debugger_data: Option<MemoryRegion>,
    /// Secondary data after `SizeOfDump`.
    pub blobs: Vec<DumpBlob>,
    /// Every captured region sorted by address, for `MemoryRead`.
    regions: Vec<MemoryRegion>,
}

impl KernelDump {
    /// Parses `bytes` (the whole file, usually mapped). Only the pages holding the structures
    /// read are touched. `path` is used for error messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<KernelDump, DumpError> {
        let header = parse_header(bytes).map_err(|p| DumpError::malformed(path, p))?;
        let mut warnings = Vec::new();
        let context = slice_at(bytes, header.context_offset, header.context_size)
            .and_then(|c| parse_context(c, header.arch))
            .filter(|c| c.ip != 0 || c.sp != 0);
        if let crate::dump::Arch::Other(m) = header.arch {
            warnings.push(format!(
                "unknown machine type {m:#x}: no context or stack is read"
            ));
        }
        let triage = match header.dump_type {
            DumpType::Triage => parse_triage(bytes, &header, &mut warnings),
            other => {
                // RequiredDumpSpace is the full size of these dumps (a triage dump's is larger
                // than the file on Windows 10, so it is not used there; SizeOfDump is).
                if let Some(required) = header.required_dump_space {
                    if let Some(w) = truncation_warning("RequiredDumpSpace", required, bytes.len())
                    {
                        warnings.push(w);
                    }
                }
                warnings.push(format!(
                    "{}: only the header is read (bugcheck, crash time, OS build, context); the driver list and stack are not",
                    dump_type_words(other)
                ));
                None
            }
        };
        Ok(KernelDump {
            header,
            context,
            triage,
            warnings,
        })
    }

    /// The loaded drivers (empty for non-triage dumps).
    pub fn drivers(&self) -> &[DriverEntry] {
        self.triage.as_ref().map_or(&[], |t| &t.drivers)
    }

    pub fn unloaded(&self) -> &[UnloadedDriver] {
        self.triage.as_ref().map_or(&[], |t| &t.unloaded)
    }

    /// The captured memory of this dump as a `MemoryRead`.
    pub fn memory<'a>(&'a self, bytes: &'a [u8]) -> KernelMemory<'a> {
        KernelMemory {
            bytes,
            regions: self.triage.as_ref().map_or(&[], |t| &t.regions),
            address_mask: if self.header.width == HeaderWidth::Bits32 {
                0xFFFF_FFFF
            } else {
                u64::MAX
            },
        }
    }

    /// `[low, high)` of the captured stack, when there is one.
    pub fn stack_range(&self) -> Option<(u64, u64)> {
        let s = self.triage.as_ref()?.call_stack?;
        Some((s.address, s.address.saturating_add(s.size as u64)))
    }
}

/// "truncated: ..." when the header's `field` says the dump is larger than the file.
fn truncation_warning(field: &str, expected: u64, file_len: usize) -> Option<String> {
    let have = u64::try_from(file_len).ok()?;
    let missing = expected.checked_sub(have).filter(|&m| m > 0)?;
    Some(format!(
        "truncated: the header's {field} says the dump is {expected} bytes ({}), the file has {have} ({}): {missing} bytes ({}) missing",
        size_words(expected),
        size_words(have),
        size_words(missing),
    ))
}

/// A byte count as people read it (`16 KiB`, `2.0 GiB`).
fn size_words(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn dump_type_words(t: DumpType) -> String {
    match t {
        DumpType::Full => "complete memory dump (DumpType 1)".into(),
        DumpType::Summary => "summary dump (DumpType 2)".into(),
        DumpType::HeaderOnly => "header-only dump (DumpType 3)".into(),
        DumpType::BitmapFull => "bitmap complete/active dump (DumpType 5)".into(),
        DumpType::BitmapKernel => "bitmap kernel dump (DumpType 6)".into(),
        DumpType::Automatic => "automatic memory dump (DumpType 7)".into(),
        DumpType::Triage => "small memory dump (DumpType 4)".into(),
        DumpType::Other(n) => format!("dump of unknown type {n}"),
    }
}

fn parse_triage(
    bytes: &[u8],
    header: &DumpHeader,
    warnings: &mut Vec<String>,
) -> Option<TriageDump> {
    let at = match header.width {
        HeaderWidth::Bits64 => HEADER64_SIZE,
        HeaderWidth::Bits32 => HEADER32_SIZE,
    };
    let Some(t) = parse_triage_header(bytes, at, header.width) else {
        warnings.push("triage header truncated: only the dump header could be read".into());
        return None;
    };
    // The marker is written last; its absence means a dump cut short (disk full, power loss,
    // copy interrupted). Keep reading: most of what triage needs comes before it.
    let valid_marker =
        t.valid_offset != 0 && u32_at(bytes, t.valid_offset as usize) == Some(TRIAGE_VALID);
    if !valid_marker {
        warnings.push(format!(
            "triage validity marker 'TRGD' missing at {:#x}: the dump is truncated or was not completely written",
            t.valid_offset
        ));
    }
    if let Some(w) = truncation_warning("SizeOfDump", u64::from(t.size_of_dump), bytes.len()) {
        warnings.push(w);
    }
    let fields = header.minidump_fields.unwrap_or(u32::MAX);
    let has = |bit: u32| fields & bit != 0;

    let drivers = if has(fields::DRIVER_LIST) {
        triage::parse_driver_list(bytes, &t, header.width, warnings)
    } else {
        Vec::new()
    };
    if t.triage_options != u32::MAX && t.triage_options & triage::TRIAGE_OPTION_OVERFLOWED != 0 {
        warnings.push("driver list was truncated by Windows (TRIAGE_OPTION_OVERFLOWED)".into());
    }
    let unloaded = if t.unloaded_drivers_offset != 0 {
        triage::parse_unloaded(
            bytes,
            t.unloaded_drivers_offset as usize,
            header.width,
            warnings,
        )
    } else {
        Vec::new()
    };
    let call_stack = if has(fields::STACK) && t.call_stack_offset != 0 && t.size_of_call_stack != 0
    {
        let region = MemoryRegion {
            address: t.top_of_stack,
            file_offset: t.call_stack_offset as usize,
            size: t.size_of_call_stack as usize,
        };
        if slice_at(bytes, region.file_offset, region.size).is_some() {
            Some(region)
        } else {
            warnings.push("call stack runs past the end of the file: stack not read".into());
            None
        }
    } else {
        None
    };
    let data_blocks = if has(fields::DATA_BLOCKS) {
        triage::parse_data_blocks(bytes, &t, header.width, warnings)
    } else {
        Vec::new()
    };
    let debugger_data = match header.kd_debugger_data_block {
        Some(va) if t.debugger_data_offset != 0 && t.debugger_data_size != 0 => {
            let r = MemoryRegion {
                address: va,
                file_offset: t.debugger_data_offset as usize,
                size: t.debugger_data_size as usize,
            };
            slice_at(bytes, r.file_offset, r.size).map(|_| r)
        }
        _ => None,
    };
    let blobs = if valid_marker {
        triage::parse_blobs(bytes, t.size_of_dump as usize, warnings)
    } else {
        Vec::new()
    };

    let mut regions: Vec<MemoryRegion> = call_stack
        .iter()
        .chain(data_blocks.iter())
        .chain(debugger_data.iter())
        .copied()
        .collect();
    regions.sort_by_key(|r| r.address);
    Some(TriageDump {
        header: t,
        valid_marker,
        drivers,
        unloaded,
        call_stack,
        data_blocks,
        debugger_data,
        blobs,
        regions,
    })
}

/// Captured virtual memory of a kernel dump: the stack, the data blocks and the debugger data.
pub struct KernelMemory<'a> {
    bytes: &'a [u8],
    regions: &'a [MemoryRegion],
    address_mask: u64,
}

impl MemoryRead for KernelMemory<'_> {
    fn read_bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        let address = address & self.address_mask;
        // Regions are few (a stack and tens of blocks) and sorted: find the last one starting
        // at or below the address, then look back a little in case regions overlap.
        let idx = self.regions.partition_point(|r| r.address <= address);
        for r in self.regions[..idx].iter().rev().take(4) {
            let rel = address - r.address;
            if rel < r.size as u64 && (rel as usize).checked_add(len)? <= r.size {
                return slice_at(self.bytes, r.file_offset + rel as usize, len);
            }
        }
        None
    }
}

//! `DUMP_HEADER64` (0x2000 bytes, `PAGEDU64`) and `DUMP_HEADER32` (0x1000 bytes, `PAGEDUMP`).
//!
//! Offsets are those of KERNEL-DUMP-FORMAT.md §2 and §3, verified on real Win7 x86, Win7 x64,
//! Win10 19041 x64 and Win11 22000 ARM64 dumps. Windows pre-fills the header with the bytes
//! `PAGE` before writing fields, so a field that still reads `PAGE` was never set: those come
//! back as `None`.

use crate::dump::source::{slice_at, u32_at, u64_at};
use crate::dump::Arch;

/// `PAGE` as a little-endian u32: the fill pattern and the first signature word.
pub const PAGE: u32 = 0x4547_4150;
/// `DU64`: the 64-bit header's second signature word.
pub const DU64: u32 = 0x3436_5544;
/// `DUMP`: the 32-bit header's second signature word.
pub const DUMP: u32 = 0x504D_5544;

pub const HEADER64_SIZE: usize = 0x2000;
pub const HEADER32_SIZE: usize = 0x1000;

/// Which header layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderWidth {
    Bits32,
    Bits64,
}

/// The `DumpType` field (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpType {
    Full,
    Summary,
    HeaderOnly,
    Triage,
    BitmapFull,
    BitmapKernel,
    Automatic,
    Other(u32),
}

impl DumpType {
    pub fn from_raw(raw: u32) -> DumpType {
        match raw {
            1 => DumpType::Full,
            2 => DumpType::Summary,
            3 => DumpType::HeaderOnly,
            4 => DumpType::Triage,
            5 => DumpType::BitmapFull,
            6 => DumpType::BitmapKernel,
            7 => DumpType::Automatic,
            other => DumpType::Other(other),
        }
    }
}

/// `EXCEPTION_RECORD64` / `EXCEPTION_RECORD32`, widened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRecord {
    pub code: u32,
    pub flags: u32,
    pub address: u64,
    /// `ExceptionInformation[..NumberParameters]` (at most 15).
    pub information: Vec<u64>,
}

/// The header fields, widened to 64 bits; `None` where the field reads `PAGE` (unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpHeader {
    pub width: HeaderWidth,
    pub major_version: u32,
    /// The NT build number (`MinorVersion`): 7601, 19041, 22000, ...
    pub build: u32,
    pub directory_table_base: u64,
    pub ps_loaded_module_list: u64,
    pub machine_type: u32,
    pub arch: Arch,
    pub processors: u32,
    pub bugcheck_code: u32,
    pub bugcheck_parameters: [u64; 4],
    pub kd_debugger_data_block: Option<u64>,
    pub dump_type: DumpType,
    pub dump_type_raw: u32,
    pub required_dump_space: Option<u64>,
    /// FILETIME, UTC, 100 ns since 1601.
    pub system_time: Option<u64>,
    /// 100 ns units since boot.
    pub system_uptime: Option<u64>,
    pub comment: Option<String>,
    /// The `TRIAGE_DUMP_*` bits of a triage dump (§5).
    pub minidump_fields: Option<u32>,
    pub product_type: Option<u32>,
    pub suite_mask: Option<u32>,
    pub writer_status: Option<u32>,
    pub attributes: Option<u32>,
    pub boot_id: Option<u32>,
    /// Absolute offset and size of the header's CONTEXT record.
    pub context_offset: usize,
    pub context_size: usize,
    pub exception: Option<ExceptionRecord>,
}

/// Field offsets that differ between the two header layouts.
struct Layout {
    machine: usize,
    processors: usize,
    bugcheck: usize,
    params: usize,
    param_width: usize,
    kd_block: usize,
    context: usize,
    context_size: usize,
    exception: usize,
    dump_type: usize,
    required_space: usize,
    system_time: usize,
    comment: usize,
    uptime: usize,
    minidump_fields: usize,
    product_type: usize,
    suite_mask: usize,
    writer_status: usize,
    attributes: usize,
    boot_id: Option<usize>,
}

const LAYOUT64: Layout = Layout {
    machine: 0x30,
    processors: 0x34,
    bugcheck: 0x38,
    params: 0x40,
    param_width: 8,
    kd_block: 0x80,
    context: 0x348,
    context_size: 3000,
    exception: 0xF00,
    dump_type: 0xF98,
    required_space: 0xFA0,
    system_time: 0xFA8,
    comment: 0xFB0,
    uptime: 0x1030,
    minidump_fields: 0x1038,
    product_type: 0x1040,
    suite_mask: 0x1044,
    writer_status: 0x1048,
    attributes: 0x1050,
    boot_id: Some(0x1054),
};

const LAYOUT32: Layout = Layout {
    machine: 0x20,
    processors: 0x24,
    bugcheck: 0x28,
    params: 0x2C,
    param_width: 4,
    kd_block: 0x60,
    context: 0x320,
    context_size: 1200,
    exception: 0x7D0,
    dump_type: 0xF88,
    required_space: 0xFA0,
    system_time: 0xFC0,
    comment: 0x820,
    uptime: 0xFB8,
    minidump_fields: 0xF8C,
    product_type: 0xF94,
    suite_mask: 0xF98,
    writer_status: 0xF9C,
    attributes: 0x8A0,
    boot_id: None,
};

/// The header layout `bytes` starts with, judged by the signature only.
pub fn sniff_width(bytes: &[u8]) -> Option<HeaderWidth> {
    match (u32_at(bytes, 0)?, u32_at(bytes, 4)?) {
        (PAGE, DU64) => Some(HeaderWidth::Bits64),
        (PAGE, DUMP) => Some(HeaderWidth::Bits32),
        _ => None,
    }
}

fn unset32(v: Option<u32>) -> Option<u32> {
    v.filter(|&x| x != PAGE)
}

fn unset64(v: Option<u64>) -> Option<u64> {
    // A 64-bit field never written reads "PAGEPAGE".
    v.filter(|&x| x != (u64::from(PAGE) << 32 | u64::from(PAGE)))
}

/// Parses the header. `Err` carries the problem in words; the caller adds the path.
pub fn parse_header(bytes: &[u8]) -> Result<DumpHeader, String> {
    let width = sniff_width(bytes).ok_or("no PAGEDU64 / PAGEDUMP signature")?;
    let (lay, size) = match width {
        HeaderWidth::Bits64 => (&LAYOUT64, HEADER64_SIZE),
        HeaderWidth::Bits32 => (&LAYOUT32, HEADER32_SIZE),
    };
    if bytes.len() < size {
        return Err(format!(
            "truncated kernel dump: {} bytes, the header alone is {size:#x}",
            bytes.len()
        ));
    }
    // From here every fixed offset below `size` is in range; reads still go through the
    // checked helpers so that a wrong table entry cannot panic.
    let word = |off: usize| -> u64 {
        match lay.param_width {
            8 => u64_at(bytes, off).unwrap_or(0),
            _ => u64::from(u32_at(bytes, off).unwrap_or(0)),
        }
    };
    let machine_type = u32_at(bytes, lay.machine).unwrap_or(0);
    let dump_type_raw = u32_at(bytes, lay.dump_type).unwrap_or(0);
    let mut params = [0u64; 4];
    for (i, p) in params.iter_mut().enumerate() {
        *p = word(lay.params + i * lay.param_width);
    }
    let kd_block = match width {
        HeaderWidth::Bits64 => unset64(u64_at(bytes, lay.kd_block)),
        HeaderWidth::Bits32 => unset32(u32_at(bytes, lay.kd_block)).map(u64::from),
    };
    let comment = slice_at(bytes, lay.comment, 128).and_then(|c| {
        if u32_at(c, 0) == Some(PAGE) {
            return None;
        }
        let text: String = c
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as char)
            .filter(|c| !c.is_control())
            .collect();
        (!text.is_empty()).then_some(text)
    });
    Ok(DumpHeader {
        width,
        major_version: u32_at(bytes, 0x8).unwrap_or(0),
        build: u32_at(bytes, 0xC).unwrap_or(0),
        directory_table_base: word(0x10),
        ps_loaded_module_list: match width {
            HeaderWidth::Bits64 => u64_at(bytes, 0x20).unwrap_or(0),
            HeaderWidth::Bits32 => u64::from(u32_at(bytes, 0x18).unwrap_or(0)),
        },
        machine_type,
        arch: Arch::from_machine_type(machine_type),
        processors: u32_at(bytes, lay.processors).unwrap_or(0),
        bugcheck_code: u32_at(bytes, lay.bugcheck).unwrap_or(0),
        bugcheck_parameters: params,
        kd_debugger_data_block: kd_block,
        dump_type: DumpType::from_raw(dump_type_raw),
        dump_type_raw,
        required_dump_space: unset64(u64_at(bytes, lay.required_space)),
        system_time: unset64(u64_at(bytes, lay.system_time)).filter(|&t| t != 0),
        system_uptime: unset64(u64_at(bytes, lay.uptime)),
        comment,
        minidump_fields: unset32(u32_at(bytes, lay.minidump_fields)),
        product_type: unset32(u32_at(bytes, lay.product_type)),
        suite_mask: unset32(u32_at(bytes, lay.suite_mask)),
        writer_status: unset32(u32_at(bytes, lay.writer_status)),
        attributes: unset32(u32_at(bytes, lay.attributes)),
        boot_id: lay
            .boot_id
            .and_then(|o| unset32(u32_at(bytes, o)))
            .filter(|&b| b != 0),
        context_offset: lay.context,
        context_size: lay.context_size,
        exception: parse_exception(bytes, lay.exception, width),
    })
}

/// `EXCEPTION_RECORD64` {u32 Code; u32 Flags; u64 Record; u64 Address; u32 NumberParameters;
/// u32 pad; u64 Information[15]} or `EXCEPTION_RECORD32` {u32 Code, Flags, Record, Address,
/// NumberParameters; u32 Information[15]}.
pub fn parse_exception(bytes: &[u8], offset: usize, width: HeaderWidth) -> Option<ExceptionRecord> {
    let code = u32_at(bytes, offset)?;
    if code == PAGE {
        return None;
    }
    let flags = u32_at(bytes, offset + 4)?;
    let (address, count, info_at, step) = match width {
        HeaderWidth::Bits64 => (
            u64_at(bytes, offset + 0x10)?,
            u32_at(bytes, offset + 0x18)?,
            0x20,
            8,
        ),
        HeaderWidth::Bits32 => (
            u64::from(u32_at(bytes, offset + 0xC)?),
            u32_at(bytes, offset + 0x10)?,
            0x14,
            4,
        ),
    };
    // EXCEPTION_MAXIMUM_PARAMETERS is 15; a larger count is damage, not data.
    let count = (count as usize).min(15);
    let information = (0..count)
        .filter_map(|i| {
            let at = offset + info_at + i * step;
            if step == 8 {
                u64_at(bytes, at)
            } else {
                u32_at(bytes, at).map(u64::from)
            }
        })
        .collect();
    Some(ExceptionRecord {
        code,
        flags,
        address,
        information,
    })
}

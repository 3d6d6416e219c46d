//! The few PE fields symbol lookup needs: TimeDateStamp, SizeOfImage and the CodeView (RSDS)
//! record naming the PDB. Works on an image file (file layout: RVAs go through the section
//! table) and on image bytes captured from memory (mapped layout: offset = RVA), because a
//! kernel dump may carry the driver's header page but the store may not have the file.
//!
//! Layout (winnt.h): `IMAGE_DOS_HEADER.e_lfanew` (u32 at 0x3C) -> "PE\0\0", then
//! `IMAGE_FILE_HEADER` (20 bytes: NumberOfSections u16 at +2, TimeDateStamp u32 at +4,
//! SizeOfOptionalHeader u16 at +16), then the optional header (Magic 0x10B = PE32, 0x20B = PE32+;
//! SizeOfImage u32 at +56; data directories at +96 / +112, entry 6 = debug), then 40-byte
//! section headers (VirtualSize +8, VirtualAddress +12, SizeOfRawData +16, PointerToRawData +20,
//! Characteristics +36). Debug directory entries are 28 bytes (Type u32 at +12, 2 = CodeView;
//! SizeOfData +16, AddressOfRawData +20, PointerToRawData +24). CodeView RSDS: "RSDS", GUID (16
//! bytes, Data1..3 little-endian), age u32, NUL-terminated PDB path.
//! Every field is untrusted: all reads are bounds-checked.

/// Which byte layout the PE bytes are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// An image file as stored on disk.
    File,
    /// Image bytes as mapped in memory from the base (offset = RVA).
    Mapped,
}

/// The PDB an image was linked with (its CodeView RSDS record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeViewId {
    /// GUID as 32 upper-case hex digits in symstore order (Data1, Data2, Data3 as numbers).
    pub guid: String,
    /// RSDS age.
    pub age: u32,
    /// The PDB path as recorded by the linker (may be a full build path).
    pub pdb_path: String,
}

impl CodeViewId {
    /// The symstore folder name: GUID followed by the age in upper-case hex.
    pub(crate) fn store_key(&self) -> String {
        format!("{}{:X}", self.guid, self.age)
    }
}

/// The header fields of a PE image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeInfo {
    pub timestamp: u32,
    pub size_of_image: u32,
    pub is_64bit: bool,
    /// Executable sections as (VirtualAddress, VirtualSize).
    pub code_sections: Vec<(u32, u32)>,
    /// `None` when the image has no CodeView record, or it lies outside the bytes given.
    pub codeview: Option<CodeViewId>,
}

const IMAGE_SCN_CNT_CODE: u32 = 0x20;
const IMAGE_SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const IMAGE_DEBUG_TYPE_CODEVIEW: u32 = 2;
/// More sections than any real image has; caps the loop on a hostile header.
const MAX_SECTIONS: usize = 96;
/// Same for debug directory entries.
const MAX_DEBUG_ENTRIES: usize = 64;
/// A PDB path longer than this is not a real one.
const MAX_PDB_PATH: usize = 1024;

fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// A section header's mapping of RVAs to file offsets.
#[derive(Debug, Clone, Copy)]
struct Section {
    virtual_address: u32,
    virtual_size: u32,
    raw_size: u32,
    raw_pointer: u32,
    characteristics: u32,
}

/// Parses the PE headers; `None` when `data` is not a PE image.
pub(crate) fn parse(data: &[u8], layout: Layout) -> Option<PeInfo> {
    if data.get(0..2)? != b"MZ" {
        return None;
    }
    let nt = u32_at(data, 0x3C)? as usize;
    if data.get(nt..nt.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let file_header = nt + 4;
    let section_count = usize::from(u16_at(data, file_header + 2)?).min(MAX_SECTIONS);
    let timestamp = u32_at(data, file_header + 4)?;
    let optional_size = usize::from(u16_at(data, file_header + 16)?);
    let optional = file_header + 20;
    let (is_64bit, directories) = match u16_at(data, optional)? {
        0x10B => (false, optional + 96),
        0x20B => (true, optional + 112),
        _ => return None,
    };
    let size_of_image = u32_at(data, optional + 56)?;
    let sections_at = optional.checked_add(optional_size)?;
    let sections: Vec<Section> = (0..section_count)
        .map_while(|i| {
            let at = sections_at.checked_add(i.checked_mul(40)?)?;
            Some(Section {
                virtual_size: u32_at(data, at + 8)?,
                virtual_address: u32_at(data, at + 12)?,
                raw_size: u32_at(data, at + 16)?,
                raw_pointer: u32_at(data, at + 20)?,
                characteristics: u32_at(data, at + 36)?,
            })
        })
        .collect();
    let code_sections = sections
        .iter()
        .filter(|s| s.characteristics & (IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE) != 0)
        .map(|s| (s.virtual_address, s.virtual_size.max(s.raw_size)))
        .collect();

    // Data directory 6 (debug) exists only if the optional header is long enough for it.
    let debug_entry = directories + 6 * 8;
    let codeview = if debug_entry + 8 <= sections_at {
        let debug_rva = u32_at(data, debug_entry)?;
        let debug_size = u32_at(data, debug_entry + 4)? as usize;
        find_codeview(data, layout, &sections, debug_rva, debug_size)
    } else {
        None
    };
    Some(PeInfo {
        timestamp,
        size_of_image,
        is_64bit,
        code_sections,
        codeview,
    })
}

/// The file offset of `rva` in the given layout.
fn offset_of(layout: Layout, sections: &[Section], rva: u32) -> Option<usize> {
    match layout {
        Layout::Mapped => Some(rva as usize),
        Layout::File => sections.iter().find_map(|s| {
            let delta = rva.checked_sub(s.virtual_address)?;
            (delta < s.raw_size).then(|| s.raw_pointer as usize + delta as usize)
        }),
    }
}

fn find_codeview(
    data: &[u8],
    layout: Layout,
    sections: &[Section],
    debug_rva: u32,
    debug_size: usize,
) -> Option<CodeViewId> {
    if debug_rva == 0 || debug_size == 0 {
        return None;
    }
    let directory = offset_of(layout, sections, debug_rva)?;
    let entries = (debug_size / 28).min(MAX_DEBUG_ENTRIES);
    (0..entries).find_map(|i| {
        let entry = directory.checked_add(i * 28)?;
        if u32_at(data, entry + 12)? != IMAGE_DEBUG_TYPE_CODEVIEW {
            return None;
        }
        let size = u32_at(data, entry + 16)? as usize;
        let record = match layout {
            // The file offset is authoritative on disk (the record may be in no section).
            Layout::File => u32_at(data, entry + 24)? as usize,
            Layout::Mapped => u32_at(data, entry + 20)? as usize,
        };
        parse_rsds(data.get(record..record.checked_add(size)?)?)
    })
}

/// Parses a CodeView RSDS record.
pub(crate) fn parse_rsds(record: &[u8]) -> Option<CodeViewId> {
    if record.get(0..4)? != b"RSDS" {
        return None;
    }
    let guid = record.get(4..20)?;
    let age = u32_at(record, 20)?;
    let path_bytes = record.get(24..)?;
    let path_bytes = &path_bytes[..path_bytes.len().min(MAX_PDB_PATH)];
    let end = path_bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(path_bytes.len());
    let pdb_path = String::from_utf8_lossy(&path_bytes[..end]).into_owned();
    Some(CodeViewId {
        guid: guid_hex(guid)?,
        age,
        pdb_path,
    })
}

/// 16 GUID bytes as stored (Data1 u32 LE, Data2 u16 LE, Data3 u16 LE, Data4 8 bytes) ->
/// the symstore's 32 upper-case hex digits.
pub(crate) fn guid_hex(guid: &[u8]) -> Option<String> {
    let data1 = u32_at(guid, 0)?;
    let data2 = u16_at(guid, 4)?;
    let data3 = u16_at(guid, 6)?;
    let mut text = format!("{data1:08X}{data2:04X}{data3:04X}");
    for byte in guid.get(8..16)? {
        text.push_str(&format!("{byte:02X}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsds_guid_is_in_symstore_order() {
        let mut record = b"RSDS".to_vec();
        // GUID 1C19FDDB-27BB-3399-D9B4-5973EFEAFCF3 as stored on disk.
        record.extend_from_slice(&[
            0xDB, 0xFD, 0x19, 0x1C, 0xBB, 0x27, 0x99, 0x33, 0xD9, 0xB4, 0x59, 0x73, 0xEF, 0xEA,
            0xFC, 0xF3,
        ]);
        record.extend_from_slice(&1u32.to_le_bytes());
        record.extend_from_slice(b"amdppm.pdb\0junk");
        let id = parse_rsds(&record).unwrap();
        assert_eq!(id.store_key(), "1C19FDDB27BB3399D9B45973EFEAFCF31");
        assert_eq!(id.pdb_path, "amdppm.pdb");
    }

    #[test]
    fn garbage_is_not_a_pe() {
        assert!(parse(b"MZ", Layout::File).is_none());
        let mut data = vec![0u8; 0x100];
        data[0..2].copy_from_slice(b"MZ");
        data[0x3C..0x40].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert!(parse(&data, Layout::File).is_none());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes, including ones that start like a PE, parse or fail without panicking,
        /// in both layouts.
        #[test]
        fn never_panics(mut data in proptest::collection::vec(any::<u8>(), 0..2048), lfanew in 0u32..0x400) {
            let _ = parse(&data, Layout::File);
            if data.len() >= 0x40 {
                data[0..2].copy_from_slice(b"MZ");
                data[0x3C..0x40].copy_from_slice(&lfanew.to_le_bytes());
                let at = lfanew as usize;
                if at + 4 <= data.len() {
                    data[at..at + 4].copy_from_slice(b"PE\0\0");
                }
            }
            let _ = parse(&data, Layout::File);
            let _ = parse(&data, Layout::Mapped);
            let _ = parse_rsds(&data);
        }
    }
}

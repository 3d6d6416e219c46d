//! The parts of a PE image file a stack walker needs: RVA -> file bytes, which sections hold
//! code, and the x64 exception directory (`.pdata`).
//!
//! The image is the file from the symbol store (file layout, not the loaded layout), so every
//! RVA goes through the section table. Images are untrusted input like the dumps themselves:
//! every read is bounds-checked and a malformed image simply yields "no answer".

use object::pe;
use object::read::pe::{ImageNtHeaders, PeFile32, PeFile64};
use object::LittleEndian as LE;

/// A PE has at most 96 sections (the loader refuses more); a bigger count is damage.
const MAX_SECTIONS: usize = 96;

/// Size of one x64 `RUNTIME_FUNCTION` entry in `.pdata`: {u32 BeginAddress; u32 EndAddress;
/// u32 UnwindInfoAddress}.
pub const RUNTIME_FUNCTION_SIZE: usize = 12;

/// One section header, copied out of the image (IMAGE_SECTION_HEADER: VirtualSize +0x8,
/// VirtualAddress +0xC, SizeOfRawData +0x10, PointerToRawData +0x14, Characteristics +0x24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SectionInfo {
    virtual_address: u32,
    virtual_size: u32,
    raw_offset: u32,
    raw_size: u32,
    characteristics: u32,
}

impl SectionInfo {
    /// The file offset of `rva` and how many bytes of the section's file data follow it.
    fn file_range_at(&self, rva: u32) -> Option<(usize, usize)> {
        let delta = rva.checked_sub(self.virtual_address)?;
        // Only the bytes present both in memory and in the file are readable here; the rest
        // of the virtual size is zero-fill that the file does not hold.
        let readable = self.virtual_size.min(self.raw_size);
        if delta >= readable {
            return None;
        }
        let offset = usize::try_from(self.raw_offset.checked_add(delta)?).ok()?;
        Some((offset, usize::try_from(readable - delta).ok()?))
    }

    fn contains(&self, rva: u32) -> bool {
        rva.checked_sub(self.virtual_address)
            .is_some_and(|delta| delta < self.virtual_size.max(self.raw_size))
    }

    fn is_code(&self) -> bool {
        self.characteristics & (pe::IMAGE_SCN_MEM_EXECUTE | pe::IMAGE_SCN_CNT_CODE) != 0
    }
}

/// An x64 `RUNTIME_FUNCTION`: the RVA range of one function (or function fragment) and the RVA
/// of its `UNWIND_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeFunction {
    pub begin: u32,
    pub end: u32,
    pub unwind_info: u32,
}

impl RuntimeFunction {
    /// Decodes the 12-byte record at the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Option<RuntimeFunction> {
        Some(RuntimeFunction {
            begin: read_u32(bytes, 0)?,
            end: read_u32(bytes, 4)?,
            unwind_info: read_u32(bytes, 8)?,
        })
    }
}

/// What a walker needs from one image file, parsed once; the bytes themselves are passed to
/// each call so this layout can be cached next to the `Arc` that owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeLayout {
    sections: Vec<SectionInfo>,
    /// RVA and size of the exception directory (data directory 3), when the image has one.
    exception_directory: Option<(u32, u32)>,
    /// `IMAGE_FILE_MACHINE_*` from the COFF header.
    pub machine: u16,
}

impl PeLayout {
    /// Parses the headers of a PE32 or PE32+ file; `None` when they are not a valid PE.
    pub fn parse(image: &[u8]) -> Option<PeLayout> {
        match object::read::pe::optional_header_magic(image).ok()? {
            pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC => {
                let file = PeFile64::parse(image).ok()?;
                Some(Self::from_file(
                    file.nt_headers(),
                    file.section_table().iter(),
                    file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_EXCEPTION),
                ))
            }
            pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC => {
                let file = PeFile32::parse(image).ok()?;
                Some(Self::from_file(
                    file.nt_headers(),
                    file.section_table().iter(),
                    file.data_directory(pe::IMAGE_DIRECTORY_ENTRY_EXCEPTION),
                ))
            }
            _ => None,
        }
    }

    fn from_file<'a, H: ImageNtHeaders>(
        headers: &H,
        sections: impl Iterator<Item = &'a pe::ImageSectionHeader>,
        exception: Option<&pe::ImageDataDirectory>,
    ) -> PeLayout {
        let sections = sections
            .take(MAX_SECTIONS)
            .map(|s| SectionInfo {
                virtual_address: s.virtual_address.get(LE),
                virtual_size: s.virtual_size.get(LE),
                raw_offset: s.pointer_to_raw_data.get(LE),
                raw_size: s.size_of_raw_data.get(LE),
                characteristics: s.characteristics.get(LE),
            })
            .collect();
        let exception_directory = exception
            .map(|d| (d.virtual_address.get(LE), d.size.get(LE)))
            .filter(|&(rva, size)| rva != 0 && size != 0);
        PeLayout {
            sections,
            exception_directory,
            machine: headers.file_header().machine.get(LE),
        }
    }

    /// `len` bytes of the image at `rva`, when they are all inside one section's file data.
    pub fn read<'i>(&self, image: &'i [u8], rva: u32, len: usize) -> Option<&'i [u8]> {
        self.sections.iter().find_map(|section| {
            let (offset, available) = section.file_range_at(rva)?;
            if len > available {
                return None;
            }
            image.get(offset..offset.checked_add(len)?)
        })
    }

    /// Whether `rva` lies in a section that holds code.
    pub fn is_code(&self, rva: u32) -> bool {
        self.sections.iter().any(|s| s.contains(rva) && s.is_code())
    }

    /// Whether the image has an exception directory (x64 `.pdata`) to unwind with.
    pub fn has_unwind_table(&self) -> bool {
        self.exception_directory.is_some()
    }

    /// The exception directory's bytes, trimmed to whole `RUNTIME_FUNCTION` entries.
    fn runtime_functions<'i>(&self, image: &'i [u8]) -> Option<&'i [u8]> {
        let (rva, size) = self.exception_directory?;
        let whole = usize::try_from(size).ok()? / RUNTIME_FUNCTION_SIZE * RUNTIME_FUNCTION_SIZE;
        // The directory may claim more than the section holds (damage): use what is there.
        let (offset, available) = self
            .sections
            .iter()
            .find_map(|section| section.file_range_at(rva))?;
        let usable = whole.min(available / RUNTIME_FUNCTION_SIZE * RUNTIME_FUNCTION_SIZE);
        image.get(offset..offset.checked_add(usable)?)
    }

    /// The `RUNTIME_FUNCTION` whose [begin, end) holds `rva`, by binary search (the table is
    /// sorted by BeginAddress in every valid image; an unsorted one just yields no match).
    pub fn runtime_function_for(&self, image: &[u8], rva: u32) -> Option<RuntimeFunction> {
        let table = self.runtime_functions(image)?;
        let count = table.len() / RUNTIME_FUNCTION_SIZE;
        let entry = |i: usize| -> Option<RuntimeFunction> {
            let start = i.checked_mul(RUNTIME_FUNCTION_SIZE)?;
            RuntimeFunction::decode(table.get(start..start + RUNTIME_FUNCTION_SIZE)?)
        };
        // First entry with begin > rva; the candidate is the one before it.
        let (mut low, mut high) = (0usize, count);
        while low < high {
            let mid = low + (high - low) / 2;
            if entry(mid)?.begin <= rva {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let candidate = entry(low.checked_sub(1)?)?;
        (rva >= candidate.begin && rva < candidate.end).then_some(candidate)
    }
}

/// Little-endian u32 at `offset` of `bytes`, bounds-checked.
pub fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Little-endian u16 at `offset` of `bytes`, bounds-checked.
pub fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    let b = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

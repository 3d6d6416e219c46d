//! Source lines of a PDB, read from the raw C13 line subsections of each module stream.
//!
//! Why not `pdb::ModuleInfo::line_program()`: in pdb 0.8 its line iterator asserts (a
//! `debug_assert!`) that consecutive line blocks are in address order, which real MSVC PDBs
//! break (the sample crash.pdb does), so any debug build panics on them. The format is small,
//! so it is read here directly, with every offset bounds-checked.
//!
//! Layouts (microsoft-pdb `dbi.h`, `cvinfo.h`):
//! - DBI stream (3): 64-byte header; `ModInfoSize` u32 at 24; the module list follows the
//!   header. Each module record: u32, section contribution (28 bytes), u16 flags, u16 stream,
//!   u32 SymByteSize, u32 C11ByteSize, u32 C13ByteSize, u16 files, u16 pad, 3 x u32, then two
//!   NUL-terminated names, padded to 4 bytes (64 fixed bytes before the names).
//! - Module stream: symbols (SymByteSize), C11 lines (C11ByteSize), C13 lines (C13ByteSize).
//! - C13: subsections `{u32 kind, u32 length, data, pad to 4}`; kind 0xF2 = lines, 0xF4 = file
//!   checksums; bit 0x80000000 = ignore.
//! - Lines: `{u32 offset, u16 section, u16 flags, u32 code size}` then blocks
//!   `{u32 file (offset into the checksums), u32 count, u32 block size}` + count x
//!   `{u32 offset, u32 line:24|delta:7|statement:1}` (+ count x 4 bytes columns if flags & 1).
//! - File checksum entry: `{u32 name offset in /names, u8 size, u8 kind, bytes}`.

use std::collections::HashMap;

use super::function_table::TableBuilder;

/// A module's stream number and the sizes of its parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModuleStream {
    pub stream: u16,
    pub symbols_size: u32,
    pub c11_size: u32,
    pub c13_size: u32,
}

/// Guards against a hostile module count.
const MAX_MODULES: usize = 1 << 20;
/// Lines marked as compiler-generated ("hidden") in MSVC PDBs.
const HIDDEN_LINES: [u32; 2] = [0xFEEFEE, 0xF00F00];

fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The module list of a DBI stream.
pub(crate) fn module_streams(dbi: &[u8]) -> Vec<ModuleStream> {
    let Some(list_size) = u32_at(dbi, 24) else {
        return Vec::new();
    };
    let end = 64usize.saturating_add(list_size as usize).min(dbi.len());
    let mut at = 64usize;
    let mut modules = Vec::new();
    while at + 64 <= end && modules.len() < MAX_MODULES {
        let (Some(stream), Some(symbols_size), Some(c11_size), Some(c13_size)) = (
            u16_at(dbi, at + 34),
            u32_at(dbi, at + 36),
            u32_at(dbi, at + 40),
            u32_at(dbi, at + 44),
        ) else {
            break;
        };
        modules.push(ModuleStream {
            stream,
            symbols_size,
            c11_size,
            c13_size,
        });
        // Skip the two names, then align to 4.
        let mut names_end = at + 64;
        for _ in 0..2 {
            let Some(nul) = dbi
                .get(names_end..end)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
            else {
                return modules;
            };
            names_end += nul + 1;
        }
        at = (names_end + 3) & !3;
    }
    modules
}

/// A line before it is placed: section + offset, line number, file name offset in /names.
struct RawLine {
    section: u16,
    offset: u32,
    end: u32,
    line: u32,
    name_offset: u32,
}

/// Adds the C13 lines of one module stream to `builder`. `to_rva` maps (section, offset) to
/// an RVA; `file_name` maps a /names offset to a name.
pub(crate) fn add_module_lines(
    stream: &[u8],
    module: &ModuleStream,
    builder: &mut TableBuilder,
    to_rva: &dyn Fn(u16, u32) -> Option<u32>,
    file_name: &dyn Fn(u32) -> Option<String>,
) {
    let start = (module.symbols_size as usize).saturating_add(module.c11_size as usize);
    let Some(c13) = stream.get(
        start
            ..start
                .saturating_add(module.c13_size as usize)
                .min(stream.len()),
    ) else {
        return;
    };
    // Two passes: the checksums subsection may follow the lines that refer to it.
    let mut checksums: &[u8] = &[];
    let mut line_sections = Vec::new();
    let mut at = 0usize;
    while let (Some(kind), Some(len)) = (u32_at(c13, at), u32_at(c13, at + 4)) {
        let Some(data) = c13.get(at + 8..(at + 8).saturating_add(len as usize)) else {
            break;
        };
        match kind {
            0xF2 => line_sections.push(data),
            0xF4 => checksums = data,
            _ => {}
        }
        at = (at + 8 + len as usize + 3) & !3;
    }

    let mut lines = Vec::new();
    for data in line_sections {
        read_lines(data, checksums, &mut lines);
    }
    let mut files: HashMap<u32, Option<u32>> = HashMap::new();
    for raw in lines {
        let (Some(rva), Some(end_rva)) = (
            to_rva(raw.section, raw.offset),
            to_rva(raw.section, raw.end),
        ) else {
            continue;
        };
        let file = *files
            .entry(raw.name_offset)
            .or_insert_with(|| builder.file(&file_name(raw.name_offset)?));
        if let Some(file) = file {
            builder.add_line(rva, Some(end_rva.saturating_sub(rva)), file, raw.line);
        }
    }
}

/// One lines subsection: lines end at the next line start in the subsection (over all its
/// blocks, which need not be in order), the last one at the end of the code range.
fn read_lines(data: &[u8], checksums: &[u8], out: &mut Vec<RawLine>) {
    let (Some(base), Some(section), Some(flags), Some(code_size)) = (
        u32_at(data, 0),
        u16_at(data, 4),
        u16_at(data, 6),
        u32_at(data, 8),
    ) else {
        return;
    };
    let code_end = base.saturating_add(code_size);
    let _has_columns = flags & 1 != 0; // columns come after the lines; the block size skips them
    let mut raw = Vec::new();
    let mut at = 12usize;
    while let (Some(file), Some(count), Some(block_size)) =
        (u32_at(data, at), u32_at(data, at + 4), u32_at(data, at + 8))
    {
        let Some(name_offset) = u32_at(checksums, file as usize) else {
            break;
        };
        // Line entries are 8 bytes; columns (4 bytes each) follow all of them.
        let count = (count as usize).min(data.len().saturating_sub(at + 12) / 8);
        for i in 0..count {
            let (Some(offset), Some(packed)) =
                (u32_at(data, at + 12 + i * 8), u32_at(data, at + 16 + i * 8))
            else {
                break;
            };
            let line = packed & 0x00FF_FFFF;
            let offset = base.saturating_add(offset);
            raw.push(RawLine {
                section,
                offset,
                end: code_end,
                line,
                name_offset,
            });
        }
        if block_size < 12 {
            break;
        }
        at = at.saturating_add(block_size as usize);
    }
    // Hidden lines (compiler-generated code) still end the line before them.
    raw.sort_by_key(|l| l.offset);
    for i in 0..raw.len() {
        let start = raw[i].offset;
        if let Some(next) = raw
            .get(i + 1..)
            .unwrap_or_default()
            .iter()
            .map(|l| l.offset)
            .find(|&o| o > start)
        {
            raw[i].end = next.min(code_end);
        }
    }
    out.extend(
        raw.into_iter()
            .filter(|l| l.line != 0 && !HIDDEN_LINES.contains(&l.line) && l.end > l.offset),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(lines: &[(u32, u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0u32.to_le_bytes()); // file: checksum entry at 0
        b.extend_from_slice(&(lines.len() as u32).to_le_bytes());
        b.extend_from_slice(&(12 + 8 * lines.len() as u32).to_le_bytes());
        for &(offset, line) in lines {
            b.extend_from_slice(&offset.to_le_bytes());
            b.extend_from_slice(&(line | 0x8000_0000).to_le_bytes());
        }
        b
    }

    #[test]
    fn out_of_order_blocks_and_hidden_lines() {
        // One lines subsection at section 1 offset 0x100, 0x40 bytes of code, whose second
        // block (another file in real PDBs) comes first in address order.
        let mut lines = Vec::new();
        lines.extend_from_slice(&0x100u32.to_le_bytes());
        lines.extend_from_slice(&1u16.to_le_bytes());
        lines.extend_from_slice(&0u16.to_le_bytes());
        lines.extend_from_slice(&0x40u32.to_le_bytes());
        lines.extend(block(&[(0x20, 30), (0x30, 0xFEEFEE)]));
        lines.extend(block(&[(0x00, 10), (0x10, 11)]));
        let checksums = [7u32.to_le_bytes(), [0, 0, 0, 0]].concat();
        let mut c13 = Vec::new();
        for (kind, data) in [(0xF4u32, &checksums), (0xF2, &lines)] {
            c13.extend_from_slice(&kind.to_le_bytes());
            c13.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c13.extend_from_slice(data);
        }
        let module = ModuleStream {
            stream: 9,
            symbols_size: 4,
            c11_size: 0,
            c13_size: c13.len() as u32,
        };
        let stream = [vec![0u8; 4], c13].concat();
        let mut builder = TableBuilder::new();
        builder.add_sized(0x1100, 0x40, "f");
        let to_rva = |section: u16, offset: u32| (section == 1).then_some(0x1000 + offset);
        let name = |offset: u32| (offset == 7).then(|| "f.c".to_owned());
        add_module_lines(&stream, &module, &mut builder, &to_rva, &name);
        let table = builder.build();
        let line = |rva| table.lookup(rva).and_then(|h| h.line);
        assert_eq!(
            [
                line(0x1100),
                line(0x110F),
                line(0x1110),
                line(0x1120),
                line(0x112F)
            ],
            [Some(10), Some(10), Some(11), Some(30), Some(30)]
        );
        // The hidden line ends line 30 and is itself not reported.
        assert_eq!(line(0x1130), None);
        assert_eq!(table.lookup(0x1100).unwrap().file, Some("f.c"));
    }

    proptest! {
        #[test]
        fn never_panics(dbi in proptest::collection::vec(any::<u8>(), 0..512), stream in proptest::collection::vec(any::<u8>(), 0..512), sizes in any::<(u32, u32, u32)>()) {
            let _ = module_streams(&dbi);
            let module = ModuleStream { stream: 1, symbols_size: sizes.0 % 600, c11_size: sizes.1 % 64, c13_size: sizes.2 };
            let mut builder = TableBuilder::new();
            add_module_lines(&stream, &module, &mut builder, &|_, o| Some(o), &|_| Some("x".to_owned()));
            let _ = builder.build();
        }
    }
}

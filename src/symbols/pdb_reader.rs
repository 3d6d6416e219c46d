//! Reads a PDB (the `pdb` crate) into a [`FunctionTable`]: procedures with their lengths from
//! every module stream, public symbols (which run to the next symbol) from the global stream,
//! and source lines from each module's C13 line records (`pdb_lines`). The PDB is opened once, read once, and
//! dropped; only the compact table stays in memory.
//!
//! Matching: the image's RSDS record gives GUID + age. A PDB matches when the GUID is equal and
//! either its PDB-info age or its DBI age equals the wanted age. WinDbg accepts both, and real
//! PDBs differ: Microsoft's public amdppm.pdb has PDB-info age 3 (bumped by each re-write of the
//! file) but DBI age 1, the age the linker wrote into the image.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use pdb::FallibleIterator;

use super::function_table::{FunctionTable, TableBuilder};
use super::pdb_lines;

/// The identity stored in a PDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PdbIdentity {
    /// 32 upper-case hex digits in symstore order.
    pub guid: String,
    /// Age in the PDB information stream (incremented when the PDB is rewritten).
    pub info_age: u32,
    /// Age in the DBI stream (the one the linker put in the image).
    pub dbi_age: Option<u32>,
}

impl PdbIdentity {
    /// Whether an image whose RSDS says `guid` + `age` was linked with this PDB.
    pub(crate) fn matches(&self, guid: &str, age: u32) -> bool {
        self.guid.eq_ignore_ascii_case(guid) && (self.info_age == age || self.dbi_age == Some(age))
    }
}

/// Opens `path`, checks it against `want` (GUID, age) when given, and builds its function
/// table. Errors are messages for the module's warnings.
pub(crate) fn load(
    path: &Path,
    want: Option<(&str, u32)>,
) -> Result<(PdbIdentity, FunctionTable), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the symbol store is only ever written by atomic renames of complete files
    // (ours, symstore, symchk), so a mapped file does not change under us.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
    // The `pdb` crate is not hardened against hostile files (a downloaded PDB is untrusted);
    // a panic inside it must cost this module its symbols, not the run.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read(Cursor::new(&map[..]), want)
    }))
    .unwrap_or_else(|_| Err("the PDB parser panicked (corrupt PDB)".to_owned()))
    .map_err(|e| format!("{}: {e}", path.display()))
}

fn read(
    source: Cursor<&[u8]>,
    want: Option<(&str, u32)>,
) -> Result<(PdbIdentity, FunctionTable), String> {
    let mut pdb = pdb::PDB::open(source).map_err(|e| format!("not a PDB: {e}"))?;
    let info = pdb
        .pdb_information()
        .map_err(|e| format!("PDB information stream: {e}"))?;
    let dbi = pdb
        .debug_information()
        .map_err(|e| format!("DBI stream: {e}"))?;
    let (d1, d2, d3, d4) = info.guid.as_fields();
    let mut guid = format!("{d1:08X}{d2:04X}{d3:04X}");
    for byte in d4 {
        guid.push_str(&format!("{byte:02X}"));
    }
    let identity = PdbIdentity {
        guid,
        info_age: info.age,
        dbi_age: dbi.age(),
    };
    if let Some((want_guid, want_age)) = want {
        if !identity.matches(want_guid, want_age) {
            return Err(format!(
                "PDB is {} age {} (DBI age {}), the image wants {want_guid} age {want_age}",
                identity.guid,
                identity.info_age,
                identity
                    .dbi_age
                    .map_or("none".to_owned(), |a| a.to_string())
            ));
        }
    }

    let address_map = pdb.address_map().map_err(|e| format!("address map: {e}"))?;
    let sections = pdb.sections().ok().flatten().unwrap_or_default();
    let strings = pdb.string_table().ok();
    let mut builder = TableBuilder::new();

    // Procedures (with lengths), module by module. A damaged module stream costs
    // that module's symbols, not the whole PDB.
    let mut modules = dbi.modules().map_err(|e| format!("module list: {e}"))?;
    while let Ok(Some(module)) = modules.next() {
        let Ok(Some(module_info)) = pdb.module_info(&module) else {
            continue;
        };
        if let Ok(mut symbols) = module_info.symbols() {
            while let Ok(Some(symbol)) = symbols.next() {
                if let Ok(pdb::SymbolData::Procedure(procedure)) = symbol.parse() {
                    if let Some(rva) = procedure.offset.to_rva(&address_map) {
                        builder.add_sized(rva.0, procedure.len, &procedure.name.to_string());
                    }
                }
            }
        }
    }

    // Lines, from the raw C13 subsections (see pdb_lines for why not `line_program()`).
    if let (Some(strings), Ok(Some(dbi_stream))) =
        (strings.as_ref(), pdb.raw_stream(pdb::StreamIndex(3)))
    {
        let to_rva = |section: u16, offset: u32| {
            pdb::PdbInternalSectionOffset { section, offset }
                .to_rva(&address_map)
                .map(|rva| rva.0)
        };
        let file_name = |name_offset: u32| {
            strings
                .get(pdb::StringRef(name_offset))
                .ok()
                .map(|name| name.to_string().into_owned())
        };
        for module in pdb_lines::module_streams(&dbi_stream) {
            if module.c13_size == 0 || module.stream == u16::MAX {
                continue;
            }
            if let Ok(Some(stream)) = pdb.raw_stream(pdb::StreamIndex(module.stream)) {
                pdb_lines::add_module_lines(&stream, &module, &mut builder, &to_rva, &file_name);
            }
        }
    }

    // Publics: the only names a stripped (public) PDB has. They end at the next symbol and
    // never run past the end of their section.
    if let Ok(globals) = pdb.global_symbols() {
        let mut symbols = globals.iter();
        while let Ok(Some(symbol)) = symbols.next() {
            let Ok(pdb::SymbolData::Public(public)) = symbol.parse() else {
                continue;
            };
            let section = usize::from(public.offset.section)
                .checked_sub(1)
                .and_then(|i| sections.get(i));
            let executable = section.is_some_and(|s| s.characteristics.0 & 0x2000_0020 != 0);
            if !(public.function || public.code || executable) {
                continue;
            }
            let Some(rva) = public.offset.to_rva(&address_map) else {
                continue;
            };
            let limit = section
                .and_then(|s| {
                    let start = rva.0.checked_sub(public.offset.offset)?;
                    start.checked_add(s.virtual_size.max(s.size_of_raw_data))
                })
                .unwrap_or(u32::MAX);
            builder.add_open_ended(rva.0, limit, &public.name.to_string());
        }
    }
    Ok((identity, builder.build()))
}

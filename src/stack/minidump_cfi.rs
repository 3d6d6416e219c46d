//! Unwind data for minidump-processor's stack walker, per symbol file, loaded once per run.
//!
//! - A Breakpad `.sym` file carries `STACK WIN` / `STACK CFI` records: parsed as is.
//! - A PDB carries x86 frame tables (the FPO stream and the newer FrameData stream, read with
//!   `pdb::PDB::frame_table`): converted to Breakpad `STACK WIN` records the way `dump_syms`
//!   does, so `breakpad-symbols` evaluates them (`STACK WIN 4` with the program string, or
//!   `STACK WIN 0` with "allocates base pointer" for FPO). Without them, x86 frames compiled
//!   with frame-pointer omission (optimized `main`) unwind wrongly.
//!
//! The result is a `breakpad_symbols::SymbolFile` used only for `walk_frame`; function names
//! still come from our own symbol cache.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use breakpad_symbols::SymbolFile;
use pdb::{FallibleIterator, FrameType, PDB};

/// A PDB's frame tables hold one entry per code block; real ones have well under a million.
const MAX_FRAME_ENTRIES: usize = 2_000_000;

/// One load per symbol file per run, shared by every dump and thread; a second thread that
/// needs the same file waits for the first load instead of repeating it.
type Slot = Arc<OnceLock<Option<Arc<SymbolFile>>>>;

fn loaded_files() -> &'static Mutex<HashMap<PathBuf, Slot>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    FILES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The unwind records of the symbol file at `path` (`.sym` or `.pdb`), loaded on first use.
/// `None` when the file has none or cannot be read (the walker then uses frame pointers and
/// scanning).
pub fn unwind_records(path: &Path) -> Option<Arc<SymbolFile>> {
    let slot = {
        let mut files = loaded_files().lock().ok()?;
        files.entry(path.to_path_buf()).or_default().clone()
    };
    slot.get_or_init(|| load(path).map(Arc::new)).clone()
}

fn load(path: &Path) -> Option<SymbolFile> {
    let is_pdb = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdb"));
    if is_pdb {
        let text = stack_win_from_pdb(path)?;
        SymbolFile::from_bytes(text.as_bytes()).ok()
    } else {
        SymbolFile::from_file(path).ok()
    }
}

/// The PDB's x86 frame tables as Breakpad `STACK WIN` lines (with a MODULE header), sorted
/// by address; `None` when the PDB has no frame data (x64 PDBs do not: x64 unwinds with the
/// image's `.pdata`).
pub fn stack_win_from_pdb(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut pdb = PDB::open(file).ok()?;
    let address_map = pdb.address_map().ok()?;
    // Program strings live in the string table; without it only FPO entries are usable.
    let strings = pdb.string_table().ok();
    let frame_table = pdb.frame_table().ok()?;

    let mut records: Vec<(u32, String)> = Vec::new();
    let mut frames = frame_table.iter();
    while let Ok(Some(frame)) = frames.next() {
        if records.len() >= MAX_FRAME_ENTRIES {
            break;
        }
        let Some(rva) = frame.code_start.to_rva(&address_map) else {
            continue;
        };
        let rva = rva.0;
        let common = format!(
            "{rva:x} {:x} {:x} 0 {:x} {:x} {:x}",
            frame.code_size,
            frame.prolog_size,
            frame.params_size,
            frame.saved_regs_size,
            frame.locals_size,
        );
        let line = match frame.ty {
            FrameType::FrameData => {
                let Some(program) = frame
                    .program
                    .zip(strings.as_ref())
                    .and_then(|(p, s)| p.to_string_lossy(s).ok().map(|text| text.into_owned()))
                else {
                    continue;
                };
                // A program string is one line of RPN tokens; anything else is damage.
                if program.is_empty() || program.contains(['\n', '\r']) {
                    continue;
                }
                format!(
                    "STACK WIN 4 {common} {:x} 1 {program}",
                    frame.max_stack_size.unwrap_or(0)
                )
            }
            FrameType::FPO => {
                format!(
                    "STACK WIN 0 {common} 0 0 {}",
                    u8::from(frame.uses_base_pointer)
                )
            }
            // Trap / TSS / standard frames: dump_syms emits nothing usable for them either.
            _ => continue,
        };
        records.push((rva, line));
    }
    if records.is_empty() {
        return None;
    }
    // The Breakpad parser merges overlapping entries assuming address order.
    records.sort_by_key(|(rva, _)| *rva);
    let mut text = String::with_capacity(records.len() * 64 + 64);
    // The MODULE line only names the file for the parser; the id is not checked.
    let _ = writeln!(
        text,
        "MODULE windows x86 000000000000000000000000000000000 frames.pdb"
    );
    for (_, line) in records {
        text.push_str(&line);
        text.push('\n');
    }
    Some(text)
}

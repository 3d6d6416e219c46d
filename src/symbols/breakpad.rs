//! A Breakpad `.sym` text file read into a [`FunctionTable`]. Only the records symbolization
//! needs are read (format: <https://chromium.googlesource.com/breakpad/breakpad/+/HEAD/docs/symbol_files.md>):
//!
//! - `MODULE <os> <arch> <debug id> <debug file>`: checked against the wanted debug id.
//! - `FILE <number> <name>`
//! - `FUNC [m] <address hex> <size hex> <parameter size hex> <name>`, followed by line records
//!   `<address hex> <size hex> <line> <file number>` belonging to it.
//! - `PUBLIC [m] <address hex> <parameter size hex> <name>`: runs to the next symbol.
//!
//! `STACK`, `INLINE`, `INLINE_ORIGIN` and `INFO` records are skipped. Malformed lines are
//! skipped, never fatal: a partly damaged file still names what it can.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::function_table::{FunctionTable, TableBuilder};

/// Opens and parses a `.sym` file; `want_debug_id` (upper-case, no dashes) must equal the
/// MODULE record's id when given.
pub(crate) fn load(path: &Path, want_debug_id: Option<&str>) -> Result<FunctionTable, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: see pdb_reader::load; store files are replaced only by atomic renames.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&map, want_debug_id).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses `.sym` text.
pub(crate) fn parse(text: &[u8], want_debug_id: Option<&str>) -> Result<FunctionTable, String> {
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let mut module = first.split(' ');
    if module.next() != Some("MODULE") {
        return Err("not a Breakpad symbol file (no MODULE record)".to_owned());
    }
    let module_id = module.nth(2).unwrap_or_default();
    if let Some(want) = want_debug_id {
        if !module_id.eq_ignore_ascii_case(want) {
            return Err(format!("MODULE id is {module_id}, wanted {want}"));
        }
    }

    let mut builder = TableBuilder::new();
    // FILE numbers -> table file indexes; line records refer to files by number.
    let mut files: HashMap<u32, u32> = HashMap::new();
    // Line records before their FILE record (allowed by the format) resolve after the pass.
    let mut pending_lines: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut in_function = false;
    for raw in lines {
        let line = String::from_utf8_lossy(raw);
        let Some(first_char) = line.bytes().next() else {
            continue;
        };
        if first_char.is_ascii_hexdigit() && !line.starts_with("FILE") && !line.starts_with("FUNC")
        {
            if in_function {
                let mut fields = line.splitn(4, ' ');
                let address = fields.next().and_then(hex);
                let size = fields.next().and_then(hex);
                let number = fields.next().and_then(|f| f.parse::<u32>().ok());
                let file = fields.next().and_then(|f| f.trim().parse::<u32>().ok());
                if let (Some(address), Some(size), Some(number), Some(file)) =
                    (address, size, number, file)
                {
                    pending_lines.push((address, size, number, file));
                }
            }
            continue;
        }
        in_function = false;
        let mut fields = line.splitn(2, ' ');
        let kind = fields.next().unwrap_or_default();
        let rest = fields.next().unwrap_or_default();
        match kind {
            "FILE" => {
                let mut fields = rest.splitn(2, ' ');
                let number = fields.next().and_then(|f| f.parse::<u32>().ok());
                if let (Some(number), Some(name)) = (number, fields.next()) {
                    if let Some(index) = builder.file(name.trim_end()) {
                        files.insert(number, index);
                    }
                }
            }
            "FUNC" => {
                let rest = rest.strip_prefix("m ").unwrap_or(rest);
                let mut fields = rest.splitn(4, ' ');
                let address = fields.next().and_then(hex);
                let size = fields.next().and_then(hex);
                let _parameter_size = fields.next();
                if let (Some(address), Some(size), Some(name)) = (address, size, fields.next()) {
                    builder.add_sized(address, size, name.trim_end());
                    in_function = true;
                }
            }
            "PUBLIC" => {
                let rest = rest.strip_prefix("m ").unwrap_or(rest);
                let mut fields = rest.splitn(3, ' ');
                let address = fields.next().and_then(hex);
                let _parameter_size = fields.next();
                if let (Some(address), Some(name)) = (address, fields.next()) {
                    builder.add_open_ended(address, u32::MAX, name.trim_end());
                }
            }
            _ => {}
        }
    }
    for (address, size, number, file) in pending_lines {
        if let Some(&file) = files.get(&file) {
            builder.add_line(address, Some(size), file, number);
        }
    }
    Ok(builder.build())
}

/// A hex field as an RVA; modules larger than 4 GiB do not exist on Windows.
fn hex(field: &str) -> Option<u32> {
    u32::from_str_radix(field.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYM: &str = "MODULE windows x86 5A9832E5287241C1838ED98914E9B7FF1 test_app.pdb\r\n\
FILE 1 c:\\src\\test_app.cc\r\n\
FUNC 4290 18 0 `anonymous namespace'::CrashFunction\r\n\
4290 7 57 1\r\n\
4297 9 58 1\r\n\
FUNC m 42b0 10 4 main\n\
42b0 10 65 1\n\
PUBLIC 5000 0 _start\n\
STACK WIN 4 4290 18 0 0 0 0 0 0 1\n";

    #[test]
    fn functions_lines_and_publics() {
        let table = parse(SYM.as_bytes(), Some("5A9832E5287241C1838ED98914E9B7FF1")).unwrap();
        let hit = table.lookup(0x4299).unwrap();
        assert_eq!(hit.function, "`anonymous namespace'::CrashFunction");
        assert_eq!(
            (hit.function_offset, hit.line, hit.file),
            (9, Some(58), Some("c:\\src\\test_app.cc"))
        );
        assert_eq!(table.lookup(0x42b3).unwrap().function, "main");
        assert_eq!(table.lookup(0x6000).unwrap().function, "_start");
        assert!(table.lookup(0x42c0).is_none());
    }

    #[test]
    fn wrong_id_and_garbage_are_refused() {
        assert!(parse(SYM.as_bytes(), Some("00000000000000000000000000000000A")).is_err());
        assert!(parse(b"\x00\xff garbage", None).is_err());
        assert!(parse(b"", None).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(body in "(FUNC|PUBLIC|FILE|[0-9a-f]{1,9}|m| |[a-z]{1,5}|\n|\r){0,60}") {
            let text = format!("MODULE windows x86 ABC x.pdb\n{body}");
            let _ = super::parse(text.as_bytes(), None);
        }
    }
}

//! A Breakpad `.sym` text file read into a [`FunctionTable`]. Only the records symbolization
//! needs are read (format: <https://chromium.googlesource.com/breakpad/breakpad/+/HEAD/docs/symbol_files.md>):
//!
//! - `MODULE <os> <arch> <debug id> <debug file>`: checked against the wanted debug id.
//! - `FILE <number> <name>`
//! - `FUNC [m] <address hex> <size hex> <parameter size hex> <name>`, followed by line records
//!   `<address hex> <size hex> <line> <file number>` belonging to it.
//! - `PUBLIC [m] <address hex> <parameter size hex> <name>`: runs to the next symbol.
//!
//! - `INLINE_ORIGIN <origin> <name>` and, inside a FUNC,
//!   `INLINE <depth> <call line> <call file> <origin> (<address hex> <size hex>)+`: the calls
//!   the compiler inlined into the function, read into an [`InlineTable`]. An INLINE record
//!   sits between a FUNC and its line records, so it must not end the function: the line
//!   records after it are the innermost source locations of the inlined code.
//!
//! `STACK` and `INFO` records are skipped (unwinding reads `STACK` through `stack::minidump_cfi`).
//! Malformed lines are skipped, never fatal: a partly damaged file still names what it can.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::function_table::{FunctionTable, TableBuilder};

/// Opens and parses a `.sym` file; `want_debug_id` (upper-case, no dashes) must equal the
/// MODULE record's id when given.
pub(crate) fn load(path: &Path, want_debug_id: Option<&str>) -> Result<BreakpadSymbols, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: see pdb_reader::load; store files are replaced only by atomic renames.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&map, want_debug_id).map_err(|e| format!("{}: {e}", path.display()))
}

/// A `.sym` file's functions and lines, and the calls inlined into them.
#[derive(Debug, Default)]
pub(crate) struct BreakpadSymbols {
    pub table: FunctionTable,
    pub inlines: InlineTable,
}

/// Parses `.sym` text.
pub(crate) fn parse(text: &[u8], want_debug_id: Option<&str>) -> Result<BreakpadSymbols, String> {
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
    let mut inlines = InlineBuilder::default();
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
        let mut fields = line.splitn(2, ' ');
        let kind = fields.next().unwrap_or_default();
        let rest = fields.next().unwrap_or_default();
        if kind == "INLINE" {
            // Part of the current function: its line records follow.
            if in_function {
                inlines.add_inline(rest);
            }
            continue;
        }
        in_function = false;
        match kind {
            "FILE" => {
                let mut fields = rest.splitn(2, ' ');
                let number = fields.next().and_then(|f| f.parse::<u32>().ok());
                if let (Some(number), Some(name)) = (number, fields.next()) {
                    if let Some(index) = builder.file(name.trim_end()) {
                        files.insert(number, index);
                    }
                    inlines.file(number, name.trim_end());
                }
            }
            "INLINE_ORIGIN" => {
                let mut fields = rest.splitn(2, ' ');
                let number = fields.next().and_then(|f| f.parse::<u32>().ok());
                if let (Some(number), Some(name)) = (number, fields.next()) {
                    inlines.origin(number, name.trim_end());
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
    Ok(BreakpadSymbols {
        table: builder.build(),
        inlines: inlines.build(),
    })
}

/// A file has as many INLINE ranges as it has inlined call sites; big browsers have a few
/// million. Past this cap the rest are dropped (frames then lack some inlined calls).
const MAX_INLINE_RANGES: usize = 20_000_000;

/// Deeper inlining than this does not occur in real code; a hostile depth is skipped.
const MAX_INLINE_DEPTH: u32 = 1024;

/// One address range of one inlined call: `[start, end)` at nesting `depth` (0 = called
/// directly from the FUNC's own code), with the call site and the inlined function.
#[derive(Debug, Clone, Copy)]
struct InlineRange {
    depth: u32,
    start: u32,
    end: u32,
    call_file: u32,
    call_line: u32,
    origin: u32,
}

/// One inlined call covering an address, outermost first from [`InlineTable::calls_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineCall<'a> {
    /// The inlined function.
    pub function: &'a str,
    /// Where its caller called it (the caller is the physical function for the outermost
    /// call, the previous inlined function otherwise).
    pub call_file: Option<&'a str>,
    pub call_line: u32,
}

/// The inlined calls of a `.sym` file, sorted by (depth, start) so each depth is one binary
/// search; ranges of one depth never overlap (functions do not, and neither do the
/// inlined calls at one depth of one function).
#[derive(Debug, Default)]
pub(crate) struct InlineTable {
    ranges: Vec<InlineRange>,
    origins: HashMap<u32, String>,
    /// FILE numbers named by call sites (line records resolve through the function table).
    files: HashMap<u32, String>,
}

impl InlineTable {
    /// The chain of inlined calls at `rva` inside the function starting at `function_start`,
    /// outermost first; empty when no inlined code covers it.
    pub(crate) fn calls_at(&self, rva: u32, function_start: u32) -> Vec<InlineCall<'_>> {
        let mut calls = Vec::new();
        for depth in 0..MAX_INLINE_DEPTH {
            let after = self
                .ranges
                .partition_point(|r| (r.depth, r.start) <= (depth, rva));
            let Some(range) = after.checked_sub(1).and_then(|i| self.ranges.get(i)) else {
                break;
            };
            if range.depth != depth || rva >= range.end || range.start < function_start {
                break;
            }
            calls.push(InlineCall {
                function: self
                    .origins
                    .get(&range.origin)
                    .map_or("<unknown inline origin>", String::as_str),
                call_file: self.files.get(&range.call_file).map(String::as_str),
                call_line: range.call_line,
            });
        }
        calls
    }

    /// Number of inlined-call address ranges.
    #[cfg(test)]
    pub(crate) fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

/// Collects INLINE / INLINE_ORIGIN / FILE records during the one pass over the file.
#[derive(Debug, Default)]
struct InlineBuilder {
    ranges: Vec<InlineRange>,
    origins: HashMap<u32, String>,
    files: HashMap<u32, String>,
}

impl InlineBuilder {
    fn file(&mut self, number: u32, name: &str) {
        self.files.insert(number, name.to_owned());
    }

    fn origin(&mut self, number: u32, name: &str) {
        self.origins.insert(number, name.to_owned());
    }

    /// `<depth> <call line> <call file> <origin> (<address> <size>)+`. The older form
    /// without the call file (an odd field count) names the file in INLINE_ORIGIN instead
    /// and is not read.
    fn add_inline(&mut self, rest: &str) {
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        if fields.len() < 6 || fields.len() % 2 != 0 {
            return;
        }
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u32>().ok());
        let (Some(depth), Some(call_line), Some(call_file), Some(origin)) =
            (number(0), number(1), number(2), number(3))
        else {
            return;
        };
        if depth >= MAX_INLINE_DEPTH {
            return;
        }
        for pair in fields.get(4..).unwrap_or_default().chunks_exact(2) {
            if self.ranges.len() >= MAX_INLINE_RANGES {
                return;
            }
            let (Some(start), Some(size)) = (hex(pair[0]), hex(pair[1])) else {
                continue;
            };
            if size == 0 {
                continue;
            }
            self.ranges.push(InlineRange {
                depth,
                start,
                end: start.saturating_add(size),
                call_file,
                call_line,
                origin,
            });
        }
    }

    /// Sorts the ranges and keeps only the names they refer to.
    fn build(mut self) -> InlineTable {
        self.ranges.sort_by_key(|r| (r.depth, r.start));
        // A damaged file may overlap ranges of one depth; keep the first so lookups stay
        // one binary search per depth.
        self.ranges
            .dedup_by(|later, kept| later.depth == kept.depth && later.start < kept.end);
        let mut files = HashMap::new();
        let mut origins = HashMap::new();
        for range in &self.ranges {
            if let Some(name) = self.files.remove(&range.call_file) {
                files.insert(range.call_file, name);
            }
            if let Some(name) = self.origins.remove(&range.origin) {
                origins.insert(range.origin, name);
            }
        }
        InlineTable {
            ranges: self.ranges,
            origins,
            files,
        }
    }
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
        let table = parse(SYM.as_bytes(), Some("5A9832E5287241C1838ED98914E9B7FF1"))
            .unwrap()
            .table;
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

    /// Two levels of inlining inside `outer`, in the record order `dump_syms` writes (INLINE
    /// records between FUNC and its line records).
    const INLINED: &str = "MODULE mac x86_64 509C0610949836F7B70BD88BCF03E5400 crash-client\n\
FILE 1 src/main.rs\n\
FILE 2 src/lib.rs\n\
INLINE_ORIGIN 0 lib::middle\n\
INLINE_ORIGIN 1 lib::inner\n\
FUNC m 1000 40 0 outer\n\
INLINE 0 12 1 0 1010 20\n\
INLINE 1 30 2 1 1018 8 1028 4\n\
1000 10 10 1\n\
1010 8 31 2\n\
1018 8 40 2\n\
1020 20 41 2\n\
FUNC m 2000 10 0 after\n\
2000 10 7 1\n";

    #[test]
    fn inline_records_keep_the_lines_after_them() {
        let symbols = parse(INLINED.as_bytes(), None).unwrap();
        // Before INLINE was read, every line record after it was dropped.
        let hit = symbols.table.lookup(0x101a).unwrap();
        assert_eq!(
            (hit.function, hit.file, hit.line),
            ("outer", Some("src/lib.rs"), Some(40))
        );
        assert_eq!(symbols.table.lookup(0x2004).unwrap().line, Some(7));
        assert_eq!(symbols.inlines.range_count(), 3);
    }

    #[test]
    fn inlined_calls_outermost_first() {
        let symbols = parse(INLINED.as_bytes(), None).unwrap();
        let calls = symbols.inlines.calls_at(0x101a, 0x1000);
        assert_eq!(
            calls,
            vec![
                InlineCall {
                    function: "lib::middle",
                    call_file: Some("src/main.rs"),
                    call_line: 12
                },
                InlineCall {
                    function: "lib::inner",
                    call_file: Some("src/lib.rs"),
                    call_line: 30
                },
            ]
        );
        // Only depth 0 covers 0x1012; nothing covers the FUNC's own code or `after`.
        assert_eq!(symbols.inlines.calls_at(0x1012, 0x1000).len(), 1);
        assert_eq!(symbols.inlines.calls_at(0x1029, 0x1000).len(), 2);
        assert!(symbols.inlines.calls_at(0x1004, 0x1000).is_empty());
        assert!(symbols.inlines.calls_at(0x2004, 0x2000).is_empty());
    }

    #[test]
    fn old_inline_form_and_hostile_records_are_skipped() {
        let text = "MODULE mac x86_64 ABC x\n\
FILE 1 a.rs\n\
INLINE_ORIGIN 0 1 old::form\n\
FUNC 1000 40 0 outer\n\
INLINE 0 12 0 1010 20\n\
INLINE 4294967295 12 1 0 1010 20\n\
INLINE 0 12 1 0 zz 20 1018 0\n\
INLINE 0 12 1 0 ffffffff 10\n\
1000 40 10 1\n";
        let symbols = parse(text.as_bytes(), None).unwrap();
        // The old form (no call file: an odd field count), an absurd depth, a bad address
        // and an empty range add nothing; the range at the top of the address space is kept
        // with its end clamped. The line record after them still counts.
        assert_eq!(symbols.inlines.range_count(), 1);
        assert!(symbols.inlines.calls_at(0x1012, 0x1000).is_empty());
        assert_eq!(symbols.table.lookup(0x1012).unwrap().line, Some(10));
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
        fn never_panics(body in "(FUNC|PUBLIC|FILE|INLINE|INLINE_ORIGIN|[0-9a-f]{1,9}|m| |[a-z]{1,5}|\n|\r){0,60}") {
            let text = format!("MODULE windows x86 ABC x.pdb\n{body}");
            if let Ok(symbols) = super::parse(text.as_bytes(), None) {
                let _ = symbols.inlines.calls_at(0x10, 0);
            }
        }
    }
}

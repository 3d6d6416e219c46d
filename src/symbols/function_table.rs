//! The in-memory function table of one module: non-overlapping address ranges sorted by start
//! RVA, each naming a function, plus source-line ranges. Built once from a PDB or a Breakpad
//! `.sym` file, then only read: lookups are two binary searches and never allocate, so every
//! rayon worker can share one table without a lock.

use std::collections::HashMap;

/// One function: `[start, end)` RVAs and its name, a span of [`FunctionTable::text`].
#[derive(Debug, Clone, Copy)]
struct FunctionRange {
    start: u32,
    end: u32,
    name: TextSpan,
}

/// One source line: `[start, end)` RVAs, an index into the file table and the line number.
#[derive(Debug, Clone, Copy)]
struct LineRange {
    start: u32,
    end: u32,
    file: u32,
    line: u32,
}

/// A string stored in the table's one text arena (one allocation for all names).
#[derive(Debug, Clone, Copy)]
struct TextSpan {
    offset: u32,
    len: u32,
}

/// A function containing an address, borrowed from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableHit<'a> {
    pub function: &'a str,
    pub function_offset: u32,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
}

/// Sorted, non-overlapping function ranges and line ranges of one module.
#[derive(Debug, Default)]
pub(crate) struct FunctionTable {
    text: String,
    functions: Vec<FunctionRange>,
    lines: Vec<LineRange>,
    files: Vec<TextSpan>,
}

impl FunctionTable {
    /// The function containing `rva`, and the source line when one covers it.
    pub(crate) fn lookup(&self, rva: u32) -> Option<TableHit<'_>> {
        let after = self.functions.partition_point(|f| f.start <= rva);
        let function = self.functions.get(after.checked_sub(1)?)?;
        if rva >= function.end {
            return None;
        }
        let name = self.text_of(function.name)?;
        let (file, line) = match self.line_at(rva, function.start) {
            Some(line) => (
                self.files
                    .get(line.file as usize)
                    .and_then(|span| self.text_of(*span)),
                Some(line.line),
            ),
            None => (None, None),
        };
        Some(TableHit {
            function: name,
            function_offset: rva - function.start,
            file,
            line,
        })
    }

    /// The RVA range `[start, end)` of the function named `name` (first match). For tests and
    /// tools; linear.
    pub(crate) fn function_range(&self, name: &str) -> Option<(u32, u32)> {
        self.functions
            .iter()
            .find(|f| self.text_of(f.name) == Some(name))
            .map(|f| (f.start, f.end))
    }

    /// Number of function ranges.
    pub(crate) fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// Number of line ranges.
    pub(crate) fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Every function as (name, start, end), sorted by start.
    pub(crate) fn functions(&self) -> impl Iterator<Item = (&str, u32, u32)> + '_ {
        self.functions
            .iter()
            .filter_map(|f| Some((self.text_of(f.name)?, f.start, f.end)))
    }

    /// The line range covering `rva`, only if it starts inside the function (a line of the
    /// previous function must not leak into this one).
    fn line_at(&self, rva: u32, function_start: u32) -> Option<&LineRange> {
        let after = self.lines.partition_point(|l| l.start <= rva);
        let line = self.lines.get(after.checked_sub(1)?)?;
        (rva < line.end && line.start >= function_start).then_some(line)
    }

    fn text_of(&self, span: TextSpan) -> Option<&str> {
        let start = span.offset as usize;
        self.text.get(start..start.checked_add(span.len as usize)?)
    }
}

/// Collects symbols in any order, then [`TableBuilder::build`] sorts them and removes overlaps.
#[derive(Debug, Default)]
pub(crate) struct TableBuilder {
    text: String,
    names: HashMap<String, TextSpan>,
    /// Functions whose length is known (PDB procedures, Breakpad FUNC).
    sized: Vec<FunctionRange>,
    /// Functions whose length is not known (publics): (start, hard limit, name). They end at
    /// the next symbol, never past the limit (their section's end).
    open_ended: Vec<(u32, u32, TextSpan)>,
    lines: Vec<(u32, Option<u32>, u32, u32)>,
    files: Vec<TextSpan>,
    file_index: HashMap<String, u32>,
}

impl TableBuilder {
    pub(crate) fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// A function with a known length.
    pub(crate) fn add_sized(&mut self, start: u32, len: u32, name: &str) {
        if len == 0 {
            return;
        }
        let Some(name) = self.intern(name) else {
            return;
        };
        self.sized.push(FunctionRange {
            start,
            end: start.saturating_add(len),
            name,
        });
    }

    /// A function (public symbol) that runs to the next symbol, but never past `limit`.
    pub(crate) fn add_open_ended(&mut self, start: u32, limit: u32, name: &str) {
        if limit <= start {
            return;
        }
        let Some(name) = self.intern(name) else {
            return;
        };
        self.open_ended.push((start, limit, name));
    }

    /// The index of a source file name in the file table.
    pub(crate) fn file(&mut self, name: &str) -> Option<u32> {
        if let Some(&index) = self.file_index.get(name) {
            return Some(index);
        }
        let span = self.intern(name)?;
        let index = u32::try_from(self.files.len()).ok()?;
        self.files.push(span);
        self.file_index.insert(name.to_owned(), index);
        Some(index)
    }

    /// A source line starting at `start`; without a length it runs to the next line.
    pub(crate) fn add_line(&mut self, start: u32, len: Option<u32>, file: u32, line: u32) {
        self.lines.push((start, len, file, line));
    }

    /// Sorted, non-overlapping ranges. Sized functions win over publics; among overlapping
    /// sized functions the first (lowest start, then longest) wins, so identical-code-folded
    /// aliases collapse to one name deterministically.
    pub(crate) fn build(mut self) -> FunctionTable {
        self.sized.sort_by(|a, b| {
            (a.start, std::cmp::Reverse(a.end)).cmp(&(b.start, std::cmp::Reverse(b.end)))
        });
        let mut functions: Vec<FunctionRange> = Vec::with_capacity(self.sized.len());
        for range in self.sized {
            match functions.last() {
                Some(previous) if range.start < previous.end => {}
                _ => functions.push(range),
            }
        }

        // Publics: drop those inside a sized function; each other one ends at the next
        // symbol start (sized or public) or its limit.
        self.open_ended.sort_by_key(|&(start, _, _)| start);
        self.open_ended.dedup_by_key(|&mut (start, _, _)| start);
        let covered = |rva: u32| {
            let after = functions.partition_point(|f| f.start <= rva);
            after
                .checked_sub(1)
                .and_then(|i| functions.get(i))
                .is_some_and(|f| rva < f.end)
        };
        let mut publics = Vec::new();
        for (i, &(start, limit, name)) in self.open_ended.iter().enumerate() {
            if covered(start) {
                continue;
            }
            let next_public = self.open_ended.get(i + 1).map_or(u32::MAX, |p| p.0);
            let next_sized = functions
                .get(functions.partition_point(|f| f.start <= start))
                .map_or(u32::MAX, |f| f.start);
            let end = limit.min(next_public).min(next_sized);
            if end > start {
                publics.push(FunctionRange { start, end, name });
            }
        }
        functions.extend(publics);
        functions.sort_by_key(|f| f.start);

        self.lines.sort_by_key(|&(start, ..)| start);
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, &(start, len, file, line)) in self.lines.iter().enumerate() {
            let end = match len {
                Some(len) if len > 0 => start.saturating_add(len),
                _ => {
                    // Runs to the next line that starts after this one.
                    let rest = self.lines.get(i + 1..).unwrap_or_default();
                    rest.iter()
                        .map(|l| l.0)
                        .find(|&s| s > start)
                        .unwrap_or(start)
                }
            };
            if end > start {
                lines.push(LineRange {
                    start,
                    end,
                    file,
                    line,
                });
            }
        }

        functions.shrink_to_fit();
        self.text.shrink_to_fit();
        FunctionTable {
            text: self.text,
            functions,
            lines,
            files: self.files,
        }
    }

    fn intern(&mut self, name: &str) -> Option<TextSpan> {
        if let Some(&span) = self.names.get(name) {
            return Some(span);
        }
        let span = TextSpan {
            offset: u32::try_from(self.text.len()).ok()?,
            len: u32::try_from(name.len()).ok()?,
        };
        // The arena is addressed with u32 offsets; refuse to grow past that.
        u32::try_from(self.text.len().checked_add(name.len())?).ok()?;
        self.text.push_str(name);
        self.names.insert(name.to_owned(), span);
        Some(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_functions_win_and_publics_end_at_next_symbol() {
        let mut b = TableBuilder::new();
        b.add_sized(0x1000, 0x40, "alpha");
        b.add_open_ended(0x1000, 0x3000, "alpha_public");
        b.add_open_ended(0x1100, 0x3000, "beta");
        b.add_sized(0x1200, 0x10, "gamma");
        b.add_open_ended(0x2000, 0x2800, "delta");
        let f = b.file("a.c").unwrap();
        b.add_line(0x1000, Some(8), f, 10);
        b.add_line(0x1008, None, f, 11);
        b.add_line(0x1010, None, f, 12);
        let t = b.build();
        assert_eq!(t.lookup(0x1004).unwrap().function, "alpha");
        assert_eq!(t.lookup(0x1004).unwrap().line, Some(10));
        assert_eq!(t.lookup(0x1009).unwrap().line, Some(11));
        // The last line without a length has no end: it covers nothing.
        assert_eq!(t.lookup(0x1011).unwrap().line, None);
        assert!(t.lookup(0x1040).is_none());
        let beta = t.lookup(0x11ff).unwrap();
        assert_eq!((beta.function, beta.function_offset), ("beta", 0xff));
        assert_eq!(t.lookup(0x1200).unwrap().function, "gamma");
        assert!(t.lookup(0x1210).is_none());
        assert_eq!(t.lookup(0x27ff).unwrap().function, "delta");
        assert!(t.lookup(0x2800).is_none());
        assert!(t.lookup(0xfff).is_none());
        assert_eq!(t.function_count(), 4);
    }
}

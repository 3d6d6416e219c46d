//! CSV output (RFC 4180 quoting) that is safe to open in a spreadsheet.
//!
//! Text cells can hold dump-derived strings (driver names, signatures). A cell starting with
//! `=`, `+`, `-` or `@` (or a tab / carriage return, which some spreadsheets skip before
//! looking) would be run as a formula by Excel or LibreOffice; such cells get a leading `'`,
//! the OWASP "CSV injection" mitigation. Numeric cells are written as they are.

use std::io::{self, Write};

use super::sanitize;

/// One CSV cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// Any text: quoted when needed, formula-neutralized.
    Text(String),
    /// A number (or empty) produced by this program: written verbatim.
    Number(String),
    /// An empty cell (null).
    Empty,
}

impl Field {
    pub fn text(s: impl Into<String>) -> Field {
        Field::Text(s.into())
    }

    pub fn num<T: std::fmt::Display>(value: T) -> Field {
        Field::Number(value.to_string())
    }

    pub fn opt_num<T: std::fmt::Display>(value: Option<T>) -> Field {
        value.map_or(Field::Empty, Field::num)
    }

    pub fn opt_text(value: Option<&str>) -> Field {
        value.map_or(Field::Empty, Field::text)
    }
}

/// `'`-prefixes text a spreadsheet would evaluate as a formula (see [`sanitize::csv_safe`],
/// which also drops control characters, so a cell cannot start with a hidden tab).
pub fn neutralize_formula(text: &str) -> String {
    sanitize::csv_safe(text).into_owned()
}

/// Quotes a cell when it holds a separator, quote or line break (doubling inner quotes).
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// Writes one record, `\n`-terminated.
pub fn write_record<W: Write>(out: &mut W, fields: &[Field]) -> io::Result<()> {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match field {
            Field::Text(t) => line.push_str(&quote(&neutralize_formula(t))),
            Field::Number(n) => line.push_str(&quote(n)),
            Field::Empty => {}
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// Writes a header record (plain names, still quoted/neutralized as text).
pub fn write_header<W: Write>(out: &mut W, names: &[&str]) -> io::Result<()> {
    let fields: Vec<Field> = names.iter().map(|n| Field::text(*n)).collect();
    write_record(out, &fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[Field]) -> String {
        let mut buf = Vec::new();
        write_record(&mut buf, fields).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn formulas_are_neutralized_numbers_are_not() {
        let line = record(&[
            Field::text("=HYPERLINK(\"http://x\",\"y\")"),
            Field::text("-2+3"),
            Field::text("@SUM(A1)"),
            Field::text("+1"),
            Field::num(-5),
            Field::Empty,
            Field::text("csagent.sys"),
        ]);
        assert_eq!(
            line,
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'-2+3,'@SUM(A1),'+1,-5,,csagent.sys\n"
        );
    }

    #[test]
    fn separators_are_quoted_line_breaks_dropped() {
        assert_eq!(
            record(&[Field::text("a,b"), Field::text("two\nlines")]),
            "\"a,b\",twolines\n"
        );
    }
}

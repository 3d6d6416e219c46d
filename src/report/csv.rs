//! CSV output (RFC 4180 quoting) that is safe to open in a spreadsheet.
//!
//! Text cells can hold dump-derived strings (driver names, signatures). A spreadsheet runs a
//! cell as a formula when it starts with `=` or `@`, or with `+` / `-` followed by anything
//! but a plain number; such cells get a leading `'` (the OWASP "CSV injection" mitigation).
//! Only those: `+08:00` (a UTC offset), `-5`, `+1.5e3` or `-12:30` are values a spreadsheet
//! reads as values, and a `'` in front of them damaged real data (issue 18: every
//! `utc_offset` read `'+08:00`). Control characters (a leading tab or carriage return, which
//! some spreadsheets skip before looking) are dropped first. Numeric cells are written as
//! they are.

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

/// `'`-prefixes text a spreadsheet would evaluate as a formula (see the module doc), after
/// dropping control characters (so a cell cannot start with a hidden tab).
pub fn neutralize_formula(text: &str) -> String {
    let clean = sanitize::terminal_safe(text);
    let runs = match clean.chars().next() {
        Some('=' | '@') => true,
        Some('+' | '-') => {
            let rest = &clean[1..];
            !rest.is_empty() && !is_number(rest) && !is_time_or_offset(rest)
        }
        _ => false,
    };
    if runs {
        format!("'{clean}")
    } else {
        clean.into_owned()
    }
}

/// `12`, `1.5`, `.5`, `1e5`, `2.5E-3`: digits, one optional fraction, one optional exponent.
fn is_number(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int)) && digits(frac) || digits(int) && frac.is_empty()
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// `08:00`, `5:30`, `12:30:15`: hours, then one or two `:MM` parts.
fn is_time_or_offset(text: &str) -> bool {
    let mut parts = text.split(':');
    let hours = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    (1..=2).contains(&hours.len())
        && hours.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&rest.len())
        && rest
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
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
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'-2+3,'@SUM(A1),+1,-5,,csagent.sys\n"
        );
    }

    #[test]
    fn numbers_times_and_offsets_are_values_not_formulas() {
        for value in [
            "+08:00",
            "-05:00",
            "+5:30",
            "-12:30:15",
            "-5",
            "+1.5",
            "-.5",
            "+1e5",
            "-2.5E-3",
            "-",
            "+",
        ] {
            assert_eq!(neutralize_formula(value), value, "{value}");
        }
        for formula in [
            "+1+1",
            "-A1",
            "+SUM(A1:A2)",
            "-1e",
            "+08:00:00:00",
            "-2+3",
            "=1",
            "@x",
            "+cmd|' /C calc'!A0",
            "\t=1",
        ] {
            assert!(neutralize_formula(formula).starts_with('\''), "{formula}");
        }
    }

    #[test]
    fn separators_are_quoted_line_breaks_dropped() {
        assert_eq!(
            record(&[Field::text("a,b"), Field::text("two\nlines")]),
            "\"a,b\",twolines\n"
        );
    }
}

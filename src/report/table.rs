//! Plain-text tables for a terminal, and the number formats people read in them.
//!
//! Every cell goes through [`terminal_safe`]: driver names, symbols and paths come from dump
//! files, which are attacker-controlled, and an escape sequence in a module name must not
//! repaint the operator's terminal.

use super::sanitize;

/// A cell made safe for a terminal: [`sanitize::terminal_safe`] (control characters, escape
/// sequences and bidi overrides removed), after turning tabs and line breaks into spaces so
/// a cell stays on its line.
pub fn terminal_safe(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    sanitize::terminal_safe(&spaced).into_owned()
}

/// `3812` -> `"3,812"`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A share in [0, 1] as `"76.2 %"` (one decimal).
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// A duration in seconds as a short human form: `45 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn human_seconds(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

/// How a text table is laid out for the reader at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextLayout {
    /// Print the header row (`--no-header` turns it off for scripts).
    pub header: bool,
    /// Cut the long free-text column so lines fit this many characters (the terminal's
    /// width when stdout is one; `None` when writing to a pipe or file).
    pub width: Option<usize>,
}

impl TextLayout {
    /// A header, and the terminal's width when stdout is a terminal.
    pub fn for_stdout(no_header: bool) -> TextLayout {
        use std::io::IsTerminal;
        let width = if std::io::stdout().is_terminal() {
            ratatui::crossterm::terminal::size()
                .ok()
                .map(|(cols, _)| usize::from(cols))
                .filter(|&w| w >= 40)
        } else {
            None
        };
        TextLayout {
            header: !no_header,
            width,
        }
    }
}

/// Times of consecutive rows that carry their date only when it differs from the time
/// before (the first one: from today), so `23:20` of one day never sits unmarked beside
/// `04:14` of another.
#[derive(Debug, Clone)]
pub struct DatedTimes {
    previous_day: Option<chrono::NaiveDate>,
}

impl DatedTimes {
    /// Dates compared with `today` for the first time shown.
    pub fn new(today: chrono::NaiveDate) -> DatedTimes {
        DatedTimes {
            previous_day: Some(today),
        }
    }

    /// `HH:MM`, or `YYYY-MM-DD HH:MM` when the day changed; "?" for an unrepresentable time.
    pub fn show(&mut self, ms: i64) -> String {
        let Some(t) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) else {
            return "?".into();
        };
        let day = t.date_naive();
        let text = if self.previous_day == Some(day) {
            t.format("%H:%M").to_string()
        } else {
            t.format("%Y-%m-%d %H:%M").to_string()
        };
        self.previous_day = Some(day);
        text
    }

    /// `first–last`, each dated as [`DatedTimes::show`] says.
    pub fn span(&mut self, first_ms: i64, last_ms: i64) -> String {
        let a = self.show(first_ms);
        let b = self.show(last_ms);
        format!("{a}–{b}")
    }
}

/// The line after a cut table: how many rows were left out and the flag that shows them.
pub fn cut_note(shown: usize, total: usize, what: &str, flag: &str) -> Option<String> {
    (shown < total).then(|| {
        format!(
            "… {} more {what} not shown ({} of {}); {flag} shows them all\n",
            thousands((total - shown) as u64),
            thousands(shown as u64),
            thousands(total as u64)
        )
    })
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table of text cells, rendered with columns padded to their widest cell and separated by
/// two spaces. Cells are made terminal-safe when added.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Option<Vec<String>>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
    /// Cells wider than this (in characters) are cut with `…`; 0 = no limit.
    max_cell_chars: usize,
    /// The column cut first when the table must fit a terminal's width ([`Table::fit_width`]).
    elastic: Option<usize>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn with_header<S: AsRef<str>>(mut self, header: &[S]) -> Table {
        self.header = Some(header.iter().map(|h| terminal_safe(h.as_ref())).collect());
        self
    }

    /// Alignment per column; columns without one are left-aligned.
    pub fn with_align(mut self, align: &[Align]) -> Table {
        self.align = align.to_vec();
        self
    }

    pub fn with_max_cell_chars(mut self, max: usize) -> Table {
        self.max_cell_chars = max;
        self
    }

    /// The column (0-based) whose cells are cut when the table is wider than
    /// [`Table::fit_width`] allows: the long free-text one (bucket id, clusters).
    pub fn with_elastic(mut self, column: usize) -> Table {
        self.elastic = Some(column);
        self
    }

    /// Cuts the elastic column's cells (down to 12 characters) so the rendered lines are at
    /// most `width` characters; a table without an elastic column is left as it is.
    pub fn fit_width(&mut self, width: usize) {
        let Some(col) = self.elastic else { return };
        let widths = self.widths();
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let Some(&current) = widths.get(col) else {
            return;
        };
        if total <= width {
            return;
        }
        let target = current.saturating_sub(total - width).max(12);
        for row in self.header.iter_mut().chain(self.rows.iter_mut()) {
            if let Some(cell) = row.get_mut(col) {
                if cell.chars().count() > target {
                    let mut cut: String = cell.chars().take(target.saturating_sub(1)).collect();
                    cut.push('…');
                    *cell = cut;
                }
            }
        }
    }

    pub fn push<S: AsRef<str>>(&mut self, row: &[S]) {
        let row = row
            .iter()
            .map(|c| self.fit(terminal_safe(c.as_ref())))
            .collect();
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn fit(&self, cell: String) -> String {
        if self.max_cell_chars == 0 || cell.chars().count() <= self.max_cell_chars {
            return cell;
        }
        let mut cut: String = cell
            .chars()
            .take(self.max_cell_chars.saturating_sub(1))
            .collect();
        cut.push('…');
        cut
    }

    /// The table as lines joined by `\n` (with a trailing newline when not empty). Trailing
    /// spaces are trimmed from each line.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in self.header.iter().chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                match self.align.get(i).copied().unwrap_or(Align::Left) {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The widest cell of each column, header included.
    fn widths(&self) -> Vec<usize> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(self.header.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in self.header.iter().chain(self.rows.iter()) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        widths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_defanged() {
        assert_eq!(
            terminal_safe("evil\x1b[2J\x1b]0;pwned\x07.sys"),
            "evil[2J]0;pwned.sys"
        );
        assert_eq!(terminal_safe("a\u{202E}txt.sys"), "atxt.sys");
        assert_eq!(terminal_safe("two\nlines\u{9b}x"), "two linesx");
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3812), "3,812");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(percent(0.7624), "76.2 %");
        assert_eq!(human_seconds(45), "45 s");
        assert_eq!(human_seconds(600), "10 min");
        assert_eq!(human_seconds(5400), "90 min");
        assert_eq!(human_seconds(9000), "2.5 h");
    }

    #[test]
    fn columns_align() {
        let mut t = Table::new()
            .with_header(&["NAME", "N"])
            .with_align(&[Align::Left, Align::Right]);
        t.push(&["csagent.sys", "3,812"]);
        t.push(&["x", "7"]);
        assert_eq!(
            t.render(),
            "NAME             N\ncsagent.sys  3,812\nx                7\n"
        );
    }

    #[test]
    fn dates_shown_when_the_day_changes() {
        let today = chrono::NaiveDate::from_ymd_opt(2024, 7, 19).unwrap();
        let mut d = DatedTimes::new(today);
        // 2024-07-19 04:09 and 05:41, then 2024-07-13 23:20 .. 2024-07-16 14:16.
        assert_eq!(d.span(1_721_362_140_000, 1_721_367_660_000), "04:09–05:41");
        assert_eq!(
            d.span(1_720_912_800_000, 1_721_139_360_000),
            "2024-07-13 23:20–2024-07-16 14:16"
        );
        let mut other_day = DatedTimes::new(today.succ_opt().unwrap());
        assert_eq!(other_day.show(1_721_362_140_000), "2024-07-19 04:09");
    }

    #[test]
    fn elastic_column_fits_the_width() {
        let mut t =
            Table::new()
                .with_elastic(1)
                .with_header(&["A", "A LONG HEADER NAME CUT TOO", "Z"]);
        t.push(&["a", "abcdefghijklmnopqrstuvwxyz", "z"]);
        t.fit_width(20);
        assert_eq!(t.render(), "A  A LONG HEADER…  Z\na  abcdefghijklm…  z\n");
    }

    #[test]
    fn long_cells_are_cut() {
        let mut t = Table::new().with_max_cell_chars(5);
        t.push(&["abcdefgh"]);
        assert_eq!(t.render(), "abcd…\n");
    }
}

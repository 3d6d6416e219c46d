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
    /// Fit lines into this many characters (see [`output_width`]); `None`: no limit.
    pub width: Option<usize>,
}

impl TextLayout {
    /// A header unless `no_header`, and the width [`output_width`] picks for stdout.
    pub fn for_stdout(no_header: bool, width_flag: Option<usize>) -> TextLayout {
        TextLayout {
            header: !no_header,
            width: output_width(width_flag),
        }
    }
}

/// The width a text table without `--width` is laid out for when stdout is not a terminal
/// and `COLUMNS` is not set: the classic terminal, so a table mailed or pasted from a pipe
/// reads the same as on screen.
pub const DEFAULT_WIDTH: usize = 80;

/// Narrower than this, a table cannot show even its key columns; asked-for widths below it
/// are raised to it.
pub const MIN_WIDTH: usize = 40;

/// The width text output is laid out for: `--width N` (0: no limit, whole cells for
/// scripts), else `COLUMNS` (as `ls` reads it, so `COLUMNS=160 blastradius hosts` works
/// from a script), else the terminal's width when stdout is one, else [`DEFAULT_WIDTH`].
pub fn output_width(flag: Option<usize>) -> Option<usize> {
    use std::io::IsTerminal;
    let from_env = || {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&w| w > 0)
    };
    let from_terminal = || {
        if std::io::stdout().is_terminal() {
            ratatui::crossterm::terminal::size()
                .ok()
                .map(|(cols, _)| usize::from(cols))
                .filter(|&w| w > 0)
        } else {
            None
        }
    };
    match flag {
        Some(0) => None,
        Some(w) => Some(w.max(MIN_WIDTH)),
        None => Some(
            from_env()
                .or_else(from_terminal)
                .unwrap_or(DEFAULT_WIDTH)
                .max(MIN_WIDTH),
        ),
    }
}

/// `text` with each line longer than `width` characters broken at its last space that
/// fits (continuation lines of an indented line indented two more; a word longer than the
/// room, such as a path to copy, stays whole on a line of its own), each line ending in
/// `\n`; shorter lines, and every line when
/// `width` is `None`, stay as they are. For the sentences around tables (verdicts, notes,
/// breakdowns), which a terminal would otherwise wrap mid-word.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let mut out = String::new();
    for paragraph in text.trim_end_matches('\n').split('\n') {
        match width {
            Some(width) if paragraph.chars().count() > width => {
                wrap_line(paragraph, width.max(8), &mut out)
            }
            _ => {
                out.push_str(paragraph);
                out.push('\n');
            }
        }
    }
    out
}

fn wrap_line(line: &str, width: usize, out: &mut String) {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let hang = if indent == 0 {
        String::new()
    } else {
        " ".repeat(indent + 2)
    };
    let mut rest = line;
    let mut first = true;
    loop {
        let prefix = if first { "" } else { hang.as_str() };
        let room = width.saturating_sub(prefix.len()).max(4);
        if rest.chars().count() <= room {
            out.push_str(prefix);
            out.push_str(rest);
            out.push('\n');
            return;
        }
        // The byte end of the first `room + 1` characters: a space there may end the line.
        let end = rest
            .char_indices()
            .nth(room + 1)
            .map_or(rest.len(), |(i, _)| i);
        let skip = if first { indent } else { 0 };
        // Prefer the gap between two fields (two spaces) when it keeps half the line.
        let gap = rest[..end]
            .rfind("  ")
            .filter(|&b| b > skip && b >= room / 2);
        let space = || rest[..end].rfind(' ').filter(|&b| b > skip);
        let (piece, next) = match gap.or_else(space) {
            Some(b) => (rest[..b].trim_end().to_string(), &rest[b..]),
            None => {
                let word_end = rest[skip..].find(' ').map_or(rest.len(), |b| b + skip);
                (rest[..word_end].to_string(), &rest[word_end..])
            }
        };
        out.push_str(prefix);
        out.push_str(&piece);
        out.push('\n');
        rest = next.trim_start_matches(' ');
        first = false;
        if rest.is_empty() {
            return;
        }
    }
}

/// `text` cut to at most `chars` characters, the last one `…` when anything was cut.
pub fn cut_to(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
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

/// How a column behaves when the table must fit a width ([`Table::fit_width`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fit {
    /// 0: always shown; otherwise columns are left out highest number first when cutting
    /// alone cannot make the table fit.
    pub drop_rank: u8,
    /// Cells may be cut with `…` down to this many characters (`None`: never cut).
    pub cut_to: Option<usize>,
}

impl Fit {
    /// Always shown, never cut.
    pub const KEEP: Fit = Fit {
        drop_rank: 0,
        cut_to: None,
    };

    /// Left out at `rank` (higher: sooner), never cut.
    pub const fn drop(rank: u8) -> Fit {
        Fit {
            drop_rank: rank,
            cut_to: None,
        }
    }

    /// Cut down to `min` characters before anything else; left out at `rank` (0: never).
    pub const fn cut(min: usize, rank: u8) -> Fit {
        Fit {
            drop_rank: rank,
            cut_to: Some(min),
        }
    }
}

/// A table of text cells, rendered with columns padded to their widest cell and separated by
/// two spaces. Cells are made terminal-safe when added.
///
/// To fit a terminal ([`Table::fit_width`]) it first cuts the columns that may be cut (long
/// free text: bucket ids, cluster lists), least important first; when that is not enough it
/// leaves out the least important column and tries again; at the end columns left out are
/// put back, most important first, where they fit after all. Numbers are never cut.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Option<Vec<String>>,
    /// Render the header row (the header's names still name left-out columns).
    show_header: bool,
    align: Vec<Align>,
    fit: Vec<Fit>,
    rows: Vec<Vec<String>>,
    /// Cells wider than this (in characters) are cut with `…`; 0 = no limit.
    max_cell_chars: usize,
    /// Columns [`Table::fit_width`] left out.
    hidden: Vec<bool>,
}

/// Two spaces between columns.
const GAP: usize = 2;

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn with_header<S: AsRef<str>>(mut self, header: &[S]) -> Table {
        self.header = Some(header.iter().map(|h| terminal_safe(h.as_ref())).collect());
        self.show_header = true;
        self
    }

    /// Keeps the header's names (for the note on left-out columns) but renders no header
    /// row when `show` is false (`--no-header`).
    pub fn show_header(mut self, show: bool) -> Table {
        self.show_header = show;
        self
    }

    /// Alignment per column; columns without one are left-aligned.
    pub fn with_align(mut self, align: &[Align]) -> Table {
        self.align = align.to_vec();
        self
    }

    /// How each column gives way to a narrow terminal; columns without one are kept whole.
    pub fn with_fit(mut self, fit: &[Fit]) -> Table {
        self.fit = fit.to_vec();
        self
    }

    pub fn with_max_cell_chars(mut self, max: usize) -> Table {
        self.max_cell_chars = max;
        self
    }

    /// The column (0-based) whose cells may be cut (down to 12 characters) to fit a width.
    pub fn with_elastic(mut self, column: usize) -> Table {
        if self.fit.len() <= column {
            self.fit.resize(column + 1, Fit::KEEP);
        }
        self.fit[column] = Fit::cut(12, 0);
        self
    }

    fn fit_of(&self, column: usize) -> Fit {
        self.fit.get(column).copied().unwrap_or(Fit::KEEP)
    }

    /// Cuts and leaves out columns (per their [`Fit`]) so rendered lines are at most
    /// `width` characters where the kept columns allow it; returns the names of the columns
    /// left out (for a note), in table order.
    pub fn fit_width(&mut self, width: usize) -> Vec<String> {
        let natural = self.widths();
        let columns = natural.len();
        let mut shown = vec![true; columns];
        // Drop the least important column until cutting alone makes the table fit.
        loop {
            if self.cut_widths(&natural, &shown, width).is_some() {
                break;
            }
            let victim = (0..columns)
                .filter(|&c| shown[c] && self.fit_of(c).drop_rank > 0)
                .max_by_key(|&c| (self.fit_of(c).drop_rank, c));
            match victim {
                Some(c) => shown[c] = false,
                None => break,
            }
        }
        // Put back, most important first, what fits after all.
        let mut dropped: Vec<usize> = (0..columns).filter(|&c| !shown[c]).collect();
        dropped.sort_by_key(|&c| (self.fit_of(c).drop_rank, c));
        for c in dropped {
            shown[c] = true;
            if self.cut_widths(&natural, &shown, width).is_none() {
                shown[c] = false;
            }
        }
        // Cut to the widths found (or as far as the cut columns go when nothing fits).
        let target = self
            .cut_widths(&natural, &shown, width)
            .unwrap_or_else(|| self.cut_floor(&natural));
        for row in self.header.iter_mut().chain(self.rows.iter_mut()) {
            for (c, cell) in row.iter_mut().enumerate() {
                if let Some(&w) = target.get(c) {
                    if cell.chars().count() > w {
                        *cell = cut_to(cell, w);
                    }
                }
            }
        }
        self.hidden = shown.iter().map(|s| !s).collect();
        let names = self.header.clone().unwrap_or_default();
        (0..columns)
            .filter(|&c| !shown[c])
            .map(|c| {
                names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", c + 1))
            })
            .collect()
    }

    /// Column widths with the cuttable columns cut (least important, then rightmost,
    /// first) so the `shown` ones fit `width`; `None` when even fully cut they do not.
    fn cut_widths(&self, natural: &[usize], shown: &[bool], width: usize) -> Option<Vec<usize>> {
        let visible: Vec<usize> = (0..natural.len()).filter(|&c| shown[c]).collect();
        let total: usize = visible.iter().map(|&c| natural[c]).sum::<usize>()
            + GAP * visible.len().saturating_sub(1);
        let mut widths = natural.to_vec();
        let mut excess = total.saturating_sub(width);
        let mut cuttable: Vec<usize> = visible
            .iter()
            .copied()
            .filter(|&c| self.fit_of(c).cut_to.is_some())
            .collect();
        cuttable.sort_by_key(|&c| std::cmp::Reverse((self.fit_of(c).drop_rank, c)));
        for c in cuttable {
            if excess == 0 {
                break;
            }
            let min = self.fit_of(c).cut_to.unwrap_or(natural[c]).max(2);
            let give = natural[c].saturating_sub(min).min(excess);
            widths[c] -= give;
            excess -= give;
        }
        (excess == 0).then_some(widths)
    }

    /// Every cuttable column at its least width.
    fn cut_floor(&self, natural: &[usize]) -> Vec<usize> {
        (0..natural.len())
            .map(|c| match self.fit_of(c).cut_to {
                Some(min) => natural[c].min(min.max(2)),
                None => natural[c],
            })
            .collect()
    }

    /// The table laid out for `layout`: fitted to its width, a header row unless it says
    /// not, and (with the header) a note naming the columns left out and how to see them.
    pub fn render_for(mut self, layout: TextLayout) -> String {
        self.show_header = self.show_header && layout.header;
        let left_out = match layout.width {
            Some(width) => self.fit_width(width),
            None => Vec::new(),
        };
        let mut out = self.render();
        if !left_out.is_empty() && self.show_header {
            let note = format!(
                "(not shown at {} columns: {}; --width 0 shows them)",
                layout.width.unwrap_or_default(),
                left_out.join(", ")
            );
            out.push_str(&wrap(&note, layout.width));
        }
        out
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
        if self.max_cell_chars == 0 {
            return cell;
        }
        cut_to(&cell, self.max_cell_chars)
    }

    fn shown_rows(&self) -> impl Iterator<Item = &Vec<String>> {
        self.header
            .iter()
            .filter(|_| self.show_header)
            .chain(self.rows.iter())
    }

    /// The table as lines joined by `\n` (with a trailing newline when not empty). Trailing
    /// spaces are trimmed from each line; columns [`Table::fit_width`] left out are skipped.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in self.shown_rows() {
            let mut line = String::new();
            let mut first = true;
            for (i, cell) in row.iter().enumerate() {
                if self.hidden.get(i).copied().unwrap_or(false) {
                    continue;
                }
                if !first {
                    line.push_str("  ");
                }
                first = false;
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

    /// The widest cell of each column, header included when it is shown.
    fn widths(&self) -> Vec<usize> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(self.header.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in self.shown_rows() {
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
    fn long_lines_wrap_at_spaces() {
        assert_eq!(wrap("short  line\n", Some(20)), "short  line\n");
        assert_eq!(
            wrap("one two three four five six", Some(10)),
            "one two\nthree four\nfive six\n"
        );
        assert_eq!(
            wrap("  site  DFW 24, SIN 22, CHI 20", Some(16)),
            "  site  DFW 24,\n    SIN 22, CHI\n    20\n"
        );
        assert_eq!(wrap("abcdefghijkl xy", Some(8)), "abcdefghijkl\nxy\n");
        assert_eq!(wrap("a b\n\nc", None), "a b\n\nc\n");
    }

    #[test]
    fn columns_are_cut_then_left_out_by_rank() {
        let table = || {
            let mut t = Table::new()
                .with_header(&["KEY", "N", "TEXT", "EXTRA"])
                .with_align(&[Align::Left, Align::Right, Align::Left, Align::Left])
                .with_fit(&[Fit::KEEP, Fit::drop(1), Fit::cut(6, 3), Fit::drop(2)]);
            t.push(&["alpha", "1,234", "a long free text cell", "x"]);
            t
        };
        // 5 + 5 + 21 + 5 + 3 gaps of 2 = 42: fits.
        let mut t = table();
        assert!(t.fit_width(42).is_empty());
        // Cutting TEXT alone is enough at 30.
        let mut t = table();
        assert!(t.fit_width(30).is_empty());
        assert_eq!(
            t.render(),
            "KEY        N  TEXT       EXTRA\nalpha  1,234  a long f…  x\n"
        );
        // At 20 TEXT (rank 3) goes; EXTRA (rank 2) is put back as it fits.
        let mut t = table();
        assert_eq!(t.fit_width(20), vec!["TEXT".to_string()]);
        assert_eq!(t.render(), "KEY        N  EXTRA\nalpha  1,234  x\n");
        // At 12 N still fits beside KEY; at 10 only what is always kept is left.
        let mut t = table();
        assert_eq!(
            t.fit_width(12),
            vec!["TEXT".to_string(), "EXTRA".to_string()]
        );
        assert_eq!(t.render(), "KEY        N\nalpha  1,234\n");
        let mut t = table();
        assert_eq!(t.fit_width(10).len(), 3);
        assert_eq!(t.render(), "KEY\nalpha\n");
    }

    #[test]
    fn width_flag_wins_and_zero_means_no_limit() {
        assert_eq!(output_width(Some(0)), None);
        assert_eq!(output_width(Some(120)), Some(120));
        assert_eq!(output_width(Some(5)), Some(MIN_WIDTH));
    }

    #[test]
    fn long_cells_are_cut() {
        let mut t = Table::new().with_max_cell_chars(5);
        t.push(&["abcdefgh"]);
        assert_eq!(t.render(), "abcd…\n");
    }
}

//! Dump-derived strings (driver names, paths, symbols) are attacker-controlled. These make
//! them safe for the place they are printed: a terminal, a CSV cell, HTML.

use std::borrow::Cow;

/// Drops control characters (ESC sequences included) so a name cannot move the cursor,
/// recolour the terminal or hide text.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe_char) {
        Cow::Owned(text.chars().filter(|c| !is_unsafe_char(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

fn is_unsafe_char(c: char) -> bool {
    // Control characters, plus the Unicode bidi overrides that can reorder what is shown.
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A CSV cell that a spreadsheet will not run as a formula: a leading `=`, `+`, `-`, `@`
/// (or tab / CR) gets a `'` in front. Quoting is the CSV writer's job.
pub fn csv_safe(text: &str) -> Cow<'_, str> {
    let clean = terminal_safe(text);
    match clean.chars().next() {
        Some('=' | '+' | '-' | '@') => Cow::Owned(format!("'{clean}")),
        _ => clean,
    }
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in terminal_safe(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Markdown document (a table cell, a list item, a heading): control characters
/// dropped, line breaks made spaces, and the characters Markdown or inline HTML act on
/// backslash-escaped (CommonMark lets any ASCII punctuation be escaped): `<` `>` `&` (no tag,
/// no entity), `[` `]` (no link or image), `` ` `` `*` `_` `~` `$` `#` `\\` (no code, emphasis,
/// math, heading), `|` (no new table cell), and `://` / `www.` (no autolink). A driver named
/// `<script>` or `[x](javascript:...)` stays literal text.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(' '),
            c if is_unsafe_char(c) => {}
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '&'
            | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.replace("://", "\\://").replace("www.", "www\\.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_neutralized() {
        assert_eq!(terminal_safe("evil\u{1b}[2J.sys"), "evil[2J.sys");
        assert_eq!(terminal_safe("a\u{202E}fdp.exe"), "afdp.exe");
        assert_eq!(csv_safe("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_safe("-2+3"), "'-2+3");
        assert_eq!(csv_safe("csagent.sys"), "csagent.sys");
        assert_eq!(
            html_escape("<script>&\"'"),
            "&lt;script&gt;&amp;&quot;&#39;"
        );
        assert_eq!(
            markdown_escape("=HYPERLINK(\"x\")<script>|\u{1b}[31m\n_a_"),
            "=HYPERLINK(\"x\")\\<script\\>\\|\\[31m \\_a\\_"
        );
        assert_eq!(
            markdown_escape("[x](https://www.evil.test)"),
            "\\[x\\](https\\://www\\.evil.test)"
        );
    }
}

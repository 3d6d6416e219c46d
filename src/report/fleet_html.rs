//! The fleet report as one self-contained HTML page: inline CSS, inline SVG charts, no
//! scripts, fonts, styles or images from anywhere else, so it mails well and opens offline.
//!
//! Every dump- or inventory-derived string goes through [`sanitize::html_escape`] (control
//! characters dropped, `& < > " '` escaped); chart SVG comes from plotters, which escapes its
//! text itself (and `charts::label` strips control characters first).

use std::fmt::Write;

use super::charts::Chart;
use super::fleet_cells::{self as cells, Card, Direction};
use super::fleet_report::FleetReport;
use super::sanitize::{self, html_escape};

/// The page's stylesheet: system fonts, tabular numbers right-aligned, tables that wrap long
/// ids instead of overflowing, and a print layout.
const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa;
  --good: #1a7f37; --bad: #c62828; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 30px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; overflow-wrap: anywhere; }
p { margin: 6px 0; }
.meta { color: var(--muted); margin: 0; }
.note { color: var(--muted); font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--bg-soft); }
.card .label { font-size: 13px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 32px; font-weight: 700; line-height: 1.2; font-variant-numeric: tabular-nums; }
.card .detail { font-size: 13px; color: var(--muted); }
.card .change { font-size: 13px; font-weight: 600; margin-top: 4px; font-variant-numeric: tabular-nums; }
.good { color: var(--good); } .bad { color: var(--bad); } .neutral { color: var(--muted); }
table { width: 100%; border-collapse: collapse; margin: 6px 0 10px; font-size: 13.5px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; font-size: 12.5px; color: var(--muted); }
td { overflow-wrap: break-word; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; overflow-wrap: anywhere; min-width: 14ch; }
td.name { font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.seen { font-variant-numeric: tabular-nums; min-width: 11ch; }
td.sites { min-width: 12ch; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.trend-new, .trend-rising { color: var(--bad); font-weight: 600; }
.trend-falling { color: var(--good); font-weight: 600; }
.state-boot-loop { color: var(--bad); font-weight: 600; }
.state-failing { color: #9a6700; font-weight: 600; }
table.summary { width: auto; min-width: 50%; }
table.hosts { table-layout: fixed; }
table.hosts th, table.hosts td { padding: 3px 8px; }
table.hosts th:nth-child(1) { width: 20%; } table.hosts th:nth-child(2) { width: 11%; }
table.hosts th:nth-child(3) { width: 9%; } table.hosts th:nth-child(4) { width: 30%; }
table.hosts th:nth-child(5) { width: 17%; } table.hosts th:nth-child(6) { width: 13%; }
figure { margin: 18px 0 26px; }
figure svg { display: block; width: 100%; height: auto; max-width: 960px; border: 1px solid var(--line); border-radius: 6px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
footer { margin-top: 40px; padding-top: 10px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12.5px; }
@media (max-width: 900px) {
  main { padding: 16px 12px 32px; }
  td.name { white-space: normal; overflow-wrap: anywhere; }
  td.seen, td.sites, td.id { min-width: 0; }
}
@media print {
  @page { size: A4; margin: 14mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  .cards { grid-template-columns: repeat(5, 1fr); gap: 6px; }
  .card { padding: 6px 8px; background: none; }
  .card .value { font-size: 20pt; }
  table { font-size: 7.5pt; }
  th, td { padding: 3px 4px; }
  th { background: none; }
  td.name { white-space: normal; overflow-wrap: anywhere; }
  td.id { font-size: 7pt; min-width: 0; }
  td.seen, td.sites { min-width: 0; }
  tr, figure, .card { break-inside: avoid; }
  figure svg { max-width: 100%; border: none; }
  section { break-inside: auto; }
}
"#;

/// Characters of a run without white space after which a line may break.
const BREAK_AFTER: usize = 24;

/// `text` escaped for HTML, with a `<wbr>` (a line-break opportunity, no visible character)
/// after every [`BREAK_AFTER`] characters of a run without spaces: names are kept whole
/// (`td.name` does not wrap), yet a 300-character driver name cannot widen a table past the page.
fn breakable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut run = 0usize;
    let mut buf = [0u8; 4];
    for c in sanitize::terminal_safe(text).chars() {
        if c.is_whitespace() {
            run = 0;
        } else {
            if run == BREAK_AFTER {
                out.push_str("<wbr>");
                run = 0;
            }
            run += 1;
        }
        out.push_str(&html_escape(c.encode_utf8(&mut buf)));
    }
    out
}

/// The CSS class of each column: `num` (right-aligned, tabular) or `when` (a time).
fn column_classes(n: usize, numeric: &[usize], when: &[usize]) -> Vec<String> {
    (0..n)
        .map(|i| {
            if numeric.contains(&i) {
                "num".to_string()
            } else if when.contains(&i) {
                "when".to_string()
            } else {
                String::new()
            }
        })
        .collect()
}

/// One table row; `classes[i]` is the class of cell `i` (empty: none).
fn row(out: &mut String, cells: &[String], classes: &[String]) {
    out.push_str("<tr>");
    for (i, cell) in cells.iter().enumerate() {
        match classes.get(i).filter(|c| !c.is_empty()) {
            Some(class) => {
                let _ = write!(out, "<td class=\"{class}\">{}</td>", breakable(cell));
            }
            None => {
                let _ = write!(out, "<td>{}</td>", breakable(cell));
            }
        }
    }
    out.push_str("</tr>\n");
}

fn header(out: &mut String, names: &[&str], numeric: &[usize]) {
    out.push_str("<thead><tr>");
    for (i, name) in names.iter().enumerate() {
        let class = if numeric.contains(&i) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", html_escape(name));
    }
    out.push_str("</tr></thead>\n");
}

fn card(out: &mut String, c: &Card) {
    let class = match c.direction {
        Direction::Good => "good",
        Direction::Bad => "bad",
        Direction::Neutral => "neutral",
    };
    let _ = writeln!(
        out,
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
         <div class=\"detail\">{}</div><div class=\"change {class}\">{}</div></div>",
        html_escape(c.label),
        html_escape(&c.value),
        html_escape(&c.detail),
        html_escape(&c.change)
    );
}

/// The SVG of a chart with an accessible name, for inlining.
fn inline_svg(chart: &Chart) -> String {
    let svg = chart.svg.trim();
    let svg = svg
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or(svg)
        .trim_start();
    match svg.strip_prefix("<svg ") {
        Some(rest) => format!(
            "<svg role=\"img\" aria-label=\"{}\" {rest}",
            html_escape(&chart.title)
        ),
        None => svg.to_string(),
    }
}

/// The whole page.
pub fn render_html(report: &FleetReport, charts: &[Chart]) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let period = cells::period_words(&report.window.start, &report.window.end);
    let previous = cells::previous_words(report);
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Fleet stability report · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>",
        html_escape(&period)
    );
    let filters = cells::filter_words(report);
    let _ = writeln!(
        o,
        "<header>\n<h1>Fleet stability report</h1>\n<p class=\"meta\"><strong>{}</strong> · compared with {}{}</p>\n</header>",
        html_escape(&period),
        html_escape(&previous),
        if filters.is_empty() {
            String::new()
        } else {
            format!(" · only {}", html_escape(&filters))
        }
    );

    // 1. Headline.
    o.push_str("<section id=\"headline\">\n<h2>Headline</h2>\n<div class=\"cards\">\n");
    for c in cells::headline_cards(report) {
        card(&mut o, &c);
    }
    o.push_str("</div>\n</section>\n");

    // 2. Top clusters.
    o.push_str("<section id=\"clusters\">\n<h2>Top clusters by blast radius</h2>\n");
    if report.top_clusters.is_empty() {
        o.push_str("<p>No crashes in this period.</p>\n");
    } else {
        let _ = writeln!(
            o,
            "<p class=\"note\">{} of {} clusters, by hosts hit. Critical hosts: inventory {}. Trend compares hosts with the previous period.</p>",
            report.top_clusters.len(),
            report.cluster_count,
            html_escape(&report.critical_rule)
        );
        o.push_str("<table>\n");
        header(&mut o, &cells::CLUSTER_HEADER, &cells::CLUSTER_NUMERIC);
        o.push_str("<tbody>\n");
        for c in &report.top_clusters {
            let mut classes =
                column_classes(cells::CLUSTER_HEADER.len(), &cells::CLUSTER_NUMERIC, &[]);
            classes[0] = "name".into();
            classes[2] = "id".into();
            classes[8] = "sites".into();
            classes[9] = format!("trend-{}", c.trend.as_str());
            classes[10] = "seen".into();
            row(&mut o, &cells::cluster_cells(c), &classes);
        }
        o.push_str("</tbody>\n</table>\n");
    }
    o.push_str("</section>\n");

    // 3. Charts.
    o.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    if charts.is_empty() {
        o.push_str("<p>No crashes in this period: nothing to chart.</p>\n");
    }
    for chart in charts {
        let _ = writeln!(
            o,
            "<figure id=\"chart-{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
            chart.slug,
            inline_svg(chart),
            html_escape(&chart.title)
        );
    }
    o.push_str("</section>\n");

    // 4. Hosts that need a person.
    o.push_str("<section id=\"attention\">\n<h2>Hosts that need a person</h2>\n");
    if report.needs_attention.is_empty() {
        o.push_str(
            "<p>None: no host is boot-looping or still failing at the end of the window.</p>\n",
        );
    } else {
        let total: usize = report.needs_attention.iter().map(|s| s.hosts.len()).sum();
        let _ = writeln!(
            o,
            "<p class=\"note\">{total} hosts boot-looping or still failing at {} UTC, by site. The full list: <code>blastradius hosts --state boot-loop --until …</code> or this report's JSON.</p>",
            html_escape(&cells::minute(Some(&report.window.end)))
        );
        o.push_str("<table class=\"summary\">\n");
        header(
            &mut o,
            &cells::ATTENTION_SITE_HEADER,
            &cells::ATTENTION_SITE_NUMERIC,
        );
        o.push_str("<tbody>\n");
        for site in &report.needs_attention {
            let mut classes = column_classes(
                cells::ATTENTION_SITE_HEADER.len(),
                &cells::ATTENTION_SITE_NUMERIC,
                &[],
            );
            classes[0] = "name".into();
            row(&mut o, &cells::attention_site_cells(site), &classes);
        }
        o.push_str("</tbody>\n</table>\n");
        for site in &report.needs_attention {
            let _ = writeln!(
                o,
                "<h3>{} <span class=\"note\">({} hosts)</span></h3>\n<table class=\"hosts\">",
                breakable(&site.site),
                site.hosts.len()
            );
            header(&mut o, &cells::ATTENTION_HEADER, &cells::ATTENTION_NUMERIC);
            o.push_str("<tbody>\n");
            for h in site.hosts.iter().take(cells::ATTENTION_HOSTS_SHOWN) {
                let mut classes = column_classes(
                    cells::ATTENTION_HEADER.len(),
                    &cells::ATTENTION_NUMERIC,
                    &[4],
                );
                classes[0] = "name".into();
                classes[1] = format!("state-{}", h.state.as_str());
                row(&mut o, &cells::attention_cells(h), &classes);
            }
            o.push_str("</tbody>\n</table>\n");
            if site.hosts.len() > cells::ATTENTION_HOSTS_SHOWN {
                let _ = writeln!(
                    o,
                    "<p class=\"note\">… and {} more at this site.</p>",
                    site.hosts.len() - cells::ATTENTION_HOSTS_SHOWN
                );
            }
        }
    }
    o.push_str("</section>\n");

    // 5. Third-party kernel drivers.
    o.push_str("<section id=\"drivers\">\n<h2>Third-party kernel drivers</h2>\n");
    let d = &report.drivers;
    if d.drivers.is_empty() {
        o.push_str("<p>No third-party kernel driver seen loaded in this period’s dumps.</p>\n");
    } else {
        let _ = writeln!(
            o,
            "<p class=\"note\">Who runs in the fleet’s kernel: {} third-party drivers seen loaded on the {} hosts whose dumps list their drivers; share of the period’s {} crashes each caused.</p>\n<table>",
            d.drivers.len(),
            d.hosts_with_driver_data,
            d.crashes
        );
        header(&mut o, &cells::DRIVER_HEADER, &cells::DRIVER_NUMERIC);
        o.push_str("<tbody>\n");
        for driver in cells::drivers_in_order(&d.drivers)
            .into_iter()
            .take(cells::DRIVERS_SHOWN)
        {
            let mut classes =
                column_classes(cells::DRIVER_HEADER.len(), &cells::DRIVER_NUMERIC, &[]);
            classes[0] = "name".into();
            row(&mut o, &cells::driver_cells(driver), &classes);
        }
        o.push_str("</tbody>\n</table>\n");
        if d.drivers.len() > cells::DRIVERS_SHOWN {
            let _ = writeln!(
                o,
                "<p class=\"note\">… and {} more (<code>blastradius drivers</code>).</p>",
                d.drivers.len() - cells::DRIVERS_SHOWN
            );
        }
    }
    o.push_str("</section>\n");

    // 6. What changed.
    o.push_str("<section id=\"changes\">\n<h2>What changed</h2>\n");
    for (title, list, none) in [
        ("New this period", &report.changes.new, "No new clusters."),
        (
            "Gone since the previous period",
            &report.changes.gone,
            "No cluster of the previous period is gone.",
        ),
    ] {
        let _ = writeln!(o, "<h3>{title}</h3>");
        if list.is_empty() {
            let _ = writeln!(o, "<p>{none}</p>");
            continue;
        }
        o.push_str("<table>\n");
        header(&mut o, &cells::CHANGE_HEADER, &cells::CHANGE_NUMERIC);
        o.push_str("<tbody>\n");
        for c in list.iter() {
            let mut classes =
                column_classes(cells::CHANGE_HEADER.len(), &cells::CHANGE_NUMERIC, &[]);
            classes[0] = "name".into();
            classes[1] = "id".into();
            classes[5] = "seen".into();
            row(&mut o, &cells::change_cells(c), &classes);
        }
        o.push_str("</tbody>\n</table>\n");
    }
    o.push_str("</section>\n");

    let _ = writeln!(
        o,
        "<footer>Generated {} by blastradius {} from the crash store. Figures: the same analytics as <code>blastradius clusters</code>, <code>hosts</code> and <code>drivers</code> for the same window. Host-hours lost is an estimate.</footer>\n</main>\n</body>\n</html>",
        html_escape(&cells::minute(Some(&report.generated_at))),
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_get_break_opportunities_and_stay_escaped() {
        assert_eq!(breakable("csagent.sys"), "csagent.sys");
        let long = format!("<{}>", "a".repeat(30));
        assert_eq!(
            breakable(&long),
            format!("&lt;{}<wbr>{}&gt;", "a".repeat(23), "a".repeat(7))
        );
        assert_eq!(breakable("two words\u{1b}[31m"), "two words[31m");
    }
}

//! The fleet report as Markdown: the same sections and words as the HTML page
//! (`fleet_cells`), its charts as SVG files beside the document, linked as images.
//!
//! Every dump- or inventory-derived string goes through [`sanitize::markdown_escape`], so a
//! driver named `<script>…` or `[x](…)` stays text and a `|` cannot break a table.

use std::fmt::Write;

use super::charts::Chart;
use super::fleet_cells as cells;
use super::fleet_report::FleetReport;
use super::sanitize::markdown_escape as md;

fn table(out: &mut String, names: &[&str], numeric: &[usize], rows: &[Vec<String>]) {
    out.push('|');
    for name in names {
        let _ = write!(out, " {} |", md(name));
    }
    out.push_str("\n|");
    for i in 0..names.len() {
        out.push_str(if numeric.contains(&i) {
            " ---: |"
        } else {
            " --- |"
        });
    }
    out.push('\n');
    for r in rows {
        out.push('|');
        for cell in r {
            let _ = write!(out, " {} |", md(cell));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// The document; `chart_link(chart)` is the relative path each chart's SVG is written to.
pub fn render_markdown(
    report: &FleetReport,
    charts: &[Chart],
    chart_link: &dyn Fn(&Chart) -> String,
) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let period = cells::period_words(&report.window.start, &report.window.end);
    let previous = cells::previous_words(report);
    let _ = writeln!(o, "# Fleet stability report\n");
    let filters = cells::filter_words(report);
    let _ = writeln!(
        o,
        "**{}**, compared with {}{}.\n",
        md(&period),
        md(&previous),
        if filters.is_empty() {
            String::new()
        } else {
            format!("; only {}", md(&filters))
        }
    );

    o.push_str("## Headline\n\n");
    let cards = cells::headline_cards(report);
    let rows: Vec<Vec<String>> = cards
        .iter()
        .map(|c| {
            vec![
                c.label.to_string(),
                c.value.clone(),
                c.change.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    table(
        &mut o,
        &["Figure", "This period", "Change", "Note"],
        &[1],
        &rows,
    );

    o.push_str("## Top clusters by blast radius\n\n");
    if report.top_clusters.is_empty() {
        o.push_str("No crashes in this period.\n\n");
    } else {
        let _ = writeln!(
            o,
            "{} of {} clusters, by hosts hit. Critical hosts: inventory {}. Trend compares hosts with the previous period.\n",
            report.top_clusters.len(),
            report.cluster_count,
            md(&report.critical_rule)
        );
        let rows: Vec<Vec<String>> = report
            .top_clusters
            .iter()
            .map(cells::cluster_cells)
            .collect();
        table(
            &mut o,
            &cells::CLUSTER_HEADER,
            &cells::CLUSTER_NUMERIC,
            &rows,
        );
    }

    o.push_str("## Charts\n\n");
    if charts.is_empty() {
        o.push_str("No crashes in this period: nothing to chart.\n\n");
    }
    for chart in charts {
        // The link is a file name this program chose; the title is fixed text or escaped.
        let _ = writeln!(o, "![{}]({})\n", md(&chart.title), chart_link(chart));
    }

    o.push_str("## Hosts that need a person\n\n");
    if report.needs_attention.is_empty() {
        o.push_str("None: no host is boot-looping or still failing at the end of the window.\n\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .needs_attention
            .iter()
            .map(cells::attention_site_cells)
            .collect();
        table(
            &mut o,
            &cells::ATTENTION_SITE_HEADER,
            &cells::ATTENTION_SITE_NUMERIC,
            &rows,
        );
        for site in &report.needs_attention {
            let _ = writeln!(o, "### {} ({} hosts)\n", md(&site.site), site.hosts.len());
            let rows: Vec<Vec<String>> = site
                .hosts
                .iter()
                .take(cells::ATTENTION_HOSTS_SHOWN)
                .map(cells::attention_cells)
                .collect();
            table(
                &mut o,
                &cells::ATTENTION_HEADER,
                &cells::ATTENTION_NUMERIC,
                &rows,
            );
            if site.hosts.len() > cells::ATTENTION_HOSTS_SHOWN {
                let _ = writeln!(
                    o,
                    "… and {} more at this site.\n",
                    site.hosts.len() - cells::ATTENTION_HOSTS_SHOWN
                );
            }
        }
    }

    o.push_str("## Third-party kernel drivers\n\n");
    let d = &report.drivers;
    if d.drivers.is_empty() {
        o.push_str("No third-party kernel driver seen loaded in this period’s dumps.\n\n");
    } else {
        let _ = writeln!(
            o,
            "{} third-party drivers seen loaded on the {} hosts whose dumps list their drivers; share of the period’s {} crashes each caused.\n",
            d.drivers.len(),
            d.hosts_with_driver_data,
            d.crashes
        );
        let rows: Vec<Vec<String>> = cells::drivers_in_order(&d.drivers)
            .into_iter()
            .take(cells::DRIVERS_SHOWN)
            .map(cells::driver_cells)
            .collect();
        table(&mut o, &cells::DRIVER_HEADER, &cells::DRIVER_NUMERIC, &rows);
    }

    o.push_str("## What changed\n\n");
    for (title, list, none) in [
        ("New this period", &report.changes.new, "No new clusters."),
        (
            "Gone since the previous period",
            &report.changes.gone,
            "No cluster of the previous period is gone.",
        ),
    ] {
        let _ = writeln!(o, "### {title}\n");
        if list.is_empty() {
            let _ = writeln!(o, "{none}\n");
            continue;
        }
        let rows: Vec<Vec<String>> = list.iter().map(cells::change_cells).collect();
        table(&mut o, &cells::CHANGE_HEADER, &cells::CHANGE_NUMERIC, &rows);
    }
    let _ = writeln!(
        o,
        "---\n\nGenerated {} by blastradius {}. Host-hours lost is an estimate.",
        md(&cells::minute(Some(&report.generated_at))),
        env!("CARGO_PKG_VERSION")
    );
    o
}

//! The report's charts, drawn by `plotters` into SVG strings (no font files: text stays SVG
//! `<text>` for the viewer to set). Each chart has a title, axes labelled with their units and
//! a legend when it has several series.
//!
//! Labels can be dump-derived (driver names) or inventory values (sites): plotters escapes
//! XML, and every label first loses its control characters ([`label`]) so an escape sequence
//! cannot make a standalone `.svg` file invalid XML, and long names are cut so they cannot
//! push the layout apart.

use plotters::chart::MeshStyle;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::fleet_cells::drivers_in_order;
use super::fleet_report::{CrashSeries, FleetReport, OnsetCurve, SiteHosts};
use super::sanitize;
use crate::fleet::analytics::DriverRow;

/// Width and height of every chart, in SVG user units (the HTML scales them to the page).
pub const CHART_SIZE: (u32, u32) = (960, 400);

/// Series colours: the Okabe–Ito palette (distinguishable with colour-vision deficiency),
/// then grey for "other".
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];
const OTHER: RGBColor = RGBColor(160, 160, 160);
const TEXT: RGBColor = RGBColor(34, 34, 34);
const BOOT_LOOP: RGBColor = RGBColor(200, 40, 40);
const FAILING: RGBColor = RGBColor(230, 159, 0);
const SINGLE: RGBColor = RGBColor(86, 180, 233);
const RECOVERED: RGBColor = RGBColor(0, 158, 115);

/// Why a chart could not be drawn (a plotters error, as text).
#[derive(Debug, thiserror::Error)]
#[error("drawing the chart '{chart}': {message}")]
pub struct ChartError {
    chart: &'static str,
    message: String,
}

/// One drawn chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File-name stem (`crashes-over-time`) and HTML id.
    pub slug: &'static str,
    pub title: String,
    pub svg: String,
}

/// A label for a chart: control characters removed, at most `max` characters.
pub fn label(text: &str, max: usize) -> String {
    let clean = sanitize::terminal_safe(text);
    if clean.chars().count() <= max {
        return clean.into_owned();
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `2024-07-19T04:09:00Z` -> `07-19 04:09` (or `04:09` when `time_only`).
fn short_instant(rfc3339: &str, time_only: bool) -> String {
    let date = rfc3339.get(5..10).unwrap_or("");
    let time = rfc3339.get(11..16).unwrap_or("");
    if time_only {
        time.to_string()
    } else {
        format!("{date} {time}")
    }
}

/// A human bucket size: `3 h`, `30 min`, `1 d`.
pub fn bucket_words(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The top of a count axis: a little above the largest value, at least 5.
fn count_axis_max(max: u64) -> f64 {
    ((max as f64) * 1.15).ceil().max(5.0)
}

/// Integer tick labels only (plotters may place ticks at halves on small ranges).
fn integer_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

fn err(chart: &'static str) -> impl Fn(String) -> ChartError {
    move |message| ChartError { chart, message }
}

/// Runs `draw` on a fresh SVG canvas and returns the SVG text.
fn render(
    slug: &'static str,
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<Chart, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(slug)(e.to_string()))?;
        draw(&root).map_err(err(slug))?;
        root.present().map_err(|e| err(slug)(e.to_string()))?;
    }
    Ok(Chart {
        slug,
        title: title.to_string(),
        svg,
    })
}

type Chart2d<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart with room for axis labels, over `x` × `y`.
fn new_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    title_size: u32,
    y_label_area: u32,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart2d<'a, 'b>, String> {
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", title_size).into_font().color(&TEXT))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// Draws `bars` as one named series (filled in `c`) with its legend entry.
fn bar_series(
    chart: &mut Chart2d,
    bars: Vec<Rectangle<(f64, f64)>>,
    name: impl Into<String>,
    c: RGBColor,
) -> Result<(), String> {
    chart
        .draw_series(bars)
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.filled()));
    Ok(())
}

/// Draws the axes and grid in the house style (faint grid at labelled ticks only).
fn draw_mesh(
    mesh: &mut MeshStyle<'_, '_, RangedCoordf64, RangedCoordf64, SVGBackend<'_>>,
) -> Result<(), String> {
    mesh.light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 228, 232))
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())
}

/// The label of tick `x` on a time axis of buckets starting at `starts` (none between buckets).
fn time_tick(starts: &[String], x: f64, time_only: bool) -> String {
    if (x - x.round()).abs() > 1e-9 || x < 0.0 {
        return String::new();
    }
    starts
        .get(x.round() as usize)
        .map(|s| short_instant(s, time_only))
        .unwrap_or_default()
}

/// The legend box of the chart's named series.
fn legend<'a, 'b: 'a>(
    chart: &mut Chart2d<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

/// Crashes per bucket over the window, stacked by cluster.
pub fn crashes_over_time(series: &CrashSeries) -> Result<Chart, ChartError> {
    let title = "Crashes over time, by cluster";
    render("crashes-over-time", title, |root| {
        let n = series.bucket_starts.len().max(1);
        let totals: Vec<u64> = (0..n)
            .map(|i| {
                series
                    .series
                    .iter()
                    .map(|s| s.counts.get(i).copied().unwrap_or(0))
                    .sum()
            })
            .collect();
        let y_max = count_axis_max(totals.iter().copied().max().unwrap_or(0));
        let mut chart = new_chart(root, title, 22, 64, 0f64..n as f64, 0f64..y_max)?;
        let starts = &series.bucket_starts;
        let x_fmt = |x: &f64| time_tick(starts, *x, false);
        draw_mesh(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(8)
                .y_labels(8)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&integer_label)
                .x_desc("Time (UTC, bucket start)")
                .y_desc(format!(
                    "Crashes per {}",
                    bucket_words(series.bucket_seconds)
                )),
        )?;
        let mut base = vec![0u64; n];
        for (k, s) in series.series.iter().enumerate() {
            let c = if s.cluster_id.is_none() {
                OTHER
            } else {
                color(k)
            };
            let mut bars = Vec::new();
            for (i, v) in s.counts.iter().enumerate() {
                if *v == 0 || i >= n {
                    continue;
                }
                let y0 = base[i] as f64;
                let y1 = base[i].saturating_add(*v) as f64;
                base[i] = base[i].saturating_add(*v);
                bars.push(Rectangle::new(
                    [(i as f64 + 0.08, y0), (i as f64 + 0.92, y1)],
                    c.filled(),
                ));
            }
            bar_series(&mut chart, bars, label(&s.label, 40), c)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Draws category names under (or beside) the bars: plotters places numeric ticks, not
/// categories, so the names are set at the bar centres in pixels.
fn draw_category_labels(
    root: &DrawingArea<SVGBackend, Shift>,
    positions: impl Iterator<Item = ((i32, i32), String)>,
    anchor: Pos,
) -> Result<(), String> {
    let style = TextStyle::from(("sans-serif", 13).into_font())
        .color(&TEXT)
        .pos(anchor);
    for (at, text) in positions {
        root.draw(&Text::new(text, at, style.clone()))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Affected hosts per site, stacked by their state at the end of the window.
pub fn hosts_by_site(sites: &[SiteHosts]) -> Result<Chart, ChartError> {
    let title = "Hosts affected by site (state at the end of the window)";
    render("hosts-by-site", title, |root| {
        // At most 14 sites by name; the rest as one bar.
        let mut shown: Vec<SiteHosts> = sites.iter().take(14).cloned().collect();
        if sites.len() > 14 {
            let mut rest = SiteHosts {
                site: format!("{} other sites", sites.len() - 14),
                hosts_affected: 0,
                boot_loop: 0,
                failing: 0,
                single: 0,
                recovered: 0,
                down: 0,
            };
            for s in &sites[14..] {
                rest.hosts_affected = rest.hosts_affected.saturating_add(s.hosts_affected);
                rest.boot_loop = rest.boot_loop.saturating_add(s.boot_loop);
                rest.down = rest.down.saturating_add(s.down);
                rest.failing = rest.failing.saturating_add(s.failing);
                rest.single = rest.single.saturating_add(s.single);
                rest.recovered = rest.recovered.saturating_add(s.recovered);
            }
            shown.push(rest);
        }
        let n = shown.len().max(1);
        let y_max = count_axis_max(shown.iter().map(|s| s.hosts_affected).max().unwrap_or(0));
        let mut chart = new_chart(root, title, 22, 64, 0f64..n as f64, 0f64..y_max)?;
        let no_label = |_: &f64| String::new();
        draw_mesh(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_labels(8)
                .x_label_formatter(&no_label)
                .y_label_formatter(&integer_label)
                .x_desc("Site")
                .y_desc("Hosts affected"),
        )?;
        type Pick = fn(&SiteHosts) -> u64;
        let layers: [(&str, RGBColor, Pick); 4] = [
            ("boot-loop", BOOT_LOOP, |s| s.boot_loop),
            ("failing", FAILING, |s| s.failing),
            ("single crash", SINGLE, |s| s.single),
            ("recovered", RECOVERED, |s| s.recovered),
        ];
        let mut base = vec![0u64; n];
        for (name, c, pick) in layers {
            let mut bars = Vec::new();
            for (i, s) in shown.iter().enumerate() {
                let v = pick(s);
                if v == 0 {
                    continue;
                }
                bars.push(Rectangle::new(
                    [
                        (i as f64 + 0.15, base[i] as f64),
                        (i as f64 + 0.85, base[i].saturating_add(v) as f64),
                    ],
                    c.filled(),
                ));
                base[i] = base[i].saturating_add(v);
            }
            bar_series(&mut chart, bars, name, c)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        let positions: Vec<((i32, i32), String)> = shown
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                ((x, y + 6), label(&s.site, 16))
            })
            .collect();
        draw_category_labels(
            root,
            positions.into_iter(),
            Pos::new(HPos::Center, VPos::Top),
        )
    })
}

/// The largest cluster's crashes per bucket over its own span.
pub fn onset(curve: &OnsetCurve) -> Result<Chart, ChartError> {
    let title = format!("Onset of the largest cluster: {}", label(&curve.cause, 48));
    render("onset", &title, |root| {
        let n = curve.counts.len().max(1);
        let y_max = count_axis_max(curve.counts.iter().copied().max().unwrap_or(0));
        let mut chart = new_chart(root, &title, 22, 64, 0f64..n as f64, 0f64..y_max)?;
        let starts = &curve.bucket_starts;
        let same_day =
            starts.first().and_then(|s| s.get(..10)) == starts.last().and_then(|s| s.get(..10));
        let x_fmt = |x: &f64| time_tick(starts, *x, same_day);
        draw_mesh(
            chart
                .configure_mesh()
                .x_labels(10)
                .y_labels(8)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&integer_label)
                .x_desc(if same_day {
                    "Time (UTC, HH:MM)"
                } else {
                    "Time (UTC, MM-DD HH:MM)"
                })
                .y_desc(format!(
                    "Crashes per {}",
                    bucket_words(curve.bucket_seconds)
                )),
        )?;
        let c = color(0);
        // Each bucket's count drawn at its centre.
        let points: Vec<(f64, f64)> = curve
            .counts
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 + 0.5, *v as f64))
            .collect();
        chart
            .draw_series(
                AreaSeries::new(points.clone(), 0.0, c.mix(0.25)).border_style(c.stroke_width(2)),
            )
            .map_err(|e| e.to_string())?
            .label(format!(
                "crashes per {}",
                bucket_words(curve.bucket_seconds)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Third-party drivers: share of hosts loading each against its share of crashes.
pub fn driver_exposure(drivers: &[DriverRow]) -> Result<Chart, ChartError> {
    let title = "Third-party kernel drivers: share of hosts loading it vs share of crashes";
    render("driver-exposure", title, |root| {
        // The drivers that caused crashes, then the most widely loaded; at most 10.
        let mut picked = drivers_in_order(drivers);
        picked.truncate(10);
        let n = picked.len().max(1);
        let mut chart = new_chart(root, title, 20, 150, 0f64..100f64, 0f64..n as f64)?;
        let no_label = |_: &f64| String::new();
        let pct = |v: &f64| format!("{v:.0} %");
        draw_mesh(
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(11)
                .y_label_formatter(&no_label)
                .x_label_formatter(&pct)
                .x_desc("Share (%): of hosts with a known driver list / of crashes in the window")
                .y_desc("Driver"),
        )?;
        // Row i from the top: y runs upwards, so the first driver sits at n - 1.
        let row = |i: usize| (n - 1 - i) as f64;
        let layers: [(&str, RGBColor, f64, f64); 2] = [
            ("share of hosts loading it", color(0), 0.52, 0.88),
            ("share of crashes", BOOT_LOOP, 0.12, 0.48),
        ];
        for (k, (name, c, lo, hi)) in layers.into_iter().enumerate() {
            let bars: Vec<Rectangle<(f64, f64)>> = picked
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let share = if k == 0 {
                        d.loaded_share
                    } else {
                        d.crash_share
                    };
                    let v = (share.unwrap_or(0.0) * 100.0).clamp(0.0, 100.0);
                    Rectangle::new([(0.0, row(i) + lo), (v, row(i) + hi)], c.filled())
                })
                .collect();
            bar_series(&mut chart, bars, name, c)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        let positions: Vec<((i32, i32), String)> = picked
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (x, y) = chart.backend_coord(&(0.0, row(i) + 0.5));
                ((x - 8, y), label(&d.driver, 20))
            })
            .collect();
        draw_category_labels(
            root,
            positions.into_iter(),
            Pos::new(HPos::Right, VPos::Center),
        )
    })
}

/// Every chart the report has data for, in the report's order.
pub fn report_charts(report: &FleetReport) -> Result<Vec<Chart>, ChartError> {
    // A window without crashes has nothing to draw: no empty axes.
    let mut charts = Vec::new();
    if !report.crashes_over_time.series.is_empty() {
        charts.push(crashes_over_time(&report.crashes_over_time)?);
    }
    if !report.hosts_by_site.is_empty() {
        charts.push(hosts_by_site(&report.hosts_by_site)?);
    }
    if let Some(curve) = &report.largest_cluster_onset {
        charts.push(onset(curve)?);
    }
    if !report.drivers.drivers.is_empty() {
        charts.push(driver_exposure(&report.drivers.drivers)?);
    }
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_lose_control_characters_and_are_cut() {
        assert_eq!(label("evil\u{1b}[31m.sys", 40), "evil[31m.sys");
        assert_eq!(label("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn bucket_words_read_naturally() {
        assert_eq!(bucket_words(10_800), "3 h");
        assert_eq!(bucket_words(1800), "30 min");
        assert_eq!(bucket_words(86_400), "1 d");
        assert_eq!(bucket_words(45), "45 s");
    }
}

//! State -> widgets. Reads the prepared figures of the snapshot; every string that came from a
//! dump goes through [`safe`] before it reaches a cell, so a driver named with an escape
//! sequence cannot retitle or recolour the responder's terminal.
//!
//! Layout (usable at 80x24): a title line, the fleet figures, the tab bar, the body (a list or
//! a cluster's detail), and a status line. Tables build rows only for the lines on screen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::dump::bugcheck;
use crate::dump::Arch;
use crate::fleet::analytics::{ClusterNode, Exemplar, HostRow, HostState};
use crate::report::table::{percent, terminal_safe, thousands};

use super::app::{App, Tab};
use super::snapshot::Snapshot;

/// Dump-derived text made safe for the terminal (control characters, escape sequences and
/// bidi overrides removed; line breaks and tabs become spaces).
pub fn safe(text: &str) -> String {
    terminal_safe(text)
}

const SELECTED: Style = Style::new().bg(Color::Blue).fg(Color::White);
const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const ALERT: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);

/// Draws the whole console.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let [title, figures, tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_title(frame, app, title);
    draw_figures(frame, app, figures);
    draw_tabs(frame, app, tabs);
    match app.snapshot.clone() {
        None => {
            let text = match &app.load_error {
                Some(e) => Line::styled(format!(" {}", safe(e)), ALERT),
                None => Line::from(" reading the crash store…"),
            };
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
        }
        Some(snap) => match app.detail.clone().and_then(|id| snap.cluster(&id).cloned()) {
            Some(node) => draw_detail(frame, app, &snap, &node, body),
            None => {
                app.detail = None;
                match app.tab {
                    Tab::Clusters => draw_clusters(frame, app, &snap, body),
                    Tab::Hosts => draw_hosts(frame, app, &snap, body),
                    Tab::Drivers => draw_drivers(frame, app, &snap, body),
                }
            }
        },
    }
    draw_status(frame, app, status);
    if app.show_help {
        draw_help(frame, frame.area());
    }
}

fn draw_title(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::styled(" blastradius", HEADER)];
    if app.watching {
        spans.push(Span::styled(" [watching]", Style::new().fg(Color::Green)));
    }
    if let Some(snap) = &app.snapshot {
        if let Some(ms) = snap.newest_crash_ms {
            spans.push(Span::raw(format!(" · newest crash {}", App::short_utc(ms))));
        }
        // Last: a long path is what gets cut on a narrow terminal.
        spans.push(Span::styled(
            format!(" · {}", safe(&snap.store.display().to_string())),
            DIM,
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

/// `2024-07-19T04:09:00Z` -> `07-19 04:09` (tables; the year is in the header).
fn day_time(rfc3339: &str) -> String {
    let t = safe(rfc3339).replacen('T', " ", 1);
    t.get(5..16).map(str::to_string).unwrap_or(t)
}

/// `2024-07-19T04:09:00Z` -> `2024-07-19 04:09 UTC`.
fn short_time(rfc3339: &str) -> String {
    let t = safe(rfc3339).replacen('T', " ", 1);
    match t.get(..16) {
        Some(s) => format!("{s} UTC"),
        None => t,
    }
}

fn draw_figures(frame: &mut Frame, app: &App, area: Rect) {
    let Some(snap) = &app.snapshot else { return };
    let f = snap.fleet_figures();
    let hit = match f.fleet_hosts {
        Some(n) if n > 0 => format!(
            "{} of {} hosts hit ({})",
            thousands(f.hosts_affected),
            thousands(n),
            percent(f.hosts_affected as f64 / n as f64)
        ),
        _ => format!("{} hosts hit", thousands(f.hosts_affected)),
    };
    let mut spans = vec![Span::styled(format!(" {hit}"), HEADER)];
    if let Some(share) = f.crash_free_share {
        spans.push(Span::raw(format!(" · crash-free {}", percent(share))));
    }
    spans.push(Span::raw(" · boot-looping now "));
    spans.push(Span::styled(
        thousands(f.boot_looping_now),
        if f.boot_looping_now > 0 {
            ALERT
        } else {
            HEADER
        },
    ));
    if f.down_now > 0 {
        spans.push(Span::raw(" · down "));
        spans.push(Span::styled(thousands(f.down_now), ALERT));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let style = if *tab == app.tab && app.detail.is_none() {
            SELECTED.add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, tab.title()), style));
        spans.push(Span::raw(" "));
    }
    if app.detail.is_none() {
        spans.push(Span::styled(format!(" sort: {}", app.sort_name()), DIM));
        if app.tab == Tab::Hosts {
            let state = app.state_filter().map_or("all", |s| s.as_str());
            spans.push(Span::styled(format!(" · state: {state}"), DIM));
        }
    }
    if app.editing_filter || !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(
                " /{}{}",
                app.filter,
                if app.editing_filter { "▏" } else { "" }
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let line = if app.editing_filter {
        Line::from(" type to filter · Enter keep · Esc clear")
    } else if let Some(s) = &app.status {
        Line::styled(
            format!(" {}", s.text),
            if s.error {
                ALERT
            } else {
                Style::new().fg(Color::Green)
            },
        )
    } else if let Some(e) = app.load_error.as_ref().filter(|_| app.snapshot.is_some()) {
        Line::styled(format!(" reload failed: {}", safe(e)), ALERT)
    } else if let Some(s) = app.watch_status.as_ref().filter(|s| s.error) {
        Line::styled(format!(" {}", s.text), ALERT)
    } else {
        let keys = if app.detail.is_some() {
            " e export hosts · ↑↓ scroll · Esc back · ? help · q quit"
        } else {
            match app.tab {
                Tab::Clusters => " Enter detail · / filter · s sort · 1-3 tabs · ? help · q quit",
                Tab::Hosts => " f state · e export · / filter · s sort · ? help · q quit",
                Tab::Drivers => " / filter · s sort · 1-3 tabs · ? help · q quit",
            }
        };
        match &app.watch_status {
            // Watching, the line tells what the last scan found; `?` still lists the keys.
            Some(w) => Line::from(vec![
                Span::styled(format!(" {}", w.text), Style::new().fg(Color::Green)),
                Span::styled(" · ? keys · q quit", DIM),
            ]),
            None => Line::styled(keys, DIM),
        }
    };
    frame.render_widget(line, area);
}

/// A right-aligned number cell.
fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// Keeps the selection inside the visible rows; returns (first row, selected row on screen).
fn scroll_window(app: &mut App, height: usize) -> (usize, usize) {
    app.page = height.max(1);
    let selected = app.selected();
    let offset = app.offset_mut();
    if selected < *offset {
        *offset = selected;
    } else if height > 0 && selected >= *offset + height {
        *offset = selected + 1 - height;
    }
    let first = *offset;
    (first, selected.saturating_sub(first))
}

fn render_rows(
    frame: &mut Frame,
    app: &mut App,
    area: Rect,
    header: Row<'static>,
    widths: &[Constraint],
    mut make_row: impl FnMut(usize) -> Row<'static>,
    all: usize,
    empty: &str,
) {
    let total = app.visible_rows().len();
    let noun = app.tab.title().to_lowercase();
    let title = if all == total {
        format!(" {} {noun} ", thousands(total as u64))
    } else {
        format!(
            " {} of {} {noun} ",
            thousands(total as u64),
            thousands(all as u64)
        )
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .title(title)
        .border_style(DIM);
    let inner_height = area.height.saturating_sub(2) as usize; // top border + header
    if total == 0 {
        let text = if all > 0 {
            format!(" {empty} (Esc clears the filters)")
        } else if app.watching {
            " no crashes yet: waiting for dumps to land".to_string()
        } else {
            " no crashes in this window".to_string()
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let (first, on_screen) = scroll_window(app, inner_height);
    let rows: Vec<Row> = app.visible_rows()[first..(first + inner_height).min(total)]
        .to_vec()
        .into_iter()
        .map(&mut make_row)
        .collect();
    let table = Table::new(rows, widths.to_vec())
        .header(header.style(HEADER))
        .block(block)
        .column_spacing(1)
        .row_highlight_style(SELECTED);
    let mut state = TableState::default().with_selected(Some(on_screen));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_clusters(frame: &mut Frame, app: &mut App, snap: &Snapshot, area: Rect) {
    let header = Row::new(vec![
        "DRIVER / CAUSE",
        "BUCKET",
        "HOSTS",
        "FLEET",
        "LOOP",
        "LAST 24H",
        "",
    ]);
    let widths = [
        Constraint::Length(16),
        Constraint::Min(12),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(super::app::SPARK_BINS as u16),
        Constraint::Length(1),
    ];
    let activity = app.activity.clone();
    let make = |i: usize| -> Row<'static> {
        let Some(c) = snap.clusters.clusters.get(i) else {
            return Row::new(Vec::<Cell>::new());
        };
        let (spark, arrow) = activity
            .get(i)
            .map(|a| (super::trend::sparkline(&a.bins), a.trend.arrow()))
            .unwrap_or_default();
        Row::new(vec![
            Cell::from(safe(&c.cause)),
            Cell::from(safe(&c.bucket_id)),
            right(thousands(c.hosts)),
            right(c.fleet_share.map(percent).unwrap_or_default()),
            right(thousands(c.boot_loop_hosts)),
            Cell::from(Span::styled(spark, Style::new().fg(Color::Yellow))),
            Cell::from(arrow),
        ])
    };
    let all = snap.clusters.clusters.len();
    render_rows(
        frame,
        app,
        area,
        header,
        &widths,
        make,
        all,
        "no clusters match",
    );
}

fn state_style(state: HostState) -> Style {
    match state {
        HostState::BootLoop | HostState::Down => ALERT,
        HostState::Failing => Style::new().fg(Color::Yellow),
        HostState::Single => Style::new(),
        HostState::Recovered => Style::new().fg(Color::Green),
    }
}

fn host_cells(h: &HostRow) -> Vec<Cell<'static>> {
    vec![
        Cell::from(safe(&h.host)),
        Cell::from(Span::styled(h.state.as_str(), state_style(h.state))),
        right(thousands(h.crashes)),
        Cell::from(safe(h.inventory.get("site").unwrap_or("-"))),
        Cell::from(safe(h.inventory.get("role").unwrap_or("-"))),
        Cell::from(
            h.last_crash
                .as_deref()
                .map(day_time)
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(safe(&h.clusters.join(" "))),
    ]
}

const HOST_HEADER: [&str; 7] = [
    "HOST", "STATE", "CRASH", "SITE", "ROLE", "LAST UTC", "CLUSTERS",
];
const HOST_WIDTHS: [Constraint; 7] = [
    Constraint::Length(16),
    Constraint::Length(9),
    Constraint::Length(5),
    Constraint::Length(5),
    Constraint::Length(14),
    Constraint::Length(11),
    Constraint::Min(8),
];

fn draw_hosts(frame: &mut Frame, app: &mut App, snap: &Snapshot, area: Rect) {
    let make = |i: usize| -> Row<'static> {
        match snap.hosts.hosts.get(i) {
            Some(h) => Row::new(host_cells(h)),
            None => Row::new(Vec::<Cell>::new()),
        }
    };
    render_rows(
        frame,
        app,
        area,
        Row::new(HOST_HEADER.to_vec()),
        &HOST_WIDTHS,
        make,
        snap.hosts.hosts.len(),
        "no hosts match",
    );
}

fn draw_drivers(frame: &mut Frame, app: &mut App, snap: &Snapshot, area: Rect) {
    // With the fleet's driver inventory the installed base replaces the dump-based counts,
    // as in `drivers` (drivers no dump has shown are listed too, with 0 crashes).
    let installed = snap
        .drivers
        .drivers
        .iter()
        .any(|d| d.hosts_installed.is_some());
    let header = Row::new(if installed {
        vec!["DRIVER", "VENDOR", "INSTALLED", "FLEET", "CRASHES", "SHARE"]
    } else {
        vec!["DRIVER", "VENDOR", "HOSTS", "LOADED", "CRASHES", "SHARE"]
    });
    let widths = [
        Constraint::Min(14),
        Constraint::Length(18),
        Constraint::Length(if installed { 9 } else { 6 }),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let make = |i: usize| -> Row<'static> {
        let Some(d) = snap.drivers.drivers.get(i) else {
            return Row::new(Vec::<Cell>::new());
        };
        let (hosts, share) = if installed {
            (
                d.hosts_installed.map(thousands).unwrap_or_default(),
                d.installed_share,
            )
        } else {
            (thousands(d.hosts_loaded), d.loaded_share)
        };
        Row::new(vec![
            Cell::from(safe(&d.driver)),
            Cell::from(safe(d.vendor.as_deref().unwrap_or("-"))),
            right(hosts),
            right(share.map(percent).unwrap_or_default()),
            right(thousands(d.crashes)),
            right(d.crash_share.map(percent).unwrap_or_default()),
        ])
    };
    let all = snap.drivers.drivers.len();
    render_rows(
        frame,
        app,
        area,
        header,
        &widths,
        make,
        all,
        "no drivers match",
    );
}

/// Breakdown columns shown in a detail, in this order, when the inventory has them.
const BREAKDOWN_COLUMNS: [&str; 4] = ["site", "role", "ring", "os_build"];
/// Values per breakdown chart.
const BREAKDOWN_VALUES: usize = 6;

fn arch_of(name: Option<&str>) -> Arch {
    match name {
        Some("x86") => Arch::X86,
        Some("arm64") => Arch::Arm64,
        _ => Arch::Amd64,
    }
}

/// Bugcheck, parameters explained by the catalogue, and the fault of the example crash.
fn bugcheck_lines(node: &ClusterNode, ex: Option<&Exemplar>, out: &mut Vec<Line<'static>>) {
    let Some(ex) = ex else {
        out.push(Line::from(format!(
            " Bugcheck {}",
            safe(&node.bugcheck_codes.join(", "))
        )));
        return;
    };
    match ex.bugcheck_code {
        Some(code) => {
            out.push(Line::styled(
                format!(
                    " Bugcheck {} {}",
                    bugcheck::code_hex(code),
                    bugcheck::name(code)
                ),
                HEADER,
            ));
            let values: Vec<u64> = ex
                .bugcheck_parameters
                .iter()
                .map(|p| crate::record::parse_hex(p).unwrap_or(0))
                .collect();
            if let Ok(p) = <[u64; 4]>::try_from(values.as_slice()) {
                let arch = arch_of(ex.arch.as_deref());
                for m in bugcheck::explain_parameters(code, &p, ex.os_build, arch) {
                    let mut text = format!("   P{} {:#018x}", m.index + 1, m.value);
                    if !m.label.is_empty() {
                        text.push_str(&format!("  {}", m.label));
                    }
                    if let Some(meaning) = &m.meaning {
                        text.push_str(&format!(": {}", safe(meaning)));
                    }
                    out.push(Line::from(text));
                }
            }
        }
        None => out.push(Line::styled(" No bugcheck (user-mode crash)", HEADER)),
    }
    let fault = format!(
        "   fault {}{}{}",
        safe(ex.fault_module.as_deref().unwrap_or("?")),
        ex.fault_offset
            .as_deref()
            .map(|o| format!("+{}", safe(o)))
            .unwrap_or_default(),
        ex.fault_access
            .as_deref()
            .map(|a| format!(" ({} access)", safe(a)))
            .unwrap_or_default(),
    );
    out.push(Line::from(fault));
    out.push(Line::styled(
        format!(
            "   example dump {} on {}{}",
            safe(&ex.dump_id),
            safe(ex.host.as_deref().unwrap_or("?")),
            ex.os_build
                .map(|b| format!(", build {b}"))
                .unwrap_or_default()
        ),
        DIM,
    ));
}

/// Pushes `line`, continued on indented lines when it is wider than `width` (long parameter
/// meanings); styled lines are pushed as they are.
fn wrap_into(line: Line<'static>, width: usize, out: &mut Vec<Line<'static>>) {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    if line.spans.len() != 1 || width < 20 || text.chars().count() <= width {
        out.push(line);
        return;
    }
    let style = line.spans[0].style;
    let indent = "        ";
    let body = text.trim_start();
    let mut current = text[..text.len() - body.len()].to_string();
    for word in body.split(' ') {
        let len = current.chars().count();
        let blank = current.trim().is_empty();
        if !blank && len + 1 + word.chars().count() > width {
            out.push(Line::styled(std::mem::take(&mut current), style));
            current.push_str(indent);
        } else if !blank {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.trim().is_empty() {
        out.push(Line::styled(current, style));
    }
}

/// A bar of `value / max` over `width` cells, in eighths.
fn bar(value: u64, max: u64, width: usize) -> String {
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    if max == 0 || value == 0 {
        return String::new();
    }
    let eighths = (value as u128 * width as u128 * 8 / max as u128).max(1) as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8 - 1]);
    }
    s
}

/// A column chart of `values` rebinned to `width` columns, `height` rows of block characters.
fn column_chart(values: &[u64], width: usize, height: usize) -> Vec<String> {
    const PARTS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let width = width.max(1);
    let mut bins = vec![0u64; width.min(values.len().max(1))];
    let n = bins.len();
    for (i, v) in values.iter().enumerate() {
        let b = i * n / values.len().max(1);
        if let Some(slot) = bins.get_mut(b) {
            *slot = slot.saturating_add(*v);
        }
    }
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    (0..height)
        .rev()
        .map(|row| {
            bins.iter()
                .map(|v| {
                    let eighths = (*v as u128 * (height * 8) as u128 / max as u128) as usize;
                    let level = eighths.saturating_sub(row * 8);
                    match level {
                        0 => ' ',
                        l if l >= 8 => '█',
                        l => PARTS[l - 1],
                    }
                })
                .collect()
        })
        .collect()
}

/// A cluster's detail up to the header of its host list: figures, bugcheck, frames, onset,
/// breakdowns.
pub fn detail_head(
    snap: &Snapshot,
    node: &ClusterNode,
    width: u16,
    trend_word: &str,
) -> Vec<Line<'static>> {
    let width = width as usize;
    let mut out: Vec<Line<'static>> = Vec::new();
    out.push(Line::styled(
        format!(" {}  {}", safe(&node.cause), safe(&node.bucket_id)),
        HEADER.fg(Color::Cyan),
    ));
    let fleet = node
        .fleet_share
        .map(|s| format!(" ({} of fleet)", percent(s)))
        .unwrap_or_default();
    out.push(Line::from(vec![
        Span::styled(format!(" {} hosts{fleet}", thousands(node.hosts)), HEADER),
        Span::raw(format!(
            " · {} crashes · {:.1} host-hours lost",
            thousands(node.crashes),
            node.host_hours_lost
        )),
    ]));
    let down = if node.down_hosts > 0 {
        format!(" · {} down", thousands(node.down_hosts))
    } else {
        String::new()
    };
    let critical = node
        .critical_hosts
        .map(|n| format!(" · {} critical", thousands(n)))
        .unwrap_or_default();
    out.push(Line::from(format!(
        " {} boot-looped{down} · {} still failing · {} recovered{critical} · {}",
        thousands(node.boot_loop_hosts),
        thousands(node.still_failing_hosts),
        thousands(node.recovered_hosts),
        trend_word
    )));
    let mut facts = Vec::new();
    if let (Some(first), Some(last)) = (node.first_seen_ms, node.last_seen_ms) {
        facts.push(crate::fleet::analytics::window::short_span_utc(first, last));
    }
    if let (Some(exposed), Some(hit)) = (node.exposed_hosts, node.exposed_hit_share) {
        facts.push(format!(
            "{} hosts load it, {} of them hit",
            thousands(exposed),
            percent(hit)
        ));
    }
    out.push(Line::from(format!(" {}", facts.join(" · "))));
    out.push(Line::styled(
        format!(
            " owner {}{} · id {}",
            safe(node.owner.as_deref().unwrap_or("unknown")),
            if node.third_party {
                " (third party)"
            } else {
                ""
            },
            safe(&node.id)
        ),
        DIM,
    ));
    out.push(Line::raw(""));

    let mut bug = Vec::new();
    bugcheck_lines(node, snap.exemplars.get(&node.id), &mut bug);
    for line in bug {
        wrap_into(line, width, &mut out);
    }
    out.push(Line::raw(""));

    out.push(Line::styled(" Signature", HEADER));
    match snap.exemplars.get(&node.id) {
        Some(ex) if !ex.frames.is_empty() => {
            for (i, f) in ex.frames.iter().enumerate().take(12) {
                let module = safe(f.module.as_deref().unwrap_or("?"));
                let text = match (&f.function, &f.offset) {
                    (Some(func), _) => format!("   #{i:<2} {module}!{}", safe(func)),
                    (None, Some(off)) => format!("   #{i:<2} {module}+{}", safe(off)),
                    (None, None) => format!("   #{i:<2} {module}"),
                };
                out.push(Line::from(text));
            }
        }
        _ => {
            for frame in node.signature.split(" | ") {
                out.push(Line::from(format!("   {}", safe(frame))));
            }
        }
    }
    out.push(Line::raw(""));

    let onset = &node.onset;
    out.push(Line::styled(
        format!(
            " Onset: crashes per {} from {}, peak {} at {}",
            crate::report::charts::bucket_words(onset.bucket_seconds.max(1)),
            onset.start.as_deref().map(short_time).unwrap_or_default(),
            thousands(onset.peak_crashes),
            onset
                .peak_at
                .as_deref()
                .map(|t| day_time(t).get(6..).unwrap_or_default().to_string())
                .unwrap_or_default()
        ),
        HEADER,
    ));
    let chart_width = width.saturating_sub(4).max(1);
    let stretch = (chart_width / onset.counts.len().max(1)).clamp(1, 4);
    let chart = column_chart(&onset.counts, chart_width / stretch, 4);
    let drawn = chart.first().map_or(0, |r| r.chars().count() * stretch);
    for row in chart {
        let wide: String = row
            .chars()
            .flat_map(|c| std::iter::repeat_n(c, stretch))
            .collect();
        out.push(Line::styled(
            format!("   {wide}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let (Some(first), Some(last)) = (node.first_seen_ms, node.last_seen_ms) {
        let (a, b) = (App::short_utc(first), App::short_utc(last));
        let (a, b) = (
            a.get(11..16).unwrap_or(&a).to_string(),
            b.get(11..).unwrap_or(&b).to_string(),
        );
        let gap = drawn
            .saturating_sub(a.chars().count() + b.chars().count())
            .max(1);
        out.push(Line::styled(format!("   {a}{}{b}", " ".repeat(gap)), DIM));
    }
    out.push(Line::raw(""));

    for column in BREAKDOWN_COLUMNS {
        let Some(values) = node.breakdown.get(column) else {
            continue;
        };
        let mut sorted: Vec<(&String, &u64)> = values.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        out.push(Line::styled(format!(" Hosts by {column}"), HEADER));
        let max = sorted.first().map_or(0, |(_, n)| **n);
        let bar_width = width.saturating_sub(30).clamp(5, 40);
        for (value, n) in sorted.iter().take(BREAKDOWN_VALUES) {
            let label: String = safe(value).chars().take(16).collect();
            out.push(Line::from(vec![
                Span::raw(format!("   {label:<16} {:>6} ", thousands(**n))),
                Span::styled(bar(**n, max, bar_width), Style::new().fg(Color::Cyan)),
            ]));
        }
        if sorted.len() > BREAKDOWN_VALUES {
            out.push(Line::styled(
                format!("   … {} more", sorted.len() - BREAKDOWN_VALUES),
                DIM,
            ));
        }
    }
    out.push(Line::raw(""));

    let hosts = snap.cluster_hosts(node);
    out.push(Line::styled(
        format!(
            " Hosts ({}) — e writes them as CSV for dispatch",
            thousands(hosts.len() as u64)
        ),
        HEADER,
    ));
    out.push(Line::styled(
        "   HOST             STATE     CRASH  SITE  LAST UTC     LOOPED",
        DIM,
    ));
    out
}

/// One host line of a cluster's detail.
fn host_line(h: &HostRow) -> Line<'static> {
    let last = h
        .last_crash
        .as_deref()
        .map(day_time)
        .unwrap_or_else(|| "-".into());
    Line::from(vec![
        Span::raw(format!("   {:<16} ", safe(&h.host))),
        Span::styled(format!("{:<10}", h.state.as_str()), state_style(h.state)),
        Span::raw(format!(
            "{:>5}  {:<5} {:<12} {}",
            thousands(h.crashes),
            safe(h.inventory.get("site").unwrap_or("-")),
            last,
            if h.boot_looped { "yes" } else { "" }
        )),
    ])
}

/// The whole detail document of a cluster: [`detail_head`] and a line per host.
pub fn detail_lines(
    snap: &Snapshot,
    node: &ClusterNode,
    width: u16,
    trend_word: &str,
) -> Vec<Line<'static>> {
    let mut lines = detail_head(snap, node, width, trend_word);
    lines.extend(snap.cluster_hosts(node).into_iter().map(host_line));
    lines
}

fn draw_detail(frame: &mut Frame, app: &mut App, snap: &Snapshot, node: &ClusterNode, area: Rect) {
    let trend = snap
        .clusters
        .clusters
        .iter()
        .position(|c| c.id == node.id)
        .and_then(|i| app.activity.get(i))
        .map_or("", |a| a.trend.word());
    let trend = if trend.is_empty() {
        String::new()
    } else {
        format!("trend {trend}")
    };
    // Only the lines on screen are built: a cluster can hold 100,000 hosts.
    let head = detail_head(snap, node, area.width, &trend);
    let hosts = snap.cluster_hosts(node);
    let total = head.len() + hosts.len();
    let height = area.height.saturating_sub(1) as usize;
    app.page = height.max(1);
    let max_scroll = total.saturating_sub(height).min(u16::MAX as usize) as u16;
    app.detail_scroll = app.detail_scroll.min(max_scroll);
    let first = app.detail_scroll as usize;
    let lines: Vec<Line> = (first..(first + height).min(total))
        .filter_map(|i| match head.get(i) {
            Some(line) => Some(line.clone()),
            None => hosts.get(i - head.len()).map(|h| host_line(h)),
        })
        .collect();
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(DIM)
        .title(format!(
            " cluster {} · line {}/{} ",
            safe(&node.cause),
            first + 1,
            total
        ));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move (scroll in a detail)"),
    ("PgUp PgDn Space", "a page"),
    ("Home End  g G", "first / last"),
    ("Enter  l", "open the cluster's detail"),
    ("Esc  h  ←", "back; in a list, clear the filters"),
    ("1 2 3  Tab", "clusters, hosts, drivers"),
    ("/", "filter by text (Enter keeps, Esc clears)"),
    ("s", "cycle the sort"),
    ("f", "hosts: cycle the state filter"),
    ("e", "export hosts as CSV (detail or hosts tab)"),
    ("mouse wheel", "scroll"),
    ("q  Ctrl-C", "quit"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let width = area.width.min(64);
    let height = area.height.min(HELP.len() as u16 + 2);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), HEADER),
                Span::raw(*v),
            ])
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" keys (any key closes) ")),
        rect,
    );
}

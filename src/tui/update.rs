//! Events -> state: keys, mouse, and what the worker thread reports. No drawing and no
//! terminal here, so every key is unit-tested on an `App`.

use std::sync::Arc;

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

use super::app::{App, Status, Tab};
use super::export::export_hosts;
use super::watch::WorkerMessage;

/// Rows the mouse wheel moves per notch.
const WHEEL_ROWS: isize = 3;

/// Applies one terminal event.
pub fn handle_event(app: &mut App, event: &Event) {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => handle_key(app, *key),
        Event::Mouse(mouse) => handle_mouse(app, *mouse),
        _ => {} // resize: the next draw lays out for the new size
    }
}

pub fn handle_mouse(app: &mut App, mouse: MouseEvent) {
    let delta = match mouse.kind {
        MouseEventKind::ScrollDown => WHEEL_ROWS,
        MouseEventKind::ScrollUp => -WHEEL_ROWS,
        _ => return,
    };
    if app.detail.is_some() {
        scroll_detail(app, delta);
    } else {
        app.move_by(delta);
    }
}

fn scroll_detail(app: &mut App, delta: isize) {
    app.detail_scroll = (app.detail_scroll as isize)
        .saturating_add(delta)
        .clamp(0, u16::MAX as isize) as u16;
}

/// Applies one key press.
pub fn handle_key(app: &mut App, key: KeyEvent) {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        app.quit = true;
        return;
    }
    // A message answers the last key; the next key clears it (errors stay until then too).
    app.status = None;
    if app.editing_filter {
        edit_filter(app, key);
        return;
    }
    if app.show_help {
        // Any key closes the help; `q` still quits.
        app.show_help = false;
        if key.code == KeyCode::Char('q') {
            app.quit = true;
        }
        return;
    }
    let page = app.page.max(1) as isize;
    let in_detail = app.detail.is_some();
    match key.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('?') => app.show_help = true,
        KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h') | KeyCode::Left => {
            if in_detail {
                app.detail = None;
            } else if matches!(key.code, KeyCode::Esc)
                && (!app.filter.is_empty() || app.state_filter().is_some())
            {
                app.filter.clear();
                app.state_filter = 0;
                app.refresh_rows();
            }
        }
        KeyCode::Char('/') => {
            app.detail = None;
            app.editing_filter = true;
        }
        KeyCode::Char('e') => export(app),
        KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right if !in_detail => open_detail(app),
        _ if in_detail => detail_key(app, key, page),
        KeyCode::Down | KeyCode::Char('j') => app.move_by(1),
        KeyCode::Up | KeyCode::Char('k') => app.move_by(-1),
        KeyCode::PageDown | KeyCode::Char(' ') => app.move_by(page),
        KeyCode::PageUp => app.move_by(-page),
        KeyCode::Home | KeyCode::Char('g') => app.move_to(0),
        KeyCode::End | KeyCode::Char('G') => app.move_to(usize::MAX),
        KeyCode::Char('s') => app.cycle_sort(),
        KeyCode::Char('f') if app.tab == Tab::Hosts => app.cycle_state_filter(),
        KeyCode::Tab => switch_tab(app, 1),
        KeyCode::BackTab => switch_tab(app, 2),
        KeyCode::Char('1') => app.tab = Tab::Clusters,
        KeyCode::Char('2') => app.tab = Tab::Hosts,
        KeyCode::Char('3') => app.tab = Tab::Drivers,
        _ => {}
    }
}

/// Keys while a cluster's detail is open: scrolling, and tab switches that leave it.
fn detail_key(app: &mut App, key: KeyEvent, page: isize) {
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => scroll_detail(app, 1),
        KeyCode::Up | KeyCode::Char('k') => scroll_detail(app, -1),
        KeyCode::PageDown | KeyCode::Char(' ') => scroll_detail(app, page),
        KeyCode::PageUp => scroll_detail(app, -page),
        KeyCode::Home | KeyCode::Char('g') => app.detail_scroll = 0,
        KeyCode::End | KeyCode::Char('G') => app.detail_scroll = u16::MAX,
        KeyCode::Tab | KeyCode::Char('2') => {
            app.detail = None;
            app.tab = Tab::Hosts;
        }
        KeyCode::Char('3') => {
            app.detail = None;
            app.tab = Tab::Drivers;
        }
        KeyCode::Char('1') => app.detail = None,
        _ => {}
    }
}

fn switch_tab(app: &mut App, step: usize) {
    let i = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    app.tab = Tab::ALL[(i + step) % Tab::ALL.len()];
}

fn open_detail(app: &mut App) {
    if app.tab != Tab::Clusters {
        return;
    }
    let Some(snap) = &app.snapshot else { return };
    let Some(node) = app
        .selected_cluster()
        .and_then(|i| snap.clusters.clusters.get(i))
    else {
        return;
    };
    app.detail = Some(node.id.clone());
    app.detail_scroll = 0;
}

fn edit_filter(app: &mut App, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => app.editing_filter = false,
        KeyCode::Esc => {
            app.editing_filter = false;
            app.filter.clear();
        }
        KeyCode::Backspace => {
            app.filter.pop();
        }
        KeyCode::Char(c) if !c.is_control() && app.filter.chars().count() < 80 => {
            app.filter.push(c)
        }
        _ => return,
    }
    app.refresh_rows();
    for t in 0..3 {
        app.selected[t] = 0;
        app.offset[t] = 0;
    }
}

/// `e`: in a cluster's detail, its hosts; in the hosts tab, the hosts listed (filter and
/// state filter applied). Says where the file went, or why it could not be written.
fn export(app: &mut App) {
    let Some(snap) = app.snapshot.clone() else {
        return;
    };
    let (label, hosts) = if let Some(node) = app.detail.as_deref().and_then(|id| snap.cluster(id)) {
        let hosts = snap.cluster_hosts(node).into_iter().cloned().collect();
        (node.cause.clone(), hosts)
    } else if app.tab == Tab::Hosts {
        let hosts = app.rows[1]
            .iter()
            .filter_map(|i| snap.hosts.hosts.get(*i).cloned())
            .collect::<Vec<_>>();
        let label = app.state_filter().map_or("all", |s| s.as_str());
        (label.to_string(), hosts)
    } else {
        app.status = Some(Status {
            text: "e exports hosts: open a cluster (Enter) or the hosts tab (2) first".into(),
            error: false,
        });
        return;
    };
    let count = hosts.len();
    app.status = Some(
        match export_hosts(&snap.hosts, hosts, &label, &app.export_dir) {
            Ok(path) => Status {
                text: format!("exported {count} hosts to {}", path.display()),
                error: false,
            },
            Err(e) => Status {
                text: format!("export failed in {}: {e}", app.export_dir.display()),
                error: true,
            },
        },
    );
}

/// Applies what the worker thread reports.
pub fn handle_worker(app: &mut App, message: WorkerMessage) {
    match message {
        WorkerMessage::Snapshot(snapshot) => app.set_snapshot(Arc::new(*snapshot)),
        WorkerMessage::LoadFailed(text) => app.load_error = Some(text),
        WorkerMessage::Scanned(text) => {
            app.watch_status = Some(Status { text, error: false });
        }
        WorkerMessage::ScanFailed(text) => {
            app.watch_status = Some(Status { text, error: true });
        }
    }
}

//! `blastradius tui`: key handling and drawing on the committed sample fleet (its truth is
//! `sample-dumps/truth.json`: the csagent.sys cluster, 471 dumps on 139 of 200 hosts), hostile
//! names, and the real binary driven through tmux.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind,
};
use ratatui::style::Color;
use ratatui::Terminal;

use blastradius::fleet::analytics::HostState;
use blastradius::fleet::inventory::read_inventory;
use blastradius::fleet::scan::scan_path;
use blastradius::fleet::store::Store;
use blastradius::pipeline::Pipeline;
use blastradius::symbols::SymbolCache;
use blastradius::tui::update::{handle_event, handle_key};
use blastradius::tui::{view, App, LoadOptions, Snapshot, Tab};

use super::common;

/// The sample fleet's truth (sample-dumps/truth.json).
fn truth() -> serde_json::Value {
    let text = std::fs::read_to_string(common::project_root().join("sample-dumps/truth.json"))
        .expect("sample-dumps/truth.json");
    serde_json::from_str(&text).expect("truth.json is JSON")
}

/// Distinct hosts with a dump in the truth.
fn truth_hosts_hit(truth: &serde_json::Value) -> u64 {
    let hosts: std::collections::BTreeSet<&str> = truth["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["host"].as_str())
        .collect();
    hosts.len() as u64
}

/// A store of the sample fleet, built once per test process under the target's temp dir.
fn sample_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tui-sample-store");
        let _ = std::fs::remove_dir_all(&dir);
        let root = common::project_root();
        let mut store = Store::open_or_create(&dir).unwrap();
        store
            .save_inventory(read_inventory(&root.join("sample-dumps/inventory.csv")).unwrap())
            .unwrap();
        let symbols = SymbolCache::from_spec(root.join("symbols-cache").to_str().unwrap()).unwrap();
        let pipeline = Pipeline::new(Arc::new(symbols));
        scan_path(&mut store, &pipeline, &root.join("sample-dumps/dumps")).unwrap();
        dir
    })
}

fn sample_snapshot() -> Arc<Snapshot> {
    static SNAP: OnceLock<Arc<Snapshot>> = OnceLock::new();
    SNAP.get_or_init(|| Arc::new(Snapshot::load(sample_store(), &LoadOptions::default()).unwrap()))
        .clone()
}

fn app_with(snapshot: Arc<Snapshot>, export_dir: &Path) -> App {
    let mut app = App::new(export_dir.to_path_buf(), false);
    app.set_snapshot(snapshot);
    app
}

fn key(app: &mut App, code: KeyCode) {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE));
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Draws `app` on a `w`x`h` in-memory terminal and returns the screen as lines.
fn screen(app: &mut App, w: u16, h: u16) -> (Vec<String>, Terminal<TestBackend>) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let lines = (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    (lines, terminal)
}

fn contains(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn main_view_ranks_the_incident_cluster_first_with_the_fleet_figures() {
    let truth = truth();
    let incident = &truth["clusters"][0];
    let hosts = incident["hosts"].as_u64().unwrap();
    let fleet = truth["hosts"].as_u64().unwrap();
    let snap = sample_snapshot();
    let top = &snap.clusters.clusters[0];
    assert_eq!(top.cause, incident["blamed_driver"].as_str().unwrap());
    assert_eq!(top.hosts, hosts);
    assert_eq!(top.crashes, incident["dumps"].as_u64().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(snap.clone(), dir.path());
    let (lines, _) = screen(&mut app, 80, 24);
    let text = lines.join("\n");
    // Header: hosts hit of the inventory's 200, crash-free share, boot-looping now.
    let hit = truth_hosts_hit(&truth);
    assert_eq!(snap.clusters.hosts, hit);
    let header = format!("{hit} of {fleet} hosts hit");
    assert!(lines[1].contains(&header), "{text}");
    let crash_free = (fleet - hit) as f64 / fleet as f64 * 100.0;
    assert!(
        lines[1].contains(&format!("crash-free {crash_free:.1} %")),
        "{text}"
    );
    assert!(lines[1].contains("boot-looping now 0"), "{text}");
    assert!(
        lines[0].contains("newest crash 2024-07-19 20:13 UTC"),
        "{text}"
    );
    // The first row is the incident: driver, bucket, hosts, share of the fleet, loops.
    let first = lines
        .iter()
        .find(|l| l.starts_with("csagent.sys"))
        .expect("a csagent.sys row");
    assert!(first.contains("AV_R_INVALID_csagent"), "{first}");
    assert!(first.contains(&format!(" {hosts} ")), "{first}");
    let share = format!("{:.1} %", hosts as f64 / fleet as f64 * 100.0);
    assert!(first.contains(&share), "{first}");
    let looped = truth["boot_loop_hosts"].as_array().unwrap().len() as u64;
    assert_eq!(top.boot_loop_hosts, looped);
    assert!(first.contains(&format!(" {looped} ")), "{first}");
    // Its sparkline shows the 04:09-05:37 morning within the last 24 h: some bar, not blank.
    assert!(first.chars().any(|c| ('▁'..='█').contains(&c)), "{first}");
    assert!(text.contains(&format!("{} clusters", snap.clusters.clusters.len())));
}

#[test]
fn enter_opens_the_detail_and_e_exports_the_hosts_of_the_biggest_cluster() {
    let truth = truth();
    let hosts = truth["clusters"][0]["hosts"].as_u64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(sample_snapshot(), dir.path());
    key(&mut app, KeyCode::Enter);
    assert!(app.detail.is_some());
    let (lines, _) = screen(&mut app, 80, 24);
    let text = lines.join("\n");
    assert!(
        text.contains("Bugcheck 0x50 PAGE_FAULT_IN_NONPAGED_AREA"),
        "{text}"
    );
    assert!(text.contains("P3 0x"), "{text}");
    assert!(text.contains("faulting instruction address"), "{text}");
    assert!(text.contains("csagent.sys+0xe14ed"), "{text}");
    assert!(
        text.contains(&format!("{hosts} hosts (69.5 % of fleet)")),
        "{text}"
    );

    // Further down: the breakdowns, the onset chart and the host list.
    let mut all = String::new();
    for _ in 0..30 {
        all.push_str(&screen(&mut app, 80, 24).0.join("\n"));
        key(&mut app, KeyCode::PageDown);
    }
    for needle in [
        "Hosts by site",
        "Hosts by ring",
        "Hosts by os_build",
        "Onset: crashes per 5 min",
    ] {
        assert!(all.contains(needle), "{needle} missing");
    }
    assert!(all.contains(&format!("Hosts ({hosts})")));

    key(&mut app, KeyCode::Char('e'));
    let status = app.status.clone().expect("a status after e");
    assert!(!status.error, "{}", status.text);
    assert!(
        status.text.contains(&format!("exported {hosts} hosts to")),
        "{}",
        status.text
    );
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let csv = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(status.text.contains(&files[0].path().display().to_string()));
    assert_eq!(
        csv.lines().count() as u64,
        hosts + 1,
        "header + one line per host"
    );
    assert!(csv.starts_with("host,state,crashes,clusters,"));
    assert!(csv.lines().skip(1).all(|l| l.contains("csagent.sys")));
    // The status line says where, on screen.
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(lines[23].contains("exported"), "{}", lines[23]);

    key(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
}

#[test]
fn keys_move_filter_sort_and_switch_tabs() {
    let snap = sample_snapshot();
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(snap.clone(), dir.path());
    let clusters = snap.clusters.clusters.len();
    assert_eq!(app.visible_rows().len(), clusters);
    key(&mut app, KeyCode::Down);
    keys(&mut app, "j");
    assert_eq!(app.selected(), 2);
    keys(&mut app, "k");
    assert_eq!(app.selected(), 1);
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected(), clusters - 1);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.selected(), 0);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected(), clusters - 1, "a page is more than 8 rows");
    keys(&mut app, "g");
    // Mouse wheel: 3 rows a notch.
    handle_event(
        &mut app,
        &Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 0,
            row: 5,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(app.selected(), 3);

    // `/` filter: only matching clusters remain; Esc clears it.
    keys(&mut app, "/acme");
    assert!(app.editing_filter);
    key(&mut app, KeyCode::Enter);
    assert!(!app.editing_filter);
    let names: Vec<&str> = app
        .visible_rows()
        .iter()
        .map(|i| snap.clusters.clusters[*i].cause.as_str())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("acme")),
        "{names:?}"
    );
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(lines[2].contains("/acme"));
    assert!(!contains(&lines, "csagent.sys"));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.visible_rows().len(), clusters);

    // `s` cycles the sort: crashes, then boot-looping, ...; the order follows.
    keys(&mut app, "s");
    assert_eq!(app.sort_name(), "crashes");
    let crashes: Vec<u64> = app
        .visible_rows()
        .iter()
        .map(|i| snap.clusters.clusters[*i].crashes)
        .collect();
    assert!(crashes.windows(2).all(|w| w[0] >= w[1]), "{crashes:?}");
    keys(&mut app, "ssss");
    assert_eq!(app.sort_name(), "hosts");

    // Hosts tab and its state filter.
    keys(&mut app, "2");
    assert_eq!(app.tab, Tab::Hosts);
    assert_eq!(app.visible_rows().len(), snap.hosts.hosts.len());
    keys(&mut app, "f");
    assert_eq!(app.state_filter(), Some(HostState::BootLoop));
    assert_eq!(
        app.visible_rows().len(),
        0,
        "by the end of the data no host loops"
    );
    keys(&mut app, "ff");
    assert_eq!(app.state_filter(), Some(HostState::Recovered));
    let recovered = snap.hosts.by_state[&HostState::Recovered] as usize;
    assert_eq!(app.visible_rows().len(), recovered);
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(lines[2].contains("state: recovered"), "{}", lines[2]);
    assert!(lines[3].contains(&format!("{recovered} of {} hosts", snap.hosts.hosts.len())));

    // Drivers tab, Tab key, help, quit.
    keys(&mut app, "3");
    assert_eq!(app.tab, Tab::Drivers);
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("csagent.sys") && l.contains("CrowdStrike")));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Clusters);
    keys(&mut app, "?");
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(contains(&lines, "keys (any key closes)"));
    assert!(
        contains(&lines, "q  Ctrl-C"),
        "the whole help fits at 80x24"
    );
    keys(&mut app, "x");
    assert!(!app.show_help && !app.quit);
    keys(&mut app, "q");
    assert!(app.quit);
}

/// With heartbeats in the store the console judges hosts as `hosts` does: the hosts that
/// never checked in after their last crash (truth's `never_checked_in_hosts`) show as down,
/// in the header, the hosts tab and the cluster's detail; with the driver inventory, the
/// drivers tab shows the installed base.
#[test]
fn hosts_that_never_checked_in_show_as_down() {
    let truth = truth();
    let never: Vec<&str> = truth["never_checked_in_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(!never.is_empty());
    let snap = Arc::new(
        Snapshot::load(
            common::sample_fleet_store_with_heartbeats(),
            &LoadOptions::default(),
        )
        .unwrap(),
    );
    let mut down: Vec<&str> = snap
        .hosts
        .hosts
        .iter()
        .filter(|h| h.state == HostState::Down)
        .map(|h| h.host.as_str())
        .collect();
    down.sort_unstable();
    assert_eq!(down, never);
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(snap.clone(), dir.path());
    let (lines, _) = screen(&mut app, 100, 30);
    assert!(
        contains(&lines, &format!("down {}", never.len())),
        "{}",
        lines.join("\n")
    );
    // The hosts tab, filtered to one stuck host: its row says down.
    keys(&mut app, "2");
    keys(&mut app, &format!("/{}", never[0]));
    key(&mut app, KeyCode::Enter);
    let (lines, _) = screen(&mut app, 100, 30);
    let row = lines
        .iter()
        .find(|l| l.contains(never[0]) && !l.contains(&format!("/{}", never[0])))
        .unwrap_or_else(|| panic!("{}", lines.join("\n")));
    assert!(row.contains("down"), "{row}");
    // The state filter's `down` lists exactly them.
    key(&mut app, KeyCode::Esc);
    while app.state_filter() != Some(HostState::Down) {
        keys(&mut app, "f");
    }
    assert_eq!(app.visible_rows().len(), never.len());
    // The drivers tab gives the installed base (sample-dumps/drivers.csv: csagent.sys on 199
    // of 200 hosts).
    keys(&mut app, "3");
    let (lines, _) = screen(&mut app, 100, 30);
    assert!(contains(&lines, "INSTALLED"), "{}", lines.join("\n"));
    let row = lines
        .iter()
        .find(|l| l.trim_start().starts_with("csagent.sys"))
        .unwrap();
    assert!(row.contains(" 199 ") && row.contains("99.5 %"), "{row}");
    // The csagent.sys detail counts them.
    let cs = snap
        .clusters
        .clusters
        .iter()
        .find(|c| c.cause == "csagent.sys")
        .unwrap();
    assert_eq!(cs.down_hosts as usize, never.len());
    let head = view::detail_head(&snap, cs, 100, "steady");
    let text: Vec<String> = head.iter().map(|l| l.to_string()).collect();
    assert!(
        contains(&text, &format!("{} down", never.len())),
        "{text:?}"
    );
}

#[test]
fn the_screen_fits_small_and_resized_terminals() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(sample_snapshot(), dir.path());
    // From tiny to wide, both views draw without panicking; 80x24 shows all the parts.
    for (w, h) in [(20, 5), (40, 10), (80, 24), (200, 60)] {
        screen(&mut app, w, h);
        key(&mut app, KeyCode::Enter);
        screen(&mut app, w, h);
        key(&mut app, KeyCode::Esc);
    }
    let (lines, _) = screen(&mut app, 80, 24);
    assert!(lines[23].contains("q quit"));
    // The selection stays on screen when the window shrinks.
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::End);
    let last = sample_snapshot().hosts.hosts[*app.visible_rows().last().unwrap()]
        .host
        .clone();
    let (lines, _) = screen(&mut app, 80, 12);
    assert!(contains(&lines, &last), "{lines:#?}");
}

#[test]
fn hostile_names_cannot_retitle_or_recolour_the_terminal() {
    // The sample snapshot with dump-derived strings replaced by hostile ones.
    let mut snap = (*sample_snapshot()).clone();
    let retitle = "\u{1b}]0;owned\u{7}evil.sys";
    let recolour = "\u{1b}[31mred\u{1b}[0m.sys";
    snap.clusters.clusters[0].cause = retitle.into();
    snap.clusters.clusters[0].bucket_id = format!("AV_R_{recolour}");
    snap.clusters.clusters[0].signature = format!("{recolour}!f | {retitle}");
    snap.hosts.hosts[0].host = recolour.into();
    snap.drivers.drivers[0].driver = retitle.into();
    let snap = Arc::new(snap);
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(snap, dir.path());
    for setup in ["", "\n", "\u{1b}2", "3"] {
        for c in setup.chars() {
            match c {
                '\n' => key(&mut app, KeyCode::Enter),
                '\u{1b}' => key(&mut app, KeyCode::Esc),
                c => keys(&mut app, &c.to_string()),
            }
        }
        let (lines, terminal) = screen(&mut app, 100, 30);
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            assert!(
                !cell.symbol().chars().any(|c| c.is_control()),
                "a control character reached the screen: {:?}",
                cell.symbol()
            );
        }
        let text = lines.join("\n");
        match setup {
            "" | "\n" => assert!(text.contains("]0;ownedevil.sys"), "{text}"),
            "\u{1b}2" => assert!(text.contains("[31mred[0m.sys"), "{text}"),
            _ => assert!(text.contains("]0;ownedevil.sys"), "{text}"),
        }
        // What a real terminal receives: no OSC (title) sequence, no bell, no SGR from the
        // names. (ALERT red is written by crossterm as `ESC[38;5;9m`, never `ESC[31m`.)
        let bytes = terminal_bytes(&mut app, 100, 30);
        assert!(bytes.len() > 1000, "a frame was written");
        for bad in [&b"\x1b]"[..], b"\x07", b"\x1b[31m"] {
            assert!(
                !bytes.windows(bad.len()).any(|w| w == bad),
                "{:?} reached the terminal",
                String::from_utf8_lossy(bad)
            );
        }
        // The name is drawn in the default colour: the text did not recolour the line.
        if setup == "\u{1b}2" {
            let y = lines.iter().position(|l| l.contains("[31mred")).unwrap() as u16;
            let x = lines[y as usize].find("[31mred").unwrap() as u16;
            let cell = &buffer[(x + 5, y)];
            assert_ne!(cell.fg, Color::Red, "{cell:?}");
        }
    }
}

/// The bytes a crossterm terminal of `w`x`h` receives for one frame.
fn terminal_bytes(app: &mut App, w: u16, h: u16) -> Vec<u8> {
    use ratatui::backend::CrosstermBackend;
    use ratatui::layout::Rect;
    use ratatui::{TerminalOptions, Viewport};
    /// A writer whose bytes the test keeps.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Shared::default();
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(out.clone()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
    .unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    drop(terminal);
    let bytes = out.0.lock().unwrap().clone();
    bytes
}

#[test]
fn the_detail_text_is_made_safe_before_it_reaches_ratatui() {
    // Ratatui also drops zero-width characters from cells; the console does not rely on it:
    // the lines it hands over are already clean.
    let mut snap = (*sample_snapshot()).clone();
    let hostile = "\u{1b}]0;owned\u{7}evil\u{202e}.sys\n\u{1b}[31m";
    let node = &mut snap.clusters.clusters[0];
    node.cause = hostile.into();
    node.bucket_id = hostile.into();
    node.owner = Some(hostile.into());
    node.breakdown
        .entry("site".into())
        .or_default()
        .insert(hostile.into(), 1);
    let cause = node.cause.clone();
    for h in snap
        .hosts
        .hosts
        .iter_mut()
        .filter(|h| h.clusters.contains(&"csagent.sys".to_string()))
    {
        h.host = hostile.into();
        h.clusters.push(cause.clone());
    }
    if let Some(ex) = snap.exemplars.values_mut().next() {
        ex.fault_module = Some(hostile.into());
        for f in &mut ex.frames {
            f.module = Some(hostile.into());
        }
    }
    let node = snap.clusters.clusters[0].clone();
    let lines = view::detail_lines(&snap, &node, 80, "");
    let text: String = lines
        .iter()
        .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("]0;ownedevil.sys [31m"), "{text}");
    for line in &lines {
        for span in &line.spans {
            assert!(
                !span
                    .content
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "{:?}",
                span.content
            );
        }
    }
}

/// A tmux session that is always killed.
struct Tmux {
    name: String,
}

impl Tmux {
    /// `None` (and a SKIP line) when tmux is absent.
    fn start(command: &str, cwd: &Path) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIP: tmux is not installed");
            return None;
        }
        let name = format!(
            "bt-tui-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-x",
                "80",
                "-y",
                "24",
                "-s",
                &name,
                "-c",
            ])
            .arg(cwd)
            .arg(command)
            .status()
            .unwrap();
        assert!(status.success());
        Some(Tmux { name })
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.name])
    }

    fn send(&self, keys: &str) {
        self.run(&["send-keys", "-t", &self.name, keys]);
    }

    /// Waits until the screen shows `needle`; panics with the screen after `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(needle) {
                return screen;
            }
            if started.elapsed() > timeout {
                panic!("'{needle}' did not appear within {timeout:?}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn format(&self, f: &str) -> String {
        self.run(&["display-message", "-p", "-t", &self.name, f])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .output();
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn end_to_end_in_tmux_from_start_to_the_exported_host_list() {
    let store = sample_store();
    let dir = tempfile::tempdir().unwrap();
    // The shell stays after the program ends, so the terminal's modes can be read then.
    let command = format!(
        "{} tui --store {} --export-dir {}; echo tui-exited=$?; sleep 60",
        shell_quote(&common::binary()),
        shell_quote(store),
        shell_quote(dir.path())
    );
    let Some(tmux) = Tmux::start(&command, dir.path()) else {
        return;
    };
    let wait = Duration::from_secs(60);
    let main = tmux.wait_for("csagent.sys", wait);
    let hit = truth_hosts_hit(&truth());
    assert!(main.contains(&format!("{hit} of 200 hosts hit")), "{main}");
    assert_eq!(tmux.format("#{alternate_on}"), "1");
    // Three keys: Enter (the top cluster's detail), e (export).
    tmux.send("Enter");
    let detail = tmux.wait_for("PAGE_FAULT_IN_NONPAGED_AREA", wait);
    assert!(
        detail.contains("AV_R_INVALID_csagent!unknown_function"),
        "{detail}"
    );
    tmux.send("e");
    let exported = tmux.wait_for("exported 139 hosts to", wait);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{exported}");
    let csv = std::fs::read_to_string(files[0].path()).unwrap();
    assert_eq!(csv.lines().count(), 140);
    tmux.send("q");
    // The program ends with 0 and leaves the terminal as it found it.
    tmux.wait_for("tui-exited=0", wait);
    assert_eq!(tmux.format("#{alternate_on}"), "0", "alternate screen left");
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor shown");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "mouse capture off");
}

#[test]
fn watch_mode_shows_a_newly_copied_dump() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    let store = dir.path().join("store");
    let command = format!(
        "{} tui --store {} --watch {} --interval 1s --inventory {}",
        shell_quote(&common::binary()),
        shell_quote(&store),
        shell_quote(&dumps),
        shell_quote(&common::project_root().join("sample-dumps/inventory.csv"))
    );
    let Some(tmux) = Tmux::start(&command, dir.path()) else {
        return;
    };
    let wait = Duration::from_secs(60);
    let empty = tmux.wait_for("0 clusters", wait);
    assert!(empty.contains("[watching]"), "{empty}");
    // Copy one host's dumps (a csagent.sys boot loop of the sample fleet) into the share.
    // Copied next to the share, then renamed in, as a collector should (a scan never sees a
    // half-written file).
    let source = common::project_root().join("sample-dumps/dumps/BLR-BLD-0151");
    let staging = dir.path().join("BLR-BLD-0151");
    std::fs::create_dir(&staging).unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(&source).unwrap().flatten() {
        std::fs::copy(entry.path(), staging.join(entry.file_name())).unwrap();
        copied += 1;
    }
    assert!(copied > 0);
    std::fs::rename(&staging, dumps.join("BLR-BLD-0151")).unwrap();
    let copied_at = Instant::now();
    let screen = tmux.wait_for("csagent.sys", Duration::from_secs(30));
    eprintln!(
        "watch: new dumps on screen {:?} after the copy",
        copied_at.elapsed()
    );
    assert!(screen.contains("1 of 200 hosts hit"), "{screen}");
    let screen = tmux.wait_for(&format!("{copied} new at"), Duration::from_secs(10));
    assert!(screen.contains("1 of 200 hosts hit"), "{screen}");
    tmux.send("q");
}

#[test]
fn the_worker_sends_snapshots_and_reports_what_it_cannot_do() {
    use blastradius::tui::watch::{spawn, WatchConfig, WorkerConfig, WorkerMessage};
    let wait = Duration::from_secs(60);
    // A store: one snapshot, the same figures as a direct load.
    let worker = spawn(WorkerConfig {
        store: sample_store().to_path_buf(),
        load: LoadOptions::default(),
        watch: None,
    });
    match worker.messages.recv_timeout(wait) {
        Ok(WorkerMessage::Snapshot(s)) => {
            assert_eq!(s.clusters, sample_snapshot().clusters);
            assert_eq!(s.hosts, sample_snapshot().hosts);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    worker.stop_and_wait();

    // Not a store: a message for the screen, not a crash.
    let dir = tempfile::tempdir().unwrap();
    let worker = spawn(WorkerConfig {
        store: dir.path().join("nothing"),
        load: LoadOptions::default(),
        watch: None,
    });
    match worker.messages.recv_timeout(wait) {
        Ok(WorkerMessage::LoadFailed(text)) => {
            assert!(text.contains("is not a crash store"), "{text}")
        }
        other => panic!("expected LoadFailed, got {other:?}"),
    }
    worker.stop_and_wait();

    // Watching a store another writer holds: the scan error is reported, the views still load.
    let store = dir.path().join("store");
    let _writer = Store::open_or_create(&store).unwrap();
    let worker = spawn(WorkerConfig {
        store: store.clone(),
        load: LoadOptions::default(),
        watch: Some(WatchConfig {
            paths: vec![dir.path().to_path_buf()],
            inventory: None,
            symbols: None,
            interval: Duration::from_secs(1),
        }),
    });
    let mut saw_error = None;
    let mut saw_snapshot = false;
    let started = Instant::now();
    while (saw_error.is_none() || !saw_snapshot) && started.elapsed() < wait {
        match worker.messages.recv_timeout(Duration::from_secs(5)) {
            Ok(WorkerMessage::ScanFailed(text)) => saw_error = Some(text),
            Ok(WorkerMessage::Snapshot(s)) => saw_snapshot = s.clusters.clusters.is_empty(),
            _ => {}
        }
    }
    worker.stop_and_wait();
    let text = saw_error.expect("a scan error");
    assert!(text.contains("cannot write"), "{text}");
    assert!(saw_snapshot, "the empty store's views");
}

//! `blastradius tui`: the incident responder's console over a crash store, optionally
//! scanning new dumps into it as they land (`--watch`).
//!
//! The event loop: draw, wait up to 200 ms for a key or mouse event, apply every pending
//! event, then apply what the worker thread sent (new snapshots, scan results). The worker
//! does all reading and scanning, so a key press never waits for the store.
//!
//! `--bench-frames N` (hidden) measures instead of opening the terminal: it loads the store,
//! draws the first screen to an in-memory 80x24 terminal, then applies N key presses of a
//! fixed script, drawing after each, and prints the timings (scripts/bench-tui.sh).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use crate::fleet::analytics::{window, Window};
use crate::fleet::inventory::read_inventory;
use crate::fleet::store::{DEFAULT_STORE_DIR, STORE_ENV};
use crate::tui::snapshot::{LoadOptions, Snapshot};
use crate::tui::terminal::TerminalGuard;
use crate::tui::watch::{self, WatchConfig, WorkerConfig};
use crate::tui::{update, view, App};

use super::scope_args::HostStateArgs;

/// Arguments of `blastradius tui`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The crash store folder (created by `--watch` when absent).
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// Scan these folders or files into the store in the background, again every
    /// `--interval`, and refresh the views when new dumps land.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub watch: Vec<PathBuf>,
    /// Inventory (CSV or .parquet) with a `host` column: used instead of the store's; with
    /// `--watch` also saved in the store, as `scan --inventory` does.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Symbol store folder or `_NT_SYMBOL_PATH`-style path, for `--watch`.
    #[arg(long, value_name = "PATH")]
    pub symbols: Option<String>,
    /// Time between two `--watch` scans.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub interval: String,
    /// Only crashes at or after this time (UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only crashes at or before this time (UTC): the console as it looked then.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Where `e` writes host lists.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub export_dir: PathBuf,
    #[command(flatten)]
    pub states: HostStateArgs,
    /// Which hosts are critical: inventory COLUMN=VALUE[,VALUE] (default
    /// criticality=critical), the rule `clusters`, `report` and `exposure` take too.
    #[arg(long, value_name = "COLUMN=VALUE[,VALUE]")]
    pub critical: Option<String>,
    /// Measure instead of running: N key presses drawn to an in-memory terminal.
    #[arg(long, hide = true, value_name = "N")]
    pub bench_frames: Option<usize>,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let inventory = args.inventory.as_deref().map(read_inventory).transpose()?;
    let load = LoadOptions {
        window: Window::parse(args.since.as_deref(), args.until.as_deref())?,
        host_states: args.states.params()?,
        inventory: inventory.clone(),
        critical: crate::fleet::critical::CriticalRule::from_flag(args.critical.as_deref())?,
    };
    if let Some(frames) = args.bench_frames {
        return bench(args, &load, frames);
    }
    if !args.watch.is_empty() {
        for path in &args.watch {
            if !path.exists() {
                anyhow::bail!("--watch {}: no such file or folder", path.display());
            }
        }
    } else if !args.store.join(crate::fleet::store::MANIFEST_FILE).exists() {
        anyhow::bail!(
            "{} is not a crash store: run `blastradius scan DUMPS --store {}` first, or give --watch DUMPS",
            args.store.display(),
            args.store.display()
        );
    }
    if !args.export_dir.is_dir() {
        anyhow::bail!("--export-dir {}: not a folder", args.export_dir.display());
    }
    let interval = Duration::from_secs(window::parse_duration(&args.interval)?.max(1));
    let watch = (!args.watch.is_empty()).then(|| WatchConfig {
        paths: args.watch.clone(),
        inventory,
        symbols: args.symbols.clone(),
        interval,
    });
    let worker = watch::spawn(WorkerConfig {
        store: args.store.clone(),
        load,
        watch,
    });
    let mut app = App::new(args.export_dir.clone(), !args.watch.is_empty());
    let result = (|| -> anyhow::Result<()> {
        let mut guard = TerminalGuard::enter().context("cannot open the terminal")?;
        loop {
            guard.terminal.draw(|f| view::draw(f, &mut app))?;
            if app.quit {
                return Ok(());
            }
            if event::poll(Duration::from_millis(200))? {
                update::handle_event(&mut app, &event::read()?);
                while !app.quit && event::poll(Duration::ZERO)? {
                    update::handle_event(&mut app, &event::read()?);
                }
            }
            while let Ok(message) = worker.messages.try_recv() {
                update::handle_worker(&mut app, message);
            }
        }
    })();
    worker.stop();
    result?;
    Ok(0)
}

/// The key script of `--bench-frames`: what a responder does in the first minute.
const BENCH_KEYS: &[KeyCode] = &[
    KeyCode::Down,
    KeyCode::Down,
    KeyCode::Up,
    KeyCode::Char('s'),
    KeyCode::Char('s'),
    KeyCode::Home,
    KeyCode::Enter,
    KeyCode::PageDown,
    KeyCode::PageDown,
    KeyCode::Esc,
    KeyCode::Char('2'),
    KeyCode::Char('f'),
    KeyCode::PageDown,
    KeyCode::End,
    KeyCode::Char('s'),
    KeyCode::Home,
    KeyCode::Char('3'),
    KeyCode::Down,
    KeyCode::Char('s'),
    KeyCode::Char('1'),
    KeyCode::Char('/'),
    KeyCode::Char('c'),
    KeyCode::Char('s'),
    KeyCode::Enter,
    KeyCode::Esc,
];

fn bench(args: &Args, load: &LoadOptions, frames: usize) -> anyhow::Result<u8> {
    let started = Instant::now();
    let snapshot = Snapshot::load(&args.store, load)?;
    let loaded = started.elapsed();
    let mut app = App::new(std::env::temp_dir(), false);
    app.set_snapshot(Arc::new(snapshot));
    let mut terminal = Terminal::new(TestBackend::new(80, 24))?;
    terminal.draw(|f| view::draw(f, &mut app))?;
    let first_screen = started.elapsed();
    let mut times: Vec<Duration> = Vec::with_capacity(frames);
    for i in 0..frames {
        let key = BENCH_KEYS[i % BENCH_KEYS.len()];
        let t = Instant::now();
        update::handle_key(&mut app, KeyEvent::new(key, KeyModifiers::NONE));
        terminal.draw(|f| view::draw(f, &mut app))?;
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .map_or(0.0, ms)
    };
    let snap = app.snapshot.as_ref().context("no snapshot")?;
    println!(
        "store {}: {} crashes, {} clusters, {} hosts, {} drivers",
        args.store.display(),
        snap.clusters.crashes,
        snap.clusters.clusters.len(),
        snap.hosts.hosts.len(),
        snap.drivers.drivers.len()
    );
    println!("load (analysis)        {:>9.1} ms", ms(loaded));
    println!("first screen           {:>9.1} ms", ms(first_screen));
    println!(
        "key press + redraw     median {:.2} ms  p95 {:.2} ms  max {:.2} ms  ({} presses, 80x24)",
        at(0.5),
        at(0.95),
        times.last().copied().map_or(0.0, ms),
        times.len()
    );
    Ok(0)
}

//! The worker thread: builds snapshots off the UI thread and, with `--watch`, runs the same
//! incremental scan as `blastradius scan` every few seconds, so new dumps reach the views
//! while the keyboard stays responsive.
//!
//! The worker is the store's only writer in this process: it takes the store's write lock
//! once (`Store::open_or_create`) and keeps it; snapshots read the store through a fresh
//! read-only `Store::open`, which sees exactly the files the last committed manifest lists.
//! Errors (a locked store, an unreadable inventory, a failed scan) become messages for the
//! status line; the thread goes on.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use polars::prelude::DataFrame;

use crate::fleet::scan::{scan, HostMap, ScanOptions};
use crate::fleet::store::Store;
use crate::pipeline::Pipeline;
use crate::symbols::SymbolCache;

use super::snapshot::{LoadOptions, Snapshot};

/// What the worker reports to the UI thread.
#[derive(Debug)]
pub enum WorkerMessage {
    Snapshot(Box<Snapshot>),
    LoadFailed(String),
    /// A scan's outcome in a line.
    Scanned(String),
    ScanFailed(String),
}

/// What the UI thread asks of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Reload,
    Stop,
}

/// The scanning part of the worker (`--watch`).
pub struct WatchConfig {
    pub paths: Vec<PathBuf>,
    /// Saved in the store before the first scan, as `scan --inventory` does.
    pub inventory: Option<DataFrame>,
    pub symbols: Option<String>,
    /// Time between scans.
    pub interval: Duration,
}

/// The worker's job.
pub struct WorkerConfig {
    pub store: PathBuf,
    pub load: LoadOptions,
    pub watch: Option<WatchConfig>,
}

/// The running worker: its messages, a way to ask for a reload or stop, and its thread.
pub struct Worker {
    pub messages: Receiver<WorkerMessage>,
    pub requests: Sender<Request>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Asks the thread to stop without waiting for it: quitting must not wait for a scan of
    /// a large share or a reload. A scan cut short by the process ending loses nothing it
    /// committed (the store's writes are atomic) and the next scan goes on from there.
    pub fn stop(self) {
        let _ = self.requests.send(Request::Stop);
    }

    /// Asks the thread to stop and waits until it has (tests; a scan step finishes first).
    pub fn stop_and_wait(mut self) {
        let _ = self.requests.send(Request::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Starts the worker; it sends a first snapshot at once.
pub fn spawn(config: WorkerConfig) -> Worker {
    let (tx, messages) = mpsc::channel();
    let (requests, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("blastradius-tui-worker".into())
        .spawn(move || run(config, tx, rx))
        .ok();
    if handle.is_none() {
        // No thread: the UI shows an empty console with the reason rather than hanging.
        let (tx, rx2) = mpsc::channel();
        let _ = tx.send(WorkerMessage::LoadFailed(
            "cannot start the worker thread".into(),
        ));
        return Worker {
            messages: rx2,
            requests,
            handle: None,
        };
    }
    Worker {
        messages,
        requests,
        handle,
    }
}

/// The scanner's state, built on the first scan.
struct Scanner {
    store: Store,
    pipeline: Pipeline,
    options: ScanOptions,
}

fn open_scanner(config: &WorkerConfig, watch: &mut WatchConfig) -> Result<Scanner, String> {
    let mut store = Store::open_or_create(&config.store)
        .map_err(|e| format!("watch: cannot write {}: {e}", config.store.display()))?;
    if let Some(inventory) = watch.inventory.take() {
        store
            .save_inventory(inventory)
            .map_err(|e| format!("watch: cannot save the inventory: {e}"))?;
    }
    let symbols = SymbolCache::from_cli(watch.symbols.as_deref())
        .map_err(|e| format!("watch: cannot open the symbols: {e}"))?;
    Ok(Scanner {
        store,
        pipeline: Pipeline::new(Arc::new(symbols)),
        options: ScanOptions {
            roots: watch.paths.clone(),
            hosts: HostMap::default(),
            unlisted: Default::default(),
            shard: None,
            batch_size: crate::fleet::scan::DEFAULT_BATCH_SIZE,
        },
    })
}

fn run(mut config: WorkerConfig, tx: Sender<WorkerMessage>, rx: Receiver<Request>) {
    let mut watch = config.watch.take();
    let mut scanner: Option<Scanner> = None;
    let mut reload = true;
    // The last scan that found something (dumps, when), and files quarantined this session.
    let mut last_new: Option<(u64, String)> = None;
    let mut quarantined = 0u64;
    let interval = watch
        .as_ref()
        .map_or(Duration::from_secs(3600), |w| w.interval);
    loop {
        if let Some(w) = watch.as_mut() {
            if scanner.is_none() {
                match open_scanner(&config, w) {
                    Ok(s) => {
                        scanner = Some(s);
                        reload = true;
                    }
                    Err(e) => {
                        let _ = tx.send(WorkerMessage::ScanFailed(e));
                    }
                }
            }
            if let Some(s) = scanner.as_mut() {
                match scan(&mut s.store, &s.pipeline, &s.options, &()) {
                    Ok(summary) => {
                        let now = chrono::Utc::now().format("%H:%M:%S").to_string();
                        if summary.ingested > 0 || summary.quarantined > 0 {
                            reload = true;
                            last_new = Some((summary.ingested, now.clone()));
                        }
                        quarantined += summary.quarantined;
                        let mut text = format!("watch {now} UTC · {} files", summary.files_seen);
                        if let Some((n, at)) = &last_new {
                            text.push_str(&format!(" · {n} new at {at}"));
                        }
                        if quarantined > 0 {
                            text.push_str(&format!(" · {quarantined} quarantined"));
                        }
                        let _ = tx.send(WorkerMessage::Scanned(text));
                    }
                    Err(e) => {
                        let _ = tx.send(WorkerMessage::ScanFailed(format!("watch: scan: {e}")));
                    }
                }
            }
        }
        if reload {
            reload = false;
            let message = if config
                .store
                .join(crate::fleet::store::MANIFEST_FILE)
                .exists()
            {
                match Snapshot::load(&config.store, &config.load) {
                    Ok(s) => WorkerMessage::Snapshot(Box::new(s)),
                    Err(e) => WorkerMessage::LoadFailed(format!("{e}")),
                }
            } else if watch.is_some() {
                WorkerMessage::Snapshot(Box::new(Snapshot::empty(&config.store)))
            } else {
                WorkerMessage::LoadFailed(format!(
                    "{} is not a crash store (run `blastradius scan DUMPS --store {}`, or give --watch DUMPS)",
                    config.store.display(),
                    config.store.display()
                ))
            };
            if tx.send(message).is_err() {
                return;
            }
        }
        match rx.recv_timeout(interval) {
            Ok(Request::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Request::Reload) => reload = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

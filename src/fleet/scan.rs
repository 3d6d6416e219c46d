//! Walking dump trees and ingesting them into the crash store: in parallel (rayon, on the
//! caller's thread pool), incrementally (files already stored are skipped), in batches (each
//! batch is one commit, so memory stays flat and a killed scan loses at most one batch).
//!
//! Order of work, per chunk of files in walk order: workers examine files in parallel
//! (`examine`), then this thread folds the outcomes in walk order (so duplicate contents are
//! resolved the same way whatever the thread count) into a `BatchBuilder`; the new dumps' rows
//! are built, and a full batch is encoded, on the pool during the next chunk's examination,
//! and a committer thread writes batches in order (see `scan`).

mod commit;
mod examine;
mod host;
mod shard;
mod walk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use rayon::prelude::*;
use serde::Serialize;

use crate::pipeline::Pipeline;

use crate::record::CrashReport;

use super::store::{BatchBuilder, CrashFrames, SeenRecord, Store, StoreError};
use examine::{Examined, Examiner};
pub use host::{parent_folder_host, HostFrom, HostMap, HostMapError, UNKNOWN_HOST};
pub use shard::{shard_of, Shard, ShardParseError};
pub use walk::{list_files, Candidate, Listing, RootError};

/// Rows per commit unless told otherwise: 20 files per table per 10,000 dumps (`store compact`
/// merges them), and a batch's columns plus its Parquet encoding stay around 20 MB, which is
/// what bounds a scan's peak memory (measured: 1,000 rows gave a higher and noisier peak).
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// Quarantined files listed in a summary (all of them are in the store's quarantine table).
pub const SUMMARY_QUARANTINE_LIMIT: usize = 1000;
/// Most files examined per parallel step; a step never holds more files than a batch has rows
/// (a killed scan loses at most the batch being filled, one being encoded and one being
/// written: nothing committed, and a re-run redoes exactly those files).
const MAX_CHUNK: usize = 256;

/// Files per thread in one parallel step, when that is more than `MAX_CHUNK`.
const FILES_PER_THREAD_PER_STEP: usize = 16;

/// Paths listed in a summary when a manifest does not list them.
pub const SUMMARY_UNLISTED_LIMIT: usize = 10;

/// `--unlisted`: what to do with a dump the `--host-from manifest:` file does not list.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unlisted {
    /// Leave it out of the store (counted and listed in the summary, with a warning).
    #[default]
    Skip,
    /// Take the parent folder's name as its host (a warning on the crash row).
    Folder,
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub roots: Vec<PathBuf>,
    pub hosts: HostMap,
    /// Dumps a host manifest does not list (irrelevant without a manifest).
    pub unlisted: Unlisted,
    pub shard: Option<Shard>,
    /// Crash + quarantine rows per commit (at least 1).
    pub batch_size: usize,
}

impl ScanOptions {
    pub fn new(roots: Vec<PathBuf>) -> ScanOptions {
        ScanOptions {
            roots,
            hosts: HostMap::default(),
            unlisted: Unlisted::default(),
            shard: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// One quarantined file, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedFile {
    pub path: String,
    pub error: String,
}

/// The result of a scan (the JSON of `scan --format json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanSummary {
    /// Regular files found under the roots (in this shard).
    pub files_seen: u64,
    /// New dumps added to the crashes table.
    pub ingested: u64,
    /// Dumps the store already had (unchanged files, copies, earlier quarantines).
    pub skipped_known: u64,
    /// Files without a dump signature (and empty files).
    pub skipped_not_dump: u64,
    /// Files left to other shards (`--shard`).
    pub skipped_other_shard: u64,
    /// Files or folders that could not be read this run, now in the quarantine table.
    pub quarantined: u64,
    pub elapsed_seconds: f64,
    /// `ingested / elapsed_seconds`.
    pub dumps_per_second: f64,
    pub batches_committed: u64,
    pub store: String,
    /// The first `SUMMARY_QUARANTINE_LIMIT` quarantined files.
    pub quarantine: Vec<QuarantinedFile>,
    /// Dumps the `--host-from manifest:` file does not list, left out (`--unlisted skip`) or
    /// given their parent folder as host (`--unlisted folder`).
    pub unlisted: u64,
    /// The first `SUMMARY_UNLISTED_LIMIT` of their paths.
    pub unlisted_paths: Vec<String>,
}

/// Why a scan could not run (as opposed to files it could not read, which are quarantined).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the store batch: {0}")]
    Batch(#[from] polars::prelude::PolarsError),
}

/// Progress callbacks, called from worker threads.
pub trait ScanProgress: Sync {
    /// The walk is done: `files` will be examined.
    fn start(&self, files: u64);
    /// `n` more files examined.
    fn advance(&self, n: u64);
}

/// No progress display.
impl ScanProgress for () {
    fn start(&self, _files: u64) {}
    fn advance(&self, _n: u64) {}
}

/// Scans `options.roots` into `store` with `pipeline`, on the current rayon pool (run it
/// inside `ThreadPool::install` to choose the thread count).
pub fn scan(
    store: &mut Store,
    pipeline: &Pipeline,
    options: &ScanOptions,
    progress: &dyn ScanProgress,
) -> Result<ScanSummary, ScanError> {
    let started = Instant::now();
    let exclude = store.dir().canonicalize().ok();
    let listing = list_files(&options.roots, options.shard, exclude.as_deref())?;
    let mut run = Run {
        summary: ScanSummary {
            files_seen: listing.files.len() as u64,
            skipped_other_shard: listing.other_shard,
            store: store.dir().to_string_lossy().into_owned(),
            ..ScanSummary::default()
        },
        batch: BatchBuilder::new(),
        batch_size: options.batch_size.max(1),
        known: store.known_dump_ids(),
    };
    let seen = store.quick_check_index();
    // Workers skip content stored before this run; duplicates within the run are caught by
    // the fold, which keeps `run.known` up to date.
    let known_at_start = run.known.clone();
    progress.start(listing.files.len() as u64);

    for (path, error) in &listing.errors {
        run.quarantine(path, None, error);
    }
    // More threads need bigger steps: each step ends when its slowest file does, and a
    // thread with a handful of files per step idles for a good part of it.
    let chunk_size = run
        .batch_size
        .min(MAX_CHUNK.max(FILES_PER_THREAD_PER_STEP * rayon::current_num_threads()));
    let examiner = Examiner {
        pipeline,
        seen: &seen,
        known: &known_at_start,
        now_ms: Utc::now().timestamp_millis(),
    };
    let store_dir = store.dir().to_path_buf();
    // The stages overlap (issue 17): each step of the rayon pool examines chunk N while one
    // task folds chunk N-1's outcomes in walk order (duplicates resolve the same way whatever
    // the thread count) and builds the new dumps' rows in parallel pieces; a full batch is
    // encoded as Parquet by a task of its own (`commit::Encoder`). Every CPU stage runs on
    // the pool, so `--jobs` threads are all the cores a scan uses, and more threads mean
    // more throughput. A committer thread writes the encoded files and the manifest in batch
    // order (fsync waits, not CPU).
    let shared = commit::Shared::default();
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let run = std::thread::scope(|threads| -> Result<Run, ScanError> {
        let committer = threads.spawn(|| commit::commit_in_order(store, receiver, &shared));
        let encoder = commit::Encoder::new(sender, &store_dir, &shared);
        let absorb = Absorb {
            hosts: &options.hosts,
            unlisted: options.unlisted,
        };
        // Owns the encoder: however this returns, its sender is dropped once the encodes it
        // spawned are done, which ends the committer's loop (else join() would wait forever).
        let parsed = rayon::scope(|pool| -> Result<(), ScanError> {
            let mut encoder = encoder;
            let mut previous: Option<(&[walk::Candidate], Vec<Examined>)> = None;
            let mut chunks = listing.files.chunks(chunk_size);
            loop {
                let chunk = chunks.next();
                let folding = previous.take();
                let (absorbed, outcomes) = rayon::join(
                    || match folding {
                        Some((files, outcomes)) => {
                            run.absorb(files, outcomes, &absorb, pool, &mut encoder)
                        }
                        None => Ok(()),
                    },
                    || {
                        chunk.map(|files| {
                            files
                                .par_iter()
                                .map(|candidate| {
                                    let outcome = examiner.examine(&candidate.path);
                                    progress.advance(1);
                                    outcome
                                })
                                .collect::<Vec<Examined>>()
                        })
                    },
                );
                absorbed?;
                if encoder.committer_failed() {
                    return Ok(()); // join() below returns the committer's error
                }
                previous = chunk.zip(outcomes);
                if previous.is_none() {
                    break;
                }
            }
            if !run.batch.is_empty() {
                encoder.seal(pool, std::mem::take(&mut run.batch));
            }
            Ok(())
        });
        let committed = committer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        parsed?;
        run.summary.batches_committed = committed?;
        Ok(run)
    })?;

    let mut summary = run.summary;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.dumps_per_second = if summary.elapsed_seconds > 0.0 {
        summary.ingested as f64 / summary.elapsed_seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// The state of one scan on the folding thread.
struct Run {
    summary: ScanSummary,
    batch: BatchBuilder,
    batch_size: usize,
    /// Content ids stored before this run plus those added so far.
    known: HashMap<String, bool>,
}

impl Run {
    /// Adds one file's outcome. Runs in walk order, so among identical files the first path
    /// is the one stored, whatever the number of threads.
    /// A newly read dump comes back with its host, for its rows to be built off this thread.
    fn fold(
        &mut self,
        candidate: &walk::Candidate,
        outcome: Examined,
        hosts: &HostMap,
        unlisted: Unlisted,
    ) -> Option<Accepted> {
        match outcome {
            Examined::Unchanged => self.summary.skipped_known += 1,
            Examined::NotDump => self.summary.skipped_not_dump += 1,
            Examined::Known { seen } => self.known_copy(seen),
            Examined::Read { mut report, seen } => {
                if self.known.contains_key(&seen.dump_id) {
                    // A copy of a file read earlier in this same chunk.
                    self.known_copy(SeenRecord {
                        quarantined: false,
                        ..seen
                    });
                    return None;
                }
                let host = match hosts.host_of(&candidate.path, &candidate.relative) {
                    Some(host) => host,
                    None => {
                        self.summary.unlisted += 1;
                        if self.summary.unlisted_paths.len() < SUMMARY_UNLISTED_LIMIT {
                            self.summary
                                .unlisted_paths
                                .push(candidate.path.to_string_lossy().into_owned());
                        }
                        if unlisted == Unlisted::Skip {
                            // Not recorded as seen: once the manifest lists it, a re-run
                            // ingests it.
                            return None;
                        }
                        report.warnings.push(
                            "host not in the --host-from manifest; used the parent folder name"
                                .to_string(),
                        );
                        parent_folder_host(&candidate.path)
                    }
                };
                self.known.insert(seen.dump_id.clone(), false);
                self.batch.push_seen(seen);
                self.summary.ingested += 1;
                return Some(Accepted { report, host });
            }
            Examined::Failed {
                error,
                dump_id,
                seen,
            } => {
                if let Some(seen) = seen {
                    if self.known.contains_key(&seen.dump_id) {
                        self.known_copy(seen);
                        return None;
                    }
                    self.known.insert(seen.dump_id.clone(), true);
                    self.batch.push_seen(seen);
                }
                let path = candidate.path.to_string_lossy().into_owned();
                self.quarantine(&path, dump_id.as_deref(), &error);
            }
        }
        None
    }

    /// Content the store has: record the path so the next run's quick check skips it.
    fn known_copy(&mut self, seen: SeenRecord) {
        self.summary.skipped_known += 1;
        let quarantined = self
            .known
            .get(&seen.dump_id)
            .copied()
            .unwrap_or(seen.quarantined);
        self.batch.push_seen(SeenRecord {
            quarantined,
            ..seen
        });
    }

    fn quarantine(&mut self, path: &str, dump_id: Option<&str>, error: &str) {
        self.summary.quarantined += 1;
        self.batch.push_quarantine(path, dump_id, error);
        if self.summary.quarantine.len() < SUMMARY_QUARANTINE_LIMIT {
            self.summary.quarantine.push(QuarantinedFile {
                path: path.to_string(),
                error: error.to_string(),
            });
        }
    }
}

/// A dump the fold added to the batch: its rows are still to be built.
struct Accepted {
    report: Box<CrashReport>,
    host: String,
}

/// What folding a chunk needs besides the run: where hosts come from.
struct Absorb<'a> {
    hosts: &'a HostMap,
    unlisted: Unlisted,
}

/// New dumps per row-building task: enough to amortize the task, small enough that a chunk
/// spreads over many threads.
const BUILD_PIECE: usize = 32;

impl Run {
    /// Folds one chunk's outcomes in walk order, builds the new dumps' rows (in parallel
    /// pieces, appended in order) and, when the batch is full, seals it: `encoder` encodes
    /// it on `pool` and hands it to the committer.
    fn absorb<'scope>(
        &mut self,
        files: &[walk::Candidate],
        outcomes: Vec<Examined>,
        with: &Absorb<'_>,
        pool: &rayon::Scope<'scope>,
        encoder: &mut commit::Encoder<'scope>,
    ) -> Result<(), ScanError> {
        let mut accepted = Vec::new();
        for (candidate, outcome) in files.iter().zip(outcomes) {
            if let Some(new) = self.fold(candidate, outcome, with.hosts, with.unlisted) {
                accepted.push(new);
            }
        }
        let frames = accepted
            .par_chunks(BUILD_PIECE)
            .map(|piece| CrashFrames::build(piece.iter().map(|a| (&*a.report, a.host.as_str()))))
            .collect::<Result<Vec<CrashFrames>, _>>()?;
        drop(accepted);
        for piece in frames {
            self.batch.push_frames(piece)?;
        }
        if self.batch.crash_rows() + self.batch.quarantine_rows() >= self.batch_size {
            encoder.seal(pool, std::mem::take(&mut self.batch));
        }
        Ok(())
    }
}

/// Convenience for callers that have a single root.
pub fn scan_path(
    store: &mut Store,
    pipeline: &Pipeline,
    root: &Path,
) -> Result<ScanSummary, ScanError> {
    scan(
        store,
        pipeline,
        &ScanOptions::new(vec![root.to_path_buf()]),
        &(),
    )
}

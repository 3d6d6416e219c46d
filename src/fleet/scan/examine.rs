//! What happens to one file during a scan, on a worker thread: quick check, sniff, content id,
//! then the full pipeline only for content the store does not have.

use std::collections::HashMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::dump::plausibility::{self, Plausibility};
use crate::dump::{content_id, sniff, DumpFile};
use crate::pipeline::Pipeline;
use crate::record::CrashReport;

use super::super::store::SeenRecord;

/// The outcome for one file.
#[derive(Debug)]
pub enum Examined {
    /// Same path, size and mtime as a stored record: not even opened.
    Unchanged,
    /// No dump signature (or empty): skipped quietly and counted.
    NotDump,
    /// Content already stored (under this or another path).
    Known { seen: SeenRecord },
    /// Newly read.
    Read {
        report: Box<CrashReport>,
        seen: SeenRecord,
    },
    /// Could not be read; `dump_id` and `seen` are set when the content could be hashed.
    Failed {
        error: String,
        dump_id: Option<String>,
        seen: Option<SeenRecord>,
    },
}

/// The read-only state every worker consults.
pub struct Examiner<'a> {
    pub pipeline: &'a Pipeline,
    /// Size and mtime by path, from the manifest's quick-check records at the start of the scan.
    pub seen: &'a HashMap<String, (u64, i64)>,
    /// Content ids already stored, and whether each went to the quarantine.
    pub known: &'a HashMap<String, bool>,
    /// The scan's clock (Unix ms): crash times more than a day past it are implausible.
    pub now_ms: i64,
}

impl Examiner<'_> {
    pub fn examine(&self, path: &Path) -> Examined {
        let path_text = path.to_string_lossy().into_owned();
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(err) => return failed(format!("{path_text}: cannot read the file: {err}")),
        };
        let size = metadata.len();
        let mtime_ns = metadata
            .modified()
            .ok()
            .and_then(|t| match t.duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).ok(),
                Err(before) => i64::try_from(before.duration().as_nanos()).ok().map(|n| -n),
            })
            .unwrap_or(0);
        if self.seen.get(&path_text) == Some(&(size, mtime_ns)) {
            return Examined::Unchanged;
        }
        if size == 0 {
            // No content, so nothing says it is a dump: counted with the other non-dumps
            // (placeholder files such as `.keep` are common in collection shares).
            return Examined::NotDump;
        }
        let file = match DumpFile::open_reusing(path, take_buffer()) {
            Ok(f) => f,
            Err(err) => return failed(err.to_string()),
        };
        let outcome = self.examine_bytes(path, path_text, size, mtime_ns, file.bytes());
        if let Some(buffer) = file.into_buffer() {
            keep_buffer(buffer);
        }
        outcome
    }

    /// The part of `examine` that reads the file's bytes.
    fn examine_bytes(
        &self,
        path: &Path,
        path_text: String,
        size: u64,
        mtime_ns: i64,
        bytes: &[u8],
    ) -> Examined {
        if sniff(bytes).is_none() {
            return Examined::NotDump;
        }
        let dump_id = content_id(bytes);
        let record = |quarantined| SeenRecord {
            path: path_text.clone(),
            size,
            mtime_ns,
            dump_id: dump_id.clone(),
            quarantined,
        };
        if let Some(&quarantined) = self.known.get(&dump_id) {
            return Examined::Known {
                seen: record(quarantined),
            };
        }
        // A reader bug costs one file, not the whole scan: the pipeline's panic boundary turns
        // it into `DumpError::Internal`, quarantined like any other unreadable dump.
        match self
            .pipeline
            .process_bytes_with_id(path, bytes, dump_id.clone())
        {
            Ok(mut report) => {
                report.path = path_text.clone();
                // Impossible header fields must not reach the fleet figures (issue 18).
                if let Plausibility::Implausible(why) =
                    plausibility::check(&mut report, self.now_ms)
                {
                    return Examined::Failed {
                        error: format!("{path_text}: {why}"),
                        dump_id: Some(dump_id.clone()),
                        seen: Some(record(true)),
                    };
                }
                Examined::Read {
                    report: Box::new(report),
                    seen: record(false),
                }
            }
            Err(err) => Examined::Failed {
                error: err.to_string(),
                dump_id: Some(dump_id.clone()),
                seen: Some(record(true)),
            },
        }
    }
}

/// Larger read buffers are not kept: a rare big minidump would otherwise pin its size in
/// every worker thread for the rest of the scan.
const KEPT_BUFFER_MAX: usize = 8 * 1024 * 1024;

thread_local! {
    /// This worker thread's read buffer, reused from file to file.
    static READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn take_buffer() -> Vec<u8> {
    READ_BUFFER.with(|b| b.take())
}

fn keep_buffer(buffer: Vec<u8>) {
    if buffer.capacity() <= KEPT_BUFFER_MAX {
        READ_BUFFER.with(|b| b.set(buffer));
    }
}

fn failed(error: String) -> Examined {
    Examined::Failed {
        error,
        dump_id: None,
        seen: None,
    }
}

//! Full batches on their way into the store: encoded as Parquet on the rayon pool beside the
//! parsing (not in the step that filled them, which would make every thread wait for one
//! encode), then written by one committer thread in the order they were filled.
//!
//! Why the order matters: the store must not depend on the thread count, and a killed scan
//! must leave a prefix of the walk committed (the quick-check records of a batch are only
//! valid once every earlier batch is in).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::Utc;

use super::super::store::{BatchBuilder, EncodedBatch, Store};
use super::ScanError;

/// Batches encoded or being encoded at once beyond the one the committer writes: past this,
/// the thread that fills a batch encodes it itself (back-pressure, so memory stays flat when
/// writing is slower than parsing).
const MAX_ENCODING: usize = 2;

/// A batch's place in the walk, and its encoding (or why it could not be encoded).
type Sealed = (u64, Result<EncodedBatch, ScanError>);

/// Hands full batches to the pool for encoding and on to the committer.
pub(super) struct Encoder<'a> {
    sender: SyncSender<Sealed>,
    store_dir: &'a Path,
    encoding: &'a AtomicUsize,
    failed: &'a AtomicBool,
    next: u64,
}

/// What the committer thread and the encoder share (lives outside both).
#[derive(Default)]
pub(super) struct Shared {
    encoding: AtomicUsize,
    failed: AtomicBool,
}

impl<'a> Encoder<'a> {
    pub fn new(sender: SyncSender<Sealed>, store_dir: &'a Path, shared: &'a Shared) -> Self {
        Encoder {
            sender,
            store_dir,
            encoding: &shared.encoding,
            failed: &shared.failed,
            next: 0,
        }
    }

    /// True once the committer stopped on an error: there is no point parsing on.
    pub fn committer_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Finishes `batch` and encodes it on `scope` (or here, when `MAX_ENCODING` encodes are
    /// already running), then sends it to the committer.
    pub fn seal<'scope>(&mut self, scope: &rayon::Scope<'scope>, batch: BatchBuilder)
    where
        'a: 'scope,
    {
        let seq = self.next;
        self.next += 1;
        let sender = self.sender.clone();
        let dir = self.store_dir;
        let encode = move || -> Result<EncodedBatch, ScanError> {
            let batch = batch.finish(Utc::now())?;
            Ok(Store::encode(batch, dir)?)
        };
        if self.encoding.load(Ordering::Acquire) >= MAX_ENCODING {
            // A failed send: the committer stopped on an error, which its join returns.
            let _ = sender.send((seq, encode()));
            return;
        }
        self.encoding.fetch_add(1, Ordering::AcqRel);
        let encoding = self.encoding;
        scope.spawn(move |_| {
            let encoded = encode();
            let _ = sender.send((seq, encoded));
            encoding.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// The committer: writes batches in `seq` order as they arrive in any order, until every
/// sender is gone. Returns the number of batches committed, or the first error (encoding or
/// writing), after which nothing more is written.
pub(super) fn commit_in_order(
    store: &mut Store,
    receiver: Receiver<Sealed>,
    shared: &Shared,
) -> Result<u64, ScanError> {
    let mut waiting: BTreeMap<u64, EncodedBatch> = BTreeMap::new();
    let mut next = 0u64;
    let result = (|| {
        for (seq, encoded) in &receiver {
            waiting.insert(seq, encoded?);
            while let Some(batch) = waiting.remove(&next) {
                store.commit_encoded(batch)?;
                next += 1;
            }
        }
        Ok(next)
    })();
    if result.is_err() {
        shared.failed.store(true, Ordering::Release);
        // Keep receiving (and dropping) so that no encoder blocks on a full channel.
        for _ in receiver {}
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::store::Table;

    fn quarantine_batch(path: &str, dir: &Path) -> EncodedBatch {
        let mut batch = BatchBuilder::new();
        batch.push_quarantine(path, None, "unreadable");
        Store::encode(batch.finish(Utc::now()).unwrap(), dir).unwrap()
    }

    #[test]
    fn batches_arriving_out_of_order_are_committed_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).unwrap();
        let shared = Shared::default();
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        for seq in [2u64, 0, 1] {
            let batch = quarantine_batch(&format!("/dumps/{seq}.dmp"), dir.path());
            sender.send((seq, Ok(batch))).unwrap();
        }
        drop(sender);
        assert_eq!(commit_in_order(&mut store, receiver, &shared).unwrap(), 3);
        assert!(!shared.failed.load(Ordering::Acquire));
        let rows = store.read_table(Table::Quarantine).unwrap();
        let paths: Vec<Option<&str>> = rows.column("path").unwrap().str().unwrap().iter().collect();
        assert_eq!(
            paths,
            [
                Some("/dumps/0.dmp"),
                Some("/dumps/1.dmp"),
                Some("/dumps/2.dmp")
            ]
        );
    }

    #[test]
    fn a_failed_encode_stops_the_commits_after_it_and_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).unwrap();
        let shared = Shared::default();
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        sender
            .send((0, Ok(quarantine_batch("/dumps/0.dmp", dir.path()))))
            .unwrap();
        let failure = polars::prelude::PolarsError::ComputeError("encoder broke".into());
        sender.send((1, Err(ScanError::Batch(failure)))).unwrap();
        sender
            .send((2, Ok(quarantine_batch("/dumps/2.dmp", dir.path()))))
            .unwrap();
        drop(sender);
        let err = commit_in_order(&mut store, receiver, &shared).unwrap_err();
        assert!(err.to_string().contains("encoder broke"), "{err}");
        assert!(shared.failed.load(Ordering::Acquire));
        // Batch 0 was committed before the failure; batch 2 never is.
        assert_eq!(store.read_table(Table::Quarantine).unwrap().height(), 1);
    }
}

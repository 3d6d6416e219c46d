//! Store maintenance: compacting the many batch files of a store into one file per table, and
//! merging stores (the shards of a distributed scan) into one, without duplicates.

use std::collections::HashSet;

use polars::prelude::*;

use super::{polars_err, Batch, SeenRecord, Store, StoreError, Table};

/// What `Store::merge_from` added.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeOutcome {
    pub crashes_added: usize,
    /// Source crashes whose `dump_id` the target already had.
    pub crashes_duplicate: usize,
    pub drivers_added: usize,
    pub quarantine_added: usize,
    pub inventory_copied: bool,
}

impl Store {
    /// Rewrites every table that has more than one file as a single file. Returns the number
    /// of files before and after. Readers holding the old manifest must re-open afterwards.
    pub fn compact(&mut self) -> Result<(usize, usize), StoreError> {
        self.lock_for_writing()?;
        let before: usize = Table::ALL
            .iter()
            .map(|t| self.manifest.files(*t).len())
            .sum();
        for table in Table::ALL {
            if self.manifest.files(table).len() > 1 {
                let mut df = self.read_table(table)?;
                self.replace_table(table, &mut df)?;
            }
        }
        let after: usize = Table::ALL
            .iter()
            .map(|t| self.manifest.files(*t).len())
            .sum();
        Ok((before, after))
    }

    /// Adds what `source` has and this store lacks: crashes whose `dump_id` is new (with their
    /// drivers), quarantine rows not already here, quick-check records for paths not already
    /// here, and the inventory when this store has none. One commit.
    pub fn merge_from(&mut self, source: &Store) -> Result<MergeOutcome, StoreError> {
        self.lock_for_writing()?;
        let mut outcome = MergeOutcome::default();
        let mut known: HashSet<String> = self
            .manifest
            .seen
            .iter()
            .map(|r| r.dump_id.clone())
            .collect();
        let own_crashes = self
            .lazy_crashes()?
            .select([col("dump_id")])
            .collect()
            .map_err(polars_err(&self.dir))?;
        known.extend(
            string_values(&own_crashes, "dump_id", &self.dir)?
                .into_iter()
                .flatten(),
        );

        let crashes = source.read_table(Table::Crashes)?;
        let ids = string_values(&crashes, "dump_id", source.dir())?;
        let mut added: HashSet<String> = HashSet::new();
        let keep: Vec<bool> = ids
            .iter()
            .map(|id| match id {
                Some(id) if !known.contains(id) && !added.contains(id) => {
                    added.insert(id.clone());
                    true
                }
                _ => false,
            })
            .collect();
        let crashes = filter(&crashes, keep, source.dir())?;
        outcome.crashes_added = crashes.height();
        outcome.crashes_duplicate = ids.len() - crashes.height();

        let drivers = source.read_table(Table::Drivers)?;
        let keep: Vec<bool> = string_values(&drivers, "dump_id", source.dir())?
            .iter()
            .map(|id| id.as_ref().is_some_and(|id| added.contains(id)))
            .collect();
        let drivers = filter(&drivers, keep, source.dir())?;
        outcome.drivers_added = drivers.height();

        let quarantine = self.merge_quarantine(source, &known)?;
        outcome.quarantine_added = quarantine.height();

        let own_paths: HashSet<&str> = self.manifest.seen.iter().map(|r| r.path.as_str()).collect();
        let seen: Vec<SeenRecord> = source
            .manifest
            .seen
            .iter()
            .filter(|r| !own_paths.contains(r.path.as_str()))
            .cloned()
            .collect();

        self.commit(Batch {
            crashes,
            drivers,
            quarantine,
            seen,
        })?;
        if self.manifest.inventory.is_none() {
            if let Some(inventory) = source.saved_inventory()? {
                self.save_inventory(inventory)?;
                outcome.inventory_copied = true;
            }
        }
        // Heartbeats are facts about hosts: all of them, deduplicated; the driver inventory
        // like the inventory (this store's wins).
        self.append_heartbeats(source.read_table(Table::Heartbeats)?)?;
        if self.manifest.driver_inventory.is_none() {
            if let Some(drivers) = source.driver_inventory()? {
                self.save_driver_inventory(drivers)?;
            }
        }
        // The rules in force travel with the crashes they triaged (the first store's win).
        if self.rules_text()?.is_none() {
            if let Some(rules) = source.rules_text()? {
                self.save_rules(&rules)?;
            }
        }
        Ok(outcome)
    }

    /// Source quarantine rows this store does not have: by content hash when there is one,
    /// by path and error when the file could not be read at all.
    fn merge_quarantine(
        &self,
        source: &Store,
        known: &HashSet<String>,
    ) -> Result<DataFrame, StoreError> {
        let own = self.read_table(Table::Quarantine)?;
        let own_ids: HashSet<String> = string_values(&own, "dump_id", &self.dir)?
            .into_iter()
            .flatten()
            .collect();
        let own_unreadable: HashSet<(Option<String>, Option<String>)> =
            string_values(&own, "path", &self.dir)?
                .into_iter()
                .zip(string_values(&own, "error", &self.dir)?)
                .collect();
        let theirs = source.read_table(Table::Quarantine)?;
        let ids = string_values(&theirs, "dump_id", source.dir())?;
        let paths = string_values(&theirs, "path", source.dir())?;
        let errors = string_values(&theirs, "error", source.dir())?;
        let mut taken: HashSet<String> = HashSet::new();
        let keep: Vec<bool> = ids
            .into_iter()
            .zip(paths.into_iter().zip(errors))
            .map(|(id, key)| match id {
                Some(id) => !own_ids.contains(&id) && !known.contains(&id) && taken.insert(id),
                None => !own_unreadable.contains(&key),
            })
            .collect();
        filter(&theirs, keep, source.dir())
    }
}

/// The values of a string column (nulls as `None`).
fn string_values(
    df: &DataFrame,
    name: &str,
    dir: &std::path::Path,
) -> Result<Vec<Option<String>>, StoreError> {
    let column = df.column(name).map_err(polars_err(dir))?;
    let values = column.str().map_err(polars_err(dir))?;
    Ok(values.iter().map(|v| v.map(str::to_string)).collect())
}

fn filter(df: &DataFrame, keep: Vec<bool>, dir: &std::path::Path) -> Result<DataFrame, StoreError> {
    let mask = BooleanChunked::from_iter_values("keep".into(), keep.into_iter());
    df.filter(&mask).map_err(polars_err(dir))
}

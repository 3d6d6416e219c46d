//! `blastradius store compact|merge`: maintain crash stores.
//!
//! `compact` rewrites each table's many batch files as one (do it before pointing a tool that
//! globs `crashes/*.parquet` at a store that is being scanned, or just honour manifest.json).
//! `merge A B ... --into C` combines stores, e.g. the per-shard stores of `scan --shard`,
//! keeping each `dump_id` once.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::fleet::store::{MergeOutcome, Store, DEFAULT_STORE_DIR, STORE_ENV};

use super::scan::Format;

/// Arguments of `blastradius store`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Action {
    /// Merge each table's batch files into a single Parquet file.
    Compact {
        #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
        store: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Combine stores (e.g. the shards of a distributed scan) into one, without duplicates.
    Merge {
        /// Stores to read.
        #[arg(required = true, value_name = "STORE")]
        sources: Vec<PathBuf>,
        /// The store to add them to (created when absent).
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Serialize)]
struct MergedSource {
    source: String,
    #[serde(flatten)]
    outcome: MergeOutcome,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    match &args.action {
        Action::Compact { store, format } => {
            let mut opened = Store::open(store)?;
            let (before, after) = opened.compact()?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"store": store.to_string_lossy(), "files_before": before, "files_after": after})
                ),
                Format::Text => println!("{}: {before} files -> {after}", store.display()),
            }
        }
        Action::Merge {
            sources,
            into,
            format,
        } => {
            // Open every source first: a typo must fail before the target is created.
            let mut opened = Vec::with_capacity(sources.len());
            for source in sources {
                opened.push(Store::open(source)?);
            }
            let mut target = Store::open_or_create(into)
                .with_context(|| format!("cannot write the crash store {}", into.display()))?;
            let target_dir = into.canonicalize()?;
            let mut merged = Vec::new();
            for source in &opened {
                if source.dir().canonicalize().ok().as_deref() == Some(target_dir.as_path()) {
                    anyhow::bail!(
                        "{}: a store cannot be merged into itself",
                        source.dir().display()
                    );
                }
                let outcome = target.merge_from(source)?;
                merged.push(MergedSource {
                    source: source.dir().to_string_lossy().into_owned(),
                    outcome,
                });
            }
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&merged)?),
                Format::Text => {
                    for m in &merged {
                        println!(
                            "{}: +{} crashes ({} already present), +{} driver rows, +{} quarantined{}",
                            m.source.chars().filter(|c| !c.is_control()).collect::<String>(),
                            m.outcome.crashes_added,
                            m.outcome.crashes_duplicate,
                            m.outcome.drivers_added,
                            m.outcome.quarantine_added,
                            if m.outcome.inventory_copied { ", inventory copied" } else { "" }
                        );
                    }
                    println!(
                        "into {}: {} crashes",
                        into.display(),
                        target.manifest().rows(crate::fleet::store::Table::Crashes)
                    );
                }
            }
        }
    }
    Ok(0)
}

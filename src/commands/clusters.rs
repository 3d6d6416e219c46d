//! `blastradius clusters`: crash clusters ranked by blast radius (driver -> bucket ->
//! signature), as a terminal table, JSON or CSV.
//!
//! The text table's first line on the channel-file-291 fleet reads like
//! `csagent.sys  AV_R_INVALID_csagent!unknown_function  0x50  3,812 hosts (76.2 % of fleet)  2,904 boot-looping  04:09–05:41 UTC`.

use anyhow::Context;

use crate::fleet::analytics::{self, window, ClusterOptions, SimilarityParams};
pub use crate::report::cluster_table::{render_text, write_csv};

use super::scope_args::{emit, open_store, note_data_end, HostStateArgs, ScopeArgs, TableFormat};

/// Arguments of `blastradius clusters`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only this cluster: an id (any level), a driver (`csagent.sys`), a non-driver cause
    /// (`POWER_BUTTON_HOLD`), a bucket id or a signature.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Levels shown in the text table: 1 drivers, 2 + buckets, 3 + signatures.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub depth: u8,
    /// At most this many top-level clusters in the text table (0 = all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
    /// Onset-curve bucket size (default: from the window's span, 1 min .. 1 day).
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// Values listed per inventory column in a breakdown (largest first, the rest summed as
    /// "(other)"); 0 = all.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub breakdown_values: usize,
    /// Skip the related-signature (stack similarity) pass.
    #[arg(long)]
    pub no_related: bool,
    /// Similarity threshold in [0, 1] for `related` signatures.
    #[arg(long, default_value_t = SimilarityParams::default().threshold, value_name = "X")]
    pub similarity: f64,
    #[command(flatten)]
    pub states: HostStateArgs,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = open_store(&args.scope.store)?;
    let bucket_seconds = args
        .bucket
        .as_deref()
        .map(window::parse_duration)
        .transpose()?
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    if !(0.0..=1.0).contains(&args.similarity) {
        anyhow::bail!("--similarity must be between 0 and 1");
    }
    let opts = ClusterOptions {
        scope: args.scope.resolved_scope(&store, args.cluster.as_deref())?,
        host_states: args.states.params()?,
        similarity: (!args.no_related).then(|| SimilarityParams {
            threshold: args.similarity,
            ..SimilarityParams::default()
        }),
        bucket_seconds,
        breakdown_limit: args.breakdown_values,
    };
    let table = analytics::clusters(
        store.lazy_crashes()?,
        Some(store.lazy_drivers()?),
        store.inventory()?,
        &opts,
    )
    .with_context(|| format!("clusters of {}", args.scope.store.display()))?;
    let mut out: Vec<u8> = Vec::new();
    match args.scope.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &table)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &table)?,
        TableFormat::Text => {
            out.extend_from_slice(render_text(&table, args.depth, args.limit).as_bytes())
        }
    }
    note_data_end(&table.data_end);
    emit(&out)?;
    Ok(0)
}

//! `blastradius hosts`: hosts and their crash state (boot-loop, failing, single, recovered),
//! most urgent first, as a terminal table, JSON (an array) or CSV.

use anyhow::Context;

use crate::fleet::analytics::{self, HostOptions, HostState};
use crate::fleet::store::Store;
pub use crate::report::host_table::{render_text, write_csv};

use super::scope_args::{emit, note_data_end, HostStateArgs, ScopeArgs, TableFormat};

/// Arguments of `blastradius hosts`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only hosts hit by this cluster (id at any level, driver, cause, bucket or signature).
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Only hosts in this state: down (crashed, no heartbeat since: the dispatch list),
    /// boot-loop, failing, single, recovered.
    #[arg(long, value_parser = parse_state, value_name = "STATE")]
    pub state: Option<HostState>,
    #[command(flatten)]
    pub states: HostStateArgs,
}

fn parse_state(text: &str) -> Result<HostState, String> {
    HostState::parse(text)
        .ok_or_else(|| format!("'{text}': expected down, boot-loop, failing, single or recovered"))
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = Store::open(&args.scope.store)?;
    let opts = HostOptions {
        scope: args.scope.resolved_scope(&store, args.cluster.as_deref())?,
        host_states: args.states.params()?,
        state: args.state,
    };
    let table = analytics::hosts(store.lazy_crashes()?, store.inventory()?, &opts)
        .with_context(|| format!("hosts of {}", args.scope.store.display()))?;
    let mut out: Vec<u8> = Vec::new();
    match args.scope.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &table.hosts)?;
            out.push(b'\n');
        }
        TableFormat::Csv => write_csv(&mut out, &table)?,
        TableFormat::Text => out.extend_from_slice(render_text(&table).as_bytes()),
    }
    note_data_end(&table.data_end);
    let rotated = table.hosts.iter().filter(|h| h.dumps_rotated).count();
    if rotated > 0 {
        eprintln!(
            "blastradius: {rotated} boot-loop host(s) are \"looping, dumps rotated\": their dumps up to the end were rotated away (Windows keeps the newest few) and the kept ones show a loop under way (dumps_rotated in JSON)"
        );
    }
    emit(&out)?;
    Ok(0)
}

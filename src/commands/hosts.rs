//! `blastradius hosts`: hosts and their crash state (boot-loop, failing, single, recovered),
//! most urgent first, as a terminal table, JSON (an array) or CSV.

use anyhow::Context;

use crate::fleet::analytics::{self, HostOptions, HostRow, HostState, HostTable};
pub use crate::report::host_table::{pick_columns, render_text, render_text_with, write_csv};
use crate::report::table::TextLayout;

use super::fail_if::{self, describe, FailIf, Value};

use super::scope_args::{
    emit, note_data_end, note_warnings, open_store, HostStateArgs, ScopeArgs, TableFormat,
};

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
    /// Text table columns, comma-separated, or `all` (default: host, state, crashes,
    /// clusters, first, last, site, role, criticality). JSON and CSV keep every column.
    #[arg(long, value_name = "A,B,C|all")]
    pub columns: Option<String>,
    /// Text table without its header row (for scripts).
    #[arg(long)]
    pub no_header: bool,
    /// Lay the text out for N columns (0: no limit, whole cells); default: $COLUMNS, else
    /// the terminal's width, else 80. Columns that do not fit are cut or left out.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Exit 1 when any listed host matches FILTER, e.g. `state=boot-loop` or
    /// `clusters=csagent.sys,criticality=critical` (see the fields below).
    #[arg(long, value_name = "FILTER", value_parser = fail_if::parse)]
    pub fail_if: Option<FailIf>,
}

/// A host's value of a `--fail-if` field: host, state, crashes, clusters (a list) or an
/// inventory column.
fn host_field(h: &HostRow, field: &str) -> Option<Value> {
    match field {
        "host" => Some(Value::Text(h.host.clone())),
        "state" => Some(Value::Text(h.state.as_str().to_string())),
        "crashes" => Some(Value::Num(h.crashes as f64)),
        "clusters" => Some(Value::List(h.clusters.clone())),
        column => h
            .inventory
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(column))
            .map(|(_, v)| Value::Text(v.to_string())),
    }
}

/// How many hosts of `table` match `filter`.
pub fn count_matches(table: &HostTable, filter: &FailIf) -> anyhow::Result<usize> {
    let known: Vec<String> = ["host", "state", "crashes", "clusters"]
        .iter()
        .map(|f| f.to_string())
        .chain(table.inventory_columns.iter().cloned())
        .collect();
    filter.check_fields(&known).map_err(anyhow::Error::msg)?;
    let mut matched = 0;
    for h in &table.hosts {
        if filter
            .matches(|f| host_field(h, f))
            .map_err(anyhow::Error::msg)?
        {
            matched += 1;
        }
    }
    Ok(matched)
}

fn parse_state(text: &str) -> Result<HostState, String> {
    HostState::parse(text)
        .ok_or_else(|| format!("'{text}': expected down, boot-loop, failing, single or recovered"))
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = open_store(&args.scope.store)?;
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
        TableFormat::Text => {
            let columns =
                pick_columns(&table, args.columns.as_deref()).map_err(anyhow::Error::msg)?;
            out.extend_from_slice(
                render_text_with(
                    &table,
                    &columns,
                    TextLayout::for_stdout(args.no_header, args.width),
                    chrono::Utc::now().date_naive(),
                )
                .as_bytes(),
            )
        }
    }
    let rotated = table.hosts.iter().filter(|h| h.dumps_rotated).count();
    if args.scope.format == TableFormat::Text {
        note_warnings(&table.data_end);
    } else {
        note_data_end(&table.data_end);
    }
    if rotated > 0 && args.scope.format != TableFormat::Text {
        eprintln!(
            "blastradius: {rotated} boot-loop host(s) are \"looping, dumps rotated\": their dumps up to the end were rotated away (Windows keeps the newest few) and the kept ones show a loop under way (dumps_rotated in JSON)"
        );
    }
    emit(&out)?;
    if let Some(filter) = &args.fail_if {
        let matched = count_matches(&table, filter)?;
        fail_if::report(matched, "host(s)", &describe(filter));
        return Ok(u8::from(matched > 0));
    }
    Ok(0)
}

//! `blastradius hosts`: hosts and their crash state (boot-loop, failing, single, recovered),
//! most urgent first, as a terminal table, JSON (an array) or CSV.

use std::io::Write;

use anyhow::Context;

use crate::fleet::analytics::{self, HostOptions, HostState, HostTable};
use crate::fleet::store::Store;
use crate::report::csv::{self, Field};
use crate::report::table::{human_seconds, thousands, Align, Table};

use super::scope_args::{emit, note_data_end, HostStateArgs, ScopeArgs, TableFormat};

/// Arguments of `blastradius hosts`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only hosts hit by this cluster (id at any level, driver, cause, bucket or signature).
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Only hosts in this state: boot-loop, failing, single, recovered.
    #[arg(long, value_parser = parse_state, value_name = "STATE")]
    pub state: Option<HostState>,
    #[command(flatten)]
    pub states: HostStateArgs,
}

fn parse_state(text: &str) -> Result<HostState, String> {
    HostState::parse(text)
        .ok_or_else(|| format!("'{text}': expected boot-loop, failing, single or recovered"))
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

/// `2024-07-19T04:09:00Z` -> `2024-07-19 04:09:00`.
fn short_time(rfc3339: Option<&str>) -> String {
    rfc3339
        .map(|t| t.trim_end_matches('Z').replacen('T', " ", 1))
        .unwrap_or_else(|| "-".into())
}

/// The terminal table (times UTC) and a summary line.
pub fn render_text(table: &HostTable) -> String {
    let mut header = vec![
        "HOST".to_string(),
        "STATE".into(),
        "CRASHES".into(),
        "CLUSTERS".into(),
        "MIN UPTIME".into(),
        "FIRST (UTC)".into(),
        "LAST (UTC)".into(),
    ];
    header.extend(table.inventory_columns.iter().map(|c| c.to_uppercase()));
    let mut t = Table::new()
        .with_header(&header)
        .with_align(&[Align::Left, Align::Left, Align::Right])
        .with_max_cell_chars(60);
    for h in &table.hosts {
        let mut row = vec![
            h.host.clone(),
            h.state.as_str().to_string(),
            thousands(h.crashes),
            h.clusters.join(" "),
            h.min_uptime_seconds
                .map(human_seconds)
                .unwrap_or_else(|| "-".into()),
            short_time(h.first_crash.as_deref()),
            short_time(h.last_crash.as_deref()),
        ];
        row.extend(h.inventory.iter().map(|(_, v)| v.to_string()));
        t.push(&row);
    }
    let mut out = if t.is_empty() {
        "no hosts in scope\n".to_string()
    } else {
        t.render()
    };
    let states: Vec<String> = table
        .by_state
        .iter()
        .map(|(s, n)| format!("{} {}", thousands(*n), s.as_str()))
        .collect();
    out.push_str(&format!(
        "{} hosts{}{}\n",
        thousands(table.hosts.len() as u64),
        if states.is_empty() {
            String::new()
        } else {
            format!(": {}", states.join(", "))
        },
        table
            .window_end
            .as_deref()
            .map(|e| format!("; data ends {e}"))
            .unwrap_or_default()
    ));
    out
}

/// One record per host; inventory columns follow the fixed ones.
pub fn write_csv<W: Write>(out: &mut W, table: &HostTable) -> std::io::Result<()> {
    let mut header: Vec<&str> = vec![
        "host",
        "state",
        "crashes",
        "clusters",
        "min_uptime_seconds",
        "first_crash",
        "last_crash",
        "boot_loop_since",
        "boot_looped",
    ];
    header.extend(table.inventory_columns.iter().map(String::as_str));
    csv::write_header(out, &header)?;
    for h in &table.hosts {
        let mut fields = vec![
            Field::text(&h.host),
            Field::text(h.state.as_str()),
            Field::num(h.crashes),
            Field::text(h.clusters.join(" ")),
            Field::opt_num(h.min_uptime_seconds),
            Field::opt_text(h.first_crash.as_deref()),
            Field::opt_text(h.last_crash.as_deref()),
            Field::opt_text(h.boot_loop_since.as_deref()),
            Field::num(h.boot_looped),
        ];
        fields.extend(h.inventory.iter().map(|(_, v)| Field::text(v)));
        csv::write_record(out, &fields)?;
    }
    Ok(())
}

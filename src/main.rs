//! The `blastradius` binary: parse arguments, dispatch to `blastradius::commands`, exit.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use blastradius::commands;

#[derive(Parser, Debug)]
#[command(
    name = "blastradius",
    version,
    about = "Windows crash-dump triage and fleet blast radius"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read dump files and print what each says (bugcheck, fault, blame, stack).
    Inspect(commands::inspect::Args),
    /// Ingest a tree of dumps into the crash store (parallel, incremental).
    Scan(commands::scan::Args),
    /// Write a simulated fleet of real-format dumps with known truth.
    Simulate(commands::simulate::Args),
    /// Maintain a crash store: compact its files, merge shards.
    Store(commands::store::Args),
    /// Crash clusters ranked by blast radius (driver -> bucket -> signature).
    Clusters(commands::clusters::Args),
    /// Hosts and their crash state (boot-loop, failing, recovered, single).
    Hosts(commands::hosts::Args),
    /// Third-party kernel drivers: exposure and crash share.
    Drivers(commands::drivers::Args),
    /// What-if blast radius: who goes down if DRIVER fails on every host that runs it.
    Exposure(commands::exposure::Args),
    /// Re-derive blame, bucket and signature of stored crashes after a rule change.
    Reprocess(commands::reprocess::Args),
    /// May a staged rollout go on? halt (exit 1) / proceed (0) / insufficient-data (3).
    Gate(commands::gate::Args),
    /// The fleet-stability report for management: HTML (charts inline), Markdown or JSON.
    Report(commands::report::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Scan(a) => commands::scan::run(a),
        Command::Simulate(a) => commands::simulate::run(a),
        Command::Store(a) => commands::store::run(a),
        Command::Clusters(a) => commands::clusters::run(a),
        Command::Hosts(a) => commands::hosts::run(a),
        Command::Drivers(a) => commands::drivers::run(a),
        Command::Exposure(a) => commands::exposure::run(a),
        Command::Reprocess(a) => commands::reprocess::run(a),
        Command::Gate(a) => commands::gate::run(a),
        Command::Report(a) => commands::report::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("blastradius: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

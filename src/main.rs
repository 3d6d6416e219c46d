//! The `blastradius` binary: parse arguments, dispatch to `blastradius::commands`, exit.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use blastradius::commands;

#[derive(Parser, Debug)]
#[command(
    name = "blastradius",
    version,
    about = "Windows crash-dump triage and fleet blast radius",
    after_help = commands::help::TOP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read dump files and print what each says (bugcheck, fault, blame, stack).
    #[command(after_help = commands::help::INSPECT)]
    Inspect(commands::inspect::Args),
    /// Ingest a tree of dumps into the crash store (parallel, incremental).
    #[command(after_help = commands::help::SCAN)]
    Scan(commands::scan::Args),
    /// Write a simulated fleet of real-format dumps with known truth.
    Simulate(commands::simulate::Args),
    /// Maintain a crash store: compact its files, merge shards.
    #[command(after_help = commands::help::STORE)]
    Store(commands::store::Args),
    /// Crash clusters ranked by blast radius (driver -> bucket -> signature).
    #[command(after_help = commands::help::CLUSTERS)]
    Clusters(commands::clusters::Args),
    /// Hosts and their crash state (down, boot-loop, failing, recovered, single).
    #[command(after_help = commands::help::HOSTS)]
    Hosts(commands::hosts::Args),
    /// Third-party kernel drivers: exposure and crash share.
    #[command(after_help = commands::help::DRIVERS)]
    Drivers(commands::drivers::Args),
    /// What-if blast radius: who goes down if DRIVER fails on every host that runs it.
    #[command(after_help = commands::help::EXPOSURE)]
    Exposure(commands::exposure::Args),
    /// Re-derive blame, bucket and signature of stored crashes after a rule change.
    #[command(after_help = commands::help::REPROCESS)]
    Reprocess(commands::reprocess::Args),
    /// May a staged rollout go on? halt (exit 1) / proceed (0) / insufficient-data (3).
    Gate(commands::gate::Args),
    /// The fleet-stability report for management: HTML (charts inline), Markdown or JSON.
    #[command(after_help = commands::help::REPORT)]
    Report(commands::report::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = commands::help::COMPLETIONS)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of blastradius.
    #[command(after_help = commands::help::MAN)]
    Man {
        /// Write one page per command (blastradius.1, blastradius-hosts.1, ...) into DIR
        /// instead of the top page to stdout.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// The incident responder's console: clusters, hosts, drivers; live with --watch.
    #[command(after_help = commands::help::TUI)]
    Tui(commands::tui::Args),
}

fn main() -> ExitCode {
    commands::exit::quiet_on_closed_pipe();
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
        Command::Completions { shell } => {
            commands::shell::completions(*shell, &mut Cli::command(), "blastradius")
        }
        Command::Man { dir } => commands::shell::man(Cli::command(), dir.as_deref()),
        Command::Tui(a) => commands::tui::run(a),
    };
    commands::exit::code(result)
}

//! `blastradius inspect <DUMP>...`: read dump files and print what each one says.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::pipeline::Pipeline;
use crate::report::inspect_text::{render, InspectTextOptions};
use crate::symbols::SymbolCache;
use crate::triage::Rules;

/// Output formats of `inspect`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectFormat {
    Text,
    /// One `CrashReport` JSON document per line.
    Json,
}

/// Arguments of `blastradius inspect`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Dump files: kernel small-memory dumps (C:\Windows\Minidump\*.dmp), full/bitmap kernel
    /// dumps (header level), or user-mode minidumps.
    #[arg(required = true)]
    pub dumps: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
    pub format: InspectFormat,
    /// Symbol store directory or Windows symbol path (srv*C:\cache*https://server); default:
    /// $_NT_SYMBOL_PATH, else ./symbols-cache if present.
    #[arg(long)]
    pub symbols: Option<String>,
    /// A rules file (TOML) merged over the built-in triage rules.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Also list the loaded and unloaded drivers (text format).
    #[arg(long)]
    pub drivers: bool,
    /// Also report every thread of user-mode minidumps with its id, name and frames (JSON:
    /// `threads`; text: after the crashing thread's stack). `stack` stays the crashing thread.
    #[arg(long)]
    pub all_threads: bool,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let symbols =
        SymbolCache::from_cli(args.symbols.as_deref()).context("cannot use the symbol path")?;
    let rules = Rules::from_cli(args.rules.as_deref())?;
    let pipeline = Pipeline::new(Arc::new(symbols)).with_rules(Arc::new(rules));
    let pipeline = Pipeline {
        all_threads: args.all_threads,
        ..pipeline
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    for (i, path) in args.dumps.iter().enumerate() {
        if path.is_dir() {
            failed += 1;
            eprintln!(
                "blastradius: {}: is a directory; pass dump files, or use `blastradius scan {}` for a tree of dumps",
                path.display(),
                path.display()
            );
            continue;
        }
        match pipeline.process_file(path) {
            Ok(report) => match args.format {
                InspectFormat::Json => {
                    serde_json::to_writer(&mut out, &report)?;
                    writeln!(out)?;
                }
                InspectFormat::Text => {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    write!(
                        out,
                        "{}",
                        render(
                            &report,
                            InspectTextOptions {
                                drivers: args.drivers
                            }
                        )
                    )?;
                }
            },
            Err(e) => {
                failed += 1;
                eprintln!("blastradius: {e}");
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        eprintln!(
            "blastradius: {failed} of {} file(s) could not be read",
            args.dumps.len()
        );
        return Ok(2);
    }
    Ok(0)
}

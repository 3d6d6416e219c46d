//! `blastradius drivers`. PLACEHOLDER.

/// Arguments of `blastradius drivers`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let _ = args;
    anyhow::bail!("'drivers' is not implemented yet")
}

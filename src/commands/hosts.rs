//! `blastradius hosts`. PLACEHOLDER.

/// Arguments of `blastradius hosts`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let _ = args;
    anyhow::bail!("'hosts' is not implemented yet")
}

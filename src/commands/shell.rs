//! `blastradius completions SHELL` and `blastradius man`: the shell-integration files
//! packagers and users install (see README "Shell completions and man page").

use std::io::Write;

use anyhow::Context;

/// Writes the completion script of `shell` for `cmd` to stdout.
pub fn completions(
    shell: clap_complete::Shell,
    cmd: &mut clap::Command,
    bin_name: &str,
) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, bin_name, &mut out);
    emit_all(&out)
}

/// Writes the roff man page of `cmd` (its subcommands listed, with their help) to stdout,
/// or, with `dir`, one page per command into `dir` (`blastradius.1`, `blastradius-hosts.1`,
/// ...): the top page names the subcommands' pages, so `man blastradius-hosts` should
/// open too.
pub fn man(cmd: clap::Command, dir: Option<&std::path::Path>) -> anyhow::Result<u8> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
        eprintln!("blastradius: man pages written to {}", dir.display());
        return Ok(0);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    emit_all(&out)
}

fn emit_all(bytes: &[u8]) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    lock.write_all(bytes)?;
    lock.flush()?;
    Ok(0)
}

//! How the process ends: exit codes, error messages that say each fact once, and a closed
//! stdout pipe (`blastradius inspect x.dmp | head -1`) that ends the program quietly with 0.
//!
//! Handled here, once, for every command (as ripgrep does) rather than at each `write`:
//! an error chain that bottoms out in `BrokenPipe` is success, and so is the panic
//! `print!` raises when its pipe is gone.

use std::io;
use std::process::ExitCode;

/// The exit code of a command's result: its own code, 0 when stdout's reader went away,
/// else 2 with the error on stderr.
pub fn code(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("blastradius: error: {}", message(&err));
            ExitCode::from(2)
        }
    }
}

/// True when any cause of `err` is an I/O error of kind `BrokenPipe`.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error chain joined by `: `, each cause left out when the text so far already says
/// it. Library errors often print their source inside their own message *and* return it as
/// `source()`, which made `No such file or directory (os error 2)` appear three times.
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Makes the panic `print!`/`println!` raise on a closed stdout end the process with 0 and
/// no message; every other panic keeps the default report.
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_said_once() {
        let os = io::Error::from(io::ErrorKind::NotFound);
        let os_text = os.to_string();
        let err = anyhow::Error::new(os)
            .context(format!("nosuch.csv: {os_text}"))
            .context("cannot read the inventory");
        assert_eq!(
            message(&err),
            format!("cannot read the inventory: nosuch.csv: {os_text}")
        );
    }

    #[test]
    fn broken_pipe_anywhere_in_the_chain() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("x");
        assert!(is_closed_pipe(&err));
        let other = anyhow::Error::new(io::Error::from(io::ErrorKind::NotFound));
        assert!(!is_closed_pipe(&other));
    }
}

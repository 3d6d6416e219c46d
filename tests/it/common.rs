//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The project root (where Cargo.toml is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/samples/<rel>` when the shared samples are present; otherwise prints why the
/// caller is skipping and returns `None`.
pub fn sample(rel: &str) -> Option<PathBuf> {
    let path = project_root().join("../shared/samples").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIP: {} is absent (real samples live in ../shared/samples)",
            path.display()
        );
        None
    }
}

/// `../shared/samples/symbols` when present.
pub fn sample_symbols() -> Option<PathBuf> {
    sample("symbols")
}

/// The built `blastradius` binary, for end-to-end CLI tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blastradius"))
}

/// Runs the built binary with `args` (the store from the environment left out): exit code,
/// stdout, stderr.
pub fn run_binary(args: &[&str]) -> (i32, String, String) {
    run_binary_in(args, None)
}

/// As `run_binary`, in the folder `cwd` when given (commands that write relative paths).
pub fn run_binary_in(args: &[&str], cwd: Option<&Path>) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(binary());
    cmd.args(args).env_remove("BLASTRADIUS_STORE");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file of the committed simulated fleet (`sample-dumps/dumps/<host>/*`, written by the
/// in-repo simulator), sorted: inputs that never depend on `../shared`.
pub fn simulated_fleet_files() -> Vec<PathBuf> {
    let root = project_root().join("sample-dumps/dumps");
    let mut files = Vec::new();
    for host in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(host.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

/// The committed fleet scanned with its inventory, heartbeats and driver inventory
/// (`sample-dumps/`), once per test process; tests only read it.
pub fn sample_fleet_store_with_heartbeats() -> &'static Path {
    static STORE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let root = project_root().join("sample-dumps");
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            let store = dir.path().join("store");
            let (code, _, err) = run_binary(&[
                "scan",
                root.join("dumps").to_str().unwrap(),
                "--inventory",
                root.join("inventory.csv").to_str().unwrap(),
                "--heartbeats",
                root.join("heartbeats.csv").to_str().unwrap(),
                "--driver-inventory",
                root.join("drivers.csv").to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "scan: {err}");
            (dir, store)
        })
        .1
}

//! Build steps that make every start of the binary cheaper (issue 16: `inspect` run once per
//! dump must not lose to `minidump-stackwalk` run once per dump).
//!
//! 1. The built-in triage rules (`src/triage/default_rules.toml`) are turned into JSON here,
//!    once: parsing 11 KB of TOML cost every process about 0.7 ms, a JSON read of the same
//!    document a fraction of that. The TOML file stays the source people edit.
//! 2. The release binary for Linux/glibc is linked as a position-dependent executable
//!    (`-no-pie`). A 70 MB PIE carries ~136,000 relative relocations in 3 MB of pointer
//!    tables that the loader writes on every start (~800 copy-on-write page faults: 2.5 ms
//!    of the 4 ms of `--version`); linked at a fixed address there is nothing to patch. The
//!    price is ASLR of the executable's own image (libraries, heap and stack stay
//!    randomized). Set `BLASTRADIUS_PIE=1` to keep a PIE: its relocations are then packed
//!    (DT_RELR: a smaller table, the same page faults).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    rules_as_json();
    link_options();
}

fn rules_as_json() {
    let source = "src/triage/default_rules.toml";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("read src/triage/default_rules.toml");
    // A parse error here is a defect of the source tree: fail the build, naming it.
    let value: toml::Value = toml::from_str(&text).expect("src/triage/default_rules.toml parses");
    let json = serde_json::to_string(&value).expect("TOML values serialize as JSON");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("default_rules.json"), json).expect("write default_rules.json");
}

fn link_options() {
    println!("cargo:rerun-if-env-changed=BLASTRADIUS_PIE");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let linux_gnu = env("CARGO_CFG_TARGET_OS") == "linux" && env("CARGO_CFG_TARGET_ENV") == "gnu";
    if env("PROFILE") != "release" || !linux_gnu {
        return;
    }
    if env("BLASTRADIUS_PIE") == "1" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    } else {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

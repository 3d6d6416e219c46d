//! Build steps that make every start of the binary cheaper (issue 16: `inspect` run once per
//! dump must not lose to `minidump-stackwalk` run once per dump).
//!
//! 1. The built-in triage rules (`src/triage/default_rules.toml`) are turned into JSON here,
//!    once: parsing 11 KB of TOML cost every process about 0.7 ms, a JSON read of the same
//!    document a fraction of that. The TOML file stays the source people edit.
//! 2. The release binary for Linux/glibc stays a position-independent executable (ASLR of
//!    its own image: it parses hostile files), with its ~136,000 relative relocations packed
//!    (DT_RELR: a 3 MB table becomes a few KB). Applying them still writes ~800 pages of
//!    pointer tables at every start (~2.4 ms). Farms that run `inspect` once per dump and
//!    accept a fixed image address can set `BLASTRADIUS_NO_PIE=1` to link it
//!    position-dependent: nothing to patch, and `inspect` per dump is then as fast as
//!    `minidump-stackwalk` per dump (BENCHMARKS.md, "Command line").

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
    println!("cargo:rerun-if-env-changed=BLASTRADIUS_NO_PIE");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let linux_gnu = env("CARGO_CFG_TARGET_OS") == "linux" && env("CARGO_CFG_TARGET_ENV") == "gnu";
    if env("PROFILE") != "release" || !linux_gnu {
        return;
    }
    if env("BLASTRADIUS_NO_PIE") == "1" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    } else {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

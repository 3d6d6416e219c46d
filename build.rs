//! Link options of the release binary.
//!
//! A 70+ MB PIE executable carries hundreds of thousands of relative relocations that the
//! dynamic loader applies before `main` on every start, which is most of the start-up of
//! `blastradius --version` and of `inspect` run once per dump. `-z pack-relative-relocs`
//! (GNU ld 2.38+, lld 15+) stores them as a compact DT_RELR table (glibc 2.36+ applies it),
//! keeping the executable position-independent (ASLR stays on: the binary reads hostile
//! dumps). Release builds for Linux/glibc only; other targets and debug builds link as
//! before.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    if env("PROFILE") == "release"
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && env("CARGO_CFG_TARGET_ENV") == "gnu"
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

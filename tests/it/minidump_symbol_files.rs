//! Symbol files for user-mode minidumps that are found but refused (wrong MODULE id, corrupt
//! PDB, broken cabinet) are named in the report's warnings; CAB-compressed ones (`.sy_`,
//! `.pd_`) are expanded and used, from a local store and from an HTTP symbol server. Real
//! dumps and symbol files from `../shared/samples/`; the stores are built per test in a temp
//! folder (copies, never committed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blastradius::pipeline::Pipeline;
use blastradius::record::CrashReport;
use blastradius::symbols::SymbolCache;

use crate::common;

const MAC_DUMP: &str = "mdmp-peer/pipeline-inlines-macos-segv.dmp";
const MAC_SYM: &str =
    "mdmp-peer/symbols/crash-client/509C0610949836F7B70BD88BCF03E5400/crash-client.sym";
const MAC_KEY: &str = "crash-client/509C0610949836F7B70BD88BCF03E5400";
const WIN_DUMP: &str = "mdmp/win10-x86-crash-exe.dmp";
const WIN_PDB: &str = "symbols/crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb";
const WIN_KEY: &str = "crash.pdb/3249D99D0C4049318610F4E4FB0B69361";

fn inspect(dump: &Path, spec: &str) -> CrashReport {
    let cache = SymbolCache::from_spec(spec).unwrap();
    Pipeline::new(Arc::new(cache)).process_file(dump).unwrap()
}

/// Writes `content` at `<store>/<rel>`.
fn put(store: &Path, rel: &str, content: &[u8]) -> PathBuf {
    let path = store.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// An MSZIP cabinet holding one file, as `symstore add /compress` writes `.pd_` files.
fn cabinet(name: &str, content: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut builder = cab::CabinetBuilder::new();
    builder
        .add_folder(cab::CompressionType::MsZip)
        .add_file(name);
    let mut writer = builder.build(std::io::Cursor::new(Vec::new())).unwrap();
    while let Some(mut file) = writer.next_file().unwrap() {
        file.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn warning_with<'a>(report: &'a CrashReport, needle: &str) -> Option<&'a String> {
    report.warnings.iter().find(|w| w.contains(needle))
}

#[test]
fn a_sym_with_the_wrong_module_id_is_named_in_warnings() {
    let (Some(dump), Some(sym)) = (common::sample(MAC_DUMP), common::sample(MAC_SYM)) else {
        return;
    };
    let text = std::fs::read_to_string(sym).unwrap();
    // The same file under the right path, but its MODULE record names another build.
    let wrong = text.replacen(
        "509C0610949836F7B70BD88BCF03E5400",
        "00000000000000000000000000000000A",
        1,
    );
    let store = tempfile::tempdir().unwrap();
    put(
        store.path(),
        &format!("{MAC_KEY}/crash-client.sym"),
        wrong.as_bytes(),
    );
    let report = inspect(&dump, store.path().to_str().unwrap());
    // Before: frames unsymbolized and `warnings: []`.
    assert_eq!(report.stack[0].function, None);
    let warning = warning_with(&report, "crash-client.sym").expect("the refused file is named");
    assert!(
        warning.contains("MODULE id is 00000000000000000000000000000000A, wanted 509C0610949836F7B70BD88BCF03E5400"),
        "{warning}"
    );
}

#[test]
fn a_corrupt_pdb_is_named_in_warnings() {
    let Some(dump) = common::sample(WIN_DUMP) else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let pdb = put(
        store.path(),
        &format!("{WIN_KEY}/crash.pdb"),
        b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0 truncated",
    );
    let report = inspect(&dump, store.path().to_str().unwrap());
    assert_eq!(report.fault.symbol, None);
    let warning = warning_with(&report, &pdb.display().to_string())
        .unwrap_or_else(|| panic!("the corrupt PDB is named: {:?}", report.warnings));
    assert!(!warning.is_empty());
}

#[test]
fn a_cab_compressed_sym_in_a_local_store_is_read() {
    let (Some(dump), Some(sym)) = (common::sample(MAC_DUMP), common::sample(MAC_SYM)) else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let packed = put(
        store.path(),
        &format!("{MAC_KEY}/crash-client.sy_"),
        &cabinet("crash-client.sym", &std::fs::read(sym).unwrap()),
    );
    let report = inspect(&dump, store.path().to_str().unwrap());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        report.fault.symbol.as_deref(),
        Some("sadness_generator::raise_segfault+0x4")
    );
    assert_eq!(
        report.stack[0].inlines[0].function,
        "core::ptr::write_volatile::<u8>"
    );
    // Expanded beside the cabinet, as symchk does.
    assert!(packed.with_file_name("crash-client.sym").is_file());
}

#[test]
fn a_broken_cabinet_is_named_in_warnings() {
    let Some(dump) = common::sample(MAC_DUMP) else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let packed = put(
        store.path(),
        &format!("{MAC_KEY}/crash-client.sy_"),
        b"MSCF\0\0\0\0 cut short",
    );
    let report = inspect(&dump, store.path().to_str().unwrap());
    assert_eq!(report.stack[0].function, None);
    let warning = warning_with(&report, &packed.display().to_string())
        .unwrap_or_else(|| panic!("the cabinet is named: {:?}", report.warnings));
    assert!(warning.contains("not a usable CAB"), "{warning}");
}

#[test]
fn a_pd_from_a_symbol_server_is_downloaded_expanded_and_used() {
    let (Some(dump), Some(pdb)) = (common::sample(WIN_DUMP), common::sample(WIN_PDB)) else {
        return;
    };
    // The server has only the compressed PDB, like msdl for some files.
    let served = tempfile::tempdir().unwrap();
    put(
        served.path(),
        &format!("{WIN_KEY}/crash.pd_"),
        &cabinet("crash.pdb", &std::fs::read(pdb).unwrap()),
    );
    let (url, requests) = crate::symbols::serve_store(served.path().to_path_buf());
    let cache = tempfile::tempdir().unwrap();
    let report = inspect(&dump, &format!("srv*{}*{url}", cache.path().display()));

    // What the real PDB gives (see minidump_samples): main+0x12d in crash.exe.
    assert_eq!(report.fault.symbol.as_deref(), Some("main+0x12d"));
    assert_eq!(report.stack[0].function.as_deref(), Some("main"));
    let requests = requests.lock().unwrap().clone();
    let plain = format!("/symbols/{WIN_KEY}/crash.pdb");
    let packed = format!("/symbols/{WIN_KEY}/crash.pd_");
    let plain_at = requests.iter().position(|r| *r == plain);
    let packed_at = requests.iter().position(|r| *r == packed);
    assert!(
        plain_at.is_some() && plain_at < packed_at,
        "asks for crash.pdb, then crash.pd_: {requests:?}"
    );
    assert!(cache.path().join(WIN_KEY).join("crash.pdb").is_file());
    assert!(cache.path().join(WIN_KEY).join("crash.pd_").is_file());
}

//! User-mode minidumps processed with minidump-processor and symbolized through our symbol
//! cache: the real Win10 x86 crash.exe dump with its real PDB, and Breakpad's Windows XP
//! test_app dump with its real `.sym` file. Known truth: ../shared/samples/README.md.

use std::path::Path;

use std::sync::Arc;

use blastradius::pipeline::Pipeline;
use blastradius::record::{CrashReport, DumpFormat, FrameTrust, StackFrame};
use blastradius::stack::minidump::{process_minidump, MinidumpStack};
use blastradius::symbols::SymbolCache;

use crate::common;

fn process(rel: &str, symbols: &SymbolCache, all_threads: bool) -> Option<MinidumpStack> {
    let path = common::sample(rel)?;
    let bytes = std::fs::read(&path).unwrap();
    Some(process_minidump(&path, &bytes, symbols, all_threads).unwrap())
}

/// The whole per-file pipeline (dump-level facts + walk + triage) with the sample store.
fn report(rel: &str) -> Option<CrashReport> {
    let path = common::sample(rel)?;
    let symbols = store()?;
    Some(
        Pipeline::new(Arc::new(symbols))
            .process_file(&path)
            .unwrap(),
    )
}

fn store() -> Option<SymbolCache> {
    let dir = common::sample_symbols()?;
    Some(SymbolCache::from_spec(dir.to_str().unwrap()).unwrap())
}

fn describe(frames: &[StackFrame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "{:2} {} {}!{}+{} {} {:?}\n",
                f.index,
                f.address,
                f.module.as_deref().unwrap_or("?"),
                f.function.as_deref().unwrap_or("?"),
                f.function_offset
                    .or(f.offset)
                    .map_or_else(|| "?".to_string(), |o| o.to_string()),
                f.source_line.as_deref().unwrap_or(""),
                f.trust
            )
        })
        .collect()
}

#[test]
fn win10_x86_crash_exe_symbolizes_with_the_real_pdb() {
    let Some(symbols) = store() else { return };
    let Some(result) = process("mdmp/win10-x86-crash-exe.dmp", &symbols, false) else {
        return;
    };

    let r = report("mdmp/win10-x86-crash-exe.dmp").unwrap();
    assert_eq!(r.format, DumpFormat::Minidump);
    assert_eq!(r.arch.to_string(), "x86");
    assert_eq!(r.os_build, Some(14393));
    let exception = r.exception.as_ref().expect("exception stream");
    assert_eq!(exception.code, 0xC000_0005);
    assert_eq!(exception.name, "EXCEPTION_ACCESS_VIOLATION_WRITE");
    assert_eq!(
        r.fault.referenced_address.map(|v| v.to_string()).as_deref(),
        Some("0x45")
    );
    assert_eq!(
        r.fault.access.map(|v| v.to_string()).as_deref(),
        Some("write")
    );
    assert_eq!(
        r.fault.module.as_ref().map(|v| v.to_string()).as_deref(),
        Some("crash.exe")
    );
    assert_eq!(
        r.fault.symbol.as_deref().map(|s| s.starts_with("main+")),
        Some(true)
    );
    assert_eq!(r.blame.module.as_deref(), Some("crash.exe"));
    assert_eq!(r.bucket_id, "NULL_POINTER_WRITE_c0000005_crash!main");
    assert_eq!(
        r.stack.first().and_then(|f| f.function.as_deref()),
        Some("main")
    );
    assert_eq!(
        r.modules.iter().filter(|m| m.name == "crash.exe").count(),
        1
    );

    let thread = result.crashing_thread.as_ref().expect("crashing thread");
    assert_eq!(thread.thread_id, 1636);
    let frames = &thread.frames;
    eprintln!("{}", describe(frames));
    assert_eq!(frames[0].trust, FrameTrust::Context);
    assert_eq!(frames[0].module.as_deref(), Some("crash.exe"));
    assert_eq!(frames[0].function.as_deref(), Some("main"));
    let line0 = frames[0]
        .source_line
        .as_deref()
        .expect("line info from the PDB");
    assert!(line0.ends_with("main.cpp:35"), "{line0}");
    assert_eq!(frames[1].module.as_deref(), Some("crash.exe"));
    assert_eq!(
        frames[1].function.as_deref(),
        Some("__scrt_common_main_seh")
    );
    let line1 = frames[1]
        .source_line
        .as_deref()
        .expect("line info from the PDB");
    assert!(line1.ends_with("exe_common.inl:283"), "{line1}");
    // No PDBs for the system DLLs in the store: their frames stay module+offset.
    assert!(frames[2..]
        .iter()
        .any(|f| f.module.as_deref() == Some("kernel32.dll")));
    assert!(frames
        .iter()
        .filter(|f| f.module.as_deref() == Some("kernel32.dll"))
        .all(|f| f.function.is_none()));
    assert!(
        result.other_threads.is_empty(),
        "only the crashing thread unless asked"
    );
}

#[test]
fn winxp_test_app_symbolizes_with_the_breakpad_sym() {
    let Some(symbols) = store() else { return };
    let Some(result) = process("mdmp/winxp-x86-test-app.dmp", &symbols, true) else {
        return;
    };

    let r = report("mdmp/winxp-x86-test-app.dmp").unwrap();
    assert_eq!(r.arch.to_string(), "x86");
    let exception = r.exception.as_ref().expect("exception stream");
    assert_eq!(exception.name, "EXCEPTION_ACCESS_VIOLATION_WRITE");
    assert_eq!(
        r.fault.referenced_address.map(|v| v.to_string()).as_deref(),
        Some("0x45")
    );
    assert_eq!(r.blame.module.as_deref(), Some("test_app.exe"));
    assert_eq!(
        r.bucket_id,
        "NULL_POINTER_WRITE_c0000005_test_app!`anonymous namespace'::CrashFunction"
    );

    let frames = &result
        .crashing_thread
        .as_ref()
        .expect("crashing thread")
        .frames;
    eprintln!("{}", describe(frames));
    assert_eq!(frames[0].module.as_deref(), Some("test_app.exe"));
    assert_eq!(
        frames[0].function.as_deref(),
        Some("`anonymous namespace'::CrashFunction")
    );
    let line0 = frames[0]
        .source_line
        .as_deref()
        .expect("line info from the .sym");
    assert!(line0.ends_with("test_app.cc:58"), "{line0}");
    assert_eq!(frames[1].function.as_deref(), Some("main"));
    let line1 = frames[1]
        .source_line
        .as_deref()
        .expect("line info from the .sym");
    assert!(line1.ends_with("test_app.cc:65"), "{line1}");
    assert_eq!(frames[2].function.as_deref(), Some("__tmainCRTStartup"));

    // All threads were requested: the dump has two, the crashing one is not repeated.
    assert_eq!(result.other_threads.len(), 1);
    assert_ne!(
        result.other_threads[0].thread_id,
        result.crashing_thread.as_ref().unwrap().thread_id
    );
}

#[test]
fn without_symbols_frames_stay_module_plus_offset() {
    let Some(result) = process("mdmp/win10-x86-crash-exe.dmp", &SymbolCache::empty(), false) else {
        return;
    };
    let frames = &result.crashing_thread.as_ref().unwrap().frames;
    assert_eq!(frames[0].module.as_deref(), Some("crash.exe"));
    assert!(frames.iter().all(|f| f.function.is_none()));
    assert!(frames[0].offset.is_some());
}

#[test]
fn non_minidump_and_truncated_input_are_errors_not_panics() {
    let path = Path::new("not-a-dump.dmp");
    let symbols = SymbolCache::empty();
    assert!(process_minidump(path, b"PAGEDU64 definitely not MDMP", &symbols, false).is_err());
    assert!(process_minidump(path, b"", &symbols, false).is_err());
    let Some(real) = common::sample("mdmp/winxp-x86-test-app.dmp") else {
        return;
    };
    let bytes = std::fs::read(real).unwrap();
    for len in [4, 32, 100, 1000, bytes.len() / 2] {
        // Truncations may still process (minidump tolerates missing streams) but never panic.
        let _ = process_minidump(path, &bytes[..len], &symbols, true);
    }
}

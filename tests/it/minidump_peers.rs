//! The peers' own minidumps (rust-minidump's test data, in `../shared/samples/mdmp-peer/`,
//! see its README), checked against what minidump-stackwalk records for them in its snapshot
//! tests (`minidump-stackwalk/tests/snapshots/test_minidump_stackwalk__macos_inlines_*.snap`
//! and `__linux_*.snap`). Every expected value below is the peer's recorded value.

use std::path::PathBuf;
use std::sync::Arc;

use blastradius::pipeline::Pipeline;
use blastradius::record::{CrashReport, StackFrame};
use blastradius::symbols::SymbolCache;

use crate::common;

const MAC_DUMP: &str = "mdmp-peer/pipeline-inlines-macos-segv.dmp";
const LINUX_DUMP: &str = "mdmp-peer/linux-mini.dmp";

const CRASH_CLIENT_SRC: &str =
    "/Users/ABeingessner/.cargo/git/checkouts/crash-handling-42fc4843e3f89d91/4b757db";
const RUST_SRC: &str = "/rustc/fdca237d5194bf8a1c9b437ebd2114d1c2ba6195/library";

/// The peer symbol store: `symbols/crash-client/<id>/crash-client.sym`.
fn peer_symbols() -> Option<PathBuf> {
    common::sample("mdmp-peer/symbols")
}

fn inspect(rel: &str, symbols: Option<&PathBuf>, all_threads: bool) -> Option<CrashReport> {
    let path = common::sample(rel)?;
    let cache = match symbols {
        Some(dir) => SymbolCache::from_spec(dir.to_str()?).unwrap(),
        None => SymbolCache::empty(),
    };
    let pipeline = Pipeline {
        all_threads,
        ..Pipeline::new(Arc::new(cache))
    };
    Some(pipeline.process_file(&path).unwrap())
}

/// `(function, file:line)` of a frame's inlined calls, innermost first.
fn inlines(frame: &StackFrame) -> Vec<(String, String)> {
    frame
        .inlines
        .iter()
        .map(|i| {
            (
                i.function.clone(),
                i.source_line.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn macos_inlined_frames_and_their_lines_match_minidump_stackwalk() {
    let Some(symbols) = peer_symbols() else {
        return;
    };
    let Some(report) = inspect(MAC_DUMP, Some(&symbols), false) else {
        return;
    };
    let stack = &report.stack;
    assert_eq!(stack.len(), 8, "minidump-stackwalk walks 8 physical frames");
    let line = |i: usize| stack[i].source_line.clone().unwrap_or_default();
    let function = |i: usize| stack[i].function.clone().unwrap_or_default();

    // Frame 0: raise_segfault at lib.rs:133, with write_volatile inlined into it.
    assert_eq!(function(0), "sadness_generator::raise_segfault");
    assert_eq!(
        line(0),
        format!("{CRASH_CLIENT_SRC}/sadness-generator/src/lib.rs:133")
    );
    assert_eq!(
        inlines(&stack[0]),
        vec![(
            "core::ptr::write_volatile::<u8>".to_string(),
            format!("{RUST_SRC}/core/src/ptr/mod.rs:1574")
        )]
    );

    // Frame 1: crash_client::main at main.rs:142 (lost before INLINE records were read),
    // real_main and its closure inlined.
    let main_rs = format!("{CRASH_CLIENT_SRC}/minidumper-test/crash-client/src/main.rs");
    assert_eq!(function(1), "crash_client::main");
    assert_eq!(line(1), format!("{main_rs}:142"));
    assert_eq!(
        inlines(&stack[1]),
        vec![
            (
                "crash_client::real_main::{closure#1}".to_string(),
                format!("{main_rs}:88")
            ),
            (
                "crash_client::real_main".to_string(),
                format!("{main_rs}:132")
            ),
        ]
    );

    // Frame 2: backtrace.rs:122 with FnOnce::call_once (function.rs:248) inlined.
    assert_eq!(
        line(2),
        format!("{RUST_SRC}/std/src/sys_common/backtrace.rs:122")
    );
    assert_eq!(
        inlines(&stack[2]),
        vec![(
            "<fn() as core::ops::function::FnOnce<()>>::call_once".to_string(),
            format!("{RUST_SRC}/core/src/ops/function.rs:248")
        )]
    );

    // Frame 3: no inlines, rt.rs:145.
    assert_eq!(line(3), format!("{RUST_SRC}/std/src/rt.rs:145"));
    assert!(stack[3].inlines.is_empty());

    // Frame 4: lang_start_internal at rt.rs:128 with eight inlined calls.
    assert_eq!(function(4), "std::rt::lang_start_internal");
    assert_eq!(line(4), format!("{RUST_SRC}/std/src/rt.rs:128"));
    let names: Vec<String> = inlines(&stack[4]).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        names,
        [
            "core::ops::function::impls::<impl core::ops::function::FnOnce<A> for &F>::call_once",
            "std::panicking::try::do_call",
            "std::panicking::try",
            "std::panic::catch_unwind",
            "std::rt::lang_start_internal::{{closure}}",
            "std::panicking::try::do_call",
            "std::panicking::try",
            "std::panic::catch_unwind",
        ]
    );
    assert_eq!(
        inlines(&stack[4])[4].1,
        format!("{RUST_SRC}/std/src/rt.rs:128")
    );

    // Frame 5: `main`, a FUNC without line records; 6 and 7 in libdyld, which has no symbols.
    assert_eq!(function(5), "main");
    assert_eq!(stack[5].source_line, None);
    assert_eq!(stack[6].module.as_deref(), Some("libdyld.dylib"));
    assert_eq!(stack[6].function, None);
}

#[test]
fn macos_crashing_thread_id_and_all_threads() {
    let Some(symbols) = peer_symbols() else {
        return;
    };
    let Some(without) = inspect(MAC_DUMP, Some(&symbols), false) else {
        return;
    };
    // minidump-stackwalk: "crashing_thread": 0, thread 0 named "main"; the dump's thread id.
    assert_eq!(without.crashing_thread_index, Some(0));
    assert_eq!(without.crashing_thread_id, Some(4611));
    assert!(
        without.threads.is_empty(),
        "threads only with --all-threads"
    );

    let Some(all) = inspect(MAC_DUMP, Some(&symbols), true) else {
        return;
    };
    assert_eq!(all.threads.len(), 11, "the dump has 11 threads");
    assert_eq!(all.threads[0].id, 4611);
    assert_eq!(all.threads[0].name.as_deref(), Some("main"));
    assert_eq!(all.threads[0].frames, all.stack);
    assert_eq!(all.stack, without.stack);
    let ids: Vec<u32> = all.threads.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [4611, 5379, 5635, 10499, 10243, 9987, 9731, 5891, 9475, 9219, 8963]
    );
    // Thread 1 as minidump-stackwalk prints it: libsystem_kernel, then std::thread::sleep
    // (mod.rs:836) with Thread::sleep (thread.rs:224) inlined, found by frame pointer.
    let t1 = &all.threads[1];
    assert_eq!(t1.name, None);
    assert_eq!(
        t1.frames[0].module.as_deref(),
        Some("libsystem_kernel.dylib")
    );
    assert_eq!(t1.frames[1].function.as_deref(), Some("std::thread::sleep"));
    assert_eq!(
        t1.frames[1].source_line.as_deref(),
        Some(format!("{RUST_SRC}/std/src/thread/mod.rs:836").as_str())
    );
    assert_eq!(
        inlines(&t1.frames[1]),
        vec![(
            "std::sys::unix::thread::Thread::sleep".to_string(),
            format!("{RUST_SRC}/std/src/sys/unix/thread.rs:224")
        )]
    );

    let json = serde_json::to_value(&all).unwrap();
    assert_eq!(json["threads"][0]["id"], 4611);
    assert_eq!(json["threads"][0]["name"], "main");
    assert_eq!(json["crashing_thread_id"], 4611);
    assert_eq!(
        json["stack"][0]["inlines"][0]["function"],
        "core::ptr::write_volatile::<u8>"
    );
    // Keys are never missing: a frame without inlined calls has `inlines: []`, a report
    // without --all-threads `threads: []`.
    assert_eq!(json["stack"][3]["inlines"], serde_json::json!([]));
    assert_eq!(
        serde_json::to_value(&without).unwrap()["threads"],
        serde_json::json!([])
    );
}

#[test]
fn inspect_text_prints_inlined_frames_and_every_thread() {
    let Some(symbols) = peer_symbols() else {
        return;
    };
    let Some(path) = common::sample(MAC_DUMP) else {
        return;
    };
    let out = std::process::Command::new(common::binary())
        .args(["inspect", "--all-threads", "--symbols"])
        .arg(&symbols)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let inlined = text
        .find("crash-client!core::ptr::write_volatile::<u8>")
        .expect("inlined frame printed");
    let physical = text
        .find("crash-client!sadness_generator::raise_segfault+0x4")
        .expect("frame 0 printed");
    assert!(inlined < physical, "inlined frames come above their frame");
    assert!(text.contains("Stack (thread 4611)"));
    assert!(text.contains("Threads (11)"));
    assert!(text.contains("Thread 10, id 8963"));
}

#[test]
fn linux_sigsegv_faults_at_the_context_ip_and_references_the_touched_address() {
    let Some(report) = inspect(LINUX_DUMP, None, false) else {
        return;
    };
    // minidump-stackwalk: "Crash reason: SIGSEGV", "Crash address: 0x45", frame 0
    // "crash + 0x1d72" with rip = 0x401d72, "Thread 0 (crashed) - tid: 1304".
    let exception = report.exception.as_ref().unwrap();
    assert_eq!(exception.name, "SIGSEGV");
    assert_eq!(exception.address.to_string(), "0x45");
    let fault = &report.fault;
    assert_eq!(
        fault.address.map(|v| v.to_string()).as_deref(),
        Some("0x401d72")
    );
    assert_eq!(
        fault.module.as_ref().map(|v| v.to_string()).as_deref(),
        Some("crash")
    );
    assert_eq!(
        fault.module_base.map(|v| v.to_string()).as_deref(),
        Some("0x400000")
    );
    assert_eq!(
        fault.offset.map(|v| v.to_string()).as_deref(),
        Some("0x1d72")
    );
    assert_eq!(
        fault.referenced_address.map(|v| v.to_string()).as_deref(),
        Some("0x45")
    );
    // Linux does not say whether the access was a read or a write.
    assert_eq!(fault.access, None);
    assert_eq!(report.stack[0].address.to_string(), "0x401d72");
    assert_eq!(report.blame.module.as_deref(), Some("crash"));
    assert_eq!(report.crashing_thread_id, Some(1304));
    assert_eq!(report.crashing_thread_index, Some(0));
    // "Operating system: Linux 4.9.60-linuxkit-aufs #1 SMP Mon Nov 6 16:00:12 UTC 2017".
    assert_eq!(
        report.os_version.as_deref(),
        Some("linux 4.9.60-linuxkit-aufs #1 SMP Mon Nov 6 16:00:12 UTC 2017")
    );
}

#[test]
fn macos_bad_access_faults_in_crash_client_and_keeps_the_build_string() {
    let Some(symbols) = peer_symbols() else {
        return;
    };
    let Some(report) = inspect(MAC_DUMP, Some(&symbols), false) else {
        return;
    };
    // minidump-stackwalk: "EXC_BAD_ACCESS / KERN_INVALID_ADDRESS", crash address
    // 0xffffffff80000042, rip = 0x102a68cd4 in crash-client (module_offset 0x14cd4),
    // "Operating system: Mac OS X 11.6.7 20G630".
    let fault = &report.fault;
    assert_eq!(
        fault.address.map(|v| v.to_string()).as_deref(),
        Some("0x102a68cd4")
    );
    assert_eq!(
        fault.module.as_ref().map(|v| v.to_string()).as_deref(),
        Some("crash-client")
    );
    assert_eq!(
        fault.offset.map(|v| v.to_string()).as_deref(),
        Some("0x14cd4")
    );
    assert_eq!(
        fault.symbol.as_deref(),
        Some("sadness_generator::raise_segfault+0x4")
    );
    assert_eq!(
        fault.referenced_address.map(|v| v.to_string()).as_deref(),
        Some("0xffffffff80000042")
    );
    assert_eq!(
        report.exception.as_ref().unwrap().address.to_string(),
        "0xffffffff80000042"
    );
    assert_eq!(report.os_version.as_deref(), Some("mac 11.6.7 20G630"));
    assert_eq!(
        report.signature,
        "crash-client!sadness_generator::raise_segfault"
    );
}

#[test]
fn windows_os_string_keeps_the_service_pack() {
    let Some(report) = inspect("mdmp/winxp-x86-test-app.dmp", None, true) else {
        return;
    };
    // rust-minidump's processor test on this dump: 2 threads, requesting thread 0.
    assert_eq!(report.crashing_thread_index, Some(0));
    assert_eq!(report.crashing_thread_id, Some(3060));
    let threads: Vec<(u32, usize)> = report
        .threads
        .iter()
        .map(|t| (t.id, t.frames.len()))
        .collect();
    // Thread 0 walks to 4 frames as in minidump-stackwalk; thread 1 wrote the dump, and
    // minidump-processor (like Breakpad) does not walk the dump-writing thread.
    assert_eq!(threads, [(3060, 4), (4544, 0)]);
    // Breakpad's minidump_stackwalk: "Operating system: Windows NT 5.1.2600 Service Pack 2".
    assert_eq!(
        report.os_version.as_deref(),
        Some("windows 5.1.2600 Service Pack 2")
    );
    // The Windows exception address is the instruction; the data address comes from the
    // access-violation parameters, as before.
    assert_eq!(
        report.fault.address.map(|v| v.to_string()).as_deref(),
        Some("0x40429e")
    );
    assert_eq!(
        report.fault.access.map(|v| v.to_string()).as_deref(),
        Some("write")
    );
    assert_eq!(
        report
            .fault
            .referenced_address
            .map(|v| v.to_string())
            .as_deref(),
        Some("0x45")
    );
}

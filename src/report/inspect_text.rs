//! The text form of one `CrashReport`: what an engineer reads first, in the spirit of
//! WinDbg's `!analyze` header and BlueScreenView's columns.

use std::fmt::Write;

use crate::dump::bugcheck;
use crate::dump::Arch;
use crate::record::{time_text, CrashReport, StackFrame};

use super::sanitize::terminal_safe as safe;

/// What to include beyond the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct InspectTextOptions {
    /// The loaded and unloaded driver lists.
    pub drivers: bool,
}

/// `3d 04:05:06` for an uptime in seconds.
pub fn duration_words(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Renders one report.
pub fn render(report: &CrashReport, opts: InspectTextOptions) -> String {
    let mut o = String::new();
    let size_kb = report.size_bytes as f64 / 1024.0;
    let _ = writeln!(
        o,
        "{}  ({}, {size_kb:.0} KiB, id {})",
        safe(&report.path),
        report.format.as_str(),
        report.dump_id
    );

    if let Some(b) = &report.bugcheck {
        let _ = writeln!(o, "  Bugcheck     {} {}", b.code_hex, b.name);
        let params: Vec<u64> = b.parameters.iter().map(|p| p.0).collect();
        let mut p4 = [0u64; 4];
        for (d, s) in p4.iter_mut().zip(&params) {
            *d = *s;
        }
        let meanings =
            bugcheck::explain_parameters(b.code, &p4, report.os_build, Arch::from(&report.arch));
        for (i, value) in b.parameters.iter().enumerate() {
            let m = meanings.iter().find(|m| m.index == i);
            let label = m.map(|m| m.label).filter(|l| !l.is_empty());
            let meaning = m.and_then(|m| m.meaning.clone());
            let text = match (label, meaning) {
                (Some(l), Some(mn)) => format!("{l}: {mn}"),
                (Some(l), None) => l.to_string(),
                (None, Some(mn)) => mn,
                (None, None) => String::new(),
            };
            let _ = writeln!(o, "    Arg{}  {value:<20} {}", i + 1, text);
        }
    }
    if let Some(e) = &report.exception {
        let _ = writeln!(
            o,
            "  Exception    {:#010x} {} at {}",
            e.code, e.name, e.address
        );
    }

    let f = &report.fault;
    if let Some(addr) = &f.address {
        let mut line = format!("  Fault at     {addr}");
        if let Some(m) = &f.module {
            let _ = write!(line, "  {}", safe(&m.to_string()));
            if let Some(off) = &f.offset {
                let _ = write!(line, "+{off}");
            }
        }
        if let Some(sym) = &f.symbol {
            let _ = write!(line, "  ({})", safe(sym));
        }
        let _ = writeln!(o, "{line}");
    }
    match (&f.access, &f.referenced_address) {
        (Some(a), Some(r)) => {
            let _ = writeln!(o, "  Access       {a} of {r}");
        }
        (Some(a), None) => {
            let _ = writeln!(o, "  Access       {a}");
        }
        (None, Some(r)) => {
            let _ = writeln!(o, "  Referenced   {r}");
        }
        (None, None) => {}
    }

    let b = &report.blame;
    match &b.module {
        Some(m) => {
            // "Microsoft, Microsoft" said nothing twice, and a module nobody owns is not
            // Microsoft's just because `third_party` is false: name the party only when the
            // owner does not already say it.
            let party = if b.third_party {
                "third-party"
            } else {
                "Microsoft"
            };
            let who = match b.owner.as_deref() {
                None if b.third_party => "owner unknown, third-party".to_string(),
                None => "owner unknown".to_string(),
                Some(owner) if owner == party => format!("owner: {}", safe(owner)),
                Some(owner) => format!("owner: {}, {party}", safe(owner)),
            };
            let _ = writeln!(o, "  Blamed       {}  ({who})", safe(m));
        }
        None => {
            let _ = writeln!(o, "  Blamed       no driver");
        }
    }
    let _ = writeln!(o, "               {}", safe(&b.reason));
    let _ = writeln!(o, "  Class        {}", report.failure_class);
    let _ = writeln!(o, "  Bucket       {}", safe(&report.bucket_id));
    let _ = writeln!(o, "  Signature    {}", safe(&report.signature));

    let time = report
        .crash_time
        .map(|t| time_text(&t))
        .unwrap_or_else(|| "unknown".into());
    let uptime = report
        .uptime_seconds
        .map(duration_words)
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(o, "  Crash time   {time}   uptime {uptime}");
    let os = report
        .os_version
        .clone()
        .or(report.os_build.map(|b| format!("build {b}")))
        .unwrap_or_else(|| "unknown".into());
    let mut sys = format!(
        "  System       {}, {}",
        safe(&os),
        safe(&report.arch.to_string())
    );
    if let Some(p) = report.processors {
        let _ = write!(sys, ", {p} processors");
    }
    if let Some(pt) = &report.product_type {
        let _ = write!(sys, ", {pt}");
    }
    if let Some(boot) = report.boot_id {
        let _ = write!(sys, ", boot id {boot}");
    }
    let _ = writeln!(o, "{sys}");
    let _ = writeln!(
        o,
        "  Modules      {} loaded, {} unloaded",
        report.modules.len(),
        report.unloaded_modules.len()
    );

    if !report.stack.is_empty() {
        let thread = match report.crashing_thread_id {
            Some(id) => format!(" (thread {id})"),
            None => String::new(),
        };
        let _ = writeln!(o, "  Stack{thread}");
        write_frames(&mut o, &report.stack, b.frame_index);
    }
    if !report.threads.is_empty() {
        let _ = writeln!(o, "  Threads ({})", report.threads.len());
        for (index, thread) in report.threads.iter().enumerate() {
            let crashed = u32::try_from(index).ok() == report.crashing_thread_index;
            let name = thread
                .name
                .as_deref()
                .map(|n| format!(" {}", safe(n)))
                .unwrap_or_default();
            if crashed {
                let _ = writeln!(
                    o,
                    "   Thread {index}, id {}{name}  (crashed: the stack above)",
                    thread.id
                );
            } else {
                let _ = writeln!(o, "   Thread {index}, id {}{name}", thread.id);
                write_frames(&mut o, &thread.frames, None);
            }
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(o, "  Warnings");
        for w in &report.warnings {
            let _ = writeln!(o, "    - {}", safe(w));
        }
    }
    if opts.drivers {
        let _ = writeln!(o, "  Loaded drivers ({})", report.modules.len());
        let _ = writeln!(
            o,
            "    {:<20} {:<10} {:<10} {}",
            "base", "size", "timestamp", "name (path)"
        );
        for m in &report.modules {
            let _ = writeln!(
                o,
                "    {:<20} {:<#10x} {:<#10x} {}  ({})",
                m.base,
                m.size,
                m.timestamp,
                safe(&m.name),
                safe(&m.path)
            );
        }
        if !report.unloaded_modules.is_empty() {
            let _ = writeln!(o, "  Unloaded drivers ({})", report.unloaded_modules.len());
            for u in &report.unloaded_modules {
                let _ = writeln!(o, "    {} - {}  {}", u.start, u.end, safe(&u.name));
            }
        }
    } else if !report.modules.is_empty() {
        let _ = writeln!(o, "  (--drivers lists the loaded and unloaded drivers)");
    }
    o
}

/// One line per frame; the functions inlined into a frame come first, innermost first, the
/// way a reader walks the stack (each was called by the line below it).
fn write_frames(o: &mut String, frames: &[StackFrame], blamed: Option<u32>) {
    for fr in frames {
        let module = fr.module.as_deref().map(safe).unwrap_or_else(|| "?".into());
        for inline in &fr.inlines {
            let src = inline
                .source_line
                .as_deref()
                .map(|s| format!("  [{}]", safe(s)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "        {:<20} {module}!{}{src}  (inlined)",
                "",
                safe(&inline.function)
            );
        }
        let place = match (&fr.module, &fr.function) {
            (Some(m), Some(func)) => {
                let off = fr.function_offset.unwrap_or_default();
                format!("{}!{}+{off}", safe(m), safe(func))
            }
            (Some(m), None) => match fr.offset {
                Some(off) => format!("{}+{off}", safe(m)),
                None => format!("{}+?", safe(m)),
            },
            (None, _) => "?".into(),
        };
        let src = fr
            .source_line
            .as_deref()
            .map(|s| format!("  [{}]", safe(s)))
            .unwrap_or_default();
        let mark = if Some(fr.index) == blamed {
            " <- blamed"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "    #{:<2} {:<20} {place}{src}  ({}){mark}",
            fr.index,
            fr.address,
            fr.trust.as_str()
        );
    }
}

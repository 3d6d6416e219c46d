//! Triage: who is at fault (blame), the failure class, the bucket id and the signature.
//!
//! Everything here is a pure function of a few dump facts and the normalized frames, so the
//! same code serves a fresh scan and `reprocess` (which re-derives these from the store after
//! a rule change, without re-reading dumps — Socorro keeps its proto-signature for the same
//! reason).

pub mod blame;
pub mod bucket;
pub mod rules;
pub mod signature;

pub use rules::{DriverInfo, Owner, Rules, RulesError};

use crate::dump::Arch;
use crate::record::{Access, Blame, CrashReport, FrameTrust, ModuleRef};

/// One frame as triage sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Module file name as in the dump (`csagent.sys`), `None` outside any module.
    pub module: Option<&'a str>,
    pub function: Option<&'a str>,
    /// Offset of the address in its module.
    pub offset: Option<u64>,
    /// Found by scanning the stack for return-address-like values: may be stale.
    pub scanned: bool,
}

/// The dump facts triage needs.
#[derive(Debug, Clone, Copy)]
pub struct TriageInput<'a> {
    pub bugcheck_code: Option<u32>,
    pub parameters: [u64; 4],
    pub exception_code: Option<u32>,
    pub access: Option<Access>,
    pub referenced_address: Option<u64>,
    pub os_build: Option<u32>,
    pub arch: Arch,
    /// The module the faulting address is in (unknown and unloaded included).
    pub fault_module: Option<&'a ModuleRef>,
    /// The crashing thread's frames, starting at the fault.
    pub frames: &'a [FrameRef<'a>],
}

/// What triage concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageOutcome {
    pub blame: Blame,
    pub failure_class: String,
    pub bucket_id: String,
    pub signature: String,
}

/// Blame, failure class, bucket id and signature for one crash.
pub fn triage(input: &TriageInput, rules: &Rules) -> TriageOutcome {
    let blame = blame::blame(input, rules);
    let failure_class = bucket::failure_class(input);
    let bucket_id = bucket::bucket_id(&failure_class, &blame, input, rules);
    let signature = signature::signature(input, rules);
    TriageOutcome {
        blame,
        failure_class,
        bucket_id,
        signature,
    }
}

/// Where triage frames come from in `report.stack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameOrigin {
    /// Index in `stack` of the first stack frame used.
    start: usize,
    /// The fault site was put first as a frame of its own (it is on no walked frame).
    fault_prepended: bool,
}

impl FrameOrigin {
    /// The index in `stack` of triage frame `i`, `None` for the prepended fault site.
    fn stack_index(self, i: usize) -> Option<usize> {
        if self.fault_prepended {
            i.checked_sub(1)?.checked_add(self.start)
        } else {
            i.checked_add(self.start)
        }
    }
}

/// The frames of a report as triage input, starting at the faulting frame when the walk
/// began above it (e.g. in KeBugCheckEx). `fault_text` is `report.fault.module` written out:
/// a fault site on no walked frame becomes a frame of that module name (`unloaded X`
/// included, as signatures have always spelt it).
fn triage_frames<'a>(
    report: &'a CrashReport,
    fault_text: Option<&'a str>,
) -> (Vec<FrameRef<'a>>, FrameOrigin) {
    let start = report
        .fault
        .address
        .and_then(|a| report.stack.iter().position(|f| f.address == a))
        .unwrap_or(0);
    let mut frames: Vec<FrameRef<'_>> = Vec::new();
    let mut fault_prepended = false;
    if start == 0
        && report
            .stack
            .first()
            .map(|f| Some(f.address) != report.fault.address)
            .unwrap_or(true)
    {
        // The fault site is not on the walked stack (no stack, or the walk started elsewhere):
        // it still comes first for blame and signature.
        if let Some(m) = &report.fault.module {
            fault_prepended = true;
            frames.push(FrameRef {
                module: fault_text.filter(|_| *m != ModuleRef::Unknown),
                function: report
                    .fault
                    .symbol
                    .as_deref()
                    .map(|s| s.split('+').next().unwrap_or(s)),
                offset: report.fault.offset.map(|o| o.0),
                scanned: false,
            });
        }
    }
    frames.extend(report.stack[start..].iter().map(|f| FrameRef {
        module: f.module.as_deref(),
        function: f.function.as_deref(),
        offset: f.offset.map(|o| o.0),
        scanned: f.trust == FrameTrust::Scan,
    }));
    (
        frames,
        FrameOrigin {
            start,
            fault_prepended,
        },
    )
}

/// `blame.frame_index` as an index into `stack`: the frame blame settled on when it is a
/// stack frame of the blamed module, else the first stack frame of that module from the
/// fault on (then anywhere), else none. Triage itself counts frames from the fault site,
/// which may not be a stack frame.
fn blamed_stack_index(report: &CrashReport, origin: FrameOrigin) -> Option<u32> {
    let module = report.blame.module.as_deref()?;
    let is_blamed = |i: usize| {
        report
            .stack
            .get(i)
            .and_then(|f| f.module.as_deref())
            .is_some_and(|m| m.eq_ignore_ascii_case(module))
    };
    let chosen = report
        .blame
        .frame_index
        .and_then(|i| origin.stack_index(i as usize))
        .filter(|&i| is_blamed(i))
        .or_else(|| (origin.start..report.stack.len()).find(|&i| is_blamed(i)))
        .or_else(|| (0..origin.start).find(|&i| is_blamed(i)))?;
    u32::try_from(chosen).ok()
}

/// Runs triage on a report and writes the outcome into it.
pub fn apply(report: &mut CrashReport, rules: &Rules) {
    let fault_text = report.fault.module.as_ref().map(ModuleRef::to_string);
    let (frames, origin) = triage_frames(report, fault_text.as_deref());
    let input = TriageInput {
        bugcheck_code: report.bugcheck.as_ref().map(|b| b.code),
        parameters: report.bugcheck.as_ref().map_or([0; 4], |b| {
            let mut p = [0u64; 4];
            for (slot, value) in p.iter_mut().zip(&b.parameters) {
                *slot = value.0;
            }
            p
        }),
        exception_code: report.exception.as_ref().map(|e| e.code),
        access: report.fault.access,
        referenced_address: report.fault.referenced_address.map(|a| a.0),
        os_build: report.os_build,
        arch: Arch::from(&report.arch),
        fault_module: report.fault.module.as_ref(),
        frames: &frames,
    };
    let out = triage(&input, rules);
    report.blame = out.blame;
    report.blame.frame_index = blamed_stack_index(report, origin);
    report.failure_class = out.failure_class;
    report.bucket_id = out.bucket_id;
    report.signature = out.signature;
}

//! Failure class and bucket id, modelled on WinDbg's FAILURE_BUCKET_ID:
//! `<failure class>_<module>!<function>` (`AV_R_INVALID_csagent!unknown_function`), the module
//! without its extension and `unknown_function` when the blamed frame has no symbols. Causes
//! that are not a driver's (POWER_BUTTON_HOLD) are the class alone.

use crate::dump::bugcheck;
use crate::record::{Access, Blame};

use super::rules::Rules;
use super::TriageInput;

/// The failure class: from the bugcheck for kernel dumps, from the exception for user mode.
pub fn failure_class(input: &TriageInput) -> String {
    if let Some(code) = input.bugcheck_code {
        return bugcheck::failure_class(code, &input.parameters, input.os_build, input.arch);
    }
    match input.exception_code {
        Some(0xC000_0005) => {
            let kind = match input.referenced_address {
                Some(a) if a < 0x1_0000 => "NULL_POINTER",
                _ => "INVALID_POINTER",
            };
            let access = match input.access {
                Some(Access::Write) => "WRITE",
                Some(Access::Execute) => "EXECUTE",
                Some(Access::Read) | None => "READ",
            };
            format!("{kind}_{access}_c0000005")
        }
        Some(code) => format!("APPLICATION_FAULT_{code:08x}"),
        None => "NO_EXCEPTION".into(),
    }
}

/// The bucket id for a crash.
pub fn bucket_id(class: &str, blame: &Blame, input: &TriageInput, rules: &Rules) -> String {
    let Some(module) = blame.module.as_deref() else {
        return class.to_string();
    };
    let function = blame
        .frame_index
        .and_then(|i| input.frames.get(i as usize))
        .and_then(|f| f.function)
        .unwrap_or("unknown_function");
    let stem = if module == crate::dump::modules::UNKNOWN_MODULE {
        module.to_string()
    } else {
        module_stem(module, rules)
    };
    format!("{class}_{stem}!{function}")
}

/// The module name as WinDbg writes it in bucket ids: the file stem, case kept
/// (`csagent`, `Wdf01000`), and `nt` for the kernel.
fn module_stem(module: &str, rules: &Rules) -> String {
    let canonical = rules.canonical_module(module);
    let base = crate::dump::modules::base_name(module);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    if canonical != stem.to_ascii_lowercase() {
        canonical
    } else {
        stem.to_string()
    }
}

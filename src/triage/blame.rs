//! Blame: which module is at fault. Modelled on WinDbg's followup walk: start at the fault,
//! skip frames whose owner is `ignore` (the kernel, HAL, pass-through frameworks), blame the
//! first frame that is not; when every frame is ignored, blame the faulting module itself.

use crate::record::{Blame, ModuleRef, UNKNOWN_MODULE};

use super::rules::{Owner, Rules};
use super::TriageInput;

/// Decides who is at fault.
pub fn blame(input: &TriageInput, rules: &Rules) -> Blame {
    if let Some(code) = input.bugcheck_code {
        if let Some(why) = rules.non_driver_reason(code) {
            return Blame {
                module: None,
                owner: None,
                third_party: false,
                frame_index: None,
                reason: why.to_string(),
            };
        }
    }
    let fault = input.fault_module;
    if let Some(ModuleRef::Unloaded(name)) = fault {
        return Blame {
            module: Some(name.to_string()),
            owner: owner_name(rules, name, None),
            third_party: !rules.is_microsoft(name),
            frame_index: None,
            reason: format!(
                "the faulting address is inside the image of {name}, which had been unloaded: code ran after its driver was unloaded"
            ),
        };
    }

    // Walk the frames from the fault down.
    let mut first_module: Option<(usize, &str)> = None;
    // With no module at the fault, a scanned frame is only a guess at a caller (a stale
    // return address as likely as a live one): do not pin the crash on it.
    let unknown_fault = fault == Some(&ModuleRef::Unknown);
    // Past the unloaded case above, a fault module that has a name is a loaded one.
    let fault = fault.and_then(ModuleRef::loaded);
    for (i, f) in input.frames.iter().enumerate() {
        let Some(module) = f.module else { continue };
        if unknown_fault && f.scanned {
            continue;
        }
        let stem = rules.canonical_module(module);
        if first_module.is_none() {
            first_module = Some((i, module));
        }
        match rules.owner(&stem, f.function) {
            Some(Owner::Ignore) => continue,
            named => {
                let owner = match named {
                    Some(Owner::Named(o)) => Some(o.clone()),
                    _ => owner_name(rules, module, f.function),
                };
                let reason = if i == 0 && fault.is_some_and(|m| m.eq_ignore_ascii_case(module)) {
                    format!("the fault is in {module}")
                } else if unknown_fault {
                    format!("the faulting address is in no loaded or unloaded module; {module} is the first unwound frame that rules do not ignore (frame {i})")
                } else {
                    let at = fault.unwrap_or("the faulting frame");
                    format!("the fault is in {at}, which rules ignore; {module} is the first frame below it that they do not (frame {i})")
                };
                return Blame {
                    module: Some(module.to_string()),
                    owner,
                    third_party: !rules.is_microsoft(module),
                    frame_index: u32::try_from(i).ok(),
                    reason,
                };
            }
        }
    }

    // Every frame ignored: like Socorro's fallback, the faulting module carries the crash.
    let fallback = if unknown_fault {
        None
    } else {
        fault.or(first_module.map(|(_, m)| m))
    };
    match fallback {
        Some(module) => Blame {
            module: Some(module.to_string()),
            owner: owner_name(rules, module, None),
            third_party: !rules.is_microsoft(module),
            frame_index: first_module.filter(|(_, m)| *m == module).and_then(|(i, _)| u32::try_from(i).ok()),
            reason: format!("every frame is in a module that rules ignore; blaming the faulting module {module}"),
        },
        None if unknown_fault => Blame {
            module: Some(UNKNOWN_MODULE.to_string()),
            owner: None,
            third_party: false,
            frame_index: None,
            reason: "the faulting address is in no loaded or unloaded module, and no unwound frame is in a module that rules do not ignore (scanned frames are too uncertain to blame)".into(),
        },
        None => Blame {
            module: None,
            owner: None,
            third_party: false,
            frame_index: None,
            reason: "no faulting address and no stack: nothing to blame".into(),
        },
    }
}

/// The owner to report for a module: a rule's named owner, the known vendor, or Microsoft.
fn owner_name(rules: &Rules, module: &str, function: Option<&str>) -> Option<String> {
    let stem = rules.canonical_module(module);
    if let Some(Owner::Named(o)) = rules.owner(&stem, function) {
        return Some(o.clone());
    }
    if let Some(info) = rules.driver_info(module) {
        return Some(info.vendor.clone());
    }
    rules
        .is_microsoft_stem(&stem)
        .then(|| "Microsoft".to_string())
}

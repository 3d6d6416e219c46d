//! Signatures modelled on Socorro's siggen: skip irrelevant frames, keep prefix frames and go
//! on, stop after the first other frame; join with ` | `. Frames without symbols become
//! `module@0xoffset`.

use super::rules::Rules;
use super::{FrameRef, TriageInput};

/// A frame in signature form: `module!function`, `module@0xoffset`, or `@0xaddress`-less
/// `(unknown)`.
pub fn normalize(frame: &FrameRef, rules: &Rules) -> String {
    match (frame.module, frame.function) {
        (Some(m), Some(f)) => format!("{}!{}", stem_keep_case(m, rules), collapse_cpp(f)),
        (Some(m), None) => match frame.offset {
            Some(o) => format!(
                "{}@{o:#x}",
                crate::dump::modules::base_name(m).to_ascii_lowercase()
            ),
            None => crate::dump::modules::base_name(m).to_ascii_lowercase(),
        },
        (None, Some(f)) => collapse_cpp(f),
        (None, None) => "(unknown)".into(),
    }
}

fn stem_keep_case(module: &str, rules: &Rules) -> String {
    let canonical = rules.canonical_module(module);
    let base = crate::dump::modules::base_name(module);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    if canonical != stem.to_ascii_lowercase() {
        canonical
    } else {
        stem.to_string()
    }
}

/// Drops C++ argument lists and collapses template arguments, so overloads and
/// instantiations of one function share a signature (Socorro's normalize_cpp_function).
pub fn collapse_cpp(function: &str) -> String {
    let mut out = String::with_capacity(function.len());
    let mut depth_angle = 0usize;
    let mut depth_paren = 0usize;
    for c in function.chars() {
        match c {
            '<' => {
                if depth_angle == 0 && depth_paren == 0 {
                    out.push_str("<T>");
                }
                depth_angle += 1;
            }
            '>' if depth_angle > 0 => depth_angle -= 1,
            '(' => depth_paren += 1,
            ')' if depth_paren > 0 => depth_paren -= 1,
            _ if depth_angle == 0 && depth_paren == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.trim().trim_end_matches(" const").to_string();
    if out.is_empty() {
        function.to_string()
    } else {
        out
    }
}

/// The Socorro-style signature of a crash.
pub fn signature(input: &TriageInput, rules: &Rules) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in input.frames {
        if parts.len() >= rules.max_signature_frames() {
            break;
        }
        let stem = f
            .module
            .map(|m| rules.canonical_module(m))
            .unwrap_or_default();
        if rules.is_irrelevant(&stem, f.function) {
            continue;
        }
        let token = normalize(f, rules);
        // Recursion and repeated unsymbolized frames of one module add nothing.
        if parts.last() == Some(&token) {
            continue;
        }
        parts.push(token);
        if !rules.is_prefix(&stem, f.function) {
            break;
        }
    }
    if parts.is_empty() {
        return match input.frames.first() {
            Some(f) => normalize(f, rules),
            None => "EMPTY: no frame data available".into(),
        };
    }
    parts.join(" | ")
}

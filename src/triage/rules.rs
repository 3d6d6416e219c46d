//! Triage rules: owners (triage.ini-like), Microsoft modules, known third-party drivers,
//! signature lists (Socorro-like) and non-driver bugchecks. A default set is compiled in
//! (`default_rules.toml`); a user file is merged over it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::dump::modules::base_name;
use crate::record::parse_hex;

/// The source of the built-in rules; the binary reads [`DEFAULT_RULES_JSON`], made from it.
#[cfg(test)]
const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// [`DEFAULT_RULES`] as JSON, made by build.rs: read at every start, and JSON reads in a
/// fraction of the time TOML parses.
const DEFAULT_RULES_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/default_rules.json"));

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: cannot read the rules file: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a valid rules file: {message}")]
    Parse { path: String, message: String },
}

/// Vendor and category of a known third-party kernel driver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DriverInfo {
    pub vendor: String,
    pub category: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    aliases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    owners: BTreeMap<String, String>,
    #[serde(default)]
    microsoft: MicrosoftSection,
    #[serde(default)]
    drivers: BTreeMap<String, DriverInfo>,
    #[serde(default)]
    signature: SignatureSection,
    #[serde(default)]
    non_driver_bugchecks: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MicrosoftSection {
    #[serde(default)]
    modules: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureSection {
    #[serde(default)]
    irrelevant: Vec<String>,
    #[serde(default)]
    prefix: Vec<String>,
    #[serde(default)]
    irrelevant_unsymbolized: Vec<String>,
    max_frames: Option<usize>,
}

/// `module` or `module!function`, with `*` allowed at the end of either part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePattern {
    module: String,
    function: Option<String>,
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
        }
        None => pattern.eq_ignore_ascii_case(text),
    }
}

impl FramePattern {
    pub fn parse(text: &str) -> FramePattern {
        match text.split_once('!') {
            Some((m, f)) => FramePattern {
                module: m.to_ascii_lowercase(),
                function: Some(f.to_string()),
            },
            None => FramePattern {
                module: text.to_ascii_lowercase(),
                function: None,
            },
        }
    }

    /// Does it match a frame of module `stem` (canonical, lower case) and `function`?
    /// Function patterns never match frames without symbols, and "default" means any function
    /// (triage.ini's spelling).
    pub fn matches(&self, stem: &str, function: Option<&str>) -> bool {
        if !glob(&self.module, stem) {
            return false;
        }
        match (&self.function, function) {
            (None, _) => true,
            (Some(p), _) if p == "default" || p == "*" => true,
            (Some(p), Some(f)) => glob(p, f),
            (Some(_), None) => false,
        }
    }

    /// How specific the pattern is (longer wins, like triage.ini).
    fn specificity(&self) -> usize {
        self.module.trim_end_matches('*').len() * 2
            + self
                .function
                .as_ref()
                .map_or(0, |f| 1000 + f.trim_end_matches('*').len())
    }
}

/// The owner verdict for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Not at fault: keep walking.
    Ignore,
    Named(String),
}

/// The rule set in force.
#[derive(Debug, Clone)]
pub struct Rules {
    aliases: HashMap<String, String>,
    owners: Vec<(FramePattern, Owner)>,
    microsoft: HashSet<String>,
    drivers: HashMap<String, DriverInfo>,
    irrelevant: Vec<FramePattern>,
    prefix: Vec<FramePattern>,
    irrelevant_unsymbolized: HashSet<String>,
    max_frames: usize,
    non_driver: HashMap<u32, String>,
}

impl Rules {
    /// The rules compiled into the binary.
    pub fn builtin() -> Rules {
        // The default file is part of the source and covered by tests: failing to parse it is
        // a build defect, not an input error.
        let file: RulesFile = serde_json::from_str(DEFAULT_RULES_JSON).unwrap_or_default();
        let mut rules = Rules::empty();
        rules.merge(file);
        rules
    }

    fn empty() -> Rules {
        Rules {
            aliases: HashMap::new(),
            owners: Vec::new(),
            microsoft: HashSet::new(),
            drivers: HashMap::new(),
            irrelevant: Vec::new(),
            prefix: Vec::new(),
            irrelevant_unsymbolized: HashSet::new(),
            max_frames: 8,
            non_driver: HashMap::new(),
        }
    }

    /// The built-in rules with a user file merged over them.
    pub fn from_toml_file(path: &Path) -> Result<Rules, RulesError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: p.clone(),
            source,
        })?;
        let mut rules = Rules::builtin();
        rules
            .merge_toml(&text)
            .map_err(|message| RulesError::Parse { path: p, message })?;
        Ok(rules)
    }

    /// `--rules FILE` when given, else the built-in rules.
    pub fn from_cli(path: Option<&Path>) -> Result<Rules, RulesError> {
        match path {
            Some(p) => Rules::from_toml_file(p),
            None => Ok(Rules::builtin()),
        }
    }

    /// Merges rules written in the TOML format over these.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        self.merge(file);
        Ok(())
    }

    fn merge(&mut self, file: RulesFile) {
        for (canonical, names) in file.aliases {
            for n in names {
                self.aliases
                    .insert(stem_of(&n), canonical.to_ascii_lowercase());
            }
        }
        for (pattern, owner) in file.owners {
            let pattern = FramePattern::parse(&pattern);
            let owner = if owner.eq_ignore_ascii_case("ignore") {
                Owner::Ignore
            } else {
                Owner::Named(owner)
            };
            // A later file overrides an earlier entry for the same pattern.
            self.owners.retain(|(p, _)| *p != pattern);
            self.owners.push((pattern, owner));
        }
        // Most specific first, so the first match is the one triage.ini would pick.
        self.owners
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.specificity()));
        self.microsoft.extend(
            file.microsoft
                .modules
                .iter()
                .map(|m| m.to_ascii_lowercase()),
        );
        for (name, info) in file.drivers {
            self.drivers.insert(stem_of(&name), info);
        }
        self.irrelevant.extend(
            file.signature
                .irrelevant
                .iter()
                .map(|p| FramePattern::parse(p)),
        );
        self.prefix
            .extend(file.signature.prefix.iter().map(|p| FramePattern::parse(p)));
        self.irrelevant_unsymbolized.extend(
            file.signature
                .irrelevant_unsymbolized
                .iter()
                .map(|m| m.to_ascii_lowercase()),
        );
        if let Some(n) = file.signature.max_frames {
            self.max_frames = n.clamp(1, 64);
        }
        for (code, why) in file.non_driver_bugchecks {
            if let Some(c) = parse_hex(&code).and_then(|c| u32::try_from(c).ok()) {
                self.non_driver.insert(c, why);
            }
        }
    }

    /// The canonical lower-case stem of a module name: `ntkrnlmp.exe` -> `nt`,
    /// `\SystemRoot\system32\drivers\CSAgent.sys` -> `csagent`.
    pub fn canonical_module(&self, module: &str) -> String {
        let stem = stem_of(module);
        self.aliases.get(&stem).cloned().unwrap_or(stem)
    }

    /// Who owns a frame, if any rule says.
    pub fn owner(&self, stem: &str, function: Option<&str>) -> Option<&Owner> {
        self.owners
            .iter()
            .find(|(p, _)| p.matches(stem, function))
            .map(|(_, o)| o)
    }

    pub fn is_microsoft_stem(&self, stem: &str) -> bool {
        self.microsoft.contains(stem)
    }

    /// Whether a driver (any spelling of its name) ships with Windows.
    pub fn is_microsoft(&self, name: &str) -> bool {
        self.is_microsoft_stem(&self.canonical_module(name))
    }

    /// Vendor and category of a known third-party driver (any spelling of its name).
    pub fn driver_info(&self, name: &str) -> Option<&DriverInfo> {
        self.drivers.get(&self.canonical_module(name))
    }

    pub fn is_irrelevant(&self, stem: &str, function: Option<&str>) -> bool {
        match function {
            None => self.irrelevant_unsymbolized.contains(stem),
            Some(_) => self
                .irrelevant
                .iter()
                .any(|p| p.function.is_some() && p.matches(stem, function)),
        }
    }

    pub fn is_prefix(&self, stem: &str, function: Option<&str>) -> bool {
        function.is_some() && self.prefix.iter().any(|p| p.matches(stem, function))
    }

    pub fn max_signature_frames(&self) -> usize {
        self.max_frames
    }

    /// Why a bugcheck is not a driver's fault, when it is not (`_M` variants included).
    pub fn non_driver_reason(&self, code: u32) -> Option<&str> {
        self.non_driver
            .get(&code)
            .or_else(|| self.non_driver.get(&(code & !0x1000_0000)))
            .map(String::as_str)
    }
}

/// Lower-case file stem: `C:\x\CSAgent.sys` -> `csagent`.
pub fn stem_of(name: &str) -> String {
    let base = base_name(name);
    let stem = match base.rsplit_once('.') {
        Some((s, ext)) if !s.is_empty() && ext.len() <= 4 => s,
        _ => base,
    };
    stem.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse_and_say_what_they_should() {
        let file: Result<RulesFile, _> = toml::from_str(DEFAULT_RULES);
        let json: Result<RulesFile, _> = serde_json::from_str(DEFAULT_RULES_JSON);
        assert!(
            json.is_ok(),
            "build.rs's JSON of the rules: {:?}",
            json.err()
        );
        assert!(
            file.is_ok(),
            "default_rules.toml must parse: {:?}",
            file.err()
        );
        let r = Rules::builtin();
        assert_eq!(
            r.canonical_module("\\SystemRoot\\system32\\ntoskrnl.exe"),
            "nt"
        );
        assert_eq!(r.canonical_module("ntkrnlmp.exe"), "nt");
        assert_eq!(r.owner("nt", Some("memcpy")), Some(&Owner::Ignore));
        assert_eq!(r.owner("csagent", None), None);
        assert!(r.is_microsoft("amdppm.sys"));
        assert!(!r.is_microsoft("csagent.sys"));
        assert_eq!(
            r.driver_info("CSAgent.sys").map(|d| d.category.as_str()),
            Some("security")
        );
        assert!(r.is_irrelevant("nt", Some("KeBugCheckEx")));
        assert!(r.is_irrelevant("nt", None));
        assert!(!r.is_irrelevant("csagent", None));
        assert!(r.is_prefix("nt", Some("memcpy")));
        assert!(r.non_driver_reason(0x1C8).is_some());
        assert!(r.non_driver_reason(0x50).is_none());
    }

    #[test]
    fn user_rules_override_and_extend() {
        let mut r = Rules::builtin();
        r.merge_toml("[owners]\n\"nt\" = \"Kernel Team\"\n\"acmenet!Filter*\" = \"Acme Networks\"\n[drivers]\nfoo = { vendor = \"Foo\", category = \"gpu\" }\n")
            .unwrap();
        assert_eq!(
            r.owner("nt", Some("memcpy")),
            Some(&Owner::Named("Kernel Team".into()))
        );
        assert_eq!(
            r.owner("acmenet", Some("FilterSend")),
            Some(&Owner::Named("Acme Networks".into()))
        );
        assert_eq!(r.owner("acmenet", None), None);
        assert_eq!(
            r.driver_info("foo.sys").map(|d| d.vendor.as_str()),
            Some("Foo")
        );
        assert!(r.merge_toml("[owners\n").is_err());
        assert!(r.merge_toml("[nonsense]\nx = 1\n").is_err());
    }
}

//! Who is a critical host: the one rule `exposure`, `clusters`, `report` and the console
//! count critical hosts by (issue 15), so "23 critical" means the same hosts everywhere.
//!
//! A host is critical when its inventory row holds one of the rule's values in the rule's
//! column, ignoring case (default: `criticality` is `critical`). Hosts are matched to the
//! inventory ignoring case, as heartbeats and the driver inventory are (the same host is
//! `WS-01` in one tool and `ws-01` in another).

use std::collections::HashSet;

use polars::prelude::*;

/// A `--critical` argument that is not `COLUMN=VALUE[,VALUE]`.
#[derive(Debug, thiserror::Error)]
#[error("--critical '{0}': expected COLUMN=VALUE[,VALUE], e.g. criticality=critical,high")]
pub struct BadCriticalRule(pub String);

/// Which hosts count as critical: those whose inventory `column` holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalRule {
    pub column: String,
    pub values: Vec<String>,
}

impl Default for CriticalRule {
    fn default() -> Self {
        CriticalRule {
            column: "criticality".into(),
            values: vec!["critical".into()],
        }
    }
}

impl CriticalRule {
    /// `COLUMN=VALUE[,VALUE]` (`--critical role=domain-controller,pos-terminal`).
    pub fn parse(text: &str) -> Result<CriticalRule, BadCriticalRule> {
        let bad = || BadCriticalRule(text.to_string());
        let (column, values) = text.split_once('=').ok_or_else(bad)?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if column.trim().is_empty() || values.is_empty() {
            return Err(bad());
        }
        Ok(CriticalRule {
            column: column.trim().to_string(),
            values,
        })
    }

    /// The rule of a `--critical` flag: the default when the flag is absent.
    pub fn from_flag(flag: Option<&str>) -> Result<CriticalRule, BadCriticalRule> {
        flag.map_or_else(|| Ok(CriticalRule::default()), CriticalRule::parse)
    }

    /// `criticality=critical`, as the flag is written.
    pub fn describe(&self) -> String {
        format!("{}={}", self.column, self.values.join(","))
    }

    /// Whether an inventory value of the rule's column makes a host critical.
    pub fn holds(&self, value: &str) -> bool {
        self.values
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value.trim()))
    }

    /// The inventory's critical hosts; `None` when the inventory has no such column (then
    /// nobody can be called critical, and outputs say "unknown" rather than 0).
    pub fn hosts(&self, inventory: &DataFrame) -> PolarsResult<Option<CriticalHosts>> {
        let names = inventory.get_column_names();
        let find = |wanted: &str| {
            names
                .iter()
                .find(|n| n.trim().eq_ignore_ascii_case(wanted))
                .map(|n| n.to_string())
        };
        let (Some(host), Some(column)) = (find("host"), find(&self.column)) else {
            return Ok(None);
        };
        let hosts = inventory.column(&host)?.cast(&DataType::String)?;
        let values = inventory.column(&column)?.cast(&DataType::String)?;
        let names = hosts
            .str()?
            .iter()
            .zip(values.str()?.iter())
            .filter_map(|(h, v)| match (h, v) {
                (Some(h), Some(v)) if self.holds(v) => Some(h.to_lowercase()),
                _ => None,
            })
            .collect();
        Ok(Some(CriticalHosts { names }))
    }
}

/// The hosts a [`CriticalRule`] selects from one inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalHosts {
    /// Lower-case host names.
    names: HashSet<String>,
}

impl CriticalHosts {
    pub fn contains(&self, host: &str) -> bool {
        self.names.contains(&host.to_lowercase())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let r = CriticalRule::parse("role = dc, pos-terminal").unwrap();
        assert_eq!(r.column, "role");
        assert_eq!(r.values, ["dc", "pos-terminal"]);
        assert!(r.holds("POS-terminal"));
        assert!(!r.holds("kiosk"));
        assert_eq!(r.describe(), "role=dc,pos-terminal");
        assert!(CriticalRule::parse("role=").is_err());
        assert!(CriticalRule::parse("critical").is_err());
        assert!(CriticalRule::parse("=critical").is_err());
        assert_eq!(
            CriticalRule::from_flag(None).unwrap(),
            CriticalRule::default()
        );
    }

    #[test]
    fn hosts_match_ignoring_case_and_a_missing_column_is_unknown() {
        let inv = df!(
            "host" => ["WS-01", "ws-02", "dc-01"],
            "Criticality" => [Some("Critical"), Some("low"), None],
            "role" => ["desk", "desk", "dc"]
        )
        .unwrap();
        let hosts = CriticalRule::default().hosts(&inv).unwrap().unwrap();
        assert_eq!(hosts.len(), 1);
        assert!(hosts.contains("ws-01"));
        assert!(!hosts.contains("dc-01"));
        let by_role = CriticalRule::parse("role=dc").unwrap().hosts(&inv).unwrap();
        assert!(by_role.unwrap().contains("DC-01"));
        let none = CriticalRule::parse("tier=gold")
            .unwrap()
            .hosts(&inv)
            .unwrap();
        assert!(none.is_none());
    }
}

//! Filter values as a person types them, resolved against what the store holds. `--site`,
//! `--where`, `--driver` and `--cluster` all match the same way: ignoring case, and a driver
//! without its extension names the driver (`csagent` = `csagent.sys`). A value that matches
//! nothing in the store is an error that lists the closest known values: a typo must not
//! answer "no crashes in scope" with exit 0, as if the fleet were healthy.
//!
//! Resolution looks at the whole store, not the `--since/--until` window: a driver that
//! crashed only outside the window is a real driver (the answer is then an honest empty
//! table).

use std::collections::BTreeSet;

use polars::prelude::*;

use super::prepare::{cluster_id, Level, UNKNOWN_CAUSE};
use super::{AnalyticsError, Scope};

/// Closest known values listed in an error.
const SUGGESTIONS: usize = 5;

/// `scope` with its filter values checked against `crashes` (store columns) and `inventory`,
/// and replaced by the store's own spelling (`CSAGENT` -> `csagent.sys`).
pub fn resolve_scope(
    crashes: LazyFrame,
    inventory: Option<&DataFrame>,
    scope: &Scope,
) -> Result<Scope, AnalyticsError> {
    let mut out = scope.clone();
    if scope.driver.is_some() || scope.cluster.is_some() {
        let keys = ClusterKeys::read(crashes)?;
        if let Some(driver) = &scope.driver {
            let what = format!("--driver '{driver}'");
            out.driver = Some(resolve_value(&what, driver, &keys.drivers, true)?);
        }
        if let Some(cluster) = &scope.cluster {
            let what = format!("--cluster '{cluster}'");
            // A driver named without its extension is the driver's cluster.
            let value = resolve_value(&what, cluster, &keys.drivers, true)
                .or_else(|_| resolve_value(&what, cluster, &keys.all, true))?;
            out.cluster = Some(value);
        }
    }
    if let Some(inventory) = inventory {
        for (i, (column, value)) in scope.inventory_filters.iter().enumerate() {
            let names: Vec<String> = inventory
                .get_column_names()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(column)) else {
                return Err(AnalyticsError::UnknownInventoryColumn {
                    column: column.clone(),
                    available: format!("inventory columns: {}", closest(column, &names).join(", ")),
                });
            };
            let values: BTreeSet<String> = inventory
                .column(name)?
                .cast(&DataType::String)?
                .str()?
                .iter()
                .flatten()
                .map(str::to_string)
                .collect();
            let what = if column == "site" {
                format!("--site '{value}'")
            } else {
                format!("--where '{column}={value}'")
            };
            let value = resolve_value(&what, value, &values, false)?;
            out.inventory_filters[i] = (name.clone(), value);
        }
    }
    Ok(out)
}

/// The cluster keys a store holds.
struct ClusterKeys {
    /// Blamed drivers (lower-case base names).
    drivers: BTreeSet<String>,
    /// Every value `--cluster` accepts: ids of the three levels, causes, buckets, signatures.
    all: BTreeSet<String>,
}

impl ClusterKeys {
    fn read(crashes: LazyFrame) -> Result<ClusterKeys, AnalyticsError> {
        let distinct = crashes
            .select([
                col("blame_module_lc"),
                col("failure_class"),
                col("bucket_id"),
                col("signature"),
            ])
            .unique(None, UniqueKeepStrategy::Any)
            .collect()?;
        let text = |name: &str| -> Result<Vec<Option<String>>, AnalyticsError> {
            Ok(distinct
                .column(name)?
                .str()?
                .iter()
                .map(|v| v.filter(|v| !v.is_empty()).map(str::to_string))
                .collect())
        };
        let (drivers_col, classes, buckets, signatures) = (
            text("blame_module_lc")?,
            text("failure_class")?,
            text("bucket_id")?,
            text("signature")?,
        );
        let mut drivers = BTreeSet::new();
        let mut all = BTreeSet::new();
        for i in 0..distinct.height() {
            // The cause as `prepare::load_base` derives it.
            let cause = drivers_col[i]
                .clone()
                .or_else(|| classes[i].clone())
                .unwrap_or_else(|| UNKNOWN_CAUSE.to_string());
            let bucket = buckets[i].clone().unwrap_or_default();
            let signature = signatures[i].clone().unwrap_or_default();
            if let Some(d) = &drivers_col[i] {
                drivers.insert(d.clone());
            }
            all.insert(cluster_id(Level::Driver, &cause, "", ""));
            all.insert(cluster_id(Level::Bucket, &cause, &bucket, ""));
            all.insert(cluster_id(Level::Signature, &cause, &bucket, &signature));
            all.insert(cause);
            if !bucket.is_empty() {
                all.insert(bucket);
            }
            if !signature.is_empty() {
                all.insert(signature);
            }
        }
        Ok(ClusterKeys { drivers, all })
    }
}

/// The known value `given` names: equal ignoring case, or (`stems`) equal to a known value
/// without its extension (`csagent` -> `csagent.sys`). Else an error with the closest values.
fn resolve_value(
    what: &str,
    given: &str,
    known: &BTreeSet<String>,
    stems: bool,
) -> Result<String, AnalyticsError> {
    let given = given.trim();
    if known.contains(given) {
        return Ok(given.to_string());
    }
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(given)) {
        return Ok(k.clone());
    }
    if stems {
        // `name.ext` with a file extension (`sys`, `dll`), not `csagent.sys@0xe14ed`.
        let mut by_stem = known.iter().filter(|k| {
            k.rsplit_once('.').is_some_and(|(stem, ext)| {
                stem.eq_ignore_ascii_case(given)
                    && (1..=4).contains(&ext.len())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            })
        });
        if let (Some(k), None) = (by_stem.next(), by_stem.next()) {
            return Ok(k.clone());
        }
    }
    let known: Vec<String> = known.iter().cloned().collect();
    let suggestions = closest(given, &known);
    Err(AnalyticsError::BadArgument(if suggestions.is_empty() {
        format!("{what}: the store has no such value (it has none at all)")
    } else {
        format!(
            "{what}: the store has no such value; closest: {}",
            suggestions.join(", ")
        )
    }))
}

/// The known values nearest to `given` (edit distance ignoring case, to the whole value or
/// its prefix; a value that contains or is contained in `given` comes first), at most
/// `SUGGESTIONS`. Cluster ids (12 hex digits) are never suggested: nobody mistypes into one.
fn closest(given: &str, known: &[String]) -> Vec<String> {
    let g = given.to_lowercase();
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .filter(|k| !is_cluster_id(k))
        .map(|k| {
            let kl = k.to_lowercase();
            let distance = if kl.contains(&g) || g.contains(&kl) {
                0
            } else {
                // A long value typed in part (a bucket id's start) is near its prefix.
                let prefix: String = kl.chars().take(g.chars().count()).collect();
                levenshtein(&g, &kl).min(levenshtein(&g, &prefix))
            };
            (distance, k)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, k)| k.clone())
        .collect()
}

fn is_cluster_id(value: &str) -> bool {
    value.len() == 12 && value.chars().all(|c| c.is_ascii_hexdigit())
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by chars.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_resolve_ignoring_case_and_extension() {
        let drivers = set(&["csagent.sys", "acmenet.sys", "iastorac.sys"]);
        assert_eq!(
            resolve_value("--driver", "CSAGENT.SYS", &drivers, true).unwrap(),
            "csagent.sys"
        );
        assert_eq!(
            resolve_value("--driver", "csagent", &drivers, true).unwrap(),
            "csagent.sys"
        );
        let err = resolve_value("--driver", "csagnet", &drivers, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("closest: csagent.sys"), "{err}");
        let sites = set(&["LON", "NYC", "SYD", "FRA"]);
        assert_eq!(
            resolve_value("--site", "lon", &sites, false).unwrap(),
            "LON"
        );
        let err = resolve_value("--site", "London", &sites, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("closest: LON,"), "{err}");
    }

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}

//! `--shard I/N`: a deterministic share of the files, so N machines can each scan one share of
//! the same tree into their own stores (then `store merge`).
//!
//! A file belongs to shard `blake3(relative path) mod N`, where the relative path is taken from
//! the scan root with `/` separators: the same on every machine whatever the mount point, and
//! stable across runs (std's hasher is randomly seeded per process, so it cannot be used).

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based: Kubernetes' `JOB_COMPLETION_INDEX` is used as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether the file at `relative_path` (from the scan root, `/`-separated) is this shard's.
    pub fn owns(&self, relative_path: &str) -> bool {
        shard_of(relative_path, self.count) == self.index
    }
}

/// The shard of `relative_path` among `count` shards.
pub fn shard_of(relative_path: &str, count: u32) -> u32 {
    let hash = blake3::hash(relative_path.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(count.max(1))) as u32
}

/// Why `--shard` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard {0:?}: expected I/N with 0 <= I < N (e.g. 0/4 .. 3/4)")]
pub struct ShardParseError(pub String);

impl FromStr for Shard {
    type Err = ShardParseError;
    fn from_str(text: &str) -> Result<Shard, ShardParseError> {
        let bad = || ShardParseError(text.to_string());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zero_based_index_over_count() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_path_belongs_to_exactly_one_shard_and_the_split_is_even() {
        let paths: Vec<String> = (0..4000)
            .map(|i| format!("host{}/{i:05}.dmp", i % 97))
            .collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for p in &paths {
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns(p))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{p}");
            sizes[owners[0] as usize] += 1;
        }
        // A hash split of 4000 paths into 4 stays within a few percent of 1000 each.
        assert!(sizes.iter().all(|&n| (900..1100).contains(&n)), "{sizes:?}");
        assert_eq!(shard_of("anything", 1), 0);
    }
}

//! Listing the files under the scan roots, in a deterministic order (roots in the order given,
//! each walked sorted by file name), so that `--jobs 1` and `--jobs 8` produce the same store.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::shard::Shard;

/// One file to examine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Absolute (the root was canonicalized).
    pub path: PathBuf,
    /// Path from the scan root with `/` separators: the shard key, and a host-manifest key.
    pub relative: String,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<Candidate>,
    /// Files that belong to another shard.
    pub other_shard: u64,
    /// Folders or entries that could not be listed, with the reason.
    pub errors: Vec<(String, String)>,
}

/// Why a root cannot be scanned at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot scan: {source}")]
pub struct RootError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Lists regular files under `roots` (a root may be a file). Symbolic links are not followed:
/// a link in a shared folder could lead anywhere, including into a loop. Entries under
/// `exclude` (the store itself, when it lies inside a scanned tree) are skipped.
pub fn list_files(
    roots: &[PathBuf],
    shard: Option<Shard>,
    exclude: Option<&Path>,
) -> Result<Listing, RootError> {
    let mut canonical_roots = Vec::with_capacity(roots.len());
    for root in roots {
        let canonical = root.canonicalize().map_err(|source| RootError {
            path: root.clone(),
            source,
        })?;
        canonical_roots.push(canonical);
    }
    let mut listing = Listing::default();
    let mut already: HashSet<PathBuf> = HashSet::new();
    for root in &canonical_roots {
        let walker = WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| exclude.is_none_or(|x| e.path() != x));
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_string_lossy().into_owned();
                    listing.errors.push((path, format!("cannot list: {err}")));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = relative_key(root, entry.path());
            if let Some(shard) = shard {
                if !shard.owns(&relative) {
                    listing.other_shard += 1;
                    continue;
                }
            }
            // Overlapping roots (`scan dumps dumps/host1`) must not count a file twice.
            if already.insert(entry.path().to_path_buf()) {
                listing.files.push(Candidate {
                    path: entry.into_path(),
                    relative,
                });
            }
        }
    }
    Ok(listing)
}

/// `path` relative to `root`, `/`-separated; the file name when the root is the file itself.
fn relative_key(root: &Path, path: &Path) -> String {
    let rel = match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel,
        _ => Path::new(path.file_name().unwrap_or(path.as_os_str())),
    };
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_relative_paths_skips_excluded_and_dedups_overlapping_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for rel in ["b/2.dmp", "a/1.dmp", "a/0.dmp", "store/manifest.json"] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        let roots = vec![root.clone(), root.join("a"), root.join("b/2.dmp")];
        let listing = list_files(&roots, None, Some(&root.join("store"))).unwrap();
        let rels: Vec<&str> = listing.files.iter().map(|c| c.relative.as_str()).collect();
        assert_eq!(rels, ["a/0.dmp", "a/1.dmp", "b/2.dmp"]);
        assert!(listing.files.iter().all(|c| c.path.is_absolute()));
    }

    #[test]
    fn missing_root_is_an_error_and_shards_partition_the_files() {
        assert!(list_files(&[PathBuf::from("/no/such/dir/anywhere")], None, None).is_err());
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("{i}.dmp")), b"x").unwrap();
        }
        let roots = vec![dir.path().to_path_buf()];
        let mut total = 0;
        for index in 0..3 {
            let listing = list_files(&roots, Some(Shard { index, count: 3 }), None).unwrap();
            assert_eq!(listing.files.len() as u64 + listing.other_shard, 50);
            total += listing.files.len();
        }
        assert_eq!(total, 50);
    }
}

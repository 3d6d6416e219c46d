//! Which host a dump came from. Kernel dumps carry no computer name, so the host comes from
//! how the dumps were collected: by default the dump's parent folder (`dumps/<host>/*.dmp`),
//! or a manifest CSV (`path,host`) for other layouts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use polars::prelude::*;

/// The host assigned when neither the layout nor the manifest names one.
pub const UNKNOWN_HOST: &str = "unknown";

/// `--host-from`: `parent` or `manifest:FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFrom {
    ParentFolder,
    Manifest(PathBuf),
}

impl FromStr for HostFrom {
    type Err = String;
    fn from_str(text: &str) -> Result<HostFrom, String> {
        if text == "parent" {
            Ok(HostFrom::ParentFolder)
        } else if let Some(file) = text.strip_prefix("manifest:").filter(|f| !f.is_empty()) {
            Ok(HostFrom::Manifest(PathBuf::from(file)))
        } else {
            Err(format!(
                "invalid --host-from {text:?}: expected 'parent' or 'manifest:FILE'"
            ))
        }
    }
}

/// Why the host manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HostMapError {
    #[error("{path}: cannot read the host manifest: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: the host manifest needs columns 'path' and 'host' (found {found:?})")]
    Columns { path: PathBuf, found: Vec<String> },
}

/// Resolves hosts for dump paths.
#[derive(Debug, Clone, Default)]
pub struct HostMap {
    /// From the manifest, keyed by every form a row's path may be matched by (see `host_of`).
    by_path: Option<HashMap<String, String>>,
}

impl HostMap {
    /// Loads what `from` needs (nothing for `parent`).
    pub fn load(from: &HostFrom) -> Result<HostMap, HostMapError> {
        match from {
            HostFrom::ParentFolder => Ok(HostMap { by_path: None }),
            HostFrom::Manifest(file) => Ok(HostMap {
                by_path: Some(read_manifest(file)?),
            }),
        }
    }

    /// The host of the dump at `path` (absolute) found under the scan root as `relative`
    /// (`/`-separated). With a manifest, a row matches by absolute path, by the path relative
    /// to the scan root, or by file name, in that order; `None` when no row matches.
    /// Without a manifest: the parent folder's name.
    pub fn host_of(&self, path: &Path, relative: &str) -> Option<String> {
        match &self.by_path {
            None => Some(parent_folder_host(path)),
            Some(map) => {
                let file_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                [
                    normalize(&path.to_string_lossy()),
                    normalize(relative),
                    file_name,
                ]
                .iter()
                .find_map(|key| map.get(key).cloned())
            }
        }
    }
}

/// The name of the folder holding the dump, as in `dumps/<host>/*.dmp`, escaped by
/// [`escape_os_str`] so that two folders whose names are not UTF-8 stay two hosts.
pub fn parent_folder_host(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(escape_os_str)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| UNKNOWN_HOST.to_string())
}

/// One file or folder name (not a path) as text, losslessly: valid UTF-8 as it is, every
/// byte that is not part of valid UTF-8 as `\xNN`, and a backslash doubled (so the bytes
/// `HOST-\xff` and a folder literally named `HOST-\xff` cannot meet; names rarely hold
/// one). `to_string_lossy` would turn every invalid byte into U+FFFD and merge
/// `HOST-\xff\xfe` with `HOST-\xfe\xff` (issue 18).
pub fn escape_os_str(name: &std::ffi::OsStr) -> String {
    if let Some(text) = name.to_str() {
        return text.replace('\\', "\\\\");
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in name.as_bytes().utf8_chunks() {
            out.push_str(&chunk.valid().replace('\\', "\\\\"));
            for byte in chunk.invalid() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
        out
    }
    #[cfg(windows)]
    {
        // Windows names are UTF-16; unpaired surrogates are the only non-UTF-8 case.
        use std::os::windows::ffi::OsStrExt;
        char::decode_utf16(name.encode_wide())
            .map(|unit| match unit {
                Ok('\\') => "\\\\".to_string(),
                Ok(c) => c.to_string(),
                Err(e) => format!("\\u{{{:04x}}}", e.unpaired_surrogate()),
            })
            .collect()
    }
    #[cfg(not(any(unix, windows)))]
    {
        name.to_string_lossy().into_owned()
    }
}

/// `\` to `/` and no leading `./`, so manifests written on Windows match.
fn normalize(path: &str) -> String {
    let p = path.replace('\\', "/");
    p.strip_prefix("./").map(str::to_string).unwrap_or(p)
}

fn read_manifest(file: &Path) -> Result<HashMap<String, String>, HostMapError> {
    let read = |source| HostMapError::Read {
        path: file.to_path_buf(),
        source,
    };
    // Every column as text: a host named 0042 must stay "0042".
    let df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(file.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(read)?;
    let found: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let column = |name: &str| {
        df.get_column_names()
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .and_then(|n| df.column(n.as_str()).ok())
            .and_then(|c| c.str().ok().cloned())
    };
    let (Some(paths), Some(hosts)) = (column("path"), column("host")) else {
        return Err(HostMapError::Columns {
            path: file.to_path_buf(),
            found,
        });
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let mut map = HashMap::new();
    for (p, h) in paths.iter().zip(hosts.iter()) {
        let (Some(p), Some(h)) = (p, h) else { continue };
        let (p, h) = (p.trim(), h.trim());
        if p.is_empty() || h.is_empty() {
            continue;
        }
        // A relative row path may be relative to the manifest's folder: key its absolute form
        // too, when it exists.
        if let Ok(abs) = base.join(p).canonicalize() {
            map.insert(normalize(&abs.to_string_lossy()), h.to_string());
        }
        map.insert(normalize(p), h.to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_folder_is_the_host() {
        assert_eq!(
            parent_folder_host(Path::new("/share/dumps/WS-0042/071924-1.dmp")),
            "WS-0042"
        );
        assert_eq!(
            HostMap::default()
                .host_of(Path::new("/d/h1/a.dmp"), "h1/a.dmp")
                .as_deref(),
            Some("h1")
        );
    }

    #[test]
    fn manifest_matches_absolute_relative_and_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("a.dmp");
        std::fs::write(&dump, b"x").unwrap();
        let csv = dir.path().join("hosts.csv");
        std::fs::write(
            &csv,
            "path,host\na.dmp,0042\nsub\\b.dmp,web-7\nc.dmp,db-1\n",
        )
        .unwrap();
        let map = HostMap::load(&HostFrom::Manifest(csv)).unwrap();
        let abs = dump.canonicalize().unwrap();
        assert_eq!(
            map.host_of(&abs, "elsewhere/a.dmp").as_deref(),
            Some("0042")
        );
        assert_eq!(
            map.host_of(Path::new("/x/sub/b.dmp"), "sub/b.dmp")
                .as_deref(),
            Some("web-7")
        );
        assert_eq!(
            map.host_of(Path::new("/y/z/c.dmp"), "z/c.dmp").as_deref(),
            Some("db-1")
        );
        assert_eq!(map.host_of(Path::new("/y/z/none.dmp"), "z/none.dmp"), None);
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_escaped_losslessly() {
        use std::os::unix::ffi::OsStrExt;
        let a = std::ffi::OsStr::from_bytes(b"HOST-\xff\xfe");
        let b = std::ffi::OsStr::from_bytes(b"HOST-\xfe\xff");
        let c = std::ffi::OsStr::from_bytes(b"a\\b\xc3");
        assert_eq!(escape_os_str(a), r"HOST-\xff\xfe");
        assert_eq!(escape_os_str(b), r"HOST-\xfe\xff");
        assert_eq!(escape_os_str(c), r"a\\b\xc3");
        assert_eq!(escape_os_str(std::ffi::OsStr::new("WS-0042")), "WS-0042");
        assert_eq!(
            escape_os_str(std::ffi::OsStr::new(r"HOST-\xff")),
            r"HOST-\\xff"
        );
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/d/HOST-\xff\xfe/1.dmp"));
        assert_eq!(parent_folder_host(path), r"HOST-\xff\xfe");
    }

    #[test]
    fn parses_host_from_values() {
        assert_eq!("parent".parse(), Ok(HostFrom::ParentFolder));
        assert_eq!(
            "manifest:h.csv".parse(),
            Ok(HostFrom::Manifest("h.csv".into()))
        );
        assert!("manifest:".parse::<HostFrom>().is_err());
        assert!("dns".parse::<HostFrom>().is_err());
    }

    #[test]
    fn manifest_without_host_column_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("m.csv");
        std::fs::write(&csv, "file,machine\na.dmp,h\n").unwrap();
        assert!(matches!(
            HostMap::load(&HostFrom::Manifest(csv)),
            Err(HostMapError::Columns { .. })
        ));
    }
}

//! Windows symbol paths (`_NT_SYMBOL_PATH` syntax) and file names made safe for them.
//!
//! Syntax understood, elements joined with `;`:
//! - `<dir>`: a local store in symstore layout (or a flat folder, which symstore also reads).
//! - `srv*<url>`, `srv*<cache>*<url>`, `srv*<cache1>*<cache2>*<url>`: a symbol server; files
//!   come from the caches first, downloads land in the first cache. `symsrv*symsrv.dll*...` is
//!   the long form of `srv*`. Without a cache, downloads go to the nearest `cache*<dir>` to the
//!   left, else to the user's cache directory.
//! - `cache*<dir>`: a download cache for the servers after it (it is also searched).
//! - a bare `http://` / `https://` URL: a server, like `srv*<url>`.

use std::path::{Path, PathBuf};

use super::SymbolError;

/// Where symbol files can come from, in symbol-path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A local folder in symstore layout.
    Local(PathBuf),
    /// An HTTP symbol server and the local caches in front of it (searched first; downloads
    /// go to the first).
    Server { url: String, caches: Vec<PathBuf> },
}

/// Parses a symbol path (or a single directory).
pub(crate) fn parse(spec: &str) -> Result<Vec<Source>, SymbolError> {
    let invalid = |reason: &str| SymbolError::InvalidSpec {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let mut sources = Vec::new();
    let mut cache_dir: Option<PathBuf> = None;
    for element in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = element.split('*').collect();
        let head = parts
            .first()
            .copied()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match head.as_str() {
            "srv" | "symsrv" => {
                // symsrv*<dll>*... names the DLL that implements the protocol; skip it.
                let rest = if head == "symsrv" {
                    parts.get(2..)
                } else {
                    parts.get(1..)
                };
                let rest = rest.unwrap_or_default();
                let Some((url, caches)) = rest.split_last() else {
                    return Err(invalid("`srv*` needs a server URL"));
                };
                if !is_url(url) {
                    return Err(invalid(&format!(
                        "`{url}` is not an http:// or https:// URL"
                    )));
                }
                let mut caches: Vec<PathBuf> = caches
                    .iter()
                    .filter(|c| !c.is_empty())
                    .map(PathBuf::from)
                    .collect();
                if caches.is_empty() {
                    caches.push(cache_dir.clone().unwrap_or_else(default_download_cache));
                }
                sources.push(Source::Server {
                    url: url.trim_end_matches('/').to_owned(),
                    caches,
                });
            }
            "cache" => {
                let dir = parts.get(1).copied().unwrap_or_default();
                let dir = if dir.is_empty() {
                    default_download_cache()
                } else {
                    PathBuf::from(dir)
                };
                sources.push(Source::Local(dir.clone()));
                cache_dir = Some(dir);
            }
            _ if parts.len() > 1 => {
                return Err(invalid(&format!("unknown symbol path element `{element}`")));
            }
            _ if is_url(element) => {
                let caches = vec![cache_dir.clone().unwrap_or_else(default_download_cache)];
                sources.push(Source::Server {
                    url: element.trim_end_matches('/').to_owned(),
                    caches,
                });
            }
            _ => sources.push(Source::Local(PathBuf::from(element))),
        }
    }
    Ok(sources)
}

fn is_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && text.len() > "https://".len()
}

/// The user's download cache when a symbol path names a server but no cache:
/// `$XDG_CACHE_HOME/blastradius/symbols`, else `$HOME/.cache/blastradius/symbols`, else the
/// temp dir.
fn default_download_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| Path::new(&h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("blastradius").join("symbols")
}

/// A longer name is not a real module or PDB name; refusing it also bounds path lengths.
const MAX_NAME_LEN: usize = 255;

/// A dump-derived file name made safe to use as ONE path component and URL segment; `None`
/// when it must be refused: empty, `.`/`..`, any path separator (`/`, `\`), a drive or stream
/// colon (`C:x`, `a:b`), NUL or other control characters, characters Windows forbids in names
/// (`<>"|?*`), `%` (URL escapes), or longer than 255 bytes. Surrounding whitespace is refused
/// rather than trimmed, because a trimmed name would be a different file.
pub fn sanitize_file_name(name: &str) -> Option<String> {
    let refused = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name.trim() != name
        || name.ends_with('.')
        || name.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    '/' | '\\' | ':' | '<' | '>' | '"' | '|' | '?' | '*' | '%' | '#'
                )
        });
    (!refused).then(|| name.to_owned())
}

/// The last component of a Windows or POSIX path (`C:\build\crash.pdb` -> `crash.pdb`).
/// Minidumps record full paths for code and debug files; the store is keyed by the base name.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_symbol_paths() {
        let sources =
            parse(r"C:\sym;srv*/tmp/cache*https://msdl.microsoft.com/download/symbols/").unwrap();
        assert_eq!(sources[0], Source::Local(PathBuf::from(r"C:\sym")));
        assert_eq!(
            sources[1],
            Source::Server {
                url: "https://msdl.microsoft.com/download/symbols".to_owned(),
                caches: vec![PathBuf::from("/tmp/cache")]
            }
        );
        let sources = parse("cache*/tmp/c;SRV*http://127.0.0.1:1/s").unwrap();
        assert_eq!(sources[0], Source::Local(PathBuf::from("/tmp/c")));
        assert_eq!(
            sources[1],
            Source::Server {
                url: "http://127.0.0.1:1/s".to_owned(),
                caches: vec![PathBuf::from("/tmp/c")]
            }
        );
        let sources = parse("symsrv*symsrv.dll*/a*/b*http://h/x").unwrap();
        assert_eq!(
            sources[0],
            Source::Server {
                url: "http://h/x".to_owned(),
                caches: vec![PathBuf::from("/a"), PathBuf::from("/b")]
            }
        );
        assert!(parse("srv*").is_err());
        assert!(parse("srv*/tmp/x*ftp://h").is_err());
        assert!(parse("bogus*x").is_err());
        assert!(parse(" ; ").unwrap().is_empty());
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "..\\..\\x",
            "a/b",
            "C:x",
            "x\0y",
            "..",
            ".",
            "",
            "a\\b",
            "x\u{1b}[31m",
            "name.",
            " a",
            "a%2f",
        ] {
            assert_eq!(sanitize_file_name(bad), None, "{bad:?}");
        }
        assert_eq!(
            sanitize_file_name("Wdf01000.sys").as_deref(),
            Some("Wdf01000.sys")
        );
        assert_eq!(base_name(r"c:\build\out\crash.pdb"), "crash.pdb");
        assert_eq!(base_name("crash.pdb"), "crash.pdb");
    }
}

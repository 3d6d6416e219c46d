//! Downloads from HTTP symbol servers (the SymSrv URL scheme `<url>/<name>/<key>/<file>`, as
//! served by msdl.microsoft.com, symbol-server proxies and a plain web server over a symstore
//! folder) into a local cache.
//!
//! Rules: a file is written to a temp name in its final folder and renamed into place only when
//! complete, so readers (other threads, other runs, WinDbg sharing the cache) never see half a
//! file; size and time are bounded; every URL that failed is remembered for the run and never
//! asked again. Callers pass only names that went through `sanitize_file_name`; segments are
//! still percent-encoded so a space or a non-ASCII byte cannot change the URL's meaning.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Limits for downloads.
#[derive(Debug, Clone)]
pub(crate) struct DownloadLimits {
    pub max_bytes: u64,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// One run's HTTP client with its miss memory and counters.
pub(crate) struct Downloader {
    agent: ureq::Agent,
    max_bytes: u64,
    /// URLs that returned an error or no file this run.
    misses: Mutex<HashSet<String>>,
    pub requests: AtomicU64,
    pub downloads: AtomicU64,
    pub bytes: AtomicU64,
    temp_counter: AtomicU64,
}

impl std::fmt::Debug for Downloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloader")
            .field("max_bytes", &self.max_bytes)
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Downloader {
    pub(crate) fn new(limits: &DownloadLimits) -> Downloader {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(limits.timeout))
            .timeout_connect(Some(limits.connect_timeout))
            // Microsoft's server redirects to blob storage; a chain longer than this is a loop.
            .max_redirects(5)
            // The symsrv client's agent string; some servers only serve symbol clients.
            .user_agent("Microsoft-Symbol-Server/10.0.0.0 (blastradius)")
            .build();
        Downloader {
            agent: ureq::Agent::new_with_config(config),
            max_bytes: limits.max_bytes,
            misses: Mutex::new(HashSet::new()),
            requests: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            temp_counter: AtomicU64::new(0),
        }
    }

    /// Downloads `<server>/<folder>/<key>/<file>` to `<cache>/<folder>/<key>/<file>`.
    /// `Ok(None)`: the server has no such file (or it failed before this run and is
    /// remembered as a miss). `Err`: the download failed (remembered too).
    pub(crate) fn fetch(
        &self,
        server: &str,
        cache: &Path,
        folder: &str,
        key: &str,
        file: &str,
    ) -> Result<Option<PathBuf>, String> {
        let url = format!(
            "{server}/{}/{}/{}",
            encode(folder),
            encode(key),
            encode(file)
        );
        {
            let misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
            if misses.contains(&url) {
                return Ok(None);
            }
        }
        let result = self.download(&url, &cache.join(folder).join(key), file);
        if !matches!(result, Ok(Some(_))) {
            self.misses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(url);
        }
        result
    }

    fn download(&self, url: &str, dir: &Path, file: &str) -> Result<Option<PathBuf>, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut response = match self.agent.get(url).call() {
            Ok(response) => response,
            Err(ureq::Error::StatusCode(404 | 410)) => return Ok(None),
            Err(e) => return Err(format!("{url}: {e}")),
        };
        if let Some(length) = response.body().content_length() {
            if length > self.max_bytes {
                return Err(format!(
                    "{url}: {length} bytes is more than the {} byte limit",
                    self.max_bytes
                ));
            }
        }
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let final_path = dir.join(file);
        let temp_path = dir.join(format!(
            ".{file}.{}.{}.partial",
            std::process::id(),
            self.temp_counter.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| -> Result<u64, String> {
            let mut out = fs::File::create(&temp_path)
                .map_err(|e| format!("{}: {e}", temp_path.display()))?;
            let mut body = response
                .body_mut()
                .with_config()
                .limit(self.max_bytes)
                .reader();
            let written = io::copy(&mut body, &mut out).map_err(|e| format!("{url}: {e}"))?;
            out.flush()
                .map_err(|e| format!("{}: {e}", temp_path.display()))?;
            out.sync_all()
                .map_err(|e| format!("{}: {e}", temp_path.display()))?;
            Ok(written)
        })();
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = fs::remove_file(&temp_path);
                return Err(e);
            }
        };
        // Atomic on one filesystem: the file appears complete or not at all. Another process
        // racing for the same file renames an identical file over it, which is harmless.
        if let Err(e) = fs::rename(&temp_path, &final_path) {
            let _ = fs::remove_file(&temp_path);
            return Err(format!("{}: {e}", final_path.display()));
        }
        self.downloads.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(written, Ordering::Relaxed);
        Ok(Some(final_path))
    }
}

/// Percent-encodes one URL path segment (RFC 3986 unreserved characters stay).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::encode("my driver.sys"), "my%20driver.sys");
        assert_eq!(super::encode("amdppm.pdb"), "amdppm.pdb");
    }
}

//! Durable, all-or-nothing file writes: write a temp file beside the target, fsync it, rename
//! it over the target, fsync the folder. A reader (or a process killed half way) sees either
//! the old file or the complete new one, never a prefix.
//!
//! Temp files are named `.<name>.tmp`: hidden, and not matched by the `*.parquet` globs that
//! DuckDB or polars users point at the store.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Suffix of every temp file a store write creates.
pub const TEMP_SUFFIX: &str = ".tmp";

/// The temp name used while `target` is being written.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}{TEMP_SUFFIX}"))
}

/// Writes `target` atomically through `write`, which gets the open temp file.
/// `write`'s error type only needs to absorb I/O errors.
pub fn write_atomically<E: From<io::Error>>(
    target: &Path,
    write: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    let temp = temp_path_for(target);
    let result = (|| {
        let mut file = File::create(&temp)?;
        write(&mut file)?;
        file.flush()?;
        // Without this the rename can reach the disk before the data does, and a power cut
        // leaves a complete-looking name over an empty file.
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, target)?;
        sync_dir(target.parent().unwrap_or(Path::new(".")))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Makes a rename or unlink in `dir` durable. Directories cannot be opened for syncing on
/// Windows, where NTFS journals the rename itself; there this is a no-op.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_neither_target_nor_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        let result: io::Result<()> = write_atomically(&target, |f| {
            f.write_all(b"partial")?;
            Err(io::Error::other("writer failed"))
        });
        assert!(result.is_err());
        assert!(!target.exists());
        assert!(!temp_path_for(&target).exists());
    }

    #[test]
    fn successful_write_replaces_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        fs::write(&target, b"old").unwrap();
        write_atomically::<io::Error>(&target, |f| f.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(temp_path_for(&target).file_name().unwrap(), ".x.json.tmp");
    }
}

//! CAB-compressed symbol files: `name.pd_`, `name.sy_`, `name.dl_` (the last character of the
//! name replaced by `_`). symstore writes them with `/compress`, and Microsoft's symbol server
//! serves some files only this way; WinDbg and symchk expand them next to the compressed file.
//! So do we: the expanded file goes beside the `.pd_` (or, when that folder is read-only, into
//! a per-user temp folder), written under a temp name and renamed into place complete.
//!
//! A cabinet is untrusted input: only its first file is read, its declared size is capped, and
//! the bytes actually written are capped again while decompressing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest expanded symbol file accepted. The biggest Windows PDBs are a few hundred MiB.
const MAX_EXPANDED_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// `crash.pdb` -> `crash.pd_`: the name symstore and symbol servers give the compressed form.
pub(crate) fn compressed_name(file: &str) -> Option<String> {
    let mut name = file.to_owned();
    let last = name.pop()?;
    if last == '_' || name.is_empty() {
        return None;
    }
    name.push('_');
    Some(name)
}

/// Expands the cabinet at `packed` into `file` (the uncompressed name) beside it, or into the
/// temp folder when the store is read-only. Returns the expanded file's path; the error says
/// which file was refused and why.
pub(crate) fn expand(packed: &Path, file: &str) -> Result<PathBuf, String> {
    let beside = packed.with_file_name(file);
    match expand_into(packed, &beside) {
        Ok(()) => Ok(beside),
        Err(Refusal::Cabinet(reason)) => Err(format!(
            "{}: not a usable CAB-compressed symbol file ({reason}); ignored",
            packed.display()
        )),
        Err(Refusal::Write(first)) => {
            let fallback = temp_location(packed, file);
            match expand_into(packed, &fallback) {
                Ok(()) => Ok(fallback),
                Err(Refusal::Cabinet(reason)) | Err(Refusal::Write(reason)) => Err(format!(
                    "{}: cannot expand it ({first}; {reason})",
                    packed.display()
                )),
            }
        }
    }
}

/// Why expanding failed: the cabinet itself (final) or writing the result (try elsewhere).
enum Refusal {
    Cabinet(String),
    Write(String),
}

/// `<temp>/blastradius-expanded/<folder>/<key>/<file>`, from the two folders above `packed`
/// (the store's `name/key` layout), so different modules never share a path.
fn temp_location(packed: &Path, file: &str) -> PathBuf {
    let mut dir = std::env::temp_dir().join("blastradius-expanded");
    let parents: Vec<&std::ffi::OsStr> = packed
        .parent()
        .into_iter()
        .flat_map(|key| [key.parent().and_then(Path::file_name), key.file_name()])
        .flatten()
        .collect();
    for part in parents {
        dir.push(part);
    }
    dir.join(file)
}

fn expand_into(packed: &Path, destination: &Path) -> Result<(), Refusal> {
    let input = fs::File::open(packed).map_err(|e| Refusal::Cabinet(e.to_string()))?;
    let mut cabinet = cab::Cabinet::new(io::BufReader::new(input))
        .map_err(|e| Refusal::Cabinet(e.to_string()))?;
    let (name, declared) = cabinet
        .folder_entries()
        .flat_map(|folder| folder.file_entries())
        .map(|entry| {
            (
                entry.name().to_owned(),
                u64::from(entry.uncompressed_size()),
            )
        })
        .next()
        .ok_or_else(|| Refusal::Cabinet("the cabinet holds no file".to_owned()))?;
    if declared > MAX_EXPANDED_BYTES {
        return Err(Refusal::Cabinet(format!(
            "it declares {declared} bytes, more than the {MAX_EXPANDED_BYTES} byte limit"
        )));
    }
    let reader = cabinet
        .read_file(&name)
        .map_err(|e| Refusal::Cabinet(e.to_string()))?;

    let dir = destination
        .parent()
        .ok_or_else(|| Refusal::Write("no parent folder".to_owned()))?;
    fs::create_dir_all(dir).map_err(|e| Refusal::Write(format!("{}: {e}", dir.display())))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{}.{}.{}.expanding",
        destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| -> Result<(), Refusal> {
        let mut out = fs::File::create(&temp)
            .map_err(|e| Refusal::Write(format!("{}: {e}", temp.display())))?;
        let copied = io::copy(&mut reader.take(MAX_EXPANDED_BYTES + 1), &mut out)
            .map_err(|e| Refusal::Cabinet(e.to_string()))?;
        if copied > MAX_EXPANDED_BYTES {
            return Err(Refusal::Cabinet(format!(
                "it expands past the {MAX_EXPANDED_BYTES} byte limit"
            )));
        }
        out.flush()
            .map_err(|e| Refusal::Write(format!("{}: {e}", temp.display())))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    // Atomic on one filesystem: readers see the whole file or none; a racing expansion of the
    // same cabinet renames an identical file over it.
    fs::rename(&temp, destination).map_err(|e| {
        let _ = fs::remove_file(&temp);
        Refusal::Write(format!("{}: {e}", destination.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MSZIP cabinet holding `name` with `content`, as symstore /compress writes one.
    pub(crate) fn cabinet(name: &str, content: &[u8]) -> Vec<u8> {
        let mut builder = cab::CabinetBuilder::new();
        builder
            .add_folder(cab::CompressionType::MsZip)
            .add_file(name);
        let mut writer = builder.build(io::Cursor::new(Vec::new())).unwrap();
        while let Some(mut file) = writer.next_file().unwrap() {
            file.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn names() {
        assert_eq!(compressed_name("crash.pdb").as_deref(), Some("crash.pd_"));
        assert_eq!(compressed_name("x.sym").as_deref(), Some("x.sy_"));
        assert_eq!(compressed_name("a.pd_"), None);
        assert_eq!(compressed_name("a"), None);
        assert_eq!(compressed_name(""), None);
    }

    #[test]
    fn expands_beside_the_cabinet() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"MODULE windows x86 ABC x.pdb\nFUNC 10 5 0 f\n".repeat(100);
        let packed = dir.path().join("x.sy_");
        fs::write(&packed, cabinet("x.sym", &text)).unwrap();
        let expanded = expand(&packed, "x.sym").unwrap();
        assert_eq!(expanded, dir.path().join("x.sym"));
        assert_eq!(fs::read(&expanded).unwrap(), text);
    }

    #[test]
    fn garbage_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let packed = dir.path().join("x.pd_");
        fs::write(&packed, b"MSCF but not really a cabinet").unwrap();
        let error = expand(&packed, "x.pdb").unwrap_err();
        assert!(error.contains("x.pd_"), "{error}");
        assert!(error.contains("not a usable CAB"), "{error}");
        assert!(!dir.path().join("x.pdb").exists());
    }
}

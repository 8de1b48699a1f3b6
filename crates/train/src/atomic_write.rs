//! Writing a file so that it is either entirely the old one or entirely the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes` atomically: the bytes go to a temporary file in the
/// same directory (`.<name>.tmp<pid>-<n>`), which is flushed to disk (`fsync`) and then
/// renamed over `path`; the directory is synced too, so the rename survives a crash.
///
/// Readers see the old file or the new one, never a mix. If anything fails (a missing
/// or read-only directory, a full disk), the old file is left as it was and the
/// temporary file is removed.
///
/// # Errors
/// The I/O error of the step that failed.
///
/// ```
/// let dir = std::env::temp_dir();
/// let path = dir.join(format!("atomic-doc-{}.txt", std::process::id()));
/// scratchnet_train::write_atomically(&path, b"new").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"new");
/// assert!(scratchnet_train::write_atomically(&dir.join("no/such/dir/x"), b"").is_err());
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path)?;
    let result = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_dir(path);
    Ok(())
}

/// Checks, without changing anything, that [`write_atomically`] could write `path`
/// now: it is not a directory, and its temporary sibling can be created (the folder
/// exists and is writable, the name is not too long) — which is then removed. For
/// checking every output before a long run instead of failing after it.
///
/// # Errors
/// The I/O error that writing would meet; [`io::ErrorKind::InvalidInput`] for a
/// directory or a path without a file name.
///
/// ```
/// let dir = std::env::temp_dir();
/// assert!(scratchnet_train::check_writable(&dir.join("fine.bin")).is_ok());
/// assert!(scratchnet_train::check_writable(&dir).is_err()); // a directory
/// assert!(scratchnet_train::check_writable(&dir.join("no/such/dir/x")).is_err());
/// ```
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory, not a file",
        ));
    }
    let temp = temp_path(path)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)?;
    fs::remove_file(&temp)
}

/// `dir/.name.tmp<pid>-<counter>`, beside `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp{}-{n}", std::process::id()));
    Ok(path.with_file_name(temp_name))
}

fn write_synced(temp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Syncs the directory holding `path` (best effort: not every platform allows it).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomically(&path, b"old").unwrap();
        // A directory where the temporary file would go cannot be opened as a file:
        // make the rename fail by putting a directory at the destination instead.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"keep").unwrap();
        assert!(write_atomically(&blocked, b"new").is_err());
        assert_eq!(fs::read(blocked.join("x")).unwrap(), b"keep");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}

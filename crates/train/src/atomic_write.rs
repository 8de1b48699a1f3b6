//! Writing a file so that it is either entirely the old one or entirely the new one.

use crate::file_protection::Protection;
use scratchnet_data::describe_file_kind;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Symbolic links followed before giving up (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Replaces the file at `path` with `bytes` atomically: the bytes go to a temporary
/// file in the same directory (`.<name>.tmp<pid>-<n>`), which is flushed to disk
/// (`fsync`) and then renamed over the file; the directory is synced too, so the
/// rename survives a crash.
///
/// Readers see the old file or the new one, never a mix. If anything fails (a missing
/// or read-only directory, a full disk), the old file is left as it was and the
/// temporary file is removed.
///
/// What stands at `path` is respected: a symbolic link is written *through* — its
/// final target is replaced (the temporary file goes beside the target) and the link
/// stays a link — and anything that is not a regular file (a directory, a FIFO, a
/// device such as `/dev/full`, a socket) is refused, never replaced. So is, before
/// anything is created, a file that Linux's attributes forbid replacing: an immutable
/// or append-only file (`chattr +i`, `chattr +a`), or any file of an immutable or
/// append-only folder (where a temporary file could be created but never renamed nor
/// removed).
///
/// # Errors
/// The I/O error of the step that failed; [`io::ErrorKind::InvalidInput`] when `path`
/// is (or leads to) something other than a regular file, or has no file name;
/// [`io::ErrorKind::PermissionDenied`] naming the attribute that forbids the write.
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
    let target = write_destination(path)?;
    check_unprotected(&target)?;
    let temp = temp_path(&target)?;
    let result = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, &target));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_dir(&target);
    Ok(())
}

/// Checks, without changing anything, that [`write_atomically`] could write `path`
/// now: it is not a directory nor any other non-regular file (a FIFO, a device, a
/// socket — also at the end of symbolic links); neither the file (if it exists) nor
/// its folder is immutable or append-only (`chattr +i`, `+a`: the file could not be
/// replaced); and its temporary sibling can be created (the folder exists and is
/// writable, the name is not too long) — which is then removed. For checking every
/// output before a long run instead of failing after it. The user's file is never
/// opened.
///
/// # Errors
/// The I/O error that writing would meet; [`io::ErrorKind::InvalidInput`] for a
/// directory, another non-regular file, or a path without a file name;
/// [`io::ErrorKind::PermissionDenied`] naming the attribute that forbids replacing it.
///
/// ```
/// let dir = std::env::temp_dir();
/// assert!(scratchnet_train::check_writable(&dir.join("fine.bin")).is_ok());
/// assert!(scratchnet_train::check_writable(&dir).is_err()); // a directory
/// assert!(scratchnet_train::check_writable(&dir.join("no/such/dir/x")).is_err());
/// # #[cfg(unix)]
/// assert!(scratchnet_train::check_writable(std::path::Path::new("/dev/null")).is_err());
/// ```
pub fn check_writable(path: &Path) -> io::Result<()> {
    let target = write_destination(path)?;
    // Before the probe: an append-only folder would keep it.
    check_unprotected(&target)?;
    // The longest name a temporary file of this process can have: a name that fits
    // now still fits after millions of writes (the counter grows a digit at a time).
    let temp = temp_path_numbered(&target, u64::MAX)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)?;
    fs::remove_file(&temp)
}

/// Removes the temporary files that writes to `path` interrupted by a kill or a
/// crash left behind (`.<name>.tmp<pid>-<n>` beside the file, or beside its target if
/// `path` is a symbolic link) whose process no longer runs, and returns their paths
/// (for saying so). Temporary files of a live process, and of this one, are kept. On
/// a system without `/proc` (where whether a process runs is not known) nothing is
/// removed.
///
/// # Errors
/// The I/O error of reading the folder or removing a file; as [`check_writable`] for
/// a path that leads to something other than a regular file.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("leftover-doc-{}", std::process::id()));
/// std::fs::create_dir(&dir).unwrap();
/// let path = dir.join("run.st");
/// assert!(scratchnet_train::remove_leftover_temporaries(&path).unwrap().is_empty());
/// # std::fs::remove_dir(&dir).unwrap();
/// ```
pub fn remove_leftover_temporaries(path: &Path) -> io::Result<Vec<PathBuf>> {
    remove_temporaries(path, process_is_gone)
}

/// Removes the temporary files of writes to `path` (as
/// [`remove_leftover_temporaries`]) for which `stale(pid)` holds, and returns their paths.
pub(crate) fn remove_temporaries(
    path: &Path,
    stale: impl Fn(u32) -> bool,
) -> io::Result<Vec<PathBuf>> {
    let target = write_destination(path)?;
    let Some(name) = target.file_name() else {
        return Err(no_file_name());
    };
    let dir = folder_of(&target);
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp");
    let prefix = prefix.as_encoded_bytes();
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(rest) = file_name.as_encoded_bytes().strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = temp_suffix_pid(rest) else {
            continue;
        };
        if !stale(pid) || !entry.file_type()?.is_file() {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed.push(entry.path()),
            // Its writer finished (renamed or removed it) meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    removed.sort();
    Ok(removed)
}

/// The process id in the `<pid>-<n>` that ends a temporary file's name, if that is
/// what `rest` is.
fn temp_suffix_pid(rest: &[u8]) -> Option<u32> {
    let rest = std::str::from_utf8(rest).ok()?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is known not to run (never this process).
fn process_is_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    if cfg!(any(target_os = "linux", target_os = "android")) {
        let proc = Path::new("/proc");
        return proc.join("self").exists() && !proc.join(pid.to_string()).exists();
    }
    false
}

/// The file a write to `path` ([`write_atomically`]) replaces: `path` itself, or the
/// final target of the symbolic links at `path`, which need not exist yet (a dangling
/// link names the file a write would create). Two outputs are one file when their
/// destinations are.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] if that is a directory or another non-regular file;
/// the I/O error of reading a link; too many links.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("destination-doc-{}", std::process::id()));
/// std::fs::create_dir(&dir).unwrap();
/// # #[cfg(unix)] {
/// std::os::unix::fs::symlink("model.st", dir.join("link.st")).unwrap(); // dangling
/// let target = scratchnet_train::write_destination(&dir.join("link.st")).unwrap();
/// assert_eq!(target, dir.join("model.st"));
/// # }
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_destination(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_SYMLINKS {
        let metadata = match fs::symlink_metadata(&current) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        };
        let kind = metadata.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(&current)?;
            // A relative link is relative to the folder holding it.
            current = folder_of(&current).join(link);
            continue;
        }
        if kind.is_file() {
            return Ok(current);
        }
        let what = describe_file_kind(&kind);
        let reason = if current == path {
            format!("it is {what}, not a regular file")
        } else {
            format!(
                "it is a symbolic link to {} — {what}, not a regular file",
                current.display()
            )
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_SYMLINKS} symbolic links lead from it"),
    ))
}

/// Refuses a `target` that Linux's attributes forbid replacing: its folder's, then
/// its own (if it exists), immutable or append-only.
///
/// # Errors
/// [`io::ErrorKind::PermissionDenied`] naming the file or folder, the attribute and
/// how to clear it.
fn check_unprotected(target: &Path) -> io::Result<()> {
    let folder = folder_of(target);
    let problem = if let Some(protection) = Protection::of(folder) {
        format!(
            "the folder {shown} is {}, which forbids replacing the files in it: give a path \
             in another folder, or clear the attribute (chattr {} {shown})",
            protection.describe(),
            protection.clear_flag(),
            shown = folder.display()
        )
    } else if let Some(protection) = Protection::of(target) {
        format!(
            "the file {shown} is {}, so it cannot be replaced: give another path, or clear \
             the attribute (chattr {} {shown})",
            protection.describe(),
            protection.clear_flag(),
            shown = target.display()
        )
    } else {
        return Ok(());
    };
    Err(io::Error::new(io::ErrorKind::PermissionDenied, problem))
}

/// The folder holding `path` (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn no_file_name() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name")
}

/// `dir/.name.tmp<pid>-<counter>`, beside `path`, the counter this process's next.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    temp_path_numbered(path, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `dir/.name.tmp<pid>-<n>`, beside `path`.
fn temp_path_numbered(path: &Path, n: u64) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(no_file_name)?;
    let mut temp_name = OsString::from(".");
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
    if let Ok(dir) = File::open(folder_of(path)) {
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

    /// A name whose first temporary file just fitted passed the check, and its tenth
    /// save failed ("File name too long") when the counter reached two digits.
    #[test]
    fn a_name_that_fits_only_the_first_temporary_files_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let first_temp_len = |name_len: usize| {
            let path = dir.path().join("n".repeat(name_len));
            temp_path_numbered(&path, 0)
                .unwrap()
                .file_name()
                .unwrap()
                .len()
        };
        // 255 bytes: the longest file name of Linux's file systems.
        let fits_once = (1..255).find(|&len| first_temp_len(len) == 255).unwrap();
        let path = dir.path().join("n".repeat(fits_once));
        assert!(check_writable(&path).is_err());
        // A name 19 bytes shorter leaves room for the counter's 20 digits.
        check_writable(&dir.path().join("n".repeat(fits_once - 19))).unwrap();
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

    /// Issue 16: `--save` onto a symbolic link replaced the link with a regular file
    /// and never updated its target.
    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_written_through_and_stays_a_link() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let target = elsewhere.join("real.st");
        fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.st");
        symlink("elsewhere/real.st", &link).unwrap();
        // A link to a link, and a dangling link (its target is created).
        let link_to_link = dir.path().join("link2.st");
        symlink("link.st", &link_to_link).unwrap();
        let dangling = dir.path().join("dangling.st");
        symlink("elsewhere/new.st", &dangling).unwrap();

        check_writable(&link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        write_atomically(&link_to_link, b"newer").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"newer");
        write_atomically(&dangling, b"created").unwrap();
        assert_eq!(fs::read(elsewhere.join("new.st")).unwrap(), b"created");
        for (path, to) in [
            (&link, "elsewhere/real.st"),
            (&link_to_link, "link.st"),
            (&dangling, "elsewhere/new.st"),
        ] {
            assert!(fs::symlink_metadata(path).unwrap().file_type().is_symlink());
            assert_eq!(fs::read_link(path).unwrap(), Path::new(to));
        }
        // No temporary file left in either folder.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 2);
    }

    /// Issue 16: a FIFO given to `--metrics` was replaced by a regular file.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_and_left_in_place() {
        use std::os::unix::fs::{symlink, FileTypeExt};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let link = dir.path().join("link");
        symlink(&fifo, &link).unwrap();
        for path in [&fifo, &link] {
            for err in [
                check_writable(path).unwrap_err(),
                write_atomically(path, b"x").unwrap_err(),
            ] {
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
                let message = err.to_string();
                assert!(message.contains("a FIFO"), "{err}");
                // Through the link, the message says where it leads.
                let leads = format!("a symbolic link to {}", fifo.display());
                assert_eq!(message.contains(&leads), path == &link, "{err}");
            }
        }
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    /// Issue 16: as root, `--metrics /dev/full` replaced the device node. Only the
    /// check is run on a real device: it refuses before creating anything.
    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_by_the_check() {
        let err = check_writable(Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("a device"), "{err}");
        assert!(write_destination(Path::new("/dev/null")).is_err());
    }

    /// Sets `chattr FLAG` on `path` for the guard's life (cleared on drop, also
    /// after a failed assertion), or `None` where that is not permitted (not root,
    /// a file system without these attributes, no `chattr`).
    struct Chattr<'a> {
        path: &'a Path,
        clear: &'static str,
    }

    impl<'a> Chattr<'a> {
        fn set(path: &'a Path, flag: &'static str, clear: &'static str) -> Option<Self> {
            let status = std::process::Command::new("chattr")
                .arg(flag)
                .arg(path)
                .stderr(std::process::Stdio::null())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("skipped: chattr {flag} is not permitted here");
                return None;
            }
            Some(Self { path, clear })
        }
    }

    impl Drop for Chattr<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chattr")
                .arg(self.clear)
                .arg(self.path)
                .status();
        }
    }

    /// QA: an immutable file (`chattr +i`) passed the check before training; the run
    /// trained an epoch, then failed to write it.
    #[test]
    fn an_immutable_or_append_only_file_is_refused_by_the_check_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.st");
        fs::write(&path, b"old").unwrap();
        for (flag, clear, what) in [
            ("+i", "-i", "immutable (chattr +i)"),
            ("+a", "-a", "append-only (chattr +a)"),
        ] {
            let Some(_guard) = Chattr::set(&path, flag, clear) else {
                return;
            };
            for err in [
                check_writable(&path).unwrap_err(),
                write_atomically(&path, b"new").unwrap_err(),
            ] {
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
                let message = err.to_string();
                assert!(
                    message.contains(&format!("the file {} is {what}", path.display())),
                    "{message}"
                );
                assert!(message.contains(&format!("chattr {clear} ")), "{message}");
            }
            assert_eq!(fs::read(&path).unwrap(), b"old");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        }
        check_writable(&path).unwrap();
    }

    /// QA: in an append-only folder (`chattr +a`) the check left its probe file
    /// `.new.st.tmpPID-…` behind, and its error named the failed removal.
    #[test]
    fn an_append_only_folder_is_refused_without_leaving_a_probe() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("ad");
        fs::create_dir(&folder).unwrap();
        let path = folder.join("new.st");
        for (flag, clear, what) in [
            ("+a", "-a", "append-only (chattr +a)"),
            ("+i", "-i", "immutable (chattr +i)"),
        ] {
            let Some(_guard) = Chattr::set(&folder, flag, clear) else {
                return;
            };
            for err in [
                check_writable(&path).unwrap_err(),
                write_atomically(&path, b"new").unwrap_err(),
            ] {
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
                let message = err.to_string();
                assert!(
                    message.contains(&format!("the folder {} is {what}", folder.display())),
                    "{message}"
                );
            }
            assert_eq!(fs::read_dir(&folder).unwrap().count(), 0, "nothing left");
        }
        check_writable(&path).unwrap();
    }

    /// Issue 16: a kill during a write left `.NAME.tmpPID-N` behind forever.
    #[cfg(target_os = "linux")]
    #[test]
    fn leftovers_of_gone_processes_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        // No process has a pid above the kernel's maximum (2^22); pid 1 always runs.
        let gone = dir.path().join(".a.json.tmp999999999-0");
        let kept = [
            format!(".a.json.tmp{}-7", std::process::id()),
            ".a.json.tmp1-0".to_string(),
            ".a.json.tmp999999999-x".to_string(),
            ".b.json.tmp999999999-0".to_string(),
            "a.json".to_string(),
        ];
        fs::write(&gone, b"half").unwrap();
        for name in &kept {
            fs::write(dir.path().join(name), b"keep").unwrap();
        }
        assert_eq!(
            remove_leftover_temporaries(&path).unwrap(),
            vec![gone.clone()]
        );
        assert!(!gone.exists());
        for name in &kept {
            assert!(dir.path().join(name).exists(), "{name} was removed");
        }
        assert!(remove_leftover_temporaries(&path).unwrap().is_empty());
    }
}

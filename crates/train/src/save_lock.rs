//! [`SaveLock`]: one run at a time writing a file (a checkpoint, or another output).

use crate::atomic_write::{remove_temporaries, write_destination};
use crate::TrainError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Attempts at locking a lock file that its previous holder removes meanwhile.
const ATTEMPTS: usize = 100;

/// An advisory lock on the file a run saves its checkpoints to, held as long as the
/// `SaveLock` lives: a second run saving to the same file (by any name — symbolic
/// links are followed) is refused instead of the two overwriting each other's
/// checkpoints, the last to finish silently winning.
///
/// The lock is an exclusive `flock` (`LockFileEx` on Windows) on `.<name>.lock`
/// beside the file (beside the final target of a symbolic link), which holds the
/// holder's process id for the message. The operating system releases it when the
/// process ends, however it ends; dropping the `SaveLock` also removes the lock file
/// (one left by a killed run is harmless: the next run takes it over). Advisory means
/// it binds only programs that take it: [`Trainer`](crate::Trainer) does, for its
/// [`save_path`](crate::TrainConfig::save_path), for the whole of a `fit`.
///
/// Once it holds the lock, [`acquire`](Self::acquire) removes the temporary files
/// that interrupted writes to the file left behind (`.<name>.tmp<pid>-<n>`, see
/// [`write_atomically`](crate::write_atomically)): every writer of the file holds the
/// lock, so they are stale. [`removed_leftovers`](Self::removed_leftovers) names them.
///
/// ```
/// use scratchnet_train::{SaveLock, TrainError};
/// let dir = std::env::temp_dir().join(format!("save-lock-doc-{}", std::process::id()));
/// std::fs::create_dir(&dir).unwrap();
/// let path = dir.join("run.safetensors");
/// let lock = SaveLock::acquire(&path).unwrap();
/// // A second lock on the same file is refused, naming the holder.
/// let refused = SaveLock::acquire(&path).unwrap_err();
/// assert!(matches!(refused, TrainError::SavePathInUse { holder: Some(_), .. }));
/// drop(lock);
/// let again = SaveLock::acquire(&path).unwrap();
/// # drop(again);
/// # std::fs::remove_dir(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct SaveLock {
    /// The open lock file: the lock lives as long as it is open.
    file: File,
    lock_path: PathBuf,
    removed: Vec<PathBuf>,
}

impl SaveLock {
    /// Takes the lock on `path` (the checkpoint file, which need not exist yet), or
    /// refuses at once if another run holds it; then removes the temporary files
    /// interrupted writes to `path` left behind.
    ///
    /// # Errors
    /// [`TrainError::SavePathInUse`] naming `path` and the holder's process id when
    /// another run holds the lock; [`TrainError::Write`] if the lock file cannot be
    /// created or `path` leads to something other than a regular file.
    pub fn acquire(path: &Path) -> Result<Self, TrainError> {
        let write_error = |at: &Path| {
            let at = at.to_path_buf();
            move |source| TrainError::Write { path: at, source }
        };
        let target = write_destination(path).map_err(write_error(path))?;
        let lock_path = lock_path(&target).map_err(write_error(path))?;
        let file = lock(&lock_path, path)?;
        let mut lock = Self {
            file,
            lock_path,
            removed: Vec::new(),
        };
        lock.record_holder().map_err(write_error(&lock.lock_path))?;
        lock.removed = remove_temporaries(&target, |_| true).map_err(write_error(path))?;
        Ok(lock)
    }

    /// The temporary files of interrupted writes that [`acquire`](Self::acquire)
    /// removed.
    pub fn removed_leftovers(&self) -> &[PathBuf] {
        &self.removed
    }

    /// The lock file, `.<name>.lock` beside the checkpoint.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// Writes this process's id into the lock file, for the message of a refused run.
    fn record_holder(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file
            .write_all(std::process::id().to_string().as_bytes())?;
        self.file.flush()
    }
}

impl Drop for SaveLock {
    fn drop(&mut self) {
        // Removed while still locked; a run that opened it before and locks it after
        // sees it is no longer at its path and takes the lock anew (see `lock`).
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// `.<name>.lock` beside `target`.
fn lock_path(target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let mut lock_name = std::ffi::OsString::from(".");
    lock_name.push(name);
    lock_name.push(".lock");
    Ok(target.with_file_name(lock_name))
}

/// Opens (creating it if need be) and locks `lock_path`, the lock file of `path`.
fn lock(lock_path: &Path, path: &Path) -> Result<File, TrainError> {
    let write_error = |source| TrainError::Write {
        path: lock_path.to_path_buf(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let mut file = open_lock_file(lock_path).map_err(write_error)?;
        // fs4's, not std's (`File::try_lock`, Rust 1.89): the same `flock`.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(TrainError::SavePathInUse {
                    path: path.to_path_buf(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(fs4::TryLockError::Error(source)) => return Err(write_error(source)),
        }
        // The holder may have removed the file between our opening and our locking
        // it: then this lock is on a file no one else will open. Try again.
        if is_still_at(&file, lock_path).map_err(write_error)? {
            return Ok(file);
        }
    }
    Err(write_error(io::Error::other(
        "the lock file keeps being replaced by other runs",
    )))
}

/// Opens (creating it if need be) the lock file at `lock_path`, never through a
/// symbolic link and only if it is a regular file: the lock file's content is
/// replaced by the holder's id, and a link planted at its name (in a shared folder)
/// must not make that replace another file.
fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    // Not truncated on opening: until locked, its content is the holder's id.
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Also O_NONBLOCK, so that a FIFO at the name cannot block the open.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let refused = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the lock file is {what}, not a regular file; remove it, then run again"),
        )
    };
    let file = options.open(lock_path).map_err(|e| {
        // O_NOFOLLOW's ELOOP, said plainly.
        if fs::symlink_metadata(lock_path).is_ok_and(|m| m.file_type().is_symlink()) {
            refused("a symbolic link")
        } else {
            e
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(refused("something else (a directory, a FIFO, a device)"));
    }
    Ok(file)
}

/// Whether `file` is the file at `path`.
#[cfg(unix)]
fn is_still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match fs::metadata(path) {
        Ok(at_path) => Ok(at_path.dev() == open.dev() && at_path.ino() == open.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `file` is the file at `path` (an open file cannot be removed on Windows).
#[cfg(not(unix))]
fn is_still_at(_file: &File, _path: &Path) -> io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: two runs saving to one path — the last to finish silently won.
    /// `flock` locks belong to an open file description, so two `acquire`s in one
    /// process conflict as two processes would.
    #[test]
    fn a_second_lock_on_one_file_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.st");
        let lock = SaveLock::acquire(&path).unwrap();
        assert_eq!(lock.lock_path(), dir.path().join(".run.st.lock"));
        let err = SaveLock::acquire(&path).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, TrainError::SavePathInUse { holder: Some(pid), .. } if pid == std::process::id()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains(&path.display().to_string()),
            "{message}"
        );
        // Another file in the same folder is free.
        drop(SaveLock::acquire(&dir.path().join("other.st")).unwrap());
        drop(lock);
        assert!(!dir.path().join(".run.st.lock").exists(), "lock file left");
        drop(SaveLock::acquire(&path).unwrap());
    }

    /// A symbolic link to the file is the same file.
    #[cfg(unix)]
    #[test]
    fn a_link_to_a_locked_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.st");
        let link = dir.path().join("link.st");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let _lock = SaveLock::acquire(&path).unwrap();
        assert!(matches!(
            SaveLock::acquire(&link),
            Err(TrainError::SavePathInUse { .. })
        ));
    }

    /// A symbolic link planted at the lock file's name (in a shared folder) would have
    /// had the holder's id written through it, truncating the file it points to.
    #[cfg(unix)]
    #[test]
    fn a_link_at_the_lock_files_name_is_refused_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.st");
        fs::write(&victim, b"someone's model").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".run.st.lock")).unwrap();
        let err = SaveLock::acquire(&dir.path().join("run.st")).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a symbolic link, not a regular file"),
            "{err}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"someone's model");
    }

    /// Issue 16: a second Ctrl-C or a kill during a save left `.NAME.tmpPID-N` behind
    /// forever; the lock proves every such file stale, whatever its pid (a container
    /// reuses pids).
    #[test]
    fn taking_the_lock_removes_leftover_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.st");
        let leftovers = [
            dir.path().join(".x.st.tmp123-0"),
            dir.path()
                .join(format!(".x.st.tmp{}-4", std::process::id())),
        ];
        for leftover in &leftovers {
            fs::write(leftover, b"half a checkpoint").unwrap();
        }
        fs::write(&path, b"a checkpoint").unwrap();
        let other = dir.path().join(".y.st.tmp123-0");
        fs::write(&other, b"another file's").unwrap();
        let lock = SaveLock::acquire(&path).unwrap();
        let mut expected = leftovers.to_vec();
        expected.sort();
        assert_eq!(lock.removed_leftovers(), expected);
        assert!(leftovers.iter().all(|p| !p.exists()));
        assert!(other.exists() && path.exists());
    }

    /// The race `lock` retries: the holder removed the lock file (dropping its lock)
    /// between another run's opening and locking it. That run's lock is then on a file
    /// no one else will open, so it must find out, whether the name is now empty or
    /// already another run's new file; and it must not take any other error for a
    /// missing file.
    #[cfg(unix)]
    #[test]
    fn a_lock_file_removed_or_replaced_after_opening_is_not_still_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".x.st.lock");
        let opened = open_lock_file(&path).unwrap();
        assert!(is_still_at(&opened, &path).unwrap());
        fs::remove_file(&path).unwrap();
        assert!(!is_still_at(&opened, &path).unwrap(), "removed");
        let _newer = open_lock_file(&path).unwrap();
        assert!(!is_still_at(&opened, &path).unwrap(), "replaced");
        // Any other failure to look is an error, not a missing file: here the path
        // goes through a file as if it were a folder.
        let through_a_file = path.join("inner");
        let err = is_still_at(&opened, &through_a_file).unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }
}

//! Leftovers of an interrupted download: a download killed (Ctrl-C, SIGTERM, SIGKILL)
//! leaves its hidden temporary file (`.<name>.XXXXXX.part`) or, for CIFAR-10, its
//! extraction folder (`.cifar-10-extracting.XXXXXX`) in the data folder. The next download
//! into that folder removes them, and says so, one line each.
//!
//! Only what matches exactly the names this crate creates is touched (the six random
//! characters are what `tempfile` puts there, [`RANDOM_CHARS`] of `[A-Za-z0-9]`), only
//! a regular file (an extraction folder: a folder holding nothing but regular files with
//! the archive members' names), never through a symbolic link, and only if it was last
//! modified before this process's first download began. A `.part` file is, besides,
//! locked by the download writing it: one another download still holds is kept.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// How many random characters `tempfile` puts in the names this crate creates (set
/// explicitly on each builder, so that the pattern cannot drift).
pub(crate) const RANDOM_CHARS: usize = 6;
/// The prefix of CIFAR-10's extraction folder, before the random characters.
pub(crate) const EXTRACTING_PREFIX: &str = ".cifar-10-extracting.";

/// When this process began its first download: older leftovers are not its own.
fn downloads_began() -> SystemTime {
    static BEGAN: OnceLock<SystemTime> = OnceLock::new();
    *BEGAN.get_or_init(SystemTime::now)
}

/// Marks the start of a download (before any temporary file of it exists).
pub(crate) fn note_download_start() {
    downloads_began();
}

/// Removes from `dir` the stale `.<name>.XXXXXX.part` files of `names` and, if
/// `extraction_members` is given, stale `.cifar-10-extracting.XXXXXX` folders holding only
/// those members, printing one line for each removed. Best effort: what cannot be removed
/// stays, silently.
pub(crate) fn remove_stale_leftovers(dir: &Path, names: &[String], extraction_members: &[&str]) {
    let began = downloads_began();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let path = entry.path();
        let removed = if names.iter().any(|name| is_part_name(file_name, name)) {
            is_stale(&path, began) && remove_unlocked_part(&path)
        } else if !extraction_members.is_empty() && is_extracting_name(file_name) {
            is_stale(&path, began) && remove_extraction(&path, extraction_members)
        } else {
            false
        };
        if removed {
            eprintln!(
                "removed a leftover temporary {} {} from an interrupted download",
                if file_name.ends_with(".part") {
                    "file"
                } else {
                    "folder"
                },
                path.display()
            );
        }
    }
}

/// Whether `file_name` is `.<name>.` + [`RANDOM_CHARS`] alphanumerics + `.part`.
fn is_part_name(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".part"))
        .is_some_and(is_random_part)
}

/// Whether `file_name` is [`EXTRACTING_PREFIX`] + [`RANDOM_CHARS`] alphanumerics.
fn is_extracting_name(file_name: &str) -> bool {
    file_name
        .strip_prefix(EXTRACTING_PREFIX)
        .is_some_and(is_random_part)
}

fn is_random_part(chars: &str) -> bool {
    chars.len() == RANDOM_CHARS && chars.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `path` (not followed if a link) was last modified before `began`.
fn is_stale(path: &Path, began: SystemTime) -> bool {
    fs::symlink_metadata(path)
        .and_then(|metadata| metadata.modified())
        .is_ok_and(|modified| modified < began)
}

/// Removes the regular file `path` unless a download holds its lock.
fn remove_unlocked_part(path: &Path) -> bool {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    if fs4::FileExt::try_lock(&file).is_err() {
        return false;
    }
    fs::remove_file(path).is_ok()
}

/// Removes the folder `path` if it holds nothing but regular files named as `members`.
fn remove_extraction(path: &Path, members: &[&str]) -> bool {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir()) {
        return false;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return false;
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else { return false };
        let expected = entry
            .file_name()
            .to_str()
            .is_some_and(|name| members.contains(&name));
        if !expected || !entry.file_type().is_ok_and(|t| t.is_file()) {
            return false;
        }
        files.push(entry.path());
    }
    files.iter().all(|file| fs::remove_file(file).is_ok()) && fs::remove_dir(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_names_match() {
        let name = "train-images-idx3-ubyte.gz";
        assert!(is_part_name(
            ".train-images-idx3-ubyte.gz.XNjTWy.part",
            name
        ));
        for other in [
            "train-images-idx3-ubyte.gz.XNjTWy.part",
            ".train-images-idx3-ubyte.gz.XNjTW.part",
            ".train-images-idx3-ubyte.gz.XNjTWyy.part",
            ".train-images-idx3-ubyte.gz.XNj-Wy.part",
            ".train-images-idx3-ubyte.gz.XNjTWy.part2",
            ".train-images-idx3-ubyte.XNjTWy.part",
            ".t10k-images-idx3-ubyte.gz.XNjTWy.part",
        ] {
            assert!(!is_part_name(other, name), "{other}");
        }
        assert!(is_extracting_name(".cifar-10-extracting.a1B2c3"));
        assert!(!is_extracting_name(".cifar-10-extracting.a1B2c3d"));
        assert!(!is_extracting_name("cifar-10-extracting.a1B2c3"));
    }
}

//! Taking the expected members out of a `.tar.gz` archive, and nothing else: with the
//! `tar` and `flate2` crates, member by member, refusing any member whose path leaves the
//! folder and any link member, and bounding the size of what is written.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path};

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// Extracts from the `.tar.gz` at `archive` the regular-file members whose path is one of
/// `wanted` (e.g. `cifar-10-batches-bin/test_batch.bin`), each into `out_dir` under its
/// file name, and returns the paths of the members written. Other members are skipped.
///
/// # Errors
/// [`DataError::Archive`] for a corrupt or truncated archive, for **any** member whose path
/// is absolute or has a `..` component (whether wanted or not), for any symbolic- or
/// hard-link member, for a wanted member larger than `max_len` bytes, and for a wanted
/// member that occurs twice. [`DataError::CannotWrite`] when `out_dir` cannot be written.
pub(crate) fn extract_members(
    archive: &Path,
    wanted: &[String],
    max_len: u64,
    out_dir: &Path,
) -> Result<Vec<String>, DataError> {
    let bad = |problem: String| DataError::Archive {
        path: archive.to_path_buf(),
        problem,
    };
    let corrupt = |e: io::Error| bad(format!("it is corrupt or truncated ({e})"));
    let file = File::open(archive).map_err(|source| DataError::CannotRead {
        what: "archive",
        path: archive.to_path_buf(),
        source,
    })?;
    let mut tar = tar::Archive::new(MultiGzDecoder::new(BufReader::new(file)));
    let mut found: Vec<String> = Vec::new();
    for entry in tar.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let shown = path.display().to_string();
        if !stays_inside(&path) {
            return Err(bad(format!(
                "member {shown:?} has a path that leaves the folder it is extracted into"
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(bad(format!(
                "member {shown:?} is a link; a dataset archive holds only files"
            )));
        }
        let Some(member) = wanted.iter().find(|w| Path::new(w) == path) else {
            continue;
        };
        if !kind.is_file() {
            return Err(bad(format!("member {shown:?} is not a regular file")));
        }
        if found.contains(member) {
            return Err(bad(format!("member {shown:?} occurs twice")));
        }
        let size = entry.header().size().map_err(corrupt)?;
        if size > max_len {
            return Err(bad(format!(
                "member {shown:?} has {size} bytes, more than the {max_len} it can have"
            )));
        }
        let name = path.file_name().expect("a wanted member names a file");
        let target = out_dir.join(name);
        let cannot_write = |source| DataError::CannotWrite {
            path: target.clone(),
            env_var: crate::cifar10::CIFAR10_DIR_ENV,
            source,
        };
        let mut out = File::create_new(&target).map_err(cannot_write)?;
        let copied = io::copy(&mut entry.take(max_len), &mut out).map_err(corrupt)?;
        out.flush().map_err(cannot_write)?;
        if copied != size {
            return Err(bad(format!(
                "member {shown:?} ends after {copied} of its {size} bytes"
            )));
        }
        found.push(member.clone());
    }
    Ok(found)
}

/// Whether `path`, taken relative to a folder, stays inside it: no root, no prefix, no
/// `..`.
fn stays_inside(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_stay_inside() {
        assert!(stays_inside(Path::new("a/b.bin")));
        assert!(stays_inside(Path::new("./a/b.bin")));
        assert!(!stays_inside(Path::new("../b.bin")));
        assert!(!stays_inside(Path::new("a/../../b.bin")));
        assert!(!stays_inside(Path::new("/etc/passwd")));
    }
}

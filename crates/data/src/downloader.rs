//! Downloading a dataset's missing files from a list of mirrors, each file checked before it
//! gets its final name.
//!
//! For each missing file, each mirror in turn: `GET <mirror><name>.gz` (with connect and
//! read time-outs), stream the body into a hidden temporary file in the target directory
//! (`.<name>.gz.XXXXXX.part`) under an `indicatif` byte progress bar, then decompress it,
//! check its IDX structure and the SHA-256 of the decompressed bytes, and only then rename
//! it to `<name>.gz` (or `<name>` if the server sent it already decompressed). Anything that
//! fails deletes the temporary file and moves on to the next mirror.
//!
//! The HTTP side is the `download` feature (on by default). Without it these functions
//! still exist: with every file present they succeed, and with one missing they return
//! [`DataError::DownloadNotBuilt`], which says how to put the files there by hand.

use std::path::Path;
use std::time::Duration;

use crate::error::DataError;
use crate::kind::{DataFile, DatasetKind};
use crate::location::locate_file;

/// Time-outs and display of a download.
///
/// ```
/// use std::time::Duration;
/// use scratchnet_data::DownloadOptions;
///
/// let quiet = DownloadOptions { show_progress: false, ..DownloadOptions::default() };
/// assert_eq!(quiet.read_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Longest wait to resolve the host and open the connection (default 15 s).
    pub connect_timeout: Duration,
    /// Longest wait for the response to start, and then for each further read of the body
    /// (default 30 s): a server that stops answering fails after this long.
    pub read_timeout: Duration,
    /// Longest time for one file from one mirror, start to end (default 10 minutes; `None`:
    /// no limit). Guards against a server that trickles bytes forever.
    pub total_timeout: Option<Duration>,
    /// Print one line `downloading <url>` per file on standard error before connecting,
    /// then draw a byte progress bar once the body arrives (default `true`; `indicatif`
    /// hides the bar when standard error is not a terminal).
    pub show_progress: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            total_timeout: Some(Duration::from_secs(600)),
            show_progress: true,
        }
    }
}

/// Downloads the files of `kind` that are missing from `dir` (neither raw nor `.gz`
/// present), trying `mirrors` in order for each — normally [`DatasetKind::mirrors`] — and
/// checking each against [`DatasetKind::files`].
///
/// `dir` is created if needed. Files already present are left alone, even if damaged:
/// [`load`](crate::load) reports those. A file that fails on every mirror leaves nothing
/// behind: no partial or unchecked file, and the directories this call created are
/// removed again if they are still empty. Files checked before the failure are kept, so a later
/// call fetches only what is still missing.
///
/// ```no_run
/// use std::path::Path;
/// use scratchnet_data::{download, DatasetKind, DownloadOptions};
///
/// let kind = DatasetKind::Mnist;
/// download(kind, Path::new("data/mnist"), kind.mirrors(), &DownloadOptions::default())?;
/// # Ok::<(), scratchnet_data::DataError>(())
/// ```
pub fn download(
    kind: DatasetKind,
    dir: &Path,
    mirrors: &[&str],
    options: &DownloadOptions,
) -> Result<(), DataError> {
    download_files(kind, &kind.files(), dir, mirrors, options)
}

/// [`download`] with an explicit table of files and checksums (`kind` only names the
/// dataset in messages). Tests use it to serve small files of their own.
pub fn download_files(
    kind: DatasetKind,
    files: &[DataFile<'_>],
    dir: &Path,
    mirrors: &[&str],
    options: &DownloadOptions,
) -> Result<(), DataError> {
    let missing: Vec<&DataFile<'_>> = files
        .iter()
        .filter(|file| locate_file(dir, file.name).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fetch_missing(kind, &missing, dir, mirrors, options)
}

/// Downloads the `missing` files into `dir`, creating it; a failure removes the
/// directories this call created if they are still empty.
#[cfg(feature = "download")]
fn fetch_missing(
    kind: DatasetKind,
    missing: &[&DataFile<'_>],
    dir: &Path,
    mirrors: &[&str],
    options: &DownloadOptions,
) -> Result<(), DataError> {
    let cannot_create = |source| DataError::Write {
        kind,
        path: dir.to_path_buf(),
        source,
    };
    crate::leftovers::note_download_start();
    crate::fetch::in_created_dir(dir, cannot_create, || {
        let names: Vec<String> = kind.files().iter().map(DataFile::gz_name).collect();
        crate::leftovers::remove_stale_leftovers(dir, &names, &[]);
        let agent = crate::fetch::http_agent(options);
        for (done, file) in missing.iter().enumerate() {
            crate::fetch::fetch_file(&agent, kind, file, dir, mirrors, options).map_err(
                |mut error| {
                    if let DataError::Download { missing: names, .. } = &mut error {
                        // This file and those not tried yet: what to fetch by hand.
                        *names = missing[done..].iter().map(|f| f.gz_name()).collect();
                    }
                    error
                },
            )?;
        }
        Ok(())
    })
}

/// Without the `download` feature: touches nothing and says how to put the files there.
#[cfg(not(feature = "download"))]
fn fetch_missing(
    kind: DatasetKind,
    missing: &[&DataFile<'_>],
    dir: &Path,
    _mirrors: &[&str],
    _options: &DownloadOptions,
) -> Result<(), DataError> {
    let names: Vec<String> = missing.iter().map(|file| file.gz_name()).collect();
    Err(DataError::DownloadNotBuilt {
        what: format!("{kind} file {} (raw or .gz)", missing[0].name),
        dir: dir.to_path_buf(),
        by_hand: format!(
            "download {} from {} into that folder, or set {} to a folder that holds the four \
             files",
            names.join(", "),
            kind.mirrors()[0],
            kind.dir_env_var()
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn nothing_to_do_when_every_file_is_present() {
        let dir = tempfile::tempdir().unwrap();
        for file in DatasetKind::Mnist.files() {
            fs::write(dir.path().join(file.gz_name()), b"whatever").unwrap();
        }
        // No mirror at all: would fail if it tried to download anything.
        download(
            DatasetKind::Mnist,
            dir.path(),
            &[],
            &DownloadOptions::default(),
        )
        .unwrap();
    }

    #[cfg(feature = "download")]
    #[test]
    fn no_mirror_is_an_error_that_says_so_and_leaves_no_directory() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnist");
        let error = download(DatasetKind::Mnist, &dir, &[], &DownloadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("no mirror was given"), "{error}");
        assert!(!dir.exists());
    }

    #[cfg(not(feature = "download"))]
    #[test]
    fn without_the_download_feature_a_missing_file_says_how_to_get_it_and_touches_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnist");
        let kind = DatasetKind::Mnist;
        let error = download(kind, &dir, kind.mirrors(), &DownloadOptions::default()).unwrap_err();
        assert!(
            matches!(error, DataError::DownloadNotBuilt { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        for part in [
            "`download` feature",
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz",
            kind.mirrors()[0],
            "MNIST_DIR",
        ] {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
        assert!(!dir.exists());
    }
}

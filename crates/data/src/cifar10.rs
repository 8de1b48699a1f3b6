//! CIFAR-10, binary version: where its six batch files are, what a record is, the checks
//! every file passes, and downloading and extracting the published archive.
//!
//! A batch file is a sequence of 3,073-byte records: the label byte (0–9), then the 1,024
//! red, 1,024 green and 1,024 blue pixels of a 32×32 image, each plane row-major — exactly
//! the `[3, 32, 32]` layout a [`Split`] keeps. The published files hold 10,000 records
//! each; the loader checks the **structure** (a non-empty whole number of records, at most
//! 10,000, every label in `0..=9`), not that count, so a file cut at a record boundary
//! loads (and the run says how many images it has), and tests use files of a few records.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

#[cfg(feature = "download")]
use crate::archive::extract_members;
use crate::downloader::DownloadOptions;
use crate::env_dir::cifar10_env_dir_error;
use crate::error::DataError;
#[cfg(feature = "download")]
use crate::fetch::{fetch_archive, sha256_file};
use crate::kind::Normalization;
#[cfg(feature = "download")]
use crate::leftovers;
use crate::location::{resolve_relative, workspace_root};
use crate::memory::{buffer_for, reserve_for};
use crate::split::{ImageDataset, Split};

/// Where the archive is published (the dataset's page, Alex Krizhevsky, University of
/// Toronto).
pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Bytes of the published archive.
pub const CIFAR10_ARCHIVE_LEN: u64 = 170_052_171;
/// SHA-256 of the published archive (its MD5 on the dataset's page is
/// `c32a1d4ab5d03f1284b67883e8d87530`).
pub const CIFAR10_SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
/// The environment variable naming the folder of the batches.
pub const CIFAR10_DIR_ENV: &str = "CIFAR10_DIR";
/// The folder the archive extracts to.
pub const CIFAR10_BATCHES_DIR: &str = "cifar-10-batches-bin";
/// Name of the archive once downloaded (deleted again after a successful extraction).
pub const CIFAR10_ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";
/// Bytes of one record: a label byte and a 3×32×32 image.
pub const CIFAR10_RECORD_LEN: usize = 1 + 3 * 32 * 32;
/// The most records a batch file holds (the published files hold exactly this many).
pub const CIFAR10_MAX_RECORDS: usize = 10_000;
/// The five training batches, then the test batch.
pub const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
/// The class names, by label (as in the archive's `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// The per-channel (red, green, blue) training-set statistics torchvision users normalise
/// with: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
pub const CIFAR10_NORMALIZATION: [Normalization; 3] = [
    Normalization {
        mean: 0.4914,
        std: 0.2470,
    },
    Normalization {
        mean: 0.4822,
        std: 0.2435,
    },
    Normalization {
        mean: 0.4465,
        std: 0.2616,
    },
];

/// What is wrong inside a CIFAR-10 batch file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Cifar10Defect {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Not a whole number of records.
    #[error(
        "it is truncated or padded: {len} bytes are {records} whole {}-byte records and \
         {extra} bytes over",
        CIFAR10_RECORD_LEN
    )]
    Truncated {
        /// Bytes in the file.
        len: u64,
        /// Whole records in it.
        records: u64,
        /// Bytes after the last whole record.
        extra: u64,
    },
    /// More than a batch file ever holds.
    #[error(
        "it has {len} bytes, more than the {} of {} records a batch file holds",
        CIFAR10_MAX_RECORDS * CIFAR10_RECORD_LEN,
        CIFAR10_MAX_RECORDS
    )]
    TooLarge {
        /// Bytes in the file.
        len: u64,
    },
    /// A label byte outside `0..=9`.
    #[error("record {record} (counting from 0) has label {label}, not a class in 0..=9")]
    BadLabel {
        /// The record's index.
        record: usize,
        /// Its label byte.
        label: u8,
    },
}

/// Where to download the archive from and what it must be: [`Cifar10Source::official`],
/// or a test's own small archive on a loopback server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cifar10Source {
    /// The archive's URL.
    pub url: String,
    /// Its exact length in bytes.
    pub len: u64,
    /// Its SHA-256, 64 lower-case hex digits.
    pub sha256: String,
}

impl Cifar10Source {
    /// The published archive: [`CIFAR10_URL`], [`CIFAR10_ARCHIVE_LEN`], [`CIFAR10_SHA256`].
    pub fn official() -> Self {
        Cifar10Source {
            url: CIFAR10_URL.to_owned(),
            len: CIFAR10_ARCHIVE_LEN,
            sha256: CIFAR10_SHA256.to_owned(),
        }
    }
}

/// `<workspace root>/data/cifar-10`, where CIFAR-10 is downloaded to when nothing else is
/// set.
pub fn cifar10_default_dir() -> PathBuf {
    workspace_root().join("data").join("cifar-10")
}

/// The folder that holds the six batch files: `dir` itself, else its
/// `cifar-10-batches-bin` folder (what the archive extracts to), else `None`.
pub fn cifar10_batches_dir(dir: &Path) -> Option<PathBuf> {
    let nested = dir.join(CIFAR10_BATCHES_DIR);
    [dir.to_path_buf(), nested]
        .into_iter()
        .find(|candidate| CIFAR10_FILES.iter().all(|f| candidate.join(f).exists()))
}

/// Loads CIFAR-10 from `dir` (or its `cifar-10-batches-bin` folder): 50,000 training and
/// 10,000 test images of `[3, 32, 32]`, the ten class names, and the usual per-channel
/// normalisation. Only reads; never downloads.
///
/// # Errors
/// [`DataError::Cifar10Missing`] naming the first missing file,
/// [`DataError::CannotRead`] for a file that cannot be read, and
/// [`DataError::Cifar10Damaged`] for one that is empty, truncated, too large or has a label
/// above 9.
pub fn load_cifar10(dir: &Path) -> Result<ImageDataset, DataError> {
    let batches = match cifar10_batches_dir(dir) {
        Some(batches) => batches,
        None => {
            let nested = dir.join(CIFAR10_BATCHES_DIR);
            let base = if nested.is_dir() { nested } else { dir.into() };
            let file = CIFAR10_FILES
                .iter()
                .find(|f| !base.join(f).exists())
                .unwrap_or(&CIFAR10_FILES[0]);
            // A folder that cannot be searched: the file may well be there.
            if let Err(source) = fs::symlink_metadata(base.join(file)) {
                if source.kind() == std::io::ErrorKind::PermissionDenied {
                    return Err(DataError::FolderUnreadable {
                        what: "CIFAR-10".to_owned(),
                        dir: base,
                        source,
                    });
                }
            }
            return Err(DataError::Cifar10Missing {
                dir: dir.to_path_buf(),
                file: (*file).to_owned(),
            });
        }
    };
    let (mut train_labels, mut train_images) = train_buffers(&batches)?;
    for name in &CIFAR10_FILES[..5] {
        read_batch(&batches.join(name), &mut train_labels, &mut train_images)?;
    }
    let (mut test_labels, mut test_images) = (Vec::new(), Vec::new());
    read_batch(
        &batches.join(CIFAR10_FILES[5]),
        &mut test_labels,
        &mut test_images,
    )?;
    let split = |images, labels| {
        Split::with_shape(
            images,
            labels,
            [3, 32, 32],
            CIFAR10_CLASSES.iter().map(|&c| c.to_owned()).collect(),
            CIFAR10_NORMALIZATION.to_vec(),
        )
    };
    Ok(ImageDataset {
        name: "CIFAR-10".to_owned(),
        train: split(train_images, train_labels),
        test: split(test_images, test_labels),
    })
}

/// The folder `$CIFAR10_DIR` names, or `None` if it is unset or empty. A relative value
/// is taken as given if it exists, else under the workspace root (as for `$MNIST_DIR`,
/// [`dir_from_env`](crate::dir_from_env)).
pub fn cifar10_dir_from_env() -> Option<PathBuf> {
    let value = std::env::var_os(CIFAR10_DIR_ENV).filter(|v| !v.is_empty())?;
    Some(resolve_relative(&value, &workspace_root()))
}

/// Where CIFAR-10 is read from (or downloaded to) by
/// [`load_or_download_cifar10`]`(explicit)`: `explicit`, else [`cifar10_dir_from_env`],
/// else [`cifar10_default_dir`].
pub fn resolve_cifar10_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(cifar10_dir_from_env)
        .unwrap_or_else(cifar10_default_dir)
}

/// Finds CIFAR-10 — `explicit`, else `$CIFAR10_DIR`, else `data/cifar-10` — and loads it,
/// downloading and extracting the archive first when neither `$CIFAR10_DIR` nor an explicit
/// folder was given and `data/cifar-10` lacks the batches. An explicit folder, and the
/// folder `$CIFAR10_DIR` names, are only read (for the latter, the error of a missing
/// folder or batch is [`DataError::EnvDirUnusable`], naming the variable).
pub fn load_or_download_cifar10(explicit: Option<&Path>) -> Result<ImageDataset, DataError> {
    if let Some(dir) = explicit {
        return load_cifar10(dir);
    }
    match cifar10_dir_from_env() {
        Some(dir) => load_cifar10(&dir).map_err(|error| cifar10_env_dir_error(&dir, error)),
        None => load_or_download_cifar10_from(
            &cifar10_default_dir(),
            &Cifar10Source::official(),
            &DownloadOptions::default(),
        ),
    }
}

/// Loads CIFAR-10 from `dir`, first — if the batches are not there — downloading the
/// archive of `source` into `dir` (unless it is there already), checking its length and
/// SHA-256, and extracting only its six batch files and `batches.meta.txt` into
/// `dir/cifar-10-batches-bin`. The archive is deleted once extracted and checked.
///
/// Extraction refuses, before anything is renamed into place, an archive whose members
/// leave the folder (absolute paths, `..`), link members (symbolic or hard), a member
/// larger than a batch file can be, a corrupt or truncated stream, and a batch file that
/// fails the checks of [`load_cifar10`]. It writes into a hidden temporary folder in `dir`
/// renamed to `cifar-10-batches-bin` at the end, so a failure leaves no partial folder.
pub fn load_or_download_cifar10_from(
    dir: &Path,
    source: &Cifar10Source,
    options: &DownloadOptions,
) -> Result<ImageDataset, DataError> {
    if cifar10_batches_dir(dir).is_some() {
        return load_cifar10(dir);
    }
    download_and_extract(dir, source, options)
}

/// Without the `download` feature: touches nothing and says how to put the batches there.
#[cfg(not(feature = "download"))]
fn download_and_extract(
    dir: &Path,
    source: &Cifar10Source,
    _options: &DownloadOptions,
) -> Result<ImageDataset, DataError> {
    Err(DataError::DownloadNotBuilt {
        what: "CIFAR-10 (its six batch files)".to_owned(),
        dir: dir.to_path_buf(),
        by_hand: format!(
            "download {} and extract it there, or set {CIFAR10_DIR_ENV} to a folder that \
             holds {CIFAR10_BATCHES_DIR}",
            source.url
        ),
    })
}

/// The archive `dir/cifar-10-binary.tar.gz`: checked against `source`'s SHA-256 if it is
/// there already, else downloaded (and checked) by [`fetch_archive`].
#[cfg(feature = "download")]
fn archive_in(
    dir: &Path,
    source: &Cifar10Source,
    options: &DownloadOptions,
) -> Result<std::path::PathBuf, DataError> {
    let archive = dir.join(CIFAR10_ARCHIVE_NAME);
    if archive.exists() && !archive.is_file() {
        return Err(DataError::Archive {
            path: archive,
            problem: "it is not a regular file".into(),
        });
    }
    if archive.exists() {
        let actual = sha256_file(&archive).map_err(|source| DataError::CannotRead {
            what: "CIFAR-10 archive",
            path: archive.clone(),
            source,
        })?;
        if actual != source.sha256 {
            return Err(DataError::Archive {
                path: archive,
                problem: format!(
                    "its SHA-256 is {actual}, not the published {}",
                    source.sha256
                ),
            });
        }
    } else {
        fetch_archive(
            &source.url,
            dir,
            CIFAR10_ARCHIVE_NAME,
            source.len,
            &source.sha256,
            options,
            CIFAR10_DIR_ENV,
        )?;
    }
    Ok(archive)
}

/// The archive of `source` into `dir` (unless there already), checked, extracted into
/// `dir/cifar-10-batches-bin`, deleted; then the batches loaded.
#[cfg(feature = "download")]
fn download_and_extract(
    dir: &Path,
    source: &Cifar10Source,
    options: &DownloadOptions,
) -> Result<ImageDataset, DataError> {
    let cannot_write = |path: &Path, source| DataError::CannotWrite {
        path: path.to_path_buf(),
        env_var: CIFAR10_DIR_ENV,
        source,
    };
    let target = dir.join(CIFAR10_BATCHES_DIR);
    // Before the download: an incomplete folder would only be found after it.
    check_nothing_in_the_way(dir, &target)?;
    let members: Vec<String> = CIFAR10_FILES
        .iter()
        .chain(&["batches.meta.txt"])
        .map(|name| format!("{CIFAR10_BATCHES_DIR}/{name}"))
        .collect();
    leftovers::note_download_start();
    let archive = crate::fetch::in_created_dir(
        dir,
        |e| cannot_write(dir, e),
        || {
            let member_names: Vec<&str> = CIFAR10_FILES
                .iter()
                .chain(&["batches.meta.txt"])
                .copied()
                .collect();
            leftovers::remove_stale_leftovers(
                dir,
                &[CIFAR10_ARCHIVE_NAME.to_owned()],
                &member_names,
            );
            archive_in(dir, source, options)
        },
    )?;
    // Again: something may have appeared there while downloading.
    check_nothing_in_the_way(dir, &target)?;
    let staging = tempfile::Builder::new()
        .prefix(leftovers::EXTRACTING_PREFIX)
        .rand_bytes(leftovers::RANDOM_CHARS)
        .tempdir_in(dir)
        .map_err(|e| cannot_write(dir, e))?;
    let max_len = (CIFAR10_MAX_RECORDS * CIFAR10_RECORD_LEN) as u64;
    let found = extract_members(&archive, &members, max_len, staging.path())?;
    if let Some(missing) = members[..6].iter().find(|m| !found.contains(m)) {
        return Err(DataError::Archive {
            path: archive,
            problem: format!("it has no member {missing}"),
        });
    }
    // Every batch file checked before the folder gets its final name.
    load_cifar10(staging.path()).map_err(|e| DataError::Archive {
        path: archive.clone(),
        problem: e.to_string(),
    })?;
    let staged = staging.keep();
    fs::rename(&staged, &target).map_err(|e| {
        let _ = fs::remove_dir_all(&staged);
        cannot_write(&target, e)
    })?;
    let _ = fs::remove_file(&archive);
    load_cifar10(dir)
}

/// Checks that nothing is at `target` (`dir/cifar-10-batches-bin`), where the archive is
/// extracted to: an incomplete folder or a file there is [`DataError::Cifar10InTheWay`],
/// which says to remove it (and that an archive already in `dir` is kept).
#[cfg(feature = "download")]
fn check_nothing_in_the_way(dir: &Path, target: &Path) -> Result<(), DataError> {
    let Ok(metadata) = fs::symlink_metadata(target) else {
        return Ok(());
    };
    let is_folder = target.is_dir();
    let missing = is_folder
        .then(|| CIFAR10_FILES.iter().find(|f| !target.join(f).exists()))
        .flatten()
        .map(|f| (*f).to_owned());
    let archive = dir.join(CIFAR10_ARCHIVE_NAME);
    Err(DataError::Cifar10InTheWay {
        path: target.to_path_buf(),
        is_folder: is_folder || metadata.is_dir(),
        missing,
        archive: archive.exists().then_some(archive),
    })
}

/// Empty buffers for the labels and images of the five training batches in `batches`,
/// with room for what their sizes hold (at most five full batches), allocated fallibly:
/// under a tight `ulimit -v` an error naming the folder, not an abort.
fn train_buffers(batches: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let bytes: u64 = (CIFAR10_FILES[..5].iter())
        .filter_map(|name| fs::metadata(batches.join(name)).ok())
        .map(|metadata| {
            metadata
                .len()
                .min((CIFAR10_MAX_RECORDS * CIFAR10_RECORD_LEN) as u64)
        })
        .sum();
    let records = bytes / CIFAR10_RECORD_LEN as u64;
    let labels = buffer_for(batches, records)?;
    let images = buffer_for(batches, records * (CIFAR10_RECORD_LEN as u64 - 1))?;
    Ok((labels, images))
}

/// Reads and checks one batch file, appending its labels and images.
fn read_batch(path: &Path, labels: &mut Vec<u8>, images: &mut Vec<u8>) -> Result<(), DataError> {
    let bytes = read_batch_bytes(path)?;
    let damaged = |defect| DataError::Cifar10Damaged {
        path: path.to_path_buf(),
        defect,
    };
    let records = bytes.chunks_exact(CIFAR10_RECORD_LEN);
    if let Some((record, label)) = records
        .clone()
        .enumerate()
        .map(|(i, r)| (i, r[0]))
        .find(|&(_, label)| label > 9)
    {
        return Err(damaged(Cifar10Defect::BadLabel { record, label }));
    }
    let count = (bytes.len() / CIFAR10_RECORD_LEN) as u64;
    reserve_for(labels, path, count)?;
    reserve_for(images, path, count * (CIFAR10_RECORD_LEN as u64 - 1))?;
    for record in records {
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

/// The bytes of a batch file, after checking — without reading it all — that it is a
/// regular file of a plausible length, a whole number of records.
fn read_batch_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let cannot_read = |source| DataError::CannotRead {
        what: "CIFAR-10 file",
        path: path.to_path_buf(),
        source,
    };
    let damaged = |defect| DataError::Cifar10Damaged {
        path: path.to_path_buf(),
        defect,
    };
    // Checked before opening (opening a FIFO waits for a writer), and again on what was
    // opened.
    let not_regular = || {
        cannot_read(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ))
    };
    if !fs::metadata(path).map_err(cannot_read)?.is_file() {
        return Err(not_regular());
    }
    let file = File::open(path).map_err(cannot_read)?;
    let metadata = file.metadata().map_err(cannot_read)?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    let len = metadata.len();
    let record = CIFAR10_RECORD_LEN as u64;
    if len == 0 {
        return Err(damaged(Cifar10Defect::Empty));
    }
    if len > record * CIFAR10_MAX_RECORDS as u64 {
        return Err(damaged(Cifar10Defect::TooLarge { len }));
    }
    if len % record != 0 {
        return Err(damaged(Cifar10Defect::Truncated {
            len,
            records: len / record,
            extra: len % record,
        }));
    }
    let mut bytes = buffer_for(path, len)?;
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 != len {
        return Err(cannot_read(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "it became shorter while being read",
        )));
    }
    Ok(bytes)
}

// With `download`, tests/cifar10.rs covers the download and extraction.
#[cfg(all(test, not(feature = "download")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_download_feature_missing_batches_say_how_to_get_them_and_touch_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("cifar-10");
        let error =
            load_or_download_cifar10_from(&dir, &Cifar10Source::official(), &Default::default())
                .unwrap_err();
        assert!(
            matches!(error, DataError::DownloadNotBuilt { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        for part in ["`download` feature", CIFAR10_URL, CIFAR10_DIR_ENV] {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
        assert!(!dir.exists());
    }
}

//! Loading a dataset from a directory: find each file (raw or `.gz`), read and check it, and
//! only then hand it to the `mnist` crate, which panics on anything unexpected.
//!
//! # Why the `mnist` crate reads from a temporary directory
//!
//! `mnist::MnistBuilder` reads uncompressed files from one `base_path`, and any surprise
//! (missing file, wrong size, a file changed since we looked) is a panic. So [`load`]
//! reads each file itself — decompressing `.gz` in memory with `flate2` — checks the bytes,
//! and writes exactly the checked bytes into a fresh directory under the system temporary
//! directory (`tempfile::TempDir`, honouring `TMPDIR`). The `mnist` crate reads from there,
//! with explicit file names, and the directory is deleted when loading ends, successfully
//! or not (only a process killed mid-load leaves it, to the system's temp cleaning). Nothing is ever written to the user's data directory, and what the parser sees
//! cannot differ from what was checked. The cost is writing ~55 MB to the temporary
//! directory (a few tens of milliseconds) and ~55 MB of temporary disk (or tmpfs) space
//! while loading.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::downloader::{download, DownloadOptions};
use crate::env_dir::idx_env_dir_error;
use crate::error::DataError;
use crate::idx::{self, FormatDefect};
use crate::kind::{DataFile, DatasetKind, FileRole};
use crate::location::{
    all_files_present, broken_link, dir_from_env, locate_file, resolve_dir, LocatedFile,
};
use crate::memory::{check_room_for, out_of_memory};
use crate::published::{check_published, unknown_files_warning};
use crate::read::{read_bytes, ReadFailure};
use crate::split::{Dataset, Split};

/// Loads the dataset from `dir`, where each of the four files may be raw or
/// gzip-compressed (`name.gz`); a raw file wins if both exist.
///
/// Before the `mnist` crate sees anything, every file is checked: present, readable, valid
/// gzip if `.gz`, the right magic number (2051 images / 2049 labels), 28×28 images, a
/// length equal to what its header announces, labels in `0..=9`, as many images as labels,
/// and a complete set (60,000 + 10,000, the only sizes the `mnist` crate reads). The first
/// problem found is returned as a [`DataError`] naming the file; no input makes this panic.
/// Too little memory (a tight `ulimit -v`) is [`DataError::OutOfMemory`], not an abort: the
/// buffers are allocated fallibly, and the room the `mnist` crate's parser needs is
/// checked before it runs.
///
/// Each file's SHA-256 (of its decompressed bytes, ~0.12 s for all four) is compared with
/// the published sums ([`DatasetKind::files`]): a file of the other dataset (MNIST's where
/// Fashion-MNIST's is expected, or the reverse) is refused
/// ([`DataError::OtherDataset`]); one that is neither is loaded, with one warning line on
/// standard error (KMNIST and the like come under the same names).
///
/// ```no_run
/// use std::path::Path;
/// use scratchnet_data::{load, DatasetKind};
///
/// let mnist = load(DatasetKind::Mnist, Path::new("data/mnist"))?;
/// assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
/// # Ok::<(), scratchnet_data::DataError>(())
/// ```
pub fn load(kind: DatasetKind, dir: &Path) -> Result<Dataset, DataError> {
    check_is_directory(kind, dir)?;
    let files = kind.files();
    let located = locate_all(kind, dir, &files)?;
    let staging = staging_dir(kind)?;
    let base_path = utf8_path(kind, &staging)?;
    // Every file on its own first (so a damaged file is reported as such even when
    // another is incomplete), then the pairs, then the completeness the mnist crate needs.
    let mut unknown = Vec::new();
    let counts = read_check_and_stage(kind, &files, &located, &staging, &mut unknown)?;
    check_pairs_and_completeness(kind, &files, &located, &counts)?;
    // The mnist crate allocates infallibly: check first that its largest moment fits,
    // so a tight memory limit is an error naming the file, not an abort.
    check_room_for(&located[0].path, parser_peak_bytes())?;
    let parsed = parse_staged(kind, dir, &files, base_path)?;
    drop(staging);
    if let Some(warning) = unknown_files_warning(kind, &unknown) {
        eprintln!("{warning}");
    }
    Ok(into_dataset(kind, parsed))
}

/// Finds the dataset ([`resolve_dir`]), downloads the missing files from
/// [`DatasetKind::mirrors`] into that directory if any is missing, and loads it.
///
/// A folder named by the environment variable ([`DatasetKind::dir_env_var`]) is only
/// read, never downloaded into: if it is missing or lacks a file, the error
/// ([`DataError::EnvDirUnusable`]) names the variable and says to fill the folder or
/// unset it. Files that are present but damaged are not replaced: the error says which to
/// delete.
///
/// ```no_run
/// use scratchnet_data::{load_or_download, DatasetKind};
///
/// // --data-dir if given, else $MNIST_DIR (only read), else <workspace>/data/mnist
/// // (downloaded into if needed).
/// let mnist = load_or_download(DatasetKind::Mnist, None)?;
/// # Ok::<(), scratchnet_data::DataError>(())
/// ```
pub fn load_or_download(kind: DatasetKind, explicit: Option<&Path>) -> Result<Dataset, DataError> {
    load_or_download_from(kind, explicit, kind.mirrors(), &DownloadOptions::default())
}

/// [`load_or_download`] with the mirrors and download options given.
pub fn load_or_download_from(
    kind: DatasetKind,
    explicit: Option<&Path>,
    mirrors: &[&str],
    options: &DownloadOptions,
) -> Result<Dataset, DataError> {
    if let (None, Some(dir)) = (explicit, dir_from_env(kind)) {
        return load(kind, &dir).map_err(|error| idx_env_dir_error(kind, &dir, error));
    }
    let dir = resolve_dir(kind, explicit);
    if dir.is_dir() && all_files_present(kind, &dir) {
        return load(kind, &dir).map_err(DataError::when_downloading);
    }
    if dir.exists() && !dir.is_dir() {
        return Err(match explicit {
            Some(_) => DataError::NotADirectory { kind, path: dir },
            None => DataError::DefaultDirIsAFile { kind, path: dir },
        });
    }
    download(kind, &dir, mirrors, options)?;
    load(kind, &dir).map_err(DataError::when_downloading)
}

/// Checks that `dir` exists and is a directory (one that cannot be reached for lack of
/// permission is said so, not missing).
fn check_is_directory(kind: DatasetKind, dir: &Path) -> Result<(), DataError> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(DataError::NotADirectory {
            kind,
            path: dir.to_path_buf(),
        }),
        Err(source) if source.kind() == io::ErrorKind::PermissionDenied => {
            Err(DataError::FolderUnreadable {
                what: kind.to_string(),
                dir: dir.to_path_buf(),
                source,
            })
        }
        Err(_) => Err(DataError::DirectoryMissing {
            kind,
            dir: dir.to_path_buf(),
        }),
    }
}

/// Finds each of `files` in `dir`, raw or `.gz`.
fn locate_all(
    kind: DatasetKind,
    dir: &Path,
    files: &[DataFile<'_>],
) -> Result<Vec<LocatedFile>, DataError> {
    files
        .iter()
        .map(|file| {
            locate_file(dir, file.name).ok_or_else(|| {
                let lookup = std::fs::symlink_metadata(dir.join(file.name)).err();
                not_found_error(kind, dir, file.name, lookup)
            })
        })
        .collect()
}

/// Why `name` (raw or `.gz`) was not found in `dir`, where looking it up failed with
/// `lookup`: a broken symbolic link; a folder that cannot be searched (permission
/// denied: the file may well be there); else it is missing.
fn not_found_error(
    kind: DatasetKind,
    dir: &Path,
    name: &str,
    lookup: Option<io::Error>,
) -> DataError {
    if let Some((path, source)) = broken_link(dir, name) {
        return DataError::BrokenLink { kind, path, source };
    }
    match lookup {
        Some(source) if source.kind() == io::ErrorKind::PermissionDenied => {
            DataError::FolderUnreadable {
                what: kind.to_string(),
                dir: dir.to_path_buf(),
                source,
            }
        }
        _ => DataError::FileMissing {
            kind,
            dir: dir.to_path_buf(),
            file: name.to_owned(),
        },
    }
}

/// A fresh directory under the system temporary directory for the checked files, deleted
/// when dropped.
fn staging_dir(kind: DatasetKind) -> Result<TempDir, DataError> {
    tempfile::Builder::new()
        .prefix(&format!("scratchnet-{}-", kind.default_dir_name()))
        .tempdir()
        .map_err(|source| staging_error(kind, source))
}

/// The staging directory's path as the `&str` the `mnist` crate takes.
fn utf8_path(kind: DatasetKind, staging: &TempDir) -> Result<&str, DataError> {
    staging.path().to_str().ok_or_else(|| {
        staging_error(
            kind,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "its path is not valid UTF-8, which the mnist crate needs",
            ),
        )
    })
}

/// The error of writing to the staging directory.
fn staging_error(kind: DatasetKind, source: io::Error) -> DataError {
    DataError::Staging {
        kind,
        dir: std::env::temp_dir(),
        source,
    }
}

/// Reads and checks each file on its own (its SHA-256 too: another dataset's file is
/// refused, one that is not published is added to `unknown`), writes its checked bytes
/// into `staging` under its raw name, and returns the sample count of each.
fn read_check_and_stage(
    kind: DatasetKind,
    files: &[DataFile<'_>; 4],
    located: &[LocatedFile],
    staging: &TempDir,
    unknown: &mut Vec<PathBuf>,
) -> Result<[usize; 4], DataError> {
    let mut counts = [0usize; 4];
    for ((file, at), count) in files.iter().zip(located).zip(&mut counts) {
        let bytes;
        (bytes, *count) = read_checked(kind, at, file.role)?;
        check_published(kind, file, &at.path, &bytes, unknown)?;
        std::fs::write(staging.path().join(file.name), bytes)
            .map_err(|source| staging_error(kind, source))?;
    }
    Ok(counts)
}

/// Checks that each split's images and labels match in count, then that both splits are
/// complete. `files` is `[train images, train labels, test images, test labels]`.
fn check_pairs_and_completeness(
    kind: DatasetKind,
    files: &[DataFile<'_>; 4],
    located: &[LocatedFile],
    counts: &[usize; 4],
) -> Result<(), DataError> {
    for pair in [0, 2] {
        check_pair_matches(kind, &located[pair..pair + 2], &counts[pair..pair + 2])?;
    }
    for pair in [0, 2] {
        check_complete(kind, &files[pair], &located[pair], counts[pair])?;
    }
    Ok(())
}

/// The memory the `mnist` crate's parser needs: at its peak (110 MB) it holds the
/// training images with the test images appended (that vector's capacity doubled, to
/// 94 MB) and the two splits it carves from their end (8 MB each); reading the
/// training images file (read whole, then copied: 94 MB) takes less. Plus a quarter for
/// what the allocator keeps of memory freed earlier: under `ulimit -v` a probe of the
/// bare peak still let the parser fail 12 MB later.
fn parser_peak_bytes() -> u64 {
    let pixels = |role: FileRole| role.complete_len() - 16;
    let (train, test) = (pixels(FileRole::TrainImages), pixels(FileRole::TestImages));
    let labels = FileRole::TrainLabels.complete_count() + FileRole::TestLabels.complete_count();
    let peak = 2 * (train + test) + 3 * labels as u64;
    peak + peak / 4
}

/// Has the `mnist` crate parse the checked files staged in `base_path`; a panic of it
/// (which the checks should make impossible) becomes [`DataError::ParserPanicked`].
fn parse_staged(
    kind: DatasetKind,
    dir: &Path,
    files: &[DataFile<'_>; 4],
    base_path: &str,
) -> Result<mnist::Mnist, DataError> {
    catch_unwind(AssertUnwindSafe(|| {
        mnist::MnistBuilder::new()
            .base_path(base_path)
            .training_images_filename(files[0].name)
            .training_labels_filename(files[1].name)
            .test_images_filename(files[2].name)
            .test_labels_filename(files[3].name)
            .label_format_digit()
            .training_set_length(FileRole::TrainImages.complete_count() as u32)
            .validation_set_length(0)
            .test_set_length(FileRole::TestImages.complete_count() as u32)
            .finalize()
    }))
    .map_err(|panic| DataError::ParserPanicked {
        kind,
        dir: dir.to_path_buf(),
        message: panic_message(panic.as_ref()),
    })
}

/// The parsed splits as a [`Dataset`] with the normalisation and class names of `kind`.
fn into_dataset(kind: DatasetKind, parsed: mnist::Mnist) -> Dataset {
    let normalization = kind.normalization();
    let split = |mut images: Vec<u8>, labels: Vec<u8>| {
        images.shrink_to_fit();
        let names = kind.class_names().map(String::from).to_vec();
        Split::with_shape(images, labels, [1, 28, 28], names, vec![normalization])
    };
    Dataset {
        kind,
        train: split(parsed.trn_img, parsed.trn_lbl),
        test: split(parsed.tst_img, parsed.tst_lbl),
    }
}

/// Checks that an images file and a labels file hold as many samples as each other.
fn check_pair_matches(
    kind: DatasetKind,
    located: &[LocatedFile],
    counts: &[usize],
) -> Result<(), DataError> {
    if counts[0] == counts[1] {
        return Ok(());
    }
    Err(DataError::CountMismatch {
        kind,
        images: located[0].path.clone(),
        labels: located[1].path.clone(),
        images_count: counts[0],
        labels_count: counts[1],
        downloads: false,
    })
}

/// Checks that a file holds a complete split, the only size the `mnist` crate reads.
fn check_complete(
    kind: DatasetKind,
    file: &DataFile<'_>,
    located: &LocatedFile,
    count: usize,
) -> Result<(), DataError> {
    let expected = file.role.complete_count();
    if count == expected {
        return Ok(());
    }
    Err(DataError::Malformed {
        kind,
        path: located.path.clone(),
        defect: FormatDefect::WrongCount {
            found: count,
            expected,
        },
        downloads: false,
    })
}

/// Reads a file (decompressing `.gz`) and checks it: returns its bytes and sample count.
fn read_checked(
    kind: DatasetKind,
    located: &LocatedFile,
    role: FileRole,
) -> Result<(Vec<u8>, usize), DataError> {
    let path = &located.path;
    let bytes = read_bytes(path, located.gzip, role).map_err(|failure| match failure {
        ReadFailure::Io(source) => DataError::Unreadable {
            kind,
            path: path.clone(),
            source,
        },
        ReadFailure::Gzip(source) => DataError::CorruptGzip {
            kind,
            path: path.clone(),
            source,
            downloads: false,
        },
        ReadFailure::Defect(defect) => DataError::Malformed {
            kind,
            path: path.clone(),
            defect,
            downloads: false,
        },
        ReadFailure::OutOfMemory(bytes) => out_of_memory(path, bytes),
    })?;
    let count = idx::check(role, &bytes).map_err(|defect| DataError::Malformed {
        kind,
        path: path.clone(),
        defect,
        downloads: false,
    })?;
    Ok((bytes, count))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{encode_images, encode_labels};
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    /// QA: as a non-root user, a root-owned mode-700 `--data-dir` was reported as
    /// "MNIST file train-images-idx3-ubyte (raw or .gz) is missing from …": the file
    /// may be there; the folder cannot be searched. (Root reads any folder, so the
    /// lookup's error is given here.)
    #[test]
    fn a_folder_that_cannot_be_searched_is_not_said_to_lack_the_file() {
        let dir = Path::new("/data/perm");
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let message = not_found_error(
            DatasetKind::Mnist,
            dir,
            "t10k-labels-idx1-ubyte",
            Some(denied),
        )
        .to_string();
        assert!(
            message.starts_with(
                "cannot read the MNIST folder /data/perm: permission denied; make it readable"
            ),
            "{message}"
        );
        assert!(!message.contains("missing"), "{message}");
        let absent = io::Error::from(io::ErrorKind::NotFound);
        let message = not_found_error(
            DatasetKind::Mnist,
            dir,
            "t10k-labels-idx1-ubyte",
            Some(absent),
        )
        .to_string();
        assert!(message.contains("is missing from /data/perm"), "{message}");
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Writes a complete synthetic dataset: pixel `p` of image `i` is `(i + p) % 256`, the
    /// label of sample `i` is `i % 10`. Train images and test labels raw, the others `.gz`.
    fn write_complete_synthetic(dir: &Path) {
        for (file, gz) in DatasetKind::Mnist
            .files()
            .iter()
            .zip([false, true, true, false])
        {
            let n = file.role.complete_count();
            let bytes = if file.role.is_images() {
                let pixels: Vec<u8> = (0..n)
                    .flat_map(|i| (0..784).map(move |p| ((i + p) % 256) as u8))
                    .collect();
                encode_images(&pixels)
            } else {
                encode_labels(&(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>())
            };
            if gz {
                std::fs::write(dir.join(file.gz_name()), gzip(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(file.name), bytes).unwrap();
            }
        }
    }

    #[test]
    fn a_complete_mixed_raw_and_gz_set_loads_through_the_mnist_crate() {
        let dir = tempfile::tempdir().unwrap();
        write_complete_synthetic(dir.path());
        let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        let dataset = load(DatasetKind::FashionMnist, dir.path()).unwrap();
        assert_eq!(dataset.kind, DatasetKind::FashionMnist);
        assert_eq!((dataset.train.len(), dataset.test.len()), (60_000, 10_000));
        assert_eq!(
            dataset.train.normalization(),
            DatasetKind::FashionMnist.normalization()
        );
        for (split, i) in [(&dataset.train, 59_999), (&dataset.test, 1234)] {
            assert_eq!(usize::from(split.labels()[i]), i % 10);
            let image = split.image(i);
            assert!((0..784).all(|p| usize::from(image[p]) == (i + p) % 256));
        }
        assert_eq!(dataset.train.label_histogram(), [6000; 10]);
        // Nothing was added to the data directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before.len());
        assert!(all_files_present(DatasetKind::FashionMnist, dir.path()));
    }
}

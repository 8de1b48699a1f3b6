//! What can go wrong when finding, checking, loading or downloading a dataset. Every
//! message is one sentence that names the file or directory, says what is wrong with it and
//! what to do.

use std::io;
use std::path::{Path, PathBuf};

use crate::cifar10::Cifar10Defect;
use crate::idx::FormatDefect;
use crate::kind::DatasetKind;

/// Why a dataset could not be loaded or downloaded.
///
/// The `Display` text is meant for the person running the program, self-contained (it
/// includes the underlying I/O or HTTP error), so `eprintln!("{error}")` is enough.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data directory does not exist.
    #[error(
        "{kind} directory {} does not exist: create it and put the four IDX files there (raw or \
         .gz), set {} to the folder that holds them, or leave the directory out to have them \
         downloaded (the examples without --data-dir, load_or_download in code)",
        .dir.display(), .kind.dir_env_var()
    )]
    DirectoryMissing {
        /// The dataset.
        kind: DatasetKind,
        /// The directory looked in.
        dir: PathBuf,
    },

    /// The data "directory" given is a file.
    #[error(
        "{kind} path {} is not a directory: give the folder that holds {} and the three \
         other files",
        .path.display(), .kind.files()[0].name
    )]
    NotADirectory {
        /// The dataset.
        kind: DatasetKind,
        /// The path that is not a directory.
        path: PathBuf,
    },

    /// The default data folder (no folder given, no variable set) is a file.
    #[error(
        "{kind} is downloaded into {} when no folder is given, but that is a file: remove \
         or rename it, or set {} to the folder that holds {} and the three other files",
        .path.display(), .kind.dir_env_var(), .kind.files()[0].name
    )]
    DefaultDirIsAFile {
        /// The dataset.
        kind: DatasetKind,
        /// The default folder, a file.
        path: PathBuf,
    },

    /// The folder an environment variable (`MNIST_DIR`, `FASHION_MNIST_DIR`,
    /// `CIFAR10_DIR`) names does not hold the dataset. Like `--data-dir`, such a folder is
    /// only read, never downloaded into.
    #[error(
        "{var} names {}, which {problem}, or unset {var} to have {} (a folder {var} names \
         is only read, never downloaded into)",
        .dir.display(), crate::env_dir::downloaded_instead(.var)
    )]
    EnvDirUnusable {
        /// The variable, e.g. `MNIST_DIR`.
        var: &'static str,
        /// The folder it names.
        dir: PathBuf,
        /// What is wrong with it and what to put there, e.g. `does not exist: put … there`.
        problem: String,
    },

    /// Neither `file` nor `file.gz` is in the directory.
    #[error(
        "{kind} file {file} (raw or .gz) is missing from {}: download {file}.gz from {} into \
         that folder, or leave the directory out to have it downloaded (the examples without \
         --data-dir, load_or_download in code)",
        .dir.display(), .kind.mirrors()[0]
    )]
    FileMissing {
        /// The dataset.
        kind: DatasetKind,
        /// The directory looked in.
        dir: PathBuf,
        /// The missing file's name, without `.gz`.
        file: String,
    },

    /// A file that is the published file of the other dataset (MNIST's where
    /// Fashion-MNIST's is expected, or the reverse), by its SHA-256.
    #[error(
        "{kind} file {} is {other}'s (its SHA-256 is that of {other}'s published file): \
         these are {other}'s files, not {kind}'s; load them as {other}, or put {kind}'s \
         files in that folder",
        .path.display()
    )]
    OtherDataset {
        /// The dataset being loaded.
        kind: DatasetKind,
        /// The dataset the file belongs to.
        other: DatasetKind,
        /// The file.
        path: PathBuf,
    },

    /// A dataset file that is a symbolic link leading nowhere (its target missing, or a
    /// loop of links).
    #[error(
        "{kind} file {} is a broken symbolic link ({source}): point it at the file, or \
         remove it and put the file there",
        .path.display()
    )]
    BrokenLink {
        /// The dataset.
        kind: DatasetKind,
        /// The link.
        path: PathBuf,
        /// What following it reported.
        source: io::Error,
    },

    /// The file exists but reading it failed (a directory with the file's name, no
    /// permission, an I/O error).
    #[error(
        "cannot read {kind} file {}: {source}; make it a readable regular file, or replace it \
         with a good copy",
        .path.display()
    )]
    Unreadable {
        /// The dataset.
        kind: DatasetKind,
        /// The file.
        path: PathBuf,
        /// What reading it reported.
        source: io::Error,
    },

    /// A folder of the dataset whose entries cannot be looked at (no permission to
    /// search it): its files are not missing, they cannot be reached.
    #[error(
        "cannot read the {what} folder {}: {source}; make it readable (chmod, or run as a \
         user who may read it), or copy the files to a folder you can read and give that",
        .dir.display()
    )]
    FolderUnreadable {
        /// The dataset, e.g. `MNIST`, `CIFAR-10`.
        what: String,
        /// The folder.
        dir: PathBuf,
        /// What looking in it reported (permission denied).
        source: io::Error,
    },

    /// A buffer for a file's data could not be allocated (a tight `ulimit -v`, or a
    /// machine out of memory). Without this check the process aborts.
    #[error(
        "not enough memory to load {}: it needs {} more, which this process cannot \
         allocate{} (--limit-train does not lower this: the whole file is read before the \
         samples are picked)",
        .path.display(), crate::memory::mib(*.bytes),
        match .address_space_limit {
            Some(limit) => format!(
                " (its address-space limit, ulimit -v, is {}): raise that limit, or free \
                 some memory", crate::memory::mib(*limit)),
            None => "; free some memory, or run it on a machine with more (a limit set \
                     with ulimit -v is lifted by raising it)".to_owned(),
        }
    )]
    OutOfMemory {
        /// The file being loaded.
        path: PathBuf,
        /// The bytes that could not be allocated.
        bytes: u64,
        /// The process's address-space limit (`ulimit -v`) in bytes, if one is set.
        address_space_limit: Option<u64>,
    },

    /// A `.gz` file that does not decompress.
    #[error(
        "{kind} file {} is not valid gzip ({source}): {}",
        .path.display(), replace_fix(*.kind, *.downloads, &[.path])
    )]
    CorruptGzip {
        /// The dataset.
        kind: DatasetKind,
        /// The file.
        path: PathBuf,
        /// What the decompressor reported.
        source: io::Error,
        /// Whether the loader downloads missing files into this directory
        /// ([`load_or_download`](crate::load_or_download): deleting the file and running
        /// again fetches a fresh copy) or only reads it ([`load`](crate::load), an explicit
        /// `--data-dir`: the file must be replaced by hand).
        downloads: bool,
    },

    /// A file (after decompression) that is not what its name says.
    #[error(
        "{kind} file {} is damaged: {defect}; {}",
        .path.display(), replace_fix(*.kind, *.downloads, &[.path])
    )]
    Malformed {
        /// The dataset.
        kind: DatasetKind,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        defect: FormatDefect,
        /// Whether the loader downloads missing files (see [`DataError::CorruptGzip`]).
        downloads: bool,
    },

    /// An images file and a labels file of the same split with different counts.
    #[error(
        "{kind} files {} ({images_count} images) and {} ({labels_count} labels) do not belong \
         together: {}",
        .images.display(), .labels.display(), replace_fix(*.kind, *.downloads, &[.images, .labels])
    )]
    CountMismatch {
        /// The dataset.
        kind: DatasetKind,
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images the images file holds.
        images_count: usize,
        /// Labels the labels file holds.
        labels_count: usize,
        /// Whether the loader downloads missing files (see [`DataError::CorruptGzip`]).
        downloads: bool,
    },

    /// The checked files could not be written to the temporary directory the `mnist` crate
    /// reads them from.
    #[error(
        "cannot stage the checked {kind} files for the mnist crate in a temporary directory \
         under {}: {source}; free some space there or set TMPDIR to a writable directory",
        .dir.display()
    )]
    Staging {
        /// The dataset.
        kind: DatasetKind,
        /// The system temporary directory.
        dir: PathBuf,
        /// What the file system reported.
        source: io::Error,
    },

    /// The `mnist` crate panicked on files that passed every check. A bug of this crate.
    #[error(
        "the mnist crate failed on {kind} files from {} that passed every check ({message}); \
         please report this as a scratchnet bug",
        .dir.display()
    )]
    ParserPanicked {
        /// The dataset.
        kind: DatasetKind,
        /// The data directory.
        dir: PathBuf,
        /// The panic message.
        message: String,
    },

    /// Every mirror failed for one file.
    #[error(
        "could not download {kind} file {file} into {} ({}): download {} by hand from one of \
         those mirrors and put them (raw or .gz) in that folder, or set {} to a folder that \
         holds them",
        .dir.display(), describe_attempts(.attempts), .missing.join(", "), .kind.dir_env_var()
    )]
    Download {
        /// The dataset.
        kind: DatasetKind,
        /// The directory the files go to.
        dir: PathBuf,
        /// The file that could not be downloaded (`….gz`).
        file: String,
        /// Each mirror tried, and why it failed; empty if no mirror was given.
        attempts: Vec<MirrorFailure>,
        /// The files (`….gz`) still missing from the directory: `file` and those not yet
        /// tried, for the hint to download them by hand.
        missing: Vec<String>,
    },

    /// A file could not be written (the data directory is not writable, the disk is full).
    #[error(
        "cannot write {kind} file {}: {source}; {}",
        .path.display(), write_fix(.path, .source, .kind.dir_env_var())
    )]
    Write {
        /// The dataset.
        kind: DatasetKind,
        /// The file or directory being written.
        path: PathBuf,
        /// What the file system reported.
        source: io::Error,
    },

    /// A CIFAR-10 folder without one of the six batch files.
    #[error(
        "CIFAR-10 file {file} is missing from {} (looked there and in its \
         cifar-10-batches-bin folder): download {} and extract it there, set CIFAR10_DIR to \
         the folder that holds the batches, or leave --data-dir out to download it into \
         data/cifar-10",
        .dir.display(), crate::cifar10::CIFAR10_URL
    )]
    Cifar10Missing {
        /// The directory looked in.
        dir: PathBuf,
        /// The missing file's name, e.g. `data_batch_3.bin`.
        file: String,
    },

    /// Something already at `cifar-10-batches-bin`, where the archive is to be extracted:
    /// a folder without all six batch files, or a file. Found before downloading.
    #[error(
        "the {} at {} is {}: remove it and run again to download and extract a fresh \
         copy{}",
        if *.is_folder { "folder" } else { "file" }, .path.display(),
        match .missing { Some(file) => format!("incomplete (it lacks {file})"),
            None => "in the way of the folder the CIFAR-10 archive extracts to".to_owned() },
        match .archive { Some(archive) => format!(
            " (the archive {} beside it is kept, checked and extracted then)", archive.display()),
            None => String::new() }
    )]
    Cifar10InTheWay {
        /// The path, `…/cifar-10-batches-bin`.
        path: PathBuf,
        /// Whether it is a folder (else a file, or something else).
        is_folder: bool,
        /// For a folder, the first batch file it lacks.
        missing: Option<String>,
        /// The archive already downloaded beside it, which is kept.
        archive: Option<PathBuf>,
    },

    /// A CIFAR-10 batch file that is not a whole number of valid records.
    #[error(
        "CIFAR-10 file {} is damaged: {defect}; replace it with a good copy (extract it \
         again from cifar-10-binary.tar.gz)",
        .path.display()
    )]
    Cifar10Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        defect: Cifar10Defect,
    },

    /// A file of a dataset other than MNIST's that cannot be read (missing, not a regular
    /// file, no permission, an I/O error).
    #[error(
        "cannot read {what} {}: {source}; make it a readable regular file, or replace it \
         with a good copy",
        .path.display()
    )]
    CannotRead {
        /// What the file is, e.g. `CIFAR-10 file`, `image`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What reading it reported.
        source: io::Error,
    },

    /// A file or folder of a dataset other than MNIST's that cannot be written.
    #[error(
        "cannot write {}: {source}; {}",
        .path.display(), write_fix(.path, .source, .env_var)
    )]
    CannotWrite {
        /// The file or folder.
        path: PathBuf,
        /// The variable that names another place, e.g. `CIFAR10_DIR`.
        env_var: &'static str,
        /// What the file system reported.
        source: io::Error,
    },

    /// A downloaded or found archive that cannot be extracted safely: corrupt or
    /// truncated, a member whose path leaves the folder, a link member, a member missing.
    #[error(
        "archive {} cannot be extracted: {problem}; delete it and run again to download a \
         fresh copy, or download {} by hand",
        .path.display(), crate::cifar10::CIFAR10_URL
    )]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The CIFAR-10 archive could not be downloaded.
    #[error(
        "could not download CIFAR-10 into {} ({}): download {url} by hand and extract it \
         there, or set CIFAR10_DIR to a folder that holds cifar-10-batches-bin",
        .dir.display(), describe_attempts(.attempts)
    )]
    ArchiveDownload {
        /// The directory the archive goes to.
        dir: PathBuf,
        /// The archive's URL.
        url: String,
        /// Each URL tried, and why it failed.
        attempts: Vec<MirrorFailure>,
    },

    /// A dataset is missing and would be downloaded, but this build has no downloader:
    /// scratchnet-data was built without its `download` feature. Nothing was written.
    #[error(
        "{what} is missing from {} and this build cannot download it (scratchnet-data was \
         built without its `download` feature): {by_hand}, or build with the `download` \
         feature (on by default)",
        .dir.display()
    )]
    DownloadNotBuilt {
        /// What is missing, e.g. `MNIST file train-images-idx3-ubyte (raw or .gz)`.
        what: String,
        /// The directory looked in.
        dir: PathBuf,
        /// How to put it there by hand.
        by_hand: String,
    },

    /// An image folder that cannot be used as it is laid out (or with the options given).
    #[error("image folder {}: {problem}", .path.display())]
    Folder {
        /// The folder (`--data-dir`).
        path: PathBuf,
        /// What is wrong, and what to do.
        problem: String,
    },

    /// An image in a folder that cannot be decoded.
    #[error(
        "cannot decode image {}: {reason}; fix or remove it, or pass --skip-bad-images to \
         skip (and count) such files",
        .path.display()
    )]
    BadImage {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
}

/// One failed attempt to download a file from one mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFailure {
    /// The full URL tried.
    pub url: String,
    /// Why it failed, e.g. `HTTP 404`, a time-out, or a checksum mismatch.
    pub reason: String,
}

impl std::fmt::Display for MirrorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

impl DataError {
    /// The same error, said as [`load_or_download`](crate::load_or_download) reports it:
    /// a damaged file is fixed by deleting it and running again, which downloads a fresh
    /// copy.
    pub(crate) fn when_downloading(mut self) -> Self {
        if let Self::CorruptGzip { downloads, .. }
        | Self::Malformed { downloads, .. }
        | Self::CountMismatch { downloads, .. } = &mut self
        {
            *downloads = true;
        }
        self
    }
}

/// How to replace the damaged `files`: delete and run again where the loader downloads
/// missing files, else put good copies there by hand (a directory that is only read,
/// like an explicit `--data-dir`, is never downloaded into). For an uncompressed file,
/// also that it is read in place of its `.gz`, so that deleting it may be all it takes.
fn replace_fix(kind: DatasetKind, downloads: bool, files: &[&PathBuf]) -> String {
    let fix = replace_fix_alone(kind, downloads, files);
    let raw: Vec<String> = files
        .iter()
        .map(|path| path.file_name().unwrap_or_default().to_string_lossy())
        .filter(|name| !name.ends_with(".gz"))
        .map(|name| name.into_owned())
        .collect();
    match raw.as_slice() {
        [] => fix,
        [name] => format!(
            "{fix} ({name} is read in place of {name}.gz: if a good {name}.gz is beside it, \
             deleting {name} is enough)"
        ),
        _ => format!(
            "{fix} (uncompressed files are read in place of their .gz: if good .gz files \
             are beside them, deleting {} is enough)",
            raw.join(" and ")
        ),
    }
}

/// [`replace_fix`] without the note on uncompressed files.
fn replace_fix_alone(kind: DatasetKind, downloads: bool, files: &[&PathBuf]) -> String {
    let (it, copy) = if files.len() == 1 {
        ("it", "a fresh copy")
    } else {
        ("them", "fresh copies")
    };
    if downloads {
        return format!(
            "delete {it} and run again to download {copy}, or replace {it} with a good one"
        );
    }
    let names: Vec<String> = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let raw = name.strip_suffix(".gz").unwrap_or(&name);
            format!("{raw}.gz")
        })
        .collect();
    format!(
        "replace {it} with {} (download {} from {} into that folder); this folder is only \
         read, never downloaded into",
        if files.len() == 1 {
            "a good copy"
        } else {
            "a matching pair"
        },
        names.join(" and "),
        kind.mirrors()[0]
    )
}

/// What to do when writing `path` failed with `source`: free space for a full disk; for
/// a path through a file, which component is the file; else make the folder writable.
fn write_fix(path: &Path, source: &io::Error, env_var: &str) -> String {
    let elsewhere = format!("or set {env_var} to another folder");
    match source.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            format!("free some space on that disk, {elsewhere} (on another disk)")
        }
        io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
            match path
                .ancestors()
                .find(|p| std::fs::metadata(p).is_ok_and(|m| !m.is_dir()))
            {
                Some(file) => format!(
                    "{} is a file, not a folder: remove or rename it, {elsewhere}",
                    file.display()
                ),
                None => format!("make its folder writable, {elsewhere}"),
            }
        }
        _ => format!("make its folder writable, {elsewhere}"),
    }
}

fn describe_attempts(attempts: &[MirrorFailure]) -> String {
    if attempts.is_empty() {
        return "no mirror was given".to_owned();
    }
    let tried: Vec<String> = attempts.iter().map(ToString::to_string).collect();
    format!("tried {}", tried.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_error_lists_every_mirror_and_says_how_to_place_files_by_hand() {
        let error = DataError::Download {
            kind: DatasetKind::Mnist,
            dir: PathBuf::from("/data/mnist"),
            file: "train-labels-idx1-ubyte.gz".into(),
            missing: vec![
                "train-labels-idx1-ubyte.gz".into(),
                "t10k-images-idx3-ubyte.gz".into(),
            ],
            attempts: vec![
                MirrorFailure {
                    url: "https://a.example/train-labels-idx1-ubyte.gz".into(),
                    reason: "HTTP 404".into(),
                },
                MirrorFailure {
                    url: "https://b.example/train-labels-idx1-ubyte.gz".into(),
                    reason: "timed out".into(),
                },
            ],
        };
        let message = error.to_string();
        for part in [
            "train-labels-idx1-ubyte.gz into /data/mnist",
            "https://a.example/train-labels-idx1-ubyte.gz: HTTP 404",
            "https://b.example/train-labels-idx1-ubyte.gz: timed out",
            "download train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz by hand",
            "MNIST_DIR",
        ] {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
        // Only the missing files: not the one already there.
        assert!(!message.contains("train-images"), "{message}");
    }

    #[test]
    fn write_errors_say_to_free_space_or_which_component_is_a_file() {
        let full = DataError::Write {
            kind: DatasetKind::Mnist,
            path: PathBuf::from("/data/mnist/.t.part"),
            source: io::Error::from_raw_os_error(28), // ENOSPC
        }
        .to_string();
        assert!(full.contains("free some space on that disk"), "{full}");
        assert!(!full.contains("writable"), "{full}");

        let parent = tempfile::tempdir().unwrap();
        let file = parent.path().join("filep");
        std::fs::write(&file, b"x").unwrap();
        let path = file.join("mnist");
        let source = std::fs::create_dir_all(&path).unwrap_err();
        let through_a_file = DataError::CannotWrite {
            path,
            env_var: "CIFAR10_DIR",
            source,
        }
        .to_string();
        assert!(
            through_a_file.contains(&format!(
                "{} is a file, not a folder: remove or rename it, or set CIFAR10_DIR",
                file.display()
            )),
            "{through_a_file}"
        );
    }

    #[test]
    fn a_default_folder_that_is_a_file_is_to_be_removed_or_renamed() {
        let message = DataError::DefaultDirIsAFile {
            kind: DatasetKind::Mnist,
            path: PathBuf::from("data/mnist"),
        }
        .to_string();
        assert!(
            message.contains(
                "data/mnist when no folder is given, but that is a file: remove or rename it"
            ),
            "{message}"
        );
    }
}

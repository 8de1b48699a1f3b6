//! One test per kind of damage: each must come back as a `DataError` whose message names
//! the file (or directory), never as a panic from the `mnist` crate.

mod common;

use std::path::{Path, PathBuf};

use common::{gzip, images_file, labels_file, write_small_set};
use scratchnet_data::{load, DataError, DatasetKind, FormatDefect};

/// A directory with a consistent 3-sample set (too small to be complete, which is checked
/// last, so every earlier defect shows first).
fn small_set_dir(gz: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_small_set(dir.path(), 3, gz);
    dir
}

fn load_err(dir: &Path) -> DataError {
    match load(DatasetKind::Mnist, dir) {
        Ok(_) => panic!("loading {} should have failed", dir.display()),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_names(error: &DataError, path: &Path) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} does not name {}",
        path.display()
    );
}

fn malformed(error: &DataError) -> &FormatDefect {
    match error {
        DataError::Malformed { defect, .. } => defect,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn missing_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("no-such-dir");
    let error = load_err(&dir);
    assert!(matches!(error, DataError::DirectoryMissing { .. }));
    assert_names(&error, &dir);
    assert!(error.to_string().contains("MNIST_DIR"));
}

#[test]
fn a_file_where_the_directory_should_be() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("mnist");
    std::fs::write(&path, b"").unwrap();
    let error = load_err(&path);
    assert!(matches!(error, DataError::NotADirectory { .. }));
    assert_names(&error, &path);
}

#[test]
fn a_dangling_or_looping_link_is_reported_as_such_not_as_missing() {
    let dir = small_set_dir(true);
    let link = dir.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.gz"), &link).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(error, DataError::BrokenLink { .. }), "{error:?}");
    assert_names(&error, &link);
    assert!(error.to_string().contains("is a broken symbolic link"));

    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("t10k-labels-idx1-ubyte.gz", &link).unwrap();
    let message = load_err(dir.path()).to_string();
    assert!(message.contains("is a broken symbolic link"), "{message}");
}

#[test]
fn missing_file() {
    let dir = small_set_dir(true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let error = load_err(dir.path());
    assert!(
        matches!(&error, DataError::FileMissing { file, .. } if file == "t10k-labels-idx1-ubyte")
    );
    assert_names(&error, dir.path());
    let message = error.to_string();
    assert!(message.contains("t10k-labels-idx1-ubyte"), "{message}");
    assert!(message.contains("https://storage.googleapis.com/cvdf-datasets/mnist/"));
}

/// The tests run as root here, which reads any file whatever its mode; a directory with
/// the file's name is unreadable as a file for everyone.
#[test]
fn unreadable_file() {
    let dir = small_set_dir(false);
    let path = dir.path().join("train-labels-idx1-ubyte");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(error, DataError::Unreadable { .. }), "{error:?}");
    assert_names(&error, &path);
}

#[test]
fn wrong_magic_number() {
    let dir = small_set_dir(false);
    let path = dir.path().join("train-images-idx3-ubyte");
    // A labels file under the images name.
    std::fs::write(&path, labels_file(&[1, 2, 3])).unwrap();
    let error = load_err(dir.path());
    assert_eq!(
        malformed(&error),
        &FormatDefect::WrongMagic {
            found: 2049,
            expected: 2051
        }
    );
    assert_names(&error, &path);
    assert!(error.to_string().contains("looks like a labels file"));
}

#[test]
fn image_and_label_counts_differ() {
    let dir = small_set_dir(false);
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::write(&labels, labels_file(&[1, 2, 3, 4])).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(
        error,
        DataError::CountMismatch {
            images_count: 3,
            labels_count: 4,
            ..
        }
    ));
    assert_names(&error, &labels);
    assert_names(&error, &dir.path().join("t10k-images-idx3-ubyte"));
}

#[test]
fn wrong_rows_or_cols() {
    let dir = small_set_dir(false);
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let mut bytes = images_file(3);
    bytes[12..16].copy_from_slice(&27u32.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    let error = load_err(dir.path());
    assert_eq!(
        malformed(&error),
        &FormatDefect::WrongImageSize { rows: 28, cols: 27 }
    );
    assert_names(&error, &path);
}

#[test]
fn label_above_9() {
    let dir = small_set_dir(true);
    let path = dir.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&path, gzip(&labels_file(&[3, 200, 1]))).unwrap();
    let error = load_err(dir.path());
    assert_eq!(
        malformed(&error),
        &FormatDefect::LabelOutOfRange {
            index: 1,
            label: 200
        }
    );
    assert_names(&error, &path);
}

#[test]
fn truncated_file() {
    let dir = small_set_dir(false);
    let path = dir.path().join("train-images-idx3-ubyte");
    let bytes = images_file(3);
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(
        malformed(&error),
        FormatDefect::Truncated { count: 3, .. }
    ));
    assert_names(&error, &path);
}

#[test]
fn truncated_gzip_stream() {
    let dir = small_set_dir(true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    let bytes = gzip(&images_file(3));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(error, DataError::CorruptGzip { .. }), "{error:?}");
    assert_names(&error, &path);
}

#[test]
fn trailing_bytes() {
    let dir = small_set_dir(true);
    let path = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = labels_file(&[1, 2, 3]);
    bytes.extend_from_slice(b"junk");
    std::fs::write(&path, gzip(&bytes)).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(
        malformed(&error),
        FormatDefect::TrailingBytes {
            expected: 11,
            actual: 15,
            ..
        }
    ));
    assert_names(&error, &path);
    assert!(error.to_string().contains("4 unexpected trailing bytes"));
}

#[test]
fn corrupt_gzip() {
    let dir = small_set_dir(true);
    let path = dir.path().join("train-labels-idx1-ubyte.gz");
    let mut bytes = gzip(&labels_file(&[1, 2, 3]));
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle - 2..middle + 2] {
        *b ^= 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();
    let error = load_err(dir.path());
    assert!(matches!(error, DataError::CorruptGzip { .. }), "{error:?}");
    assert_names(&error, &path);
}

#[test]
fn not_gzip_at_all() {
    let dir = small_set_dir(true);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    std::fs::write(&path, b"<html>404 Not Found</html>").unwrap();
    let error = load_err(dir.path());
    assert!(matches!(error, DataError::CorruptGzip { .. }), "{error:?}");
    assert_names(&error, &path);
}

#[test]
fn empty_file() {
    for gz in [false, true] {
        let dir = small_set_dir(gz);
        let name = if gz {
            "train-labels-idx1-ubyte.gz"
        } else {
            "train-labels-idx1-ubyte"
        };
        let path = dir.path().join(name);
        std::fs::write(&path, b"").unwrap();
        let error = load_err(dir.path());
        assert_eq!(malformed(&error), &FormatDefect::Empty);
        assert_names(&error, &path);
    }
}

#[test]
fn gzip_of_nothing() {
    let dir = small_set_dir(true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, gzip(b"")).unwrap();
    let error = load_err(dir.path());
    assert_eq!(malformed(&error), &FormatDefect::Empty);
    assert_names(&error, &path);
}

#[test]
fn shorter_than_the_header() {
    let dir = small_set_dir(false);
    let path = dir.path().join("t10k-images-idx3-ubyte");
    std::fs::write(&path, &images_file(1)[..10]).unwrap();
    let error = load_err(dir.path());
    assert_eq!(
        malformed(&error),
        &FormatDefect::HeaderTooShort {
            len: 10,
            header_len: 16
        }
    );
    assert_names(&error, &path);
}

#[test]
fn consistent_but_incomplete_set() {
    let dir = small_set_dir(false);
    let error = load_err(dir.path());
    assert_eq!(
        malformed(&error),
        &FormatDefect::WrongCount {
            found: 3,
            expected: 60_000
        }
    );
    assert_names(&error, &dir.path().join("train-images-idx3-ubyte"));
}

#[test]
fn a_huge_file_is_refused_unread() {
    let dir = small_set_dir(false);
    let path = dir.path().join("train-labels-idx1-ubyte");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 32).unwrap(); // sparse: 4 GiB that take no disk
    let error = load_err(dir.path());
    assert!(matches!(malformed(&error), FormatDefect::TooLarge { .. }));
    assert_names(&error, &path);
}

/// Seeded random damage — bytes flipped, cut, appended, headers rewritten — to raw and
/// `.gz` files: every case must be an error, none a panic.
#[test]
fn random_damage_never_panics() {
    use scratchnet_data::DatasetKind;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let files: Vec<&str> = DatasetKind::Mnist.files().iter().map(|f| f.name).collect();
    let dir = tempfile::tempdir().unwrap();
    for case in 0..150 {
        let gz = case % 2 == 1;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        write_small_set(dir.path(), 1 + next(4), gz);
        let name = files[next(4)];
        let path: PathBuf = dir.path().join(if gz {
            format!("{name}.gz")
        } else {
            name.to_owned()
        });
        let mut bytes = std::fs::read(&path).unwrap();
        match next(4) {
            0 => {
                let i = next(bytes.len());
                bytes[i] ^= 1 << next(8);
            }
            1 => bytes.truncate(next(bytes.len())),
            2 => bytes.extend((0..1 + next(40)).map(|_| next(256) as u8)),
            _ => {
                let i = next(bytes.len().min(16));
                bytes[i] = next(256) as u8;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| load(DatasetKind::Mnist, dir.path()));
        match outcome {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("case {case}: a 1..4-sample set loaded"),
            Err(_) => panic!("case {case}: load panicked on damaged {name}"),
        }
    }
}

/// Issue 16: "delete it and run again to download a fresh copy" was said for every damaged
/// file, though `load` (an explicit `--data-dir`) never downloads: deleting the file would
/// only turn the error into "missing". Each loader now gives the fix that works for it.
#[test]
fn the_fix_for_a_damaged_file_depends_on_whether_the_loader_downloads() {
    let dir = small_set_dir(true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, gzip(&labels_file(&[1, 2, 3]))).unwrap();

    // `load` only reads: replace the file by hand, from a mirror.
    let message = load_err(dir.path()).to_string();
    assert!(!message.contains("run again"), "{message}");
    assert!(
        message.contains(
            "replace it with a good copy (download train-images-idx3-ubyte.gz from https://"
        ) && message.contains("never downloaded into"),
        "{message}"
    );

    // `load_or_download` downloads what is missing: deleting the file is the fix.
    let options = scratchnet_data::DownloadOptions::default();
    let loaded =
        scratchnet_data::load_or_download_from(DatasetKind::Mnist, Some(dir.path()), &[], &options);
    let Err(error) = loaded else {
        panic!("a damaged file was loaded")
    };
    let message = error.to_string();
    assert!(
        matches!(malformed(&error), FormatDefect::WrongMagic { .. })
            && message.contains("delete it and run again to download a fresh copy"),
        "{message}"
    );

    // A pair that does not match: both named, both to replace.
    let dir = small_set_dir(false);
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        labels_file(&[1, 2, 3, 4]),
    )
    .unwrap();
    let message = load_err(dir.path()).to_string();
    assert!(
        message.contains("replace them with a matching pair (download t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from")
            && !message.contains("run again"),
        "{message}"
    );
    // An uncompressed file is read in place of its .gz, which may be good: its message
    // said to download the .gz, which was already there.
    assert!(
        message.contains("(uncompressed files are read in place of their .gz: if good .gz files are beside them, deleting t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte is enough)"),
        "{message}"
    );
    let dir = small_set_dir(true);
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        labels_file(&[1, 2, 3]),
    )
    .unwrap();
    let message = load_err(dir.path()).to_string();
    assert!(
        message.contains("(train-images-idx3-ubyte is read in place of train-images-idx3-ubyte.gz: if a good train-images-idx3-ubyte.gz is beside it, deleting train-images-idx3-ubyte is enough)"),
        "{message}"
    );
}

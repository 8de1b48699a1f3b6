//! Replays the inputs of the `idx_loader` fuzz target (`fuzz/`, see `fuzz/README.md`)
//! with a plain `cargo test`: no nightly, no sanitizer, same path as the fuzzer.
//!
//! Two sets of inputs are replayed:
//!
//! - `tests/fuzz_regressions/idx_loader/`: inputs that once crashed the target (copy a
//!   `fuzz/artifacts/idx_loader/crash-*` here when you fix what it found);
//! - `fuzz/corpus/idx_loader/`: the minimised corpus of the last fuzzing run.
//!
//! Each input is split into four files exactly as the fuzz target does (the same code:
//! `fuzz/src/idx_input.rs`, included below), written to a temporary directory and loaded
//! with [`scratchnet_data::load`], which must return `Ok` with complete splits or an `Err`
//! with a message, and must not panic nor report `ParserPanicked`.

#[path = "../../../fuzz/src/idx_input.rs"]
#[allow(dead_code)] // `encode` and friends are for building inputs
mod idx_input;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use idx_input::{encode, IdxInput, Placement, FILE_NAMES, SEPARATOR};
use scratchnet_data::{load, DataError, DatasetKind};

/// Crash inputs kept as regression tests.
fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/idx_loader")
}

/// The fuzz corpus, `fuzz/corpus/idx_loader` at the workspace root.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/idx_loader")
}

/// What the fuzz target does with one input; `Err` says what went wrong.
fn replay(data: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a directory: {e}"))?;
    IdxInput::decode(data)
        .write_to(dir.path())
        .map_err(|e| format!("cannot write the files: {e}"))?;
    match catch_unwind(AssertUnwindSafe(|| load(DatasetKind::Mnist, dir.path()))) {
        Err(_) => Err("load panicked".to_owned()),
        Ok(Ok(dataset)) if (dataset.train.len(), dataset.test.len()) == (60_000, 10_000) => Ok(()),
        Ok(Ok(dataset)) => Err(format!(
            "load returned {} + {} samples",
            dataset.train.len(),
            dataset.test.len()
        )),
        Ok(Err(error @ DataError::ParserPanicked { .. })) => Err(error.to_string()),
        Ok(Err(error)) if error.to_string().is_empty() => {
            Err(format!("{error:?} has an empty message"))
        }
        Ok(Err(_)) => Ok(()),
    }
}

/// Replays every input file in `dir` (not `*.md`, not hidden); returns how many.
fn replay_dir(dir: &Path) -> usize {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            path.is_file() && !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    paths.sort();
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).unwrap();
            replay(&data)
                .err()
                .map(|why| format!("{}: {why}", path.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    paths.len()
}

/// The kept crash inputs (none yet: the folder is where they go) and the corpus, which
/// is part of the repository and must not be empty.
#[test]
fn crash_inputs_and_the_fuzz_corpus_load_cleanly() {
    let crashes = replay_dir(&regressions_dir());
    let dir = corpus_dir();
    assert!(dir.is_dir(), "the fuzz corpus {} is missing", dir.display());
    let replayed = replay_dir(&dir);
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
    eprintln!("replayed {crashes} crash inputs and {replayed} corpus inputs");
}

#[test]
fn inputs_split_into_four_placed_files() {
    let files: [(Placement, &[u8]); 4] = [
        (Placement::Raw, b"images"),
        (Placement::Gzipped, b""),
        (Placement::GzAsGiven, b"\x1f\x8b"),
        (Placement::RawAndDecoyGz, b"last--8<--keeps the separator"),
    ];
    let data = encode(&files);
    assert_eq!(data[0], 0b11_10_01_00);
    assert_eq!(IdxInput::decode(&data).files, files);

    // Missing files are empty raw files; an empty input is four of them.
    let short = IdxInput::decode(b"\x05abc--8<--");
    assert_eq!(short.files[0], (Placement::Gzipped, &b"abc"[..]));
    assert_eq!(short.files[1], (Placement::Gzipped, &b""[..]));
    assert_eq!(short.files[2], (Placement::Raw, &b""[..]));
    assert_eq!(IdxInput::decode(b"").files, [(Placement::Raw, &b""[..]); 4]);
    assert_eq!(SEPARATOR, b"--8<--");
}

#[test]
fn placed_files_get_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = encode(&[
        (Placement::Raw, b"a"),
        (Placement::Gzipped, b"b"),
        (Placement::GzAsGiven, b"c"),
        (Placement::RawAndDecoyGz, b"d"),
    ]);
    IdxInput::decode(&data).write_to(dir.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let [train_images, train_labels, test_images, test_labels] = FILE_NAMES;
    let mut expected = vec![
        train_images.to_owned(),
        format!("{train_labels}.gz"),
        format!("{test_images}.gz"),
        test_labels.to_owned(),
        format!("{test_labels}.gz"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        std::fs::read(dir.path().join(format!("{test_images}.gz"))).unwrap(),
        b"c"
    );
    // The names are the dataset's.
    let real: Vec<&str> = DatasetKind::Mnist.files().iter().map(|f| f.name).collect();
    assert_eq!(real, FILE_NAMES);
}

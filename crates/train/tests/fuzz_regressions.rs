//! Replays the inputs of the `checkpoint_loader` fuzz target (`fuzz/`, see
//! `fuzz/README.md`) with a plain `cargo test`: no nightly, no sanitizer, the same
//! checks as the fuzzer (the same code: `fuzz/src/checkpoint_check.rs`, included
//! below). The `image_loader` target's inputs are replayed by
//! `crates/cli/tests/fuzz_regressions.rs`, beside the image loader.
//!
//! Two sets of inputs are replayed:
//!
//! - `tests/fuzz_regressions/<target>/`: inputs that once crashed the target (copy a
//!   `fuzz/artifacts/<target>/crash-*` here when you fix what it found);
//! - `fuzz/corpus/<target>/`: the minimised corpus of the last fuzzing run.

#[path = "../../../fuzz/src/checkpoint_check.rs"]
mod checkpoint_check;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

use replay::replay_dir;
use std::path::{Path, PathBuf};

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_train::{
    load_model, models::lenet5, Adam, AdamConfig, Checkpoint, CheckpointError, History, Optimizer,
};

/// Crash inputs of `target` kept as regression tests.
fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target)
}

/// The fuzz corpus of `target`, `fuzz/corpus/<target>` at the workspace root.
fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Replays the kept crash inputs of `target` (none yet: the folder is where they go)
/// and its corpus, which is part of the repository and must not be empty.
fn replay_crashes_and_corpus(target: &str, check: impl Fn(&[u8])) {
    let crashes = replay_dir(&regressions_dir(target), &check);
    let dir = corpus_dir(target);
    assert!(dir.is_dir(), "the fuzz corpus {} is missing", dir.display());
    let replayed = replay_dir(&dir, check);
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
    eprintln!("replayed {crashes} crash inputs and {replayed} {target} corpus inputs");
}

#[test]
fn checkpoint_crash_inputs_and_the_fuzz_corpus_load_cleanly() {
    replay_crashes_and_corpus("checkpoint_loader", checkpoint_check::check);
}

/// The check's success paths: a real LeNet-5 checkpoint with Adam state applies, and
/// every truncation of it is an error.
#[test]
fn a_real_lenet_checkpoint_and_its_truncations_pass_the_check() {
    let model = lenet5(&mut StdRng::seed_from_u64(3));
    let adam = Adam::new(AdamConfig::default()).unwrap();
    let bytes = Checkpoint::for_training(&model, &adam, 2, 9, &History::new())
        .to_bytes()
        .unwrap();
    checkpoint_check::check(&bytes);
    let mut fresh = lenet5(&mut StdRng::seed_from_u64(4));
    Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut fresh)
        .unwrap();
    for len in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Checkpoint::from_bytes(&bytes[..len]).is_err(),
            "{len} bytes"
        );
        checkpoint_check::check(&bytes[..len]);
    }
    let tiny = Checkpoint::from_model(&checkpoint_check::tiny_model())
        .to_bytes()
        .unwrap();
    checkpoint_check::check(&tiny);
    let state = adam.state();
    assert_eq!(state.steps, 0);
}

/// The hand-made seeds of the file and metadata checks (issue 16; `seed-*` in the
/// corpus, written by `fuzz/seeds/checkpoint_loader.py`), each with what it must give:
/// a bad header length or size is a format error for both loaders; impossible training
/// metadata is refused by `Checkpoint::load` (`--resume`) and taken as absent by
/// `load_model` (`predict`); a bad or newer layout version is refused by both.
#[test]
fn the_seeds_of_the_file_and_metadata_checks_give_the_expected_errors() {
    let dir = corpus_dir("checkpoint_loader");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            [
                "seed-meta-",
                "seed-header-length-",
                "seed-size-",
                "seed-header-only-",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix))
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 24, "{seeds:?}");
    for path in &seeds {
        let name = path.file_name().unwrap().to_string_lossy();
        let strict = Checkpoint::load(path);
        let mut model = checkpoint_check::tiny_model();
        let lenient = load_model(path, &mut model);
        match name.strip_prefix("seed-meta-") {
            None => {
                for result in [strict.map(|_| ()), lenient.map(|_| ())] {
                    assert!(
                        matches!(result, Err(CheckpointError::Format { .. })),
                        "{name}: {result:?}"
                    );
                }
            }
            Some(version) if version.starts_with("version-") => {
                for result in [strict.map(|_| ()), lenient.map(|_| ())] {
                    let newer = version == "version-99";
                    assert!(
                        match result {
                            Err(CheckpointError::NewerVersion { found: 99, .. }) => newer,
                            Err(CheckpointError::Metadata { ref key, .. }) =>
                                !newer && key == "scratchnet.version",
                            _ => false,
                        },
                        "{name}: {result:?}"
                    );
                }
            }
            Some(_) => {
                assert!(
                    matches!(strict, Err(CheckpointError::Metadata { .. })),
                    "{name}: {:?}",
                    strict.map(|_| ())
                );
                let loaded = lenient.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(loaded.training.is_none(), "{name}");
            }
        }
    }
}

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
use scratchnet_train::{models::lenet5, Adam, AdamConfig, Checkpoint, History, Optimizer};

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

fn replay_corpus(target: &str, check: impl Fn(&[u8])) {
    let dir = corpus_dir(target);
    if !dir.is_dir() {
        eprintln!("skipped: no fuzz corpus at {}", dir.display());
        return;
    }
    let replayed = replay_dir(&dir, check);
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
    eprintln!("replayed {replayed} {target} corpus inputs");
}

#[test]
fn checkpoint_crash_inputs_found_by_fuzzing_load_cleanly() {
    let replayed = replay_dir(
        &regressions_dir("checkpoint_loader"),
        checkpoint_check::check,
    );
    eprintln!("replayed {replayed} crash inputs");
}

#[test]
fn the_checkpoint_fuzz_corpus_loads_cleanly() {
    replay_corpus("checkpoint_loader", checkpoint_check::check);
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

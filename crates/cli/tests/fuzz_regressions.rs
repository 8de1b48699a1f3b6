//! Replays the inputs of the `image_loader` fuzz target (`fuzz/`, see `fuzz/README.md`)
//! with a plain `cargo test`: no nightly, no sanitizer, the same checks as the fuzzer
//! (the same code: `fuzz/src/image_check.rs`, included below). The `checkpoint_loader`
//! target's inputs are replayed by `crates/train/tests/fuzz_regressions.rs`.
//!
//! Two sets of inputs are replayed:
//!
//! - `tests/fuzz_regressions/image_loader/`: inputs that once crashed the target (copy a
//!   `fuzz/artifacts/image_loader/crash-*` here when you fix what it found);
//! - `fuzz/corpus/image_loader/`: the minimised corpus of the last fuzzing run.

#[path = "../../../fuzz/src/image_check.rs"]
mod image_check;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

use replay::replay_dir;
use std::path::Path;

fn check_image(data: &[u8]) {
    let dir = tempfile::tempdir().expect("cannot create a directory");
    image_check::check(data, dir.path());
}

/// The kept crash inputs (none yet: the folder is where they go) and the corpus, which
/// is part of the repository and must not be empty.
#[test]
fn image_crash_inputs_and_the_fuzz_corpus_load_cleanly() {
    let crashes_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/image_loader");
    let crashes = replay_dir(&crashes_dir, check_image);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/image_loader");
    assert!(dir.is_dir(), "the fuzz corpus {} is missing", dir.display());
    let replayed = replay_dir(&dir, check_image);
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
    eprintln!("replayed {crashes} crash inputs and {replayed} image_loader corpus inputs");
}

/// The check's success path: a real PNG gives 784 pixels.
#[test]
fn a_real_png_passes_the_check() {
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(40, 30, image::Luma([200])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    check_image(&png);
    check_image(&png[..png.len() / 2]);
}

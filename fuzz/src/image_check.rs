//! What the `image_loader` fuzz target checks for one input; shared with
//! `crates/cli/tests/fuzz_regressions.rs`, which replays the corpus with `cargo test`.
//!
//! The input is the bytes of an image file. [`check`] writes them to a file without an
//! extension (the format is guessed from the content, as for any file `predict` is given)
//! in `dir` and reads it with [`load_digit`], which must return 784 pixels or an error
//! with a message, and never panic.

use std::path::Path;

use scratchnet_cli::load_digit;

/// Runs one input through `predict`'s image loader; panics on any broken promise.
pub fn check(data: &[u8], dir: &Path) {
    let path = dir.join("digit");
    std::fs::write(&path, data).expect("cannot write the fuzz input file");
    match load_digit(&path) {
        Ok(pixels) => assert_eq!(
            pixels.len(),
            784,
            "load_digit returned {} pixels",
            pixels.len()
        ),
        Err(error) => assert!(
            !error.to_string().is_empty(),
            "{error:?} has an empty message"
        ),
    }
}

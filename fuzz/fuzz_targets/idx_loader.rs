//! Fuzzes `scratchnet_data::load`, the public entry that finds, reads (raw or `.gz`),
//! validates and parses a dataset's four IDX files, through the file system as a user's
//! data directory would reach it.
//!
//! Each input is split into four files (`scratchnet_fuzz::idx_input` documents the
//! format), written to a fresh directory (on `/dev/shm` when it exists), and loaded.
//! `load` promises that no input makes it panic: every input must give `Ok` with complete
//! 60,000 + 10,000 sample splits, or an `Err` with a message, and never
//! `ParserPanicked` (the `mnist` crate panicking on files that passed every check).
//! libfuzzer-sys's panic hook aborts on any panic, even one `load` catches, so a panic
//! anywhere on the path is reported as a crash.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use scratchnet_data::{load, DataError, DatasetKind};
use scratchnet_fuzz::idx_input::IdxInput;

fuzz_target!(|data: &[u8]| {
    let input = IdxInput::decode(data);
    let base = Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::Builder::new()
            .prefix("scratchnet-fuzz-")
            .tempdir_in(base)
    } else {
        tempfile::Builder::new()
            .prefix("scratchnet-fuzz-")
            .tempdir()
    }
    .expect("cannot create the fuzz input directory");
    input
        .write_to(dir.path())
        .expect("cannot write the fuzz input files");

    match load(DatasetKind::Mnist, dir.path()) {
        Ok(dataset) => {
            assert_eq!(dataset.train.len(), 60_000);
            assert_eq!(dataset.test.len(), 10_000);
        }
        Err(error @ DataError::ParserPanicked { .. }) => {
            panic!("the mnist crate panicked on checked files: {error}")
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

//! Fuzzes `predict`'s image loader: arbitrary bytes as an image file (PNG, JPEG, or
//! anything else), written to a file in a fresh directory (on `/dev/shm` when it exists)
//! and read with `scratchnet_cli::load_digit`, which must return 784 pixels or an error
//! with a message, and never panic (`scratchnet_fuzz::image_check`).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
    scratchnet_fuzz::image_check::check(data, dir.path());
});

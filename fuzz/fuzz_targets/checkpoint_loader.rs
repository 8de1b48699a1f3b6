//! Fuzzes the checkpoint loader: arbitrary bytes as a checkpoint file, through
//! `scratchnet_train::Checkpoint::from_bytes` (what `Checkpoint::load` runs on a file's
//! bytes) and, when they parse, `apply_to` a LeNet-5 and a tiny model, the training state
//! into Adam and SGD, and back to bytes. `scratchnet_fuzz::checkpoint_check` says what is
//! checked. Nothing may panic; libfuzzer-sys aborts on any panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scratchnet_fuzz::checkpoint_check::check(data);
});

//! Helpers of scratchnet's fuzz targets (see `README.md`). Kept free of `libfuzzer-sys` so
//! that the regression tests of the main workspace can include them and replay inputs.

pub mod checkpoint_check;
pub mod idx_input;
pub mod image_check;

//! # scratchnet
//!
//! A small convolutional-network training framework written from scratch in Rust.
//! This facade re-exports the member crates:
//!
//! - [`tensor`]: numeric kernels on `ndarray` (convolution, pooling, activations, softmax, initialisers);
//! - [`layers`]: the [`Layer`](layers::Layer) trait, the built-in layers, the loss and `gradcheck`;
//! - [`data`]: MNIST / Fashion-MNIST loading, download and mini-batches;
//! - [`train`]: optimizers, the trainer, metrics and checkpoints.
//!
//! `use scratchnet::prelude::*;` brings in everything a training script needs.

pub use ndarray;
pub use ndarray_rand;
pub use scratchnet_data as data;
pub use scratchnet_layers as layers;
pub use scratchnet_tensor as tensor;
pub use scratchnet_train as train;

/// Everything a training script usually needs, in one import.
pub mod prelude {}

//! The reference tier: every operation a layer uses, forward and backward, and Adam's
//! update, as plain loops that read like the formula in their doc.
//!
//! No `unsafe`, no threads, no SIMD, no matrix-product tricks: ndarray indexing
//! and the definition. This is what the fast kernels of [`conv`](crate::conv),
//! [`pool`](crate::pool), [`dense`](crate::dense), [`activation`](crate::activation), [`add`](crate::add), [`adam`](crate::adam),
//! [`batch_norm`](crate::batch_norm) and [`softmax`](crate::softmax) must reproduce (`tests/fast_vs_reference.rs`
//! holds them to it), and what runs instead of them after
//! [`set_kernels`](crate::kernels::set_kernels)`(Kernels::Reference)` or with
//! `SCRATCHNET_KERNELS=reference`.
//!
//! | file | forward | backward |
//! |---|---|---|
//! | `conv2d.rs` | [`conv2d`] | [`conv2d_backward`] |
//! | `max_pool2d.rs` | [`max_pool2d`] | [`max_pool2d_backward`] |
//! | `avg_pool2d.rs` | [`avg_pool2d`] | [`avg_pool2d_backward`] |
//! | `dense.rs` | [`dense`] | [`dense_backward`] |
//! | `softmax_cross_entropy.rs` | [`softmax`], [`softmax_cross_entropy`] | [`softmax_cross_entropy_backward`] |
//! | `batch_norm.rs` | [`channel_mean_and_biased_var`], [`batch_norm`] | [`channel_grad_sums`], [`batch_norm_backward`] |
//! | `add.rs` | [`add_assign`] (a residual connection's sum) | the gradient passes unchanged to both terms |
//! | `adam.rs` | [`adam_update`] (an optimizer's step, not a layer's) | — |
//! | `activation.rs` | [`relu`], [`leaky_relu`], [`tanh`], [`sigmoid`] | [`relu_backward`], [`leaky_relu_backward`], [`tanh_backward`], [`sigmoid_backward`] |
//!
//! Shapes are PyTorch's: activations NCHW, convolution weights OIHW, dense
//! weights `[out, in]`. Like the fast kernels, these assume the layers checked
//! the shapes, and panic (on an index out of bounds at worst) if not.

mod activation;
mod adam;
mod add;
mod avg_pool2d;
mod batch_norm;
mod conv2d;
mod dense;
mod max_pool2d;
mod softmax_cross_entropy;

pub use activation::{
    leaky_relu, leaky_relu_backward, relu, relu_backward, sigmoid, sigmoid_backward, tanh,
    tanh_backward,
};
pub use adam::adam_update;
pub use add::add_assign;
pub use avg_pool2d::{avg_pool2d, avg_pool2d_backward};
pub use batch_norm::{
    batch_norm, batch_norm_backward, channel_grad_sums, channel_mean_and_biased_var,
};
pub use conv2d::{conv2d, conv2d_backward};
pub use dense::{dense, dense_backward};
pub use max_pool2d::{max_pool2d, max_pool2d_backward};
pub use softmax_cross_entropy::{softmax, softmax_cross_entropy, softmax_cross_entropy_backward};

//! # scratchnet-layers
//!
//! The [`Layer`] trait, the layers a LeNet-style network is made of, the
//! softmax cross-entropy loss, and [`gradcheck`], which checks any layer's
//! backward (yours too) against finite differences.
//!
//! | item | PyTorch | file |
//! |---|---|---|
//! | [`Layer`], [`Mode`], [`Parameter`] | `nn.Module`, `train()/eval()`, `nn.Parameter` | `layer.rs` |
//! | [`StateVisitor`], [`StateVisitorMut`], [`StateRef`], [`StateMut`] | `state_dict()` / `named_parameters()` / `named_buffers()` | `state.rs` |
//! | [`LayerError`] | — | `error.rs` |
//! | [`contract`]: [`check_state`](contract::check_state), [`check_state_names`](contract::check_state_names), [`check_gradient_shapes`](contract::check_gradient_shapes), [`check_output_shape`](contract::check_output_shape) | — (what a layer of your own must keep) | `contract.rs` |
//! | [`MAX_TENSOR_ELEMENTS`] | — (what one layer may allocate) | `limits.rs` |
//! | [`Sequential`], [`Summary`], [`group_thousands`] | `nn.Sequential(OrderedDict)` | `sequential.rs` |
//! | [`Residual`], [`ResidualConfig`] | torchvision's `BasicBlock` (body + identity or `downsample` shortcut) | `residual.rs` |
//! | [`Branches`], [`Combine`] | parallel branches, `torch.cat(dim=1)` or a sum | `branches.rs` |
//! | [`Conv2d`], [`Conv2dConfig`] | `nn.Conv2d` | `conv2d.rs` |
//! | [`ConvTranspose2d`], [`ConvTranspose2dConfig`] | `nn.ConvTranspose2d` | `conv_transpose2d.rs` |
//! | [`MaxPool2d`], [`MaxPool2dConfig`] | `nn.MaxPool2d` | `max_pool2d.rs` |
//! | [`AvgPool2d`], [`AvgPool2dConfig`] | `nn.AvgPool2d` | `avg_pool2d.rs` |
//! | [`GlobalAvgPool2d`] | `nn.AdaptiveAvgPool2d(1)` + `nn.Flatten()` | `global_avg_pool2d.rs` |
//! | [`AdaptiveAvgPool2d`] | `nn.AdaptiveAvgPool2d` | `adaptive_avg_pool2d.rs` |
//! | [`Upsample`], [`UpsampleConfig`], [`UpsampleMode`], [`UpsampleSize`] | `nn.Upsample` (`'nearest'`, `'bilinear'`) | `upsample.rs` |
//! | [`BatchNorm2d`], [`BatchNorm2dConfig`] | `nn.BatchNorm2d` | `batch_norm2d.rs` |
//! | [`GroupNorm`], [`GroupNormConfig`] | `nn.GroupNorm` | `group_norm.rs` |
//! | [`LayerNorm`], [`LayerNormConfig`] | `nn.LayerNorm` | `layer_norm.rs` |
//! | [`Dense`] | `nn.Linear` (`bias=False`: [`Dense::without_bias`]) | `dense.rs` |
//! | [`Flatten`] | `nn.Flatten` | `flatten.rs` |
//! | [`ReLU`], [`Tanh`], [`Sigmoid`] | `nn.ReLU`, `nn.Tanh`, `nn.Sigmoid` | `relu.rs`, `tanh.rs`, `sigmoid.rs` |
//! | [`LeakyReLU`] | `nn.LeakyReLU` | `leaky_relu.rs` |
//! | [`SiLU`] | `nn.SiLU` | `silu.rs` |
//! | [`GELU`], [`GeluConfig`], [`GeluApproximate`] | `nn.GELU` | `gelu.rs` |
//! | [`Dropout`] | `nn.Dropout` | `dropout.rs` |
//! | [`SoftmaxCrossEntropy`] | `nn.CrossEntropyLoss` | `loss.rs` |
//! | [`gradcheck`](mod@gradcheck) | `torch.autograd.gradcheck` | `gradcheck.rs` |
//!
//! **Writing a layer of your own:** the guide is the module `scratchnet::guide` of
//! the facade crate (`cargo doc -p scratchnet --open`), also readable as
//! `docs/extending.md`. It writes a PReLU method by method, checks it with
//! [`gradcheck`](mod@gradcheck) and against PyTorch, trains it and saves it.

mod adaptive_avg_pool2d;
mod avg_pool2d;
mod batch_norm2d;
mod branches;
mod checks;
pub mod contract;
mod conv2d;
mod conv_transpose2d;
mod dense;
mod dropout;
mod error;
mod flatten;
mod gelu;
mod global_avg_pool2d;
pub mod gradcheck;
mod group_norm;
mod layer;
mod layer_norm;
mod leaky_relu;
mod limits;
mod loss;
mod max_pool2d;
mod norm_common;
mod pool_common;
mod relu;
mod residual;
mod sequential;
mod sigmoid;
mod silu;
mod state;
mod tanh;
mod upsample;
mod views;

pub use adaptive_avg_pool2d::AdaptiveAvgPool2d;
pub use avg_pool2d::{AvgPool2d, AvgPool2dConfig};
pub use batch_norm2d::{BatchNorm2d, BatchNorm2dConfig};
pub use branches::{Branches, Combine};
pub use conv2d::{Conv2d, Conv2dConfig};
pub use conv_transpose2d::{ConvTranspose2d, ConvTranspose2dConfig};
pub use dense::Dense;
pub use dropout::Dropout;
pub use error::LayerError;
pub use flatten::Flatten;
pub use gelu::{GeluApproximate, GeluConfig, GELU};
pub use global_avg_pool2d::GlobalAvgPool2d;
pub use group_norm::{GroupNorm, GroupNormConfig};
pub use layer::{Layer, Mode, Parameter};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use leaky_relu::LeakyReLU;
pub use limits::MAX_TENSOR_ELEMENTS;
pub use loss::SoftmaxCrossEntropy;
pub use max_pool2d::{MaxPool2d, MaxPool2dConfig};
pub use relu::ReLU;
pub use residual::{Residual, ResidualConfig};
pub use sequential::{group_thousands, Sequential, Summary, SummaryRow};
pub use sigmoid::Sigmoid;
pub use silu::SiLU;
pub use state::{StateMut, StateRef, StateVisitor, StateVisitorMut};
pub use tanh::Tanh;
pub use upsample::{Upsample, UpsampleConfig, UpsampleMode, UpsampleSize};

//! # scratchnet-tensor
//!
//! The numeric kernels scratchnet's layers are built from, written on `ndarray`.
//! Public tensors are `f32` in PyTorch's layouts: activations NCHW, convolution
//! weights OIHW, dense weights `[out, in]`.
//!
//! | module | what it computes |
//! |---|---|
//! | [`kernels`] | which kernels run: the plain reference loops or the fast ones (`SCRATCHNET_KERNELS`) |
//! | [`reference`](mod@reference) | the definition of every operation, forward and backward, as plain loops (one file each) |
//! | [`window`] | the geometry of a sliding 2-D window (kernel, stride, padding, dilation) and its output size |
//! | [`conv`] | 2-D convolution forward, and its two backward products (input and weight gradients) |
//! | `winograd` (private) | the 3×3 stride-1 convolutions' fast path under `conv`: Winograd's `F(2×2, 3×3)` |
//! | `direct3x3` (private) | those of 16 input channels on Intel CPUs (two 512-bit FMA units): a direct kernel, sums in AVX-512 registers |
//! | [`dense`] | the fully connected product `x·Wᵀ + b` and its backward |
//! | [`gemm`] | the matrix products under convolution and dense layers (AVX-512 or AVX2/FMA when the CPU has them, else portable loops) |
//! | [`parallel`] | fixed-size chunks of the batch on rayon, so results never depend on the thread count |
//! | [`keep_awake`] | rayon's idle threads kept awake between a training loop's parallel regions |
//! | [`pool`] | max pooling (recording the winning index) and average pooling, forward and backward |
//! | [`adam`] | Adam's element-wise update of a model's parameters (the optimizer is `scratchnet_train::Adam`) |
//! | [`add`] | the element-wise sum `total += addend` of a residual connection |
//! | [`activation`] | ReLU, leaky ReLU, tanh, sigmoid and their derivatives |
//! | [`batch_norm`] | batch normalisation's per-channel statistics, normalisation and backward |
//! | [`softmax`] | numerically stable softmax and log-softmax over rows |
//! | [`init`] | seeded weight initialisers: PyTorch's default Kaiming-uniform, Xavier/Glorot, He-normal |
//!
//! Every public kernel of `conv`, `dense`, `pool`, `activation`, `add`, `adam` and `batch_norm` is the fast
//! tier and runs its [`reference`](mod@reference) counterpart when [`kernels::use_reference`]
//! says so.
//!
//! The kernels take views and return owned arrays; none of them panics on a
//! shape that [`window::Window2d::output_size`] accepted. They assume shapes
//! were checked by the caller (the layers do this) and document their panics.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod activation;
pub mod adam;
pub mod add;
pub mod batch_norm;
pub mod conv;
pub mod dense;
mod direct3x3;
pub mod gemm;
pub mod init;
pub mod keep_awake;
pub mod kernels;
pub mod parallel;
pub mod pool;
pub mod reference;
mod simd;
pub mod softmax;
mod transpose;
pub mod window;
mod winograd;

pub use window::Window2d;

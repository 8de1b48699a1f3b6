//! Adam's element-wise update of many parameters at once (the optimizer itself, its
//! state and its scalars are `scratchnet_train::Adam`).
//!
//! Every parameter's elements are cut into chunks of [`CHUNK`], and all the chunks of
//! all the parameters are updated on the pool together, so that a model of many small
//! tensors still keeps every thread busy; each chunk's loop is compiled for the widest
//! vectors the CPU has. Neither changes a bit: each element gets the same IEEE
//! operations in the same order whoever computes it, on however many lanes (Rust
//! never fuses a multiply and an add on its own). On the reference tier
//! ([`crate::kernels`]) each parameter runs [`reference::adam_update`], the formula as
//! one plain loop, which `tests/fast_vs_reference.rs` holds this to, bit for bit.

use crate::kernels::use_reference;
use crate::parallel::for_each_chunk;
use crate::reference;
use ndarray::{ArrayViewD, ArrayViewMutD};

/// The scalars of one Adam step, the same for every element: PyTorch's
/// `_single_tensor_adam` after it has folded the learning rate, the bias corrections
/// and the weight decay into them. For each element `w` with gradient `g`, first
/// moment `m` and second moment `v`:
///
/// ```text
/// g = g + l2·w
/// w = w·decay
/// m = m + (1 − β₁)·(g − m)
/// v = β₂·v + (1 − β₂)·g²
/// w = w − step_size · m / (√v / bias_correction2_sqrt + ε)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// β₁, the decay rate of the first moment.
    pub beta1: f32,
    /// β₂, the decay rate of the second moment.
    pub beta2: f32,
    /// ε, added to the denominator.
    pub eps: f32,
    /// The L2 penalty added to the gradient (Adam's weight decay; 0 for AdamW).
    pub l2: f32,
    /// The factor the weights shrink by first (AdamW's `1 − lr·λ`; 1 for Adam).
    pub decay: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `√(1 − β₂ᵗ)`.
    pub bias_correction2_sqrt: f32,
}

/// One parameter for [`adam_update`]: its values, its gradient and its two moments,
/// all of one shape.
#[derive(Debug)]
pub struct AdamTensors<'a> {
    /// The parameter's values, updated in place.
    pub weight: ArrayViewMutD<'a, f32>,
    /// Its gradient.
    pub grad: ArrayViewD<'a, f32>,
    /// Its first moment `m` (PyTorch's `exp_avg`), updated in place.
    pub exp_avg: ArrayViewMutD<'a, f32>,
    /// Its second moment `v` (PyTorch's `exp_avg_sq`), updated in place.
    pub exp_avg_sq: ArrayViewMutD<'a, f32>,
}

/// Elements per chunk on the pool: small enough that two threads finish LeNet's
/// parameters (tensors of 6 to 48,000 elements) together; 8192 was about 1.5% slower
/// per training step on two threads.
pub const CHUNK: usize = 1 << 11;

/// Applies one Adam step ([`AdamStep`]'s formula) to every element of every parameter
/// in `parameters`.
///
/// # Shapes
/// Each [`AdamTensors`]' four arrays have one shape (any).
///
/// # Panics
/// If a parameter's four arrays differ in shape.
#[track_caller]
pub fn adam_update(parameters: Vec<AdamTensors<'_>>, step: &AdamStep) {
    for p in &parameters {
        let shape = p.weight.shape();
        assert!(
            p.grad.shape() == shape && p.exp_avg.shape() == shape && p.exp_avg_sq.shape() == shape,
            "adam_update: a parameter's value, gradient and moments differ in shape"
        );
    }
    let mut chunks = Vec::new();
    for p in parameters {
        let contiguous = p.weight.is_standard_layout()
            && p.grad.is_standard_layout()
            && p.exp_avg.is_standard_layout()
            && p.exp_avg_sq.is_standard_layout();
        if use_reference() || !contiguous {
            reference::adam_update(p.weight, p.grad, p.exp_avg, p.exp_avg_sq, step);
            continue;
        }
        let slices = "checked: standard layout";
        chunks.extend(
            (p.weight.into_slice().expect(slices).chunks_mut(CHUNK))
                .zip(p.grad.to_slice().expect(slices).chunks(CHUNK))
                .zip(p.exp_avg.into_slice().expect(slices).chunks_mut(CHUNK))
                .zip(p.exp_avg_sq.into_slice().expect(slices).chunks_mut(CHUNK)),
        );
    }
    for_each_chunk(chunks, |(((weight, grad), exp_avg), exp_avg_sq)| {
        crate::simd::widest(
            #[inline(always)]
            || {
                for (((w, &g), m), v) in weight
                    .iter_mut()
                    .zip(grad)
                    .zip(exp_avg.iter_mut())
                    .zip(exp_avg_sq.iter_mut())
                {
                    let g = g + step.l2 * *w;
                    *w *= step.decay;
                    *m += (1.0 - step.beta1) * (g - *m);
                    *v = step.beta2 * *v + (1.0 - step.beta2) * g * g;
                    let denom = v.sqrt() / step.bias_correction2_sqrt + step.eps;
                    *w -= step.step_size * (*m / denom);
                }
            },
        );
    });
}

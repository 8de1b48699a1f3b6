//! Adam's update of one parameter, by its definition.

use crate::adam::AdamStep;
use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

/// One Adam step on every element of one parameter: its values `weight`, its gradient
/// `grad` and its moments `exp_avg` (`m`) and `exp_avg_sq` (`v`), with the scalars
/// `step` (PyTorch's `_single_tensor_adam`, in its order):
///
/// ```text
/// g = g + l2·w
/// w = w·decay
/// m = m + (1 − β₁)·(g − m)
/// v = β₂·v + (1 − β₂)·g²
/// w = w − step_size · m / (√v / bias_correction2_sqrt + ε)
/// ```
///
/// # Shapes
/// The four arrays have one shape.
///
/// # Panics
/// If they differ in shape.
#[track_caller]
pub fn adam_update(
    weight: ArrayViewMutD<f32>,
    grad: ArrayViewD<f32>,
    exp_avg: ArrayViewMutD<f32>,
    exp_avg_sq: ArrayViewMutD<f32>,
    step: &AdamStep,
) {
    Zip::from(weight)
        .and(&grad)
        .and(exp_avg)
        .and(exp_avg_sq)
        .for_each(|w, &g, m, v| {
            let g = g + step.l2 * *w;
            *w *= step.decay;
            *m += (1.0 - step.beta1) * (g - *m);
            *v = step.beta2 * *v + (1.0 - step.beta2) * g * g;
            let denom = v.sqrt() / step.bias_correction2_sqrt + step.eps;
            *w -= step.step_size * (*m / denom);
        });
}

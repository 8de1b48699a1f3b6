//! The element-wise sum of two tensors of one shape, by its definition.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

/// `total[i] += addend[i]` for every element `i` (a residual connection's sum).
///
/// # Shapes
/// `total` and `addend` have one shape.
///
/// # Panics
/// If the two differ in shape.
#[track_caller]
pub fn add_assign(total: ArrayViewMutD<f32>, addend: ArrayViewD<f32>) {
    Zip::from(total).and(&addend).for_each(|t, &a| *t += a);
}

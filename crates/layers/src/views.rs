//! Fixed-rank views of the layers' dynamic-rank arrays, for the kernels of
//! `scratchnet_tensor` (which take `[N, C, H, W]`, `[N, K]`… views).

use ndarray::{ArrayD, ArrayView, ArrayViewD, ArrayViewMut, Dimension};

/// `array` as a view of the rank the kernel wants (inferred from the call).
///
/// # Panics
/// If `array` has another rank: the layer checks shapes before it calls this.
#[track_caller]
pub(crate) fn view<D: Dimension>(array: ArrayViewD<'_, f32>) -> ArrayView<'_, f32, D> {
    array
        .into_dimensionality()
        .expect("the layer checked the rank")
}

/// `array` (a parameter's gradient, say) as a mutable view of the rank the kernel wants.
///
/// # Panics
/// As [`view`].
#[track_caller]
pub(crate) fn view_mut<D: Dimension>(array: &mut ArrayD<f32>) -> ArrayViewMut<'_, f32, D> {
    array
        .view_mut()
        .into_dimensionality()
        .expect("the layer checked the rank")
}

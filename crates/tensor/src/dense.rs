//! The fully connected layer's products: `y = x·Wᵀ + b` and its backward.
//!
//! The fast tier runs them on [`crate::gemm`], in fixed chunks of
//! [`SAMPLE_CHUNK`] rows on rayon's pool when the product is large enough to
//! repay waking it; each element's sum runs over the same terms in the same
//! order whatever the thread count. The reference tier is
//! [`reference::dense`] and [`reference::dense_backward`].

use crate::gemm::{self, Init, Segment, Strided};
use crate::kernels::use_reference;
use crate::parallel::{build, SAMPLE_CHUNK};
use crate::reference;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

/// Multiply-adds below which a dense product runs on the calling thread:
/// waking the pool costs more than such a product (LeNet's fc2, fc3).
const PARALLEL_MACS: usize = 1 << 20;

/// `y = x·Wᵀ + b`, PyTorch's `F.linear`: [`reference::dense`] on the
/// reference tier, else one dot product per output on the GEMM kernel.
///
/// # Shapes
/// `input`: `[N, in]`; `weight`: `[out, in]`; `bias`: `[out]` → `[N, out]`.
///
/// # Panics
/// If the shapes disagree.
#[track_caller]
pub fn dense_forward(
    input: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    bias: ArrayView1<f32>,
) -> Array2<f32> {
    if use_reference() {
        return reference::dense(input, weight, bias);
    }
    let (n, fan_in) = input.dim();
    let fan_out = weight.nrows();
    assert_eq!(
        weight.ncols(),
        fan_in,
        "input and weight disagree on in_features"
    );
    assert_eq!(bias.len(), fan_out, "bias has the wrong length");
    let (x, w, bias) = (
        input.as_standard_layout(),
        weight.as_standard_layout(),
        bias.to_vec(),
    );
    let (xs, w) = (standard(&x), standard(&w));
    // y = x·Wᵀ + b: one dot product per output, rows of x and W both contiguous.
    // Chunks of SAMPLE_CHUNK rows in parallel; each element's sum never depends on them.
    let b_offsets: Vec<usize> = (0..fan_out).map(|j| j * fan_in).collect();
    let parallel = n * fan_in * fan_out >= PARALLEL_MACS;
    let (y, _) = build(n * fan_out, SAMPLE_CHUNK * fan_out, parallel, |chunk, y| {
        let rows = y.len() / fan_out;
        let a_offsets: Vec<usize> = (0..rows).map(|i| i * fan_in).collect();
        let a = &xs[chunk * SAMPLE_CHUNK * fan_in..];
        let segment = Segment { a, b: w };
        gemm::gemm_abt(
            fan_in,
            &[segment],
            &a_offsets,
            &b_offsets,
            y,
            fan_out,
            false,
            Some(&bias),
        );
    });
    Array2::from_shape_vec((n, fan_out), y).expect("sized above")
}

/// The backward of [`dense_forward`]: adds `dW = dYᵀ·x` into `grad_weight`
/// and `db = Σₙ dY` into `grad_bias`, and returns `dx = dY·W`.
/// [`reference::dense_backward`] on the reference tier.
///
/// # Shapes
/// `grad_output`: `[N, out]`; `input`: `[N, in]`; `weight`, `grad_weight`:
/// `[out, in]`; `grad_bias`: `[out]` → `[N, in]`.
///
/// # Panics
/// If the shapes disagree or `grad_weight` is not contiguous.
#[track_caller]
pub fn dense_backward(
    grad_output: ArrayView2<f32>,
    input: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    mut grad_weight: ArrayViewMut2<f32>,
    mut grad_bias: ArrayViewMut1<f32>,
) -> Array2<f32> {
    let (n, fan_in) = input.dim();
    let fan_out = weight.nrows();
    assert_eq!(
        grad_output.dim(),
        (n, fan_out),
        "grad_output has the wrong shape"
    );
    assert_eq!(
        grad_weight.dim(),
        weight.dim(),
        "grad_weight has the wrong shape"
    );
    assert_eq!(grad_bias.len(), fan_out, "grad_bias has the wrong length");
    if use_reference() {
        let (dx, dw, db) = reference::dense_backward(input, weight, grad_output);
        grad_weight += &dw;
        grad_bias += &db;
        return dx;
    }
    if fan_out == 0 {
        // No outputs: nothing flows back, and there is no parameter gradient to add.
        return Array2::zeros((n, fan_in));
    }
    let (dy, x, w) = (
        grad_output.as_standard_layout(),
        input.as_standard_layout(),
        weight.as_standard_layout(),
    );
    let (dys, xs, w) = (standard(&dy), standard(&x), standard(&w));
    let parallel = n * fan_in * fan_out >= PARALLEL_MACS;
    // dW += dYᵀ·x: rows of dW split between threads; each element sums over the batch in order.
    let grad_w = grad_weight
        .as_slice_mut()
        .expect("grad_weight must be contiguous");
    gemm::gemm_par_rows(
        fan_out,
        fan_in,
        n,
        &Strided::new(dys, fan_out, n, 1, fan_out),
        &Strided::new(xs, n, fan_in, fan_in, 1),
        grad_w,
        fan_in,
        Init::Accumulate,
        if parallel { SAMPLE_CHUNK } else { fan_out },
    );
    for row in dys.chunks_exact(fan_out) {
        grad_bias.iter_mut().zip(row).for_each(|(g, d)| *g += d);
    }
    // dx = dY·W, chunks of SAMPLE_CHUNK rows in parallel.
    let (dx, _) = build(n * fan_in, SAMPLE_CHUNK * fan_in, parallel, |chunk, dx| {
        let rows = dx.len() / fan_in;
        let a = Strided::new(
            &dys[chunk * SAMPLE_CHUNK * fan_out..],
            rows,
            fan_out,
            fan_out,
            1,
        );
        let b = Strided::new(w, fan_out, fan_in, fan_in, 1);
        gemm::gemm(rows, fan_in, fan_out, &a, &b, dx, fan_in, Init::Overwrite);
    });
    Array2::from_shape_vec((n, fan_in), dx).expect("sized above")
}

/// The elements of a standard-layout array, in order.
fn standard<'a>(array: &'a ndarray::CowArray<'_, f32, ndarray::Ix2>) -> &'a [f32] {
    array.as_slice().expect("standard layout")
}

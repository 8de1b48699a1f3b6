//! The fully connected (dense) layer's product, by its definition.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// Dense forward, PyTorch's `F.linear(x, w, b)`: `y = x·Wᵀ + b`,
///
/// ```text
/// y[n, o] = b[o] + Σ_i x[n, i] · w[o, i]
/// ```
///
/// # Shapes
/// `input`: `[N, in]`; `weight`: `[out, in]`; `bias`: `[out]` → `[N, out]`.
///
/// # Panics
/// If the shapes disagree.
#[track_caller]
pub fn dense(
    input: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    bias: ArrayView1<f32>,
) -> Array2<f32> {
    let (n, in_features) = input.dim();
    let (out_features, weight_in) = weight.dim();
    assert_eq!(
        in_features, weight_in,
        "input and weight disagree on in_features"
    );
    assert_eq!(bias.len(), out_features, "bias has the wrong length");
    Array2::from_shape_fn((n, out_features), |(s, o)| {
        let mut sum = bias[o];
        for i in 0..in_features {
            sum += input[[s, i]] * weight[[o, i]];
        }
        sum
    })
}

/// The three gradients of [`dense`], `(grad_input, grad_weight, grad_bias)`,
/// from the gradient `dy` of its output:
///
/// ```text
/// dx[n, i] = Σ_o dy[n, o] · w[o, i]     (dx = dY·W)
/// dw[o, i] = Σ_n dy[n, o] · x[n, i]     (dW = dYᵀ·x)
/// db[o]    = Σ_n dy[n, o]
/// ```
///
/// # Shapes
/// `input`: `[N, in]`; `weight`: `[out, in]`; `grad_output`: `[N, out]`
/// → `[N, in]`, `[out, in]`, `[out]`.
///
/// # Panics
/// If the shapes disagree.
#[track_caller]
pub fn dense_backward(
    input: ArrayView2<f32>,
    weight: ArrayView2<f32>,
    grad_output: ArrayView2<f32>,
) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
    let (n, in_features) = input.dim();
    let out_features = weight.nrows();
    assert_eq!(
        weight.ncols(),
        in_features,
        "input and weight disagree on in_features"
    );
    assert_eq!(
        grad_output.dim(),
        (n, out_features),
        "grad_output has the wrong shape"
    );
    let mut grad_input = Array2::zeros((n, in_features));
    let mut grad_weight = Array2::zeros((out_features, in_features));
    let mut grad_bias = Array1::zeros(out_features);
    for ((s, o), &dy) in grad_output.indexed_iter() {
        grad_bias[o] += dy;
        for i in 0..in_features {
            grad_weight[[o, i]] += dy * input[[s, i]];
            grad_input[[s, i]] += dy * weight[[o, i]];
        }
    }
    (grad_input, grad_weight, grad_bias)
}

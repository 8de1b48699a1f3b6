//! Element-wise activations and their derivatives, by their definitions.
//!
//! Each backward takes the gradient `dy` of the output and the forward's input
//! `x` or output `y`, whichever the derivative is written with.

use ndarray::{ArrayD, ArrayViewD, Zip};

/// `y = max(x, 0)`, as PyTorch computes it: `0` where `x < 0`, else `x`. So a NaN
/// input stays NaN (a diverged model shows in the loss instead of vanishing
/// behind the ReLU) and `−0` stays `−0`.
///
/// # Shapes
/// Any shape → the same shape (so for every function of this file).
pub fn relu(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(|x| if x < 0.0 { 0.0 } else { x })
}

/// `dx = dy · [x > 0]`, as PyTorch computes it: the gradient is 0 where `x ≤ 0`
/// (so at exactly `x = 0`), and passes where `x > 0` or `x` is NaN (PyTorch tests
/// `y ≤ 0`, which is false for NaN).
///
/// # Panics
/// If the two arrays differ in shape (so for every backward of this file).
#[track_caller]
pub fn relu_backward(grad_output: ArrayViewD<f32>, input: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&input)
        .map_collect(|&dy, &x| if x <= 0.0 { 0.0 } else { dy })
}

/// `y = x` for `x > 0`, `y = slope · x` otherwise (PyTorch's `F.leaky_relu`).
pub fn leaky_relu(input: ArrayViewD<f32>, negative_slope: f32) -> ArrayD<f32> {
    input.mapv(|x| if x > 0.0 { x } else { negative_slope * x })
}

/// `dx = dy` for `x > 0`, `dx = slope · dy` otherwise (also at exactly 0, as in PyTorch).
#[track_caller]
pub fn leaky_relu_backward(
    grad_output: ArrayViewD<f32>,
    input: ArrayViewD<f32>,
    negative_slope: f32,
) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&input)
        .map_collect(|&dy, &x| if x > 0.0 { dy } else { negative_slope * dy })
}

/// `y = tanh(x)`.
pub fn tanh(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(f32::tanh)
}

/// `dx = dy · (1 − y²)`, from the output `y = tanh(x)`.
#[track_caller]
pub fn tanh_backward(grad_output: ArrayViewD<f32>, output: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&dy, &y| dy * (1.0 - y * y))
}

/// `y = 1 / (1 + e^−x)` (for very negative `x`, `e^−x` is +∞ and `y` is 0, as it should).
pub fn sigmoid(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(|x| 1.0 / (1.0 + (-x).exp()))
}

/// `dx = dy · y · (1 − y)`, from the output `y = sigmoid(x)`.
#[track_caller]
pub fn sigmoid_backward(grad_output: ArrayViewD<f32>, output: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&dy, &y| dy * y * (1.0 - y))
}

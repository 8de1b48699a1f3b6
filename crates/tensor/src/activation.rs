//! Element-wise activations and their derivatives.
//!
//! Each `*_backward` takes the gradient of the output and whichever of the
//! forward's input or output makes the derivative cheapest, and returns the
//! gradient of the input (same shape).

use ndarray::{ArrayD, ArrayViewD, Zip};

/// `max(x, 0)`.
pub fn relu(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(|x| x.max(0.0))
}

/// ReLU's backward: passes the gradient where the input was positive.
/// At exactly 0 the gradient is 0, as in PyTorch.
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn relu_backward(grad_output: ArrayViewD<f32>, input: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&input)
        .map_collect(|&g, &x| if x > 0.0 { g } else { 0.0 })
}

/// Hyperbolic tangent.
pub fn tanh(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(f32::tanh)
}

/// tanh's backward from its output `y`: `g · (1 − y²)`.
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn tanh_backward(grad_output: ArrayViewD<f32>, output: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&g, &y| g * (1.0 - y * y))
}

/// The logistic function `1 / (1 + e^−x)`, computed without overflow for large `|x|`.
pub fn sigmoid(input: ArrayViewD<f32>) -> ArrayD<f32> {
    input.mapv(|x| {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    })
}

/// Sigmoid's backward from its output `y`: `g · y · (1 − y)`.
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn sigmoid_backward(grad_output: ArrayViewD<f32>, output: ArrayViewD<f32>) -> ArrayD<f32> {
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&g, &y| g * y * (1.0 - y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, IxDyn};

    #[test]
    fn values_and_derivatives() {
        let x = arr1(&[-2.0f32, 0.0, 3.0])
            .into_dimensionality::<IxDyn>()
            .unwrap();
        assert_eq!(relu(x.view()).as_slice().unwrap(), &[0.0, 0.0, 3.0]);
        let ones = ArrayD::ones(IxDyn(&[3]));
        assert_eq!(
            relu_backward(ones.view(), x.view()).as_slice().unwrap(),
            &[0.0, 0.0, 1.0]
        );
        let s = sigmoid(arr1(&[-1000.0f32, 0.0, 1000.0]).into_dyn().view());
        assert_eq!(s.as_slice().unwrap(), &[0.0, 0.5, 1.0]);
        let t = tanh(x.view());
        let dt = tanh_backward(ones.view(), t.view());
        assert!((dt[1] - 1.0).abs() < 1e-7);
    }
}

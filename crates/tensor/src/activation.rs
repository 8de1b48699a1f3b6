//! Element-wise activations and their derivatives.
//!
//! Each `*_backward` takes the gradient of the output and whichever of the
//! forward's input or output makes the derivative cheapest, and returns the
//! gradient of the input (same shape).
//!
//! On the reference tier ([`crate::kernels`]) each runs its plain
//! [`reference`](mod@reference) counterpart: no threads, one element after the other. Both
//! tiers compute each element the same way from the same saved tensors, so a
//! backward may follow a forward of the other tier.

use crate::kernels::use_reference;
use crate::parallel::{build_from_pieces, ELEMENT_CHUNK};
use crate::reference;
use ndarray::{ArrayD, ArrayViewD, Zip};
use std::ops::Range;
use std::sync::Mutex;

/// `max(x, 0)` as PyTorch computes it (NaN stays NaN, `−0` stays `−0`: see
/// [`reference::relu`]). Parallel over fixed chunks of [`ELEMENT_CHUNK`] elements.
pub fn relu(input: ArrayViewD<f32>) -> ArrayD<f32> {
    if use_reference() {
        return reference::relu(input);
    }
    let x = input.as_standard_layout();
    let x = x.as_slice().expect("standard layout");
    let out = elementwise(x.len(), |range| x[range].iter().map(|&v| relu_of(v)));
    ArrayD::from_shape_vec(input.raw_dim(), out).expect("same length")
}

/// ReLU's backward: passes the gradient where the input was positive (or NaN),
/// 0 where it was `≤ 0`, as in PyTorch (see [`reference::relu_backward`]).
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn relu_backward(grad_output: ArrayViewD<f32>, input: ArrayViewD<f32>) -> ArrayD<f32> {
    if use_reference() {
        return reference::relu_backward(grad_output, input);
    }
    Zip::from(&grad_output)
        .and(&input)
        .map_collect(|&g, &x| if passes_gradient(x) { g } else { 0.0 })
}

/// One element of [`relu`]: `0` where `x < 0`, else `x` (NaN and `−0` kept).
#[inline(always)]
fn relu_of(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// Whether ReLU's backward passes the gradient at input `x`: not where `x ≤ 0`.
#[inline(always)]
fn passes_gradient(x: f32) -> bool {
    x > 0.0 || x.is_nan()
}

/// [`relu`] that also records, in `mask` (resized to the input's length and
/// reused between calls), where the gradient will pass (the input positive or NaN): what
/// [`relu_backward_masked`] needs, in a quarter of the memory of a copy of the input.
///
/// Runs in parallel over fixed chunks of [`ELEMENT_CHUNK`] elements; the result
/// does not depend on the thread count.
pub fn relu_masked(input: ArrayViewD<f32>, mask: &mut Vec<u8>) -> ArrayD<f32> {
    if use_reference() {
        mask.clear();
        mask.extend(input.iter().map(|&x| u8::from(passes_gradient(x))));
        return reference::relu(input);
    }
    let x = input.as_standard_layout();
    let x = x.as_slice().expect("standard layout");
    mask.resize(x.len(), 0);
    let mask_chunks: Vec<Mutex<&mut [u8]>> =
        mask.chunks_mut(ELEMENT_CHUNK).map(Mutex::new).collect();
    let out = build_from_pieces(
        x.len(),
        ELEMENT_CHUNK,
        1,
        worth_threads(x.len()),
        |i, range| {
            let xs = &x[range];
            let mut mask = mask_chunks[i].lock().expect("no panics while held");
            crate::simd::widest(
                #[inline(always)]
                || {
                    for (m, &v) in mask.iter_mut().zip(xs) {
                        *m = u8::from(passes_gradient(v));
                    }
                },
            );
            xs.iter().map(|&v| relu_of(v))
        },
    );
    ArrayD::from_shape_vec(input.raw_dim(), out).expect("same length")
}

/// ReLU's backward from the mask of [`relu_masked`]: the gradient where the
/// input was positive or NaN, 0 where it was `≤ 0` (as in PyTorch).
///
/// # Panics
/// If `mask` does not have one entry per element of `grad_output`.
#[track_caller]
pub fn relu_backward_masked(grad_output: ArrayViewD<f32>, mask: &[u8]) -> ArrayD<f32> {
    if use_reference() {
        // dx = dy · [x > 0 or NaN], read from the mask.
        let mask = ArrayViewD::from_shape(grad_output.raw_dim(), mask)
            .expect("mask and gradient differ in length");
        return Zip::from(&grad_output)
            .and(&mask)
            .map_collect(|&dy, &positive| if positive != 0 { dy } else { 0.0 });
    }
    let g = grad_output.as_standard_layout();
    let g = g.as_slice().expect("standard layout");
    assert_eq!(g.len(), mask.len(), "mask and gradient differ in length");
    let out = elementwise(g.len(), |range| {
        let (gs, ms) = (&g[range.clone()], &mask[range]);
        gs.iter()
            .zip(ms)
            .map(|(&v, &m)| if m != 0 { v } else { 0.0 })
    });
    ArrayD::from_shape_vec(grad_output.raw_dim(), out).expect("same length")
}

/// Whether an element-wise pass over `len` floats is worth a parallel region:
/// below two chunks (a dense layer's activations) the pool's wake-up costs more.
pub(crate) fn worth_threads(len: usize) -> bool {
    len >= 2 * ELEMENT_CHUNK
}

/// A new buffer of `len` values: `values(range)` for each [`ELEMENT_CHUNK`] of
/// it, written once (no zeroing first), in parallel when [`worth_threads`].
fn elementwise<I: IntoIterator<Item = f32>>(
    len: usize,
    values: impl Fn(Range<usize>) -> I + Sync,
) -> Vec<f32> {
    build_from_pieces(len, ELEMENT_CHUNK, 1, worth_threads(len), |_, range| {
        values(range)
    })
}

/// Hyperbolic tangent.
pub fn tanh(input: ArrayViewD<f32>) -> ArrayD<f32> {
    if use_reference() {
        return reference::tanh(input);
    }
    input.mapv(f32::tanh)
}

/// tanh's backward from its output `y`: `g · (1 − y²)`.
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn tanh_backward(grad_output: ArrayViewD<f32>, output: ArrayViewD<f32>) -> ArrayD<f32> {
    if use_reference() {
        return reference::tanh_backward(grad_output, output);
    }
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&g, &y| g * (1.0 - y * y))
}

/// The logistic function `1 / (1 + e^−x)`, computed without overflow for large `|x|`.
pub fn sigmoid(input: ArrayViewD<f32>) -> ArrayD<f32> {
    if use_reference() {
        return reference::sigmoid(input);
    }
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
    if use_reference() {
        return reference::sigmoid_backward(grad_output, output);
    }
    Zip::from(&grad_output)
        .and(&output)
        .map_collect(|&g, &y| g * y * (1.0 - y))
}

/// Leaky ReLU: `x` for `x > 0`, `negative_slope · x` otherwise (PyTorch's `F.leaky_relu`).
pub fn leaky_relu(input: ArrayViewD<f32>, negative_slope: f32) -> ArrayD<f32> {
    if use_reference() {
        return reference::leaky_relu(input, negative_slope);
    }
    input.mapv(|x| if x > 0.0 { x } else { negative_slope * x })
}

/// Leaky ReLU's backward from its input: `g` where `x > 0`, `negative_slope · g`
/// elsewhere (also at exactly 0, as in PyTorch).
///
/// # Panics
/// If the two arrays differ in shape.
#[track_caller]
pub fn leaky_relu_backward(
    grad_output: ArrayViewD<f32>,
    input: ArrayViewD<f32>,
    negative_slope: f32,
) -> ArrayD<f32> {
    if use_reference() {
        return reference::leaky_relu_backward(grad_output, input, negative_slope);
    }
    Zip::from(&grad_output)
        .and(&input)
        .map_collect(|&g, &x| if x > 0.0 { g } else { negative_slope * g })
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
        let mut mask = Vec::new();
        let y = relu_masked(x.view(), &mut mask);
        assert_eq!(y, relu(x.view()));
        assert_eq!(mask, vec![0, 0, 1]);
        assert_eq!(
            relu_backward_masked(ones.view(), &mask),
            relu_backward(ones.view(), x.view())
        );
        let t = tanh(x.view());
        let dt = tanh_backward(ones.view(), t.view());
        assert!((dt[1] - 1.0).abs() < 1e-7);
    }

    /// PyTorch 2.x, `torch.relu` on `[nan, -0., 0., -1., 2.]` and its gradient
    /// for `y.sum().backward()`: `[nan, -0., 0., 0., 2.]` and `[1, 0, 0, 0, 1]`.
    #[test]
    fn relu_keeps_nan_and_negative_zero_as_pytorch_does() {
        let x = arr1(&[f32::NAN, -0.0, 0.0, -1.0, 2.0]).into_dyn();
        let ones = ArrayD::ones(IxDyn(&[5]));
        let expected_y = [f32::NAN, -0.0, 0.0, 0.0, 2.0].map(f32::to_bits);
        let expected_dx = [1.0f32, 0.0, 0.0, 0.0, 1.0].map(f32::to_bits);
        for tier in [reference::relu(x.view()), relu(x.view())] {
            assert_eq!(tier.mapv(f32::to_bits).as_slice().unwrap(), &expected_y);
        }
        for dx in [
            reference::relu_backward(ones.view(), x.view()),
            relu_backward(ones.view(), x.view()),
        ] {
            assert_eq!(dx.mapv(f32::to_bits).as_slice().unwrap(), &expected_dx);
        }
        let mut mask = Vec::new();
        let y = relu_masked(x.view(), &mut mask);
        assert_eq!(y.mapv(f32::to_bits).as_slice().unwrap(), &expected_y);
        let dx = relu_backward_masked(ones.view(), &mask);
        assert_eq!(dx.mapv(f32::to_bits).as_slice().unwrap(), &expected_dx);
    }

    #[test]
    fn masked_relu_matches_relu_in_1_and_4_threads() {
        let len = 3 * ELEMENT_CHUNK + 17;
        let x = ArrayD::from_shape_fn(IxDyn(&[len]), |i| match i[0] % 7 {
            0 => f32::NAN,
            1 => 0.0,
            k => k as f32 - 4.0,
        });
        let g = ArrayD::from_shape_fn(IxDyn(&[len]), |i| i[0] as f32);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut mask = Vec::new();
                let y = relu_masked(x.view(), &mut mask);
                let dx = relu_backward_masked(g.view(), &mask);
                (y.mapv(f32::to_bits), dx.mapv(f32::to_bits))
            })
        };
        let (y, dx) = run(1);
        assert_eq!((y.clone(), dx.clone()), run(4));
        assert_eq!(y, relu(x.view()).mapv(f32::to_bits));
        assert_eq!(dx, relu_backward(g.view(), x.view()).mapv(f32::to_bits));
    }
}

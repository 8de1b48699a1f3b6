//! The fast tier, through the public entry points the layers call, against the
//! plain loops of `scratchnet_tensor::reference`, over random configurations.
//!
//! Every test here wants the fast kernels and starts with `set_kernels(Kernels::Fast)`
//! (the choice is global to this test binary, and nothing here chooses the reference).
//!
//! Tolerances:
//! - sums (convolution, dense, average pooling, softmax, tanh, sigmoid):
//!   `|fast − ref| ≤ 1e-4 · max(1, max |ref|)` over the whole tensor;
//! - batch norm: its per-channel sums within `1e-12` relative (both in `f64`), its
//!   element-wise passes bit for bit when given the same statistics;
//! - the GEMM under every SIMD limit (AVX-512, AVX2, portable) against its definition,
//!   one fused multiply-add chain per element in increasing order: bit for bit, and
//!   the convolutions with and without AVX-512 bit for bit;
//! - Adam's update, the same IEEE operations per element on any number of lanes: bit
//!   for bit, under every SIMD limit;
//! - max pooling and ReLU select or pass values without arithmetic: equal bit
//!   for bit (the same winners, NaN where the reference has NaN), and the
//!   same argmax indices.

use ndarray::{Array1, Array2, Array4, ArrayD, IxDyn};
use proptest::prelude::*;
use scratchnet_tensor::adam::{AdamStep, AdamTensors};
use scratchnet_tensor::gemm::{self, Init, Strided};
use scratchnet_tensor::kernels::{
    avx2_fma_available, avx512_available, set_kernels, set_simd_limit, simd_limit, Kernels,
    SimdLimit,
};
use scratchnet_tensor::pool::MaxPoolIndices;
use scratchnet_tensor::{
    activation, adam, add, batch_norm, conv, dense, pool, reference, softmax, Window2d,
};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// Deterministic values in `[-1, 1)` from a seed (a 64-bit LCG), so that a
/// case is a handful of integers proptest can shrink.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn random4(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    Array4::from_shape_vec(shape, values(len, seed)).unwrap()
}

/// Values drawn from `{−2, −1, 0, 1, 2}` (many ties), with a NaN where `nan_every` says.
fn ties4(shape: (usize, usize, usize, usize), seed: u64, nan_every: usize) -> Array4<f32> {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f32> = values(len, seed)
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            if nan_every > 0 && (i * 7 + seed as usize) % nan_every == 0 {
                f32::NAN
            } else {
                ((u + 1.0) * 2.5).floor().min(4.0) - 2.0
            }
        })
        .collect();
    Array4::from_shape_vec(shape, v).unwrap()
}

/// `|fast − ref| ≤ 1e-4 · max(1, max |ref|)` element by element.
fn close<'a>(
    fast: impl IntoIterator<Item = &'a f32>,
    reference: impl IntoIterator<Item = &'a f32>,
    what: &str,
) -> Result<(), TestCaseError> {
    let (fast, reference): (Vec<f32>, Vec<f32>) = (
        fast.into_iter().copied().collect(),
        reference.into_iter().copied().collect(),
    );
    prop_assert_eq!(fast.len(), reference.len(), "{}: lengths differ", what);
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
        prop_assert!(
            (f - r).abs() <= 1e-4 * scale,
            "{}[{}]: fast {} vs reference {} (scale {})",
            what,
            i,
            f,
            r,
            scale
        );
    }
    Ok(())
}

/// Equal bit for bit.
fn same_bits<'a>(
    fast: impl IntoIterator<Item = &'a f32>,
    reference: impl IntoIterator<Item = &'a f32>,
    what: &str,
) -> Result<(), TestCaseError> {
    let bits = |it: Vec<&f32>| it.into_iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (f, r) = (
        bits(fast.into_iter().collect()),
        bits(reference.into_iter().collect()),
    );
    prop_assert_eq!(f, r, "{} differs in some bit", what);
    Ok(())
}

/// A convolution case: `[N, C, H, W]`, `O`, kernel, window, groups.
#[derive(Clone, Debug)]
struct ConvCase {
    input: (usize, usize, usize, usize),
    out_channels: usize,
    window: Window2d,
    groups: usize,
    seed: u64,
}

/// Random convolutions. With `simple` (stride 1, dilation 1, one group, padding
/// at most 1 and images wide enough) the fast tier mostly takes its direct
/// strategy, in both of its forms (see `conv/mod.rs`); otherwise im2col.
fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        any::<bool>(),
        1..=20usize,
        (1..=3usize, 1..=3usize, 1..=3usize),
        ([1..=4usize, 1..=4usize], [1..=3usize, 1..=3usize]),
        ([0..=2usize, 0..=2usize], [1..=2usize, 1..=2usize]),
        [0..=10usize, 0..=10usize],
        any::<u64>(),
    )
        .prop_map(
            |(simple, n, (groups, cg, og), (kernel, stride), (padding, dilation), extra, seed)| {
                let (groups, stride, dilation) = if simple {
                    (1, [1, 1], [1, 1])
                } else {
                    (groups, stride, dilation)
                };
                let padding = if simple {
                    padding.map(|p| p.min(1))
                } else {
                    padding
                };
                let window = Window2d {
                    kernel_size: kernel,
                    stride,
                    padding,
                    dilation,
                };
                let effective = window.effective_kernel();
                let size = [0, 1].map(|d| {
                    effective[d].saturating_sub(2 * padding[d]).max(1)
                        + extra[d]
                        + 4 * simple as usize
                });
                ConvCase {
                    // 9 input channels: the input gradient of a simple convolution
                    // runs as a convolution itself from 8 on.
                    input: (
                        n,
                        if simple {
                            [1, 3, 9][cg - 1]
                        } else {
                            groups * cg
                        },
                        size[0],
                        size[1],
                    ),
                    // 8 and 16 channels take the pixel-major direct forward, 4 the virtual grid.
                    out_channels: if simple {
                        [4, 8, 16][og - 1]
                    } else {
                        groups * og
                    },
                    window,
                    groups,
                    seed,
                }
            },
        )
}

/// 3×3 stride-1 convolutions with 16 channels or more on both sides, which the fast
/// tier runs by Winograd's `F(2×2, 3×3)` (their input gradients too): even and odd
/// sizes, padding 0–2, channel counts with and without a tail after 16.
fn winograd_case() -> impl Strategy<Value = ConvCase> {
    (
        1..=6usize,
        (0..=3usize, 0..=3usize),
        ([0..=2usize, 0..=2usize], [1..=9usize, 1..=9usize]),
        any::<u64>(),
    )
        .prop_map(|(n, (c, o), (padding, extra), seed)| {
            let window = Window2d {
                kernel_size: [3, 3],
                padding,
                ..Default::default()
            };
            let size = [0, 1].map(|d| 3usize.saturating_sub(2 * padding[d]).max(1) + extra[d] - 1);
            ConvCase {
                input: (n, [16, 17, 24, 32][c], size[0], size[1]),
                out_channels: [16, 20, 32, 33][o],
                window,
                groups: 1,
                seed,
            }
        })
}

/// Strided convolutions with 8 input channels or more, whose input gradient the fast
/// tier folds channels-last (`conv/backward.rs`, `input_grad_channels_last`) where the windows
/// overlap, and 1×1 ones, whose cache holds im2col's columns: strides 1–3 on each side
/// (never both 1), kernels narrower than, as wide as and wider than the stride,
/// padding 0–2, sizes the stride divides and does not.
fn strided_case() -> impl Strategy<Value = ConvCase> {
    (
        1..=4usize,
        (0..=2usize, 1..=9usize),
        ([1..=4usize, 1..=4usize], [1..=3usize, 1..=3usize]),
        ([0..=2usize, 0..=2usize], [0..=9usize, 0..=9usize]),
        any::<u64>(),
    )
        .prop_map(
            |(n, (c, o), (kernel_size, stride), (padding, extra), seed)| {
                let stride = if stride == [1, 1] { [2, 1] } else { stride };
                let padding = [0, 1].map(|d| padding[d].min(kernel_size[d] / 2));
                let window = Window2d {
                    kernel_size,
                    stride,
                    padding,
                    ..Default::default()
                };
                let size =
                    [0, 1].map(|d| kernel_size[d].saturating_sub(2 * padding[d]).max(1) + extra[d]);
                ConvCase {
                    input: (n, [8, 9, 16][c], size[0], size[1]),
                    out_channels: o,
                    window,
                    groups: 1,
                    seed,
                }
            },
        )
}

/// A pooling window with padding at most half the kernel (as the layers require).
fn pool_window(dilation_allowed: bool) -> impl Strategy<Value = Window2d> {
    (
        any::<bool>(),
        [1..=4usize, 1..=4usize],
        [1..=4usize, 1..=4usize],
        [0..=2usize, 0..=2usize],
        [1..=2usize, 1..=2usize],
    )
        .prop_map(move |(tiled, kernel, stride, padding, dilation)| {
            if tiled {
                return Window2d::pool(kernel);
            }
            let padding = [0, 1].map(|d| padding[d].min(kernel[d] / 2));
            // A dilated window with padding can lie entirely in the padding: no dilation then.
            let dilation = [0, 1].map(|d| {
                if dilation_allowed && padding[d] == 0 {
                    dilation[d]
                } else {
                    1
                }
            });
            Window2d {
                kernel_size: kernel,
                stride,
                padding,
                dilation,
            }
        })
}

/// An input shape the window fits, batch 1..=20 (so the fast tier's chunks are exercised).
fn pool_input(window: Window2d) -> impl Strategy<Value = (Window2d, (usize, usize, usize, usize))> {
    let effective = window.effective_kernel();
    let min = [0, 1].map(|d| effective[d].saturating_sub(2 * window.padding[d]).max(1));
    (1..=20usize, 1..=3usize, 0..=18usize, 0..=18usize)
        .prop_map(move |(n, c, eh, ew)| (window, (n, c, min[0] + eh, min[1] + ew)))
}

/// `2×2` max pooling of rows up to 40 windows long: the vector kernels' full runs
/// of 8 or 16 windows and every length of the shorter last run.
fn wide_2x2_pool() -> impl Strategy<Value = (Window2d, (usize, usize, usize, usize))> {
    (1..=3usize, 1..=3usize, 2..=9usize, 2..=81usize)
        .prop_map(|shape| (Window2d::pool([2, 2]), shape))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Forward, input gradient, weight gradient and bias gradient, both strategies.
    #[test]
    fn convolution_matches_reference(case in prop_oneof![conv_case(), winograd_case(), strided_case()]) {
        check_conv(case)?;
    }

    /// Max pooling on inputs full of ties and NaNs: the same winners, bit for bit, on
    /// every SIMD path (the AVX2 and portable rows' tie rule was checked only by
    /// `.ci/run`'s `SCRATCHNET_SIMD` passes, not by the README's test command on an
    /// AVX-512 machine).
    #[test]
    fn max_pooling_matches_reference_with_ties_and_nans(
        (window, shape) in prop_oneof![pool_window(true).prop_flat_map(pool_input), wide_2x2_pool()],
        seed in any::<u64>(),
        nan_every in prop_oneof![Just(0usize), 5..40usize],
    ) {
        set_kernels(Kernels::Fast);
        let x = ties4(shape, seed, nan_every);
        let (y_ref, argmax_ref) = reference::max_pool2d(x.view(), &window);
        // Gradients from a few positive values: no −0.0 to tell `=` from `+=`.
        let dy = ties4(y_ref.dim(), seed ^ 5, 0).mapv(|v| v + 2.5);
        let dx_ref = reference::max_pool2d_backward(dy.view(), argmax_ref.view(), [shape.2, shape.3]);
        let limits = [SimdLimit::Widest, SimdLimit::Avx2, SimdLimit::Portable];
        let runs = under_simd_limits(&limits, || {
            let mut indices = MaxPoolIndices::default();
            let y = pool::max_pool2d_indexed(x.view(), &window, &mut indices);
            let (y2, argmax) = pool::max_pool2d(x.view(), &window);
            let dx = pool::max_pool2d_indexed_backward(dy.view(), &indices);
            let dx2 = pool::max_pool2d_backward(dy.view(), argmax.view(), [shape.2, shape.3]);
            (y, y2, argmax, dx, dx2)
        });
        for (limit, (y, y2, argmax, dx, dx2)) in limits.iter().zip(&runs) {
            same_bits(y, &y_ref, &format!("max_pool2d_indexed under {limit:?}"))?;
            same_bits(y2, &y_ref, &format!("max_pool2d under {limit:?}"))?;
            prop_assert_eq!(argmax, &argmax_ref, "argmax under {:?}", limit);
            same_bits(dx, &dx_ref, &format!("indexed backward under {limit:?}"))?;
            same_bits(dx2, &dx_ref, &format!("backward under {limit:?}"))?;
        }
    }

    /// Average pooling, padding counted in the divisor or not.
    #[test]
    fn average_pooling_matches_reference(
        (window, shape) in pool_window(false).prop_flat_map(pool_input),
        count_include_pad in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let _simd = fast_kernels_at_environment_limit();
        let x = random4(shape, seed);
        let y = pool::avg_pool2d(x.view(), &window, count_include_pad);
        close(&y, &reference::avg_pool2d(x.view(), &window, count_include_pad), "forward")?;
        let dy = random4(y.dim(), seed ^ 1);
        let size = [shape.2, shape.3];
        let dx = pool::avg_pool2d_backward(dy.view(), size, &window, count_include_pad);
        let dx_ref = reference::avg_pool2d_backward(dy.view(), size, &window, count_include_pad);
        close(&dx, &dx_ref, "backward")?;
    }

    /// `x·Wᵀ + b` and its three gradients (the parameter ones added to what was there).
    #[test]
    fn dense_matches_reference(
        n in 1..=20usize,
        fan_in in 1..=40usize,
        fan_out in 1..=20usize,
        seed in any::<u64>(),
    ) {
        let _simd = fast_kernels_at_environment_limit();
        check_dense(n, fan_in, fan_out, seed)?;
    }

    /// ReLU bit for bit (NaN kept, gradient 0 at 0), the others within tolerance.
    #[test]
    fn activations_match_reference(
        len in 1..=300usize,
        slope in prop_oneof![Just(0.01f32), -1.0f32..1.0],
        seed in any::<u64>(),
    ) {
        let _simd = fast_kernels_at_environment_limit();
        check_activations(len, slope, seed)?;
    }

    /// Batch norm's statistics and backward sums in `f64` lanes, its element-wise
    /// passes over chunks of samples: equal to the plain loops.
    #[test]
    fn batch_norm_matches_reference(
        n in 1..=9usize,
        c in 1..=5usize,
        h in 1..=9usize,
        w in 1..=9usize,
        seed in any::<u64>(),
    ) {
        let _simd = fast_kernels_at_environment_limit();
        check_batch_norm((n, c, h, w), seed)?;
    }

    /// Softmax cross-entropy (mean over the batch) and its gradient, logits up to ±100.
    #[test]
    fn softmax_cross_entropy_matches_reference(
        n in 1..=20usize,
        k in 1..=12usize,
        scale in prop_oneof![Just(1.0f32), Just(100.0f32)],
        seed in any::<u64>(),
    ) {
        let _simd = fast_kernels_at_environment_limit();
        let logits = Array2::from_shape_vec((n, k), values(n * k, seed)).unwrap() * scale;
        let targets: Vec<usize> = values(n, seed ^ 1).iter().map(|u| ((u + 1.0) / 2.0 * k as f32) as usize % k).collect();
        let (loss, probabilities) = softmax::softmax_cross_entropy(logits.view(), &targets);
        let loss_ref = reference::softmax_cross_entropy(logits.view(), &targets);
        close(&[loss], &[loss_ref], "loss")?;
        close(&probabilities, &reference::softmax(logits.view()), "softmax")?;
        let grad = softmax::softmax_cross_entropy_backward(probabilities.view(), &targets);
        close(&grad, &reference::softmax_cross_entropy_backward(logits.view(), &targets), "gradient")?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Adam's update of several parameters (over several chunks, and one of them not
    /// contiguous) against the plain loop, bit for bit, under every SIMD limit.
    #[test]
    fn adam_update_matches_reference_bit_for_bit_under_every_simd_limit(
        lens in prop::collection::vec(1..=2 * adam::CHUNK + 9, 1..=3),
        decoupled in any::<bool>(),
        steps in 1..=50i32,
        seed in any::<u64>(),
    ) {
        check_adam(&lens, decoupled, steps, seed)?;
    }
}

/// One Adam step on parameters of `lens` elements plus a transposed 3×5 one, fast
/// (under every SIMD limit) against the reference, both from the same state.
fn check_adam(lens: &[usize], decoupled: bool, steps: i32, seed: u64) -> Result<(), TestCaseError> {
    let (beta1, beta2, lr, weight_decay) = (0.9f32, 0.999f32, 0.005f32, 0.01f32);
    let step = AdamStep {
        beta1,
        beta2,
        eps: 1e-8,
        l2: if decoupled { 0.0 } else { weight_decay },
        decay: if decoupled {
            1.0 - lr * weight_decay
        } else {
            1.0
        },
        step_size: lr / (1.0 - beta1.powi(steps)),
        bias_correction2_sqrt: (1.0 - beta2.powi(steps)).sqrt(),
    };
    // Per parameter: weight, gradient, m, v (v ≥ 0, some exactly 0 as after step 0).
    let state: Vec<[ArrayD<f32>; 4]> = lens
        .iter()
        .copied()
        .chain([15])
        .enumerate()
        .map(|(i, len)| {
            let seed = seed ^ ((i as u64) << 8);
            let array =
                |k: u64| ArrayD::from_shape_vec(IxDyn(&[len]), values(len, seed ^ k)).unwrap();
            let v = array(3).mapv(|v| if v < -0.5 { 0.0 } else { v.abs() * 1e-2 });
            [array(0), array(1), array(2).mapv(|m| m * 1e-2), v]
        })
        .collect();
    let transposed = |a: &mut ArrayD<f32>| {
        if a.len() == 15 && a.ndim() == 1 {
            *a = a
                .clone()
                .into_shape_with_order(IxDyn(&[3, 5]))
                .unwrap()
                .reversed_axes();
        }
    };
    let mut plain = state.clone();
    let last = plain.len() - 1;
    plain[last].iter_mut().for_each(transposed);
    for [w, g, m, v] in &mut plain {
        reference::adam_update(w.view_mut(), g.view(), m.view_mut(), v.view_mut(), &step);
    }
    let limits = [SimdLimit::Widest, SimdLimit::Avx2, SimdLimit::Portable];
    let runs = under_simd_limits(&limits, || {
        set_kernels(Kernels::Fast);
        let mut fast = state.clone();
        fast[last].iter_mut().for_each(transposed);
        let tensors = fast
            .iter_mut()
            .map(|[w, g, m, v]| AdamTensors {
                weight: w.view_mut(),
                grad: g.view(),
                exp_avg: m.view_mut(),
                exp_avg_sq: v.view_mut(),
            })
            .collect();
        adam::adam_update(tensors, &step);
        fast
    });
    for (fast, limit) in runs.iter().zip(limits) {
        for (f, p) in fast.iter().zip(&plain) {
            for (name, (f, p)) in ["weight", "exp_avg", "exp_avg_sq"].iter().zip([
                (&f[0], &p[0]),
                (&f[2], &p[2]),
                (&f[3], &p[3]),
            ]) {
                same_bits(f, p, &format!("adam {name} under {limit:?}"))?;
            }
        }
    }
    Ok(())
}

fn check_dense(n: usize, fan_in: usize, fan_out: usize, seed: u64) -> Result<(), TestCaseError> {
    let x = Array2::from_shape_vec((n, fan_in), values(n * fan_in, seed)).unwrap();
    let w = Array2::from_shape_vec((fan_out, fan_in), values(fan_out * fan_in, seed ^ 1)).unwrap();
    let b = Array1::from(values(fan_out, seed ^ 2));
    let y = dense::dense_forward(x.view(), w.view(), b.view());
    close(
        &y,
        &reference::dense(x.view(), w.view(), b.view()),
        "forward",
    )?;
    let dy = Array2::from_shape_vec((n, fan_out), values(n * fan_out, seed ^ 3)).unwrap();
    let mut dw = Array2::from_elem(w.dim(), 1.0);
    let mut db = Array1::from_elem(fan_out, 2.0);
    let dx = dense::dense_backward(dy.view(), x.view(), w.view(), dw.view_mut(), db.view_mut());
    let (dx_ref, dw_ref, db_ref) = reference::dense_backward(x.view(), w.view(), dy.view());
    close(&dx, &dx_ref, "grad_input")?;
    close(&(dw - 1.0), &dw_ref, "grad_weight (+=)")?;
    close(&(db - 2.0), &db_ref, "grad_bias (+=)")
}

fn check_activations(len: usize, slope: f32, seed: u64) -> Result<(), TestCaseError> {
    // A few exact zeros (of both signs) and NaNs among the values.
    let x = ArrayD::from_shape_vec(IxDyn(&[len]), values(len, seed))
        .unwrap()
        .mapv(|v| match (v * 1000.0) as i32 % 13 {
            0 => 0.0,
            1 => f32::NAN,
            2 => -0.0,
            _ => v * 4.0,
        });
    let dy = ArrayD::from_shape_vec(IxDyn(&[len]), values(len, seed ^ 1)).unwrap();
    check_add(&x, &dy)?;
    let mut mask = Vec::new();
    let y = activation::relu_masked(x.view(), &mut mask);
    same_bits(&y, &reference::relu(x.view()), "relu_masked")?;
    same_bits(
        &activation::relu(x.view()),
        &reference::relu(x.view()),
        "relu",
    )?;
    let dx_ref = reference::relu_backward(dy.view(), x.view());
    same_bits(
        &activation::relu_backward_masked(dy.view(), &mask),
        &dx_ref,
        "relu backward",
    )?;
    same_bits(
        &activation::relu_backward(dy.view(), x.view()),
        &dx_ref,
        "relu_backward",
    )?;
    let finite = x.mapv(|v| if v.is_nan() { 0.5 } else { v });
    let leaky = activation::leaky_relu(finite.view(), slope);
    close(
        &leaky,
        &reference::leaky_relu(finite.view(), slope),
        "leaky_relu",
    )?;
    let dl = activation::leaky_relu_backward(dy.view(), finite.view(), slope);
    close(
        &dl,
        &reference::leaky_relu_backward(dy.view(), finite.view(), slope),
        "leaky backward",
    )?;
    let t = activation::tanh(finite.view());
    close(&t, &reference::tanh(finite.view()), "tanh")?;
    let dt = activation::tanh_backward(dy.view(), t.view());
    close(
        &dt,
        &reference::tanh_backward(dy.view(), t.view()),
        "tanh backward",
    )?;
    let s = activation::sigmoid(finite.view());
    close(&s, &reference::sigmoid(finite.view()), "sigmoid")?;
    let ds = activation::sigmoid_backward(dy.view(), s.view());
    close(
        &ds,
        &reference::sigmoid_backward(dy.view(), s.view()),
        "sigmoid backward",
    )
}

/// The residual sum `x + dy`, fast against reference, with NaNs among the terms.
fn check_add(x: &ArrayD<f32>, dy: &ArrayD<f32>) -> Result<(), TestCaseError> {
    let mut fast = x.clone();
    add::add_assign(&mut fast, dy.view());
    let mut plain = x.clone();
    reference::add_assign(plain.view_mut(), dy.view());
    same_bits(&fast, &plain, "add_assign")
}

/// One convolution case through the fast tier and the reference: forward, input
/// gradient, weight gradient and bias gradient (added to earlier values).
fn check_conv(case: ConvCase) -> Result<(), TestCaseError> {
    let _simd = fast_kernels_at_environment_limit();
    check_conv_at_current_limit(case)
}

/// [`check_conv`] at whatever SIMD limit is set, for a caller that holds the lock.
fn check_conv_at_current_limit(case: ConvCase) -> Result<(), TestCaseError> {
    set_kernels(Kernels::Fast);
    let ConvCase {
        input,
        out_channels,
        window,
        groups,
        seed,
    } = case;
    let [kh, kw] = window.kernel_size;
    let x = random4(input, seed);
    let w = random4((out_channels, input.1 / groups, kh, kw), seed ^ 1);
    let b = Array1::from(values(out_channels, seed ^ 2));
    let mut cache = conv::Conv2dCache::default();
    let y = conv::conv2d_forward(
        x.view(),
        w.view(),
        Some(b.view()),
        &window,
        groups,
        Some(&mut cache),
    );
    prop_assert_eq!(cache.tier(), Kernels::Fast);
    let y_ref = reference::conv2d(x.view(), w.view(), Some(b.view()), &window, groups);
    close(&y, &y_ref, "forward")?;
    let dy = random4(y.dim(), seed ^ 3);
    // The parameter gradients start from earlier values: the backward adds to them.
    let dw_before = random4(w.dim(), seed ^ 4);
    let db_before = Array1::from(values(out_channels, seed ^ 5));
    let (mut dw, mut db) = (dw_before.clone(), db_before.clone());
    let dx = conv::conv2d_backward(
        dy.view(),
        w.view(),
        &window,
        groups,
        &cache,
        dw.view_mut(),
        Some(db.view_mut()),
    );
    let (dx_ref, dw_ref, db_ref) =
        reference::conv2d_backward(x.view(), w.view(), dy.view(), &window, groups);
    close(&dx, &dx_ref, "grad_input")?;
    close(&dw, &(dw_ref + &dw_before), "grad_weight")?;
    close(&db, &(db_ref + &db_before), "grad_bias")?;
    Ok(())
}

/// Winograd's products run in blocks of whole tile rows across samples
/// (`winograd.rs`, `for_each_block`); the random cases stay within one. A ResNet-sized
/// batch runs five blocks, the last partial, and an odd one a few more. On an Intel CPU
/// with AVX-512 the 16-channel case is the direct 3×3 kernel's (`direct3x3.rs`), so it
/// runs once more under the AVX2 limit, where it is Winograd's on every machine.
#[test]
fn winograd_over_several_blocks_matches_reference() {
    let window = Window2d {
        kernel_size: [3, 3],
        padding: [1, 1],
        ..Default::default()
    };
    let case = |input, out_channels| ConvCase {
        input,
        out_channels,
        window,
        groups: 1,
        seed: 21,
    };
    let resnet_sized = case((6, 16, 28, 28), 16);
    check_conv(resnet_sized.clone()).unwrap();
    check_conv(case((7, 17, 15, 13), 33)).unwrap();
    let avx2 = || check_conv_at_current_limit(resnet_sized.clone());
    for result in under_simd_limits(&[SimdLimit::Avx2], avx2) {
        result.unwrap();
    }
}

/// A strided convolution's channels-last input gradient over several chunks of
/// samples (4 a chunk when threads run, else 16; `strided_case` draws at most 4): the
/// ResNet's `layer2.0.conv1` on a batch of 18, smaller planes.
#[test]
fn strided_input_gradient_over_several_chunks_of_samples_matches_reference() {
    check_conv(ConvCase {
        input: (18, 16, 9, 9),
        out_channels: 8,
        window: Window2d {
            kernel_size: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            ..Default::default()
        },
        groups: 1,
        seed: 23,
    })
    .unwrap();
}

/// Sizes the random cases do not reach: a dense product big enough for the
/// fast tier's parallel path (LeNet's fc1 on a batch of 40), and activations
/// over several element chunks.
#[test]
fn large_dense_and_activations_match_reference() {
    let _simd = fast_kernels_at_environment_limit();
    check_dense(40, 400, 120, 11).unwrap();
    check_activations(3 * scratchnet_tensor::parallel::ELEMENT_CHUNK + 17, 0.1, 12).unwrap();
    check_batch_norm((37, 3, 29, 31), 13).unwrap();
}

/// Empty products: no samples, no inputs or no outputs (PyTorch's `Linear(3, 0)` is
/// legal). The fast tier must agree with the plain loops, not panic.
#[test]
fn empty_dense_products_match_reference() {
    let _simd = fast_kernels_at_environment_limit();
    for (n, fan_in, fan_out) in [(0, 3, 2), (2, 0, 3), (2, 3, 0), (40, 400, 0), (0, 0, 0)] {
        check_dense(n, fan_in, fan_out, 14).unwrap();
    }
}

/// The fast statistics sum in one pass, shifted by each channel's first value; the
/// reference in two. A channel far from zero with a tiny spread, a constant one,
/// NaNs, a first value far from the rest (an outlier: the shifted sums cancel), and
/// a first value of ∞ must come out as the reference's: close, never negative, NaN
/// where it is NaN, the infinite mean infinite.
#[test]
fn batch_norm_statistics_of_awkward_channels_match_reference() {
    let _simd = fast_kernels_at_environment_limit();
    let x = Array4::from_shape_fn((3, 6, 5, 6), |(n, c, h, w)| {
        let i = ((n * 5 + h) * 6 + w) as f32;
        match c {
            0 => 1.0e4 + 1.0e-3 * (i % 7.0),
            1 => -2.5,
            2 if i == 40.0 => f32::NAN,
            4 if i == 0.0 => 1.0e4,
            5 if i == 0.0 => f32::INFINITY,
            _ => i.sin(),
        }
    });
    let fast = batch_norm::channel_mean_and_biased_var(x.view());
    let plain = reference::channel_mean_and_biased_var(x.view());
    assert!(
        plain[5].0 == f64::INFINITY && plain[5].1.is_nan(),
        "{:?}",
        plain[5]
    );
    for (c, (f, r)) in fast.iter().zip(&plain).enumerate() {
        if c == 2 {
            assert!(f.0.is_nan() && f.1.is_nan(), "channel 2 holds a NaN: {f:?}");
            assert!(r.0.is_nan() && r.1.is_nan(), "channel 2 holds a NaN: {r:?}");
            continue;
        }
        if c == 5 {
            assert!(f.0 == r.0 && f.1.is_nan(), "channel 5 starts at ∞: {f:?}");
            continue;
        }
        assert!(f.1 >= 0.0, "channel {c}: variance {} below zero", f.1);
        assert!(
            (f.0 - r.0).abs() <= 1e-12 * r.0.abs().max(1.0),
            "channel {c}: mean {f:?} vs {r:?}"
        );
        assert!(
            (f.1 - r.1).abs() <= 1e-12 * r.1.abs().max(1e-6),
            "channel {c}: variance {f:?} vs {r:?}"
        );
    }
    assert_eq!(fast[1], (-2.5, 0.0), "a constant channel");
    // An outlier first among many values: the one-pass sums cancel to 2e-11. Whether
    // the second pass runs depends on the outlier against the spread, at any scale:
    // a spread of 1 with an outlier of 10⁴, and one of 10⁻³ with an outlier of 1.
    for (spread, outlier) in [(1.0, 1.0e4), (1.0e-3, 1.0)] {
        let mut x = random4((64, 1, 32, 32), 7).mapv(|v| v * spread);
        x[[0, 0, 0, 0]] = outlier;
        let (f, r) = (
            batch_norm::channel_mean_and_biased_var(x.view())[0],
            reference::channel_mean_and_biased_var(x.view())[0],
        );
        assert!(
            (f.1 - r.1).abs() <= 1e-12 * r.1,
            "spread {spread}: variance {f:?} vs {r:?}"
        );
    }
}

fn check_batch_norm(shape: (usize, usize, usize, usize), seed: u64) -> Result<(), TestCaseError> {
    // An offset, so that the variance's two passes matter.
    let x = random4(shape, seed).mapv(|v| 3.0 + v);
    let dy = random4(shape, seed ^ 1);
    let near = |fast: &[(f64, f64)], reference: &[(f64, f64)], what: &str| {
        prop_assert_eq!(fast.len(), reference.len());
        for (f, r) in fast.iter().zip(reference) {
            for (a, b) in [(f.0, r.0), (f.1, r.1)] {
                prop_assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{}: {} vs {}",
                    what,
                    a,
                    b
                );
            }
        }
        Ok(())
    };
    let stats = batch_norm::channel_mean_and_biased_var(x.view());
    near(
        &stats,
        &reference::channel_mean_and_biased_var(x.view()),
        "statistics",
    )?;
    let c = shape.1;
    let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let inv_std: Vec<f64> = stats.iter().map(|s| 1.0 / (s.1 + 1e-5).sqrt()).collect();
    let gamma: Vec<f64> = (0..c).map(|i| 0.5 + i as f64).collect();
    let beta: Vec<f64> = (0..c).map(|i| i as f64 - 1.0).collect();
    let (x_hat, y) = batch_norm::batch_norm(x.view(), &mean, &inv_std, &gamma, &beta);
    let (x_hat_ref, y_ref) = reference::batch_norm(x.view(), &mean, &inv_std, &gamma, &beta);
    same_bits(&x_hat, &x_hat_ref, "x̂")?;
    same_bits(&y, &y_ref, "output")?;
    let sums = batch_norm::channel_grad_sums(dy.view(), x_hat.view());
    near(
        &sums,
        &reference::channel_grad_sums(dy.view(), x_hat.view()),
        "backward sums",
    )?;
    let (mean_dy, mean_dy_xhat): (Vec<f64>, Vec<f64>) =
        sums.iter().map(|s| (s.0 / 7.0, s.1 / 7.0)).unzip();
    let dx =
        batch_norm::batch_norm_backward(dy.view(), x_hat.view(), &gamma, &mean_dy, &mean_dy_xhat);
    let dx_ref =
        reference::batch_norm_backward(dy.view(), x_hat.view(), &gamma, &mean_dy, &mean_dy_xhat);
    same_bits(&dx, &dx_ref, "input gradient")
}

/// The SIMD limit is global to this test binary. The tests that switch it hold this
/// lock for writing and put back the limit they found; every other test holds it for
/// reading, so that it runs at the limit the environment chose (`SCRATCHNET_SIMD`, as
/// `.ci/run`'s passes set it), never at one another test switched to.
static SIMD_LIMIT: RwLock<()> = RwLock::new(());

/// The fast kernels, and a guard that keeps the SIMD limit the environment's while it
/// lives (see [`SIMD_LIMIT`]).
fn fast_kernels_at_environment_limit() -> RwLockReadGuard<'static, ()> {
    set_kernels(Kernels::Fast);
    SIMD_LIMIT.read().unwrap_or_else(PoisonError::into_inner)
}

/// `f()` under each of `limits`, in order, with the lock held for writing; then the
/// limit found before.
fn under_simd_limits<T>(limits: &[SimdLimit], f: impl Fn() -> T) -> Vec<T> {
    let _lock = SIMD_LIMIT.write().unwrap_or_else(PoisonError::into_inner);
    let found = simd_limit();
    let results = limits
        .iter()
        .map(|&limit| {
            set_simd_limit(limit);
            f()
        })
        .collect();
    set_simd_limit(found);
    results
}

/// The tests that run every SIMD path rest on this: a limit is in force once set, and
/// it alone decides (with the CPU) which hand-vectorised paths may run.
#[test]
fn each_simd_limit_is_in_force_and_decides_the_paths() {
    #[cfg(target_arch = "x86_64")]
    let (avx2, avx512) = (
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        is_x86_feature_detected!("avx512f"),
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (avx2, avx512) = (false, false);
    let limits = [SimdLimit::Portable, SimdLimit::Avx2, SimdLimit::Widest];
    let seen = under_simd_limits(&limits, || {
        (simd_limit(), avx2_fma_available(), avx512_available())
    });
    let expected = [
        (SimdLimit::Portable, false, false),
        (SimdLimit::Avx2, avx2, false),
        (SimdLimit::Widest, avx2, avx2 && avx512),
    ];
    assert_eq!(seen, expected);
}

/// The segmented product `C = bias + Σ_s A_s·B_sᵀ` (a convolution's weight gradient
/// sums one segment a sample), and `C += Σ_s A_s·B_sᵀ` onto a `C` that holds the bias,
/// under every SIMD limit, against its definition in `f64`.
#[test]
fn segmented_abt_matches_its_definition_under_every_simd_limit() {
    let (len, m, n) = (37, 5, 19);
    let a: Vec<Vec<f32>> = (0..3).map(|s| values(m * len + 3, 40 + s)).collect();
    let b: Vec<Vec<f32>> = (0..3).map(|s| values(n * len + 1, 50 + s)).collect();
    // Rows that start at uneven offsets, as a convolution's windows do.
    let a_offsets: Vec<usize> = (0..m).map(|i| i * len + i % 3).collect();
    let b_offsets: Vec<usize> = (0..n).map(|j| j * len + j % 2).collect();
    let segments: Vec<gemm::Segment> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| gemm::Segment { a, b })
        .collect();
    let bias = values(n, 60);
    let expected: Vec<f64> = (0..m * n)
        .map(|x| {
            let (i, j) = (x / n, x % n);
            let products = a.iter().zip(&b).flat_map(|(a, b)| {
                let (a, b) = (&a[a_offsets[i]..][..len], &b[b_offsets[j]..][..len]);
                a.iter().zip(b).map(|(&u, &v)| f64::from(u) * f64::from(v))
            });
            f64::from(bias[j]) + products.sum::<f64>()
        })
        .collect();
    let limits = [SimdLimit::Portable, SimdLimit::Avx2, SimdLimit::Widest];
    let results = under_simd_limits(&limits, || {
        let mut c = vec![f32::NAN; m * n];
        gemm::gemm_abt(
            len,
            &segments,
            &a_offsets,
            &b_offsets,
            &mut c,
            n,
            false,
            Some(&bias),
        );
        let mut onto = bias.repeat(m);
        gemm::gemm_abt(
            len, &segments, &a_offsets, &b_offsets, &mut onto, n, true, None,
        );
        [c, onto]
    });
    for (limit, [c, onto]) in limits.iter().zip(results) {
        for (&got, &want) in c.iter().chain(&onto).zip(expected.iter().cycle()) {
            let error = (f64::from(got) - want).abs();
            assert!(
                error <= 1e-5 * want.abs().max(1.0),
                "{limit:?}: {got} vs {want}"
            );
        }
    }
}

/// A GEMM case: `M, N, K`, A stored transposed or not, B's row padding, how C starts.
#[derive(Clone, Debug)]
struct GemmCase {
    m: usize,
    n: usize,
    k: usize,
    a_transposed: bool,
    b_pad: usize,
    init: u8,
    seed: u64,
}

/// The definition the GEMM kernels hold to: `C[i, j]` starts from `init` and takes
/// `A[i, kk]·B[kk, j]` for `kk = 0, 1, …` as one fused multiply-add each.
fn gemm_definition(
    case: &GemmCase,
    a_at: impl Fn(usize, usize) -> f32,
    b: &[f32],
    c0: &[f32],
) -> Vec<f32> {
    let ldb = case.n + case.b_pad;
    let mut c = c0.to_vec();
    for i in 0..case.m {
        for j in 0..case.n {
            let mut sum = match case.init {
                0 => 0.0,
                1 => c0[i * case.n + j],
                _ => i as f32 * 0.25 - 1.0,
            };
            for kk in 0..case.k {
                sum = a_at(i, kk).mul_add(b[kk * ldb + j], sum);
            }
            c[i * case.n + j] = sum;
        }
    }
    c
}

fn gemm_case() -> impl Strategy<Value = GemmCase> {
    (
        1..=30usize,
        1..=100usize,
        0..=40usize,
        any::<bool>(),
        0..=3usize,
        0..3u8,
        any::<u64>(),
    )
        .prop_map(|(m, n, k, a_transposed, b_pad, init, seed)| GemmCase {
            m,
            n,
            k,
            a_transposed,
            b_pad,
            init,
            seed,
        })
}

fn check_gemm(case: GemmCase) -> Result<(), TestCaseError> {
    let GemmCase {
        m,
        n,
        k,
        a_transposed,
        b_pad,
        init,
        seed,
    } = case.clone();
    let a_data = values(m * k, seed);
    let ldb = n + b_pad;
    let b_data = values(k * ldb, seed ^ 1);
    let c0 = values(m * n, seed ^ 2);
    let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25 - 1.0).collect();
    let a = if a_transposed {
        Strided::new(&a_data, m, k, 1, m)
    } else {
        Strided::new(&a_data, m, k, k, 1)
    };
    let a_at = |i: usize, kk: usize| {
        if a_transposed {
            a_data[kk * m + i]
        } else {
            a_data[i * k + kk]
        }
    };
    let want = gemm_definition(&case, a_at, &b_data, &c0);
    let limits = [SimdLimit::Widest, SimdLimit::Avx2, SimdLimit::Portable];
    let results = under_simd_limits(&limits, || {
        let mut c = c0.clone();
        let init = match init {
            0 => Init::Overwrite,
            1 => Init::Accumulate,
            _ => Init::RowBias(&bias),
        };
        let b = Strided::new(&b_data, k, n, ldb, 1);
        gemm::gemm(m, n, k, &a, &b, &mut c, n, init);
        c
    });
    for (limit, got) in limits.iter().zip(&results) {
        same_bits(got, &want, &format!("gemm under {limit:?}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every block shape and tail of the AVX-512, AVX2 and portable GEMMs (whichever
    /// this CPU has) computes the definition's fused multiply-add chain exactly.
    #[test]
    fn gemm_matches_its_definition_bit_for_bit_under_every_simd_limit(case in gemm_case()) {
        check_gemm(case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A convolution's forward and backward give the same bits with AVX-512 as with AVX2
    /// (their GEMM sums in the same order), on both strategies.
    #[test]
    fn convolution_is_the_same_with_and_without_avx512(case in prop_oneof![conv_case(), winograd_case()]) {
        set_kernels(Kernels::Fast);
        let ConvCase { input, out_channels, window, groups, seed } = case;
        let [kh, kw] = window.kernel_size;
        let x = random4(input, seed);
        let w = random4((out_channels, input.1 / groups, kh, kw), seed ^ 1);
        // With a bias: on AVX-512 some direct convolutions take the virtual grid instead
        // of the pixel-major product, and both must start every output from its bias.
        let bias = random4((1, 1, 1, out_channels), seed ^ 2).into_shape_with_order(out_channels).unwrap();
        let runs = under_simd_limits(&[SimdLimit::Widest, SimdLimit::Avx2], || {
            let mut cache = conv::Conv2dCache::default();
            let y = conv::conv2d_forward(x.view(), w.view(), Some(bias.view()), &window, groups, Some(&mut cache));
            let dy = random4(y.dim(), seed ^ 3);
            let mut dw = Array4::zeros(w.dim());
            let dx = conv::conv2d_backward(dy.view(), w.view(), &window, groups, &cache, dw.view_mut(), None);
            (y, dx, dw)
        });
        let ((y0, dx0, dw0), (y1, dx1, dw1)) = (&runs[0], &runs[1]);
        // Except where the direct 3×3 kernel may run: with AVX-512 on an Intel CPU, the
        // forward and weight gradient of a 3×3 stride-1 convolution of 16 input channels
        // (and the input gradient of one of 16 outputs, a convolution of those) are that
        // kernel's sums, not Winograd's, so the two limits agree there to rounding only.
        let direct = |channels: usize, outputs: usize| {
            window.kernel_size == [3, 3] && window.stride == [1, 1] && window.dilation == [1, 1]
                && groups == 1 && channels == 16 && outputs % 16 == 0
        };
        let (c, o) = (input.1, out_channels);
        if direct(c, o) {
            close(y0, y1, "forward")?;
            close(dw0, dw1, "grad_weight")?;
        } else {
            same_bits(y0, y1, "forward")?;
            same_bits(dw0, dw1, "grad_weight")?;
        }
        if direct(o, c) {
            close(dx0, dx1, "grad_input")?;
        } else {
            same_bits(dx0, dx1, "grad_input")?;
        }
    }
}

/// `fast` non-finite exactly where `reference` is (NaN where it has NaN, the same
/// infinity where it has one), and within [`close`]'s tolerance of its finite values.
fn same_non_finite_and_close(fast: &Array4<f32>, reference: &Array4<f32>, what: &str) {
    let finite = |a: &Array4<f32>| a.mapv(|v| if v.is_finite() { v } else { 0.0 });
    for (i, (f, r)) in fast.iter().zip(reference).enumerate() {
        let agree = match r.is_finite() {
            true => f.is_finite(),
            false => f.to_bits() == r.to_bits() || (f.is_nan() && r.is_nan()),
        };
        assert!(agree, "{what}[{i}]: {f}, expected {r}");
    }
    close(&finite(fast), &finite(reference), what).unwrap();
}

/// A non-finite weight spreads in the input gradient only as far as the reference's
/// sums carry it (PyTorch's too): on the virtual grid the discarded columns of
/// `Wᵀ·dY` hold `∞·0 = NaN`, which once landed on input pixels the tap never reaches
/// (`dx[0,0,0,7..9]` of the first case was NaN; the reference and PyTorch give 2 and 1);
/// computed as a convolution (8 channels or more), the padding around `dY` did the
/// same. Cases: the virtual grid with fewer than 8 channels, with padding of a whole
/// kernel, and as a convolution (direct and Winograd's); the weight's first tap or
/// its last ±∞ or NaN.
#[test]
fn a_non_finite_weight_leaks_nowhere_in_the_input_gradient() {
    let _simd = fast_kernels_at_environment_limit();
    let window = |k: usize, p: usize| Window2d {
        kernel_size: [k, k],
        padding: [p, p],
        ..Default::default()
    };
    let cases = [
        ((1, 1, 3, 9), 1, window(3, 0)),
        ((2, 3, 8, 9), 4, window(3, 1)),
        ((1, 1, 12, 12), 6, window(5, 2)),
        ((1, 4, 6, 6), 3, window(3, 3)),
        ((2, 8, 7, 7), 4, window(3, 1)),
        ((2, 8, 9, 9), 4, window(3, 0)),
        ((2, 16, 7, 7), 16, window(3, 1)),
    ];
    for (input, o, window) in cases {
        let [kh, kw] = window.kernel_size;
        let x = random4(input, 7);
        let dy_dim = (
            input.0,
            o,
            input.2 + 2 * window.padding[0] + 1 - kh,
            input.3 + 2 * window.padding[1] + 1 - kw,
        );
        let dy = random4(dy_dim, 8);
        for (tap, bad) in [
            ([0, 0, 0, 0], f32::INFINITY),
            ([o - 1, input.1 - 1, kh - 1, kw - 1], f32::NEG_INFINITY),
            ([0, 0, 0, 0], f32::NAN),
        ] {
            let mut w = random4((o, input.1, kh, kw), 9);
            w[tap] = bad;
            let what =
                format!("grad_input of {input:?}, {o} outputs, {window:?}, {bad} at {tap:?}");
            let (dx_ref, _, _) =
                reference::conv2d_backward(x.view(), w.view(), dy.view(), &window, 1);
            let dx = conv::conv2d_grad_input(dy.view(), w.view(), [input.2, input.3], &window, 1);
            same_non_finite_and_close(&dx, &dx_ref, &what);
            let mut cache = conv::Conv2dCache::default();
            conv::conv2d_forward(x.view(), w.view(), None, &window, 1, Some(&mut cache));
            let mut dw = Array4::zeros(w.dim());
            let dx =
                conv::conv2d_backward(dy.view(), w.view(), &window, 1, &cache, dw.view_mut(), None);
            same_non_finite_and_close(&dx, &dx_ref, &what);
        }
    }
}

/// A backward under another SIMD limit than its forward: the limit decides whether
/// the direct 3×3 kernel runs (AVX-512, 16 input channels), and so how the cache holds
/// the input, which the backward once re-derived from its own limit ("the cache does
/// not hold an input for this convolution" on an odd output). Both directions, odd
/// and even outputs, against the reference. (Where AVX-512 is missing, both limits
/// choose alike, and this checks only that.)
#[test]
fn a_backward_under_another_simd_limit_than_its_forward_matches_reference() {
    let _lock = SIMD_LIMIT.write().unwrap_or_else(PoisonError::into_inner);
    set_kernels(Kernels::Fast);
    let found = simd_limit();
    let window = Window2d {
        kernel_size: [3, 3],
        padding: [1, 1],
        ..Default::default()
    };
    let limits = [SimdLimit::Widest, SimdLimit::Avx2];
    for (size, o) in [(7, 16), (8, 16), (5, 32)] {
        for (forward_limit, backward_limit) in [(limits[0], limits[1]), (limits[1], limits[0])] {
            let x = random4((2, 16, size, size), 31);
            let w = random4((o, 16, 3, 3), 32);
            set_simd_limit(forward_limit);
            let mut cache = conv::Conv2dCache::default();
            let y = conv::conv2d_forward(x.view(), w.view(), None, &window, 1, Some(&mut cache));
            let dy = random4(y.dim(), 33);
            set_simd_limit(backward_limit);
            let mut dw = Array4::zeros(w.dim());
            let mut db = Array1::zeros(o);
            let dx = conv::conv2d_backward(
                dy.view(),
                w.view(),
                &window,
                1,
                &cache,
                dw.view_mut(),
                Some(db.view_mut()),
            );
            let (dx_ref, dw_ref, db_ref) =
                reference::conv2d_backward(x.view(), w.view(), dy.view(), &window, 1);
            let what =
                format!("{size}×{size}, {o} outputs, {forward_limit:?} then {backward_limit:?}");
            close(&dx, &dx_ref, &format!("grad_input of {what}")).unwrap();
            close(&dw, &dw_ref, &format!("grad_weight of {what}")).unwrap();
            close(&db, &db_ref, &format!("grad_bias of {what}")).unwrap();
        }
    }
    set_simd_limit(found);
}

/// Taps in the padding read 0 and multiply it, in both tiers as in PyTorch: an infinite
/// weight tap there gives `∞·0 = NaN`, and so does an infinite output gradient in the
/// weight gradient of such a tap. Ones on a 3×3 plane, padding 1, `w[0,0,0,0] = ∞`:
/// the first output row and column read that tap in the padding (NaN), the others on
/// the input (∞). `dy[0,0,0,0] = ∞` reads the padding for the taps of the first kernel
/// row or column (NaN), the input for the others (∞): PyTorch 2.15's `F.conv2d` and its
/// weight gradient give exactly this pattern. (The reference skipped padding taps, and
/// gave finite values where PyTorch gives NaN.)
#[test]
fn a_non_finite_tap_on_the_padding_is_nan_in_both_tiers() {
    let _simd = fast_kernels_at_environment_limit();
    let window = Window2d {
        kernel_size: [3, 3],
        padding: [1, 1],
        ..Default::default()
    };
    let x = Array4::from_elem((1, 1, 3, 3), 1.0f32);
    let mut w = Array4::from_elem((1, 1, 3, 3), 1.0f32);
    w[[0, 0, 0, 0]] = f32::INFINITY;
    let edge = |i: usize, j: usize| i == 0 || j == 0;
    let expected = Array4::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| {
        if edge(i, j) {
            f32::NAN
        } else {
            f32::INFINITY
        }
    });
    let y_ref = reference::conv2d(x.view(), w.view(), None, &window, 1);
    same_non_finite_and_close(&y_ref, &expected, "reference forward");
    let y = conv::conv2d(x.view(), w.view(), None, &window, 1);
    same_non_finite_and_close(&y, &expected, "fast forward");
    let w = Array4::from_elem((1, 1, 3, 3), 1.0f32);
    let mut dy = Array4::from_elem((1, 1, 3, 3), 1.0f32);
    dy[[0, 0, 0, 0]] = f32::INFINITY;
    let (_, dw_ref, _) = reference::conv2d_backward(x.view(), w.view(), dy.view(), &window, 1);
    same_non_finite_and_close(&dw_ref, &expected, "reference grad_weight");
    let dw = conv::conv2d_grad_weight(x.view(), dy.view(), &window, 1);
    same_non_finite_and_close(&dw, &expected, "fast grad_weight");
}

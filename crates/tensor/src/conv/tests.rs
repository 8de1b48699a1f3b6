//! Unit tests of the strategies: each against the definitions, the two backward products
//! against the forward (adjointness), and the bits against any thread count.

use super::backward::{input_grad_channels_last, input_grad_chunk};
use super::*;
use ndarray::Array;

/// The definition the fast path must agree with: [`reference::conv2d`] without bias.
fn naive(x: ArrayView4<f32>, wt: ArrayView4<f32>, win: &Window2d, groups: usize) -> Array4<f32> {
    reference::conv2d(x, wt, None, win, groups)
}

fn ramp(shape: (usize, usize, usize, usize), scale: f32) -> Array4<f32> {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    Array::from_shape_fn(len, |i| ((i * 7919) % 23) as f32 * scale - 1.0)
        .into_shape_with_order(shape)
        .unwrap()
}

#[test]
fn matches_direct_convolution_with_stride_padding_dilation_and_groups() {
    let win = Window2d {
        kernel_size: [3, 2],
        stride: [2, 1],
        padding: [1, 2],
        dilation: [1, 2],
    };
    let x = ramp((2, 4, 7, 6), 0.1);
    let wt = ramp((6, 2, 3, 2), 0.07);
    let y = conv2d(x.view(), wt.view(), None, &win, 2);
    let expected = naive(x.view(), wt.view(), &win, 2);
    assert_eq!(y.dim(), expected.dim());
    for (a, b) in y.iter().zip(expected.iter()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

/// The public `im2col` against its documented definition, `col2im` as its adjoint
/// (`⟨im2col(x), g⟩ = ⟨x, col2im(g)⟩`), and both on empty shapes: an output, a plane or
/// channels of size zero give empty or zero columns and never panic.
#[test]
fn im2col_matches_its_definition_and_col2im_is_its_adjoint() {
    let window = Window2d {
        kernel_size: [3, 2],
        stride: [2, 1],
        padding: [1, 2],
        dilation: [1, 2],
    };
    let cases = [
        ([2, 7, 6], None),
        ([3, 1, 1], None),
        ([2, 7, 6], Some([0, 3])),
        ([2, 7, 6], Some([4, 0])),
        ([2, 0, 6], Some([2, 3])),
        ([2, 7, 0], None),
        ([0, 7, 6], None),
    ];
    for ([c, h, w], output_size) in cases {
        let what = format!("{c}×{h}×{w}, output {output_size:?}");
        let [oh, ow] = output_size.unwrap_or_else(|| window.output_size([h, w]).unwrap());
        let x = ramp((1, c, h, w), 0.1).index_axis_move(Axis(0), 0);
        let rows = c * 3 * 2;
        let mut cols = Array::from_elem((rows, oh * ow), f32::NAN);
        im2col(x.view(), &window, [oh, ow], cols.view_mut());
        for ((row, column), &got) in cols.indexed_iter() {
            let (ci, ky, kx) = (row / 6, row / 2 % 3, row % 2);
            let iy = (column / ow * 2 + ky).checked_sub(1).filter(|&iy| iy < h);
            let ix = (column % ow + 2 * kx).checked_sub(2).filter(|&ix| ix < w);
            let want = iy.zip(ix).map_or(0.0, |(iy, ix)| x[[ci, iy, ix]]);
            assert_eq!(got, want, "row {row}, column {column} of {what}");
        }
        let g = Array::from_shape_fn((rows, oh * ow), |(r, k)| {
            ((r * 31 + k * 7) % 23) as f32 * 0.07
        });
        let mut grad_input = Array::from_elem((c, h, w), 0.5f32);
        col2im(g.view(), &window, [oh, ow], grad_input.view_mut());
        let forward: f64 = (cols.iter().zip(&g)).map(|(&a, &b)| f64::from(a * b)).sum();
        let adjoint: f64 = (x.iter().zip(&grad_input))
            .map(|(&a, &b)| f64::from(a * (b - 0.5)))
            .sum();
        assert!(
            (forward - adjoint).abs() < 1e-4,
            "{forward} vs {adjoint} on {what}"
        );
    }
}

#[test]
fn channels_last_fold_gives_im2col_bits() {
    // Strided windows with padding, dilation and kernels wider and narrower than
    // the stride, on sizes the stride divides and does not.
    let cases = [
        ([3, 3], [2, 2], [1, 1], [1, 1], [2, 8, 9, 10], 5),
        ([3, 3], [2, 2], [1, 1], [1, 1], [3, 16, 28, 28], 32),
        ([4, 2], [3, 1], [2, 0], [1, 2], [2, 9, 11, 7], 3),
        ([2, 5], [2, 4], [1, 2], [1, 2], [1, 8, 8, 17], 4),
    ];
    for (kernel_size, stride, padding, dilation, [n, c, h, w], o) in cases {
        let window = Window2d {
            kernel_size,
            stride,
            padding,
            dilation,
        };
        let weight = ramp((o, c, kernel_size[0], kernel_size[1]), 0.03);
        let plan = Plan::new([n, c, h, w], o, weight.view(), &window, 1);
        assert!(plan.input_grad_channels_last(), "{window:?}");
        let dy = ramp((n, o, plan.oh, plan.ow), 0.37);
        let (dy, wt) = (dy.as_slice().unwrap(), weight.as_slice().unwrap());
        let mut im2col = vec![0.0f32; n * plan.in_sample()];
        input_grad_chunk(&plan, dy, (wt, true), &mut im2col);
        let folded = input_grad_channels_last(&plan, dy, wt);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&folded),
            bits(&im2col),
            "{window:?} on {n}×{c}×{h}×{w}"
        );
    }
}

#[test]
fn backward_products_are_adjoint_to_forward() {
    // <conv(x, w), dy> = <x, grad_input(dy, w)> = <w, grad_weight(x, dy)>: the
    // defining property of the two backward products, checked exactly in f64 sums.
    let win = Window2d {
        kernel_size: [2, 3],
        stride: [1, 2],
        padding: [1, 1],
        dilation: [2, 1],
    };
    let x = ramp((2, 2, 6, 7), 0.1);
    let wt = ramp((4, 1, 2, 3), 0.05);
    let y = conv2d(x.view(), wt.view(), None, &win, 2);
    let dy = ramp(y.dim(), 0.03);
    let dot = |a: &Array4<f32>, b: &Array4<f32>| {
        a.iter()
            .zip(b)
            .map(|(p, q)| *p as f64 * *q as f64)
            .sum::<f64>()
    };
    let lhs = dot(&y, &dy);
    let gx = conv2d_grad_input(dy.view(), wt.view(), [6, 7], &win, 2);
    let gw = conv2d_grad_weight(x.view(), dy.view(), &win, 2);
    assert!((lhs - dot(&x, &gx)).abs() < 1e-4 * lhs.abs().max(1.0));
    assert!((lhs - dot(&wt, &gw)).abs() < 1e-4 * lhs.abs().max(1.0));
}

/// The three gradients by their definitions, [`reference::conv2d_backward`]: (dx, dw, db).
fn naive_backward(
    x: ArrayView4<f32>,
    wt: ArrayView4<f32>,
    dy: ArrayView4<f32>,
    win: &Window2d,
    groups: usize,
) -> (Array4<f32>, Array4<f32>, Vec<f32>) {
    let (dx, dw, db) = reference::conv2d_backward(x, wt, dy, win, groups);
    (dx, dw, db.to_vec())
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-4 * scale, "{what}[{i}]: {a} vs {b}");
    }
}

/// Forward, backward and caching against the definitions, for the direct
/// strategy (LeNet's conv1, a "same" 3×3), the im2col one (conv2, groups) and
/// Winograd's on planes narrower than 4 (no virtual grid).
#[test]
fn batch_kernels_match_definitions_on_both_strategies() {
    let window = |kernel_size, stride, padding, dilation| Window2d {
        kernel_size,
        stride,
        padding,
        dilation,
    };
    // (input channels, output channels, size, window, groups)
    let cases = [
        (6, 16, 8, window([5, 5], [1, 1], [0, 0], [1, 1]), 1),
        (1, 6, 28, window([5, 5], [1, 1], [2, 2], [1, 1]), 1),
        (6, 16, 14, window([5, 5], [1, 1], [0, 0], [1, 1]), 1),
        (3, 4, 10, window([3, 3], [1, 1], [1, 1], [1, 1]), 1),
        (4, 6, 9, window([3, 3], [1, 1], [1, 1], [1, 1]), 2),
        (2, 3, 11, window([3, 2], [2, 1], [1, 1], [1, 2]), 1),
        (16, 16, 3, window([3, 3], [1, 1], [1, 1], [1, 1]), 1),
        (17, 16, 1, window([3, 3], [1, 1], [1, 1], [1, 1]), 1),
    ];
    for (c, o, size, win, groups) in cases {
        check_against_definitions(c, o, size, &win, groups);
    }
}

/// One case of [`batch_kernels_match_definitions_on_both_strategies`]: a batch of 3.
fn check_against_definitions(c: usize, o: usize, size: usize, win: &Window2d, groups: usize) {
    let [kh, kw] = win.kernel_size;
    let x = ramp((3, c, size, size), 0.1);
    let wt = ramp((o, c / groups, kh, kw), 0.05);
    let bias = Array::from_shape_fn(o, |i| i as f32 * 0.1 - 0.2);
    let mut cache = Conv2dCache::default();
    let y = conv2d_forward(
        x.view(),
        wt.view(),
        Some(bias.view()),
        win,
        groups,
        Some(&mut cache),
    );
    let mut want = naive(x.view(), wt.view(), win, groups);
    for (i, mut plane) in want.axis_iter_mut(Axis(1)).enumerate() {
        plane += bias[i];
    }
    assert_close(y.as_slice().unwrap(), want.as_slice().unwrap(), "forward");
    let dy = ramp(y.dim(), 0.03);
    let (dx_want, dw_want, db_want) = naive_backward(x.view(), wt.view(), dy.view(), win, groups);
    let mut dw = Array4::<f32>::from_elem(wt.dim(), 1.0);
    let mut db = Array1::<f32>::from_elem(o, 2.0);
    let dx = conv2d_backward(
        dy.view(),
        wt.view(),
        win,
        groups,
        &cache,
        dw.view_mut(),
        Some(db.view_mut()),
    );
    assert_close(
        dx.as_slice().unwrap(),
        dx_want.as_slice().unwrap(),
        "grad_input",
    );
    let dw_plus: Vec<f32> = dw_want.iter().map(|v| v + 1.0).collect();
    assert_close(dw.as_slice().unwrap(), &dw_plus, "grad_weight (+=)");
    let db_plus: Vec<f32> = db_want.iter().map(|v| v + 2.0).collect();
    assert_close(db.as_slice().unwrap(), &db_plus, "grad_bias (+=)");
    let gw = conv2d_grad_weight(x.view(), dy.view(), win, groups);
    assert_close(
        gw.as_slice().unwrap(),
        dw_want.as_slice().unwrap(),
        "conv2d_grad_weight",
    );
    let gx = conv2d_grad_input(dy.view(), wt.view(), [size, size], win, groups);
    assert_close(
        gx.as_slice().unwrap(),
        dx_want.as_slice().unwrap(),
        "conv2d_grad_input",
    );
}

#[test]
fn strategies_are_chosen_as_documented() {
    let w = |o, c, k| Array4::<f32>::zeros((o, c, k, k));
    let conv1 = Window2d {
        kernel_size: [5, 5],
        padding: [2, 2],
        ..Default::default()
    };
    let plan = Plan::new([2, 1, 28, 28], 6, w(6, 1, 5).view(), &conv1, 1);
    assert!(plan.direct.is_some() && !plan.pixel_major);
    // With 8 output channels the grid computes more lanes than the pixel-major
    // product (rows of 32 columns for the output's 28), and still wins where it takes
    // the 512-bit block and the pixel-major product cannot (8 columns).
    let plan = Plan::new([2, 1, 28, 28], 8, w(8, 1, 5).view(), &conv1, 1);
    let grid_wins =
        crate::gemm::wide_block_pays(8, 28 * 32) && !crate::gemm::wide_block_pays(28 * 28, 8);
    assert!(plan.direct.is_some() && plan.pixel_major != grid_wins);
    let conv2 = Window2d {
        kernel_size: [5, 5],
        ..Default::default()
    };
    let plan = Plan::new([2, 6, 14, 14], 16, w(16, 6, 5).view(), &conv2, 1);
    // Its virtual grid would take the 512-bit block, but wastes 40% of its columns.
    assert!(plan.direct.is_some() && plan.pixel_major);
    let wide = Window2d {
        kernel_size: [5, 5],
        ..Default::default()
    };
    let plan = Plan::new([2, 6, 8, 8], 16, w(16, 6, 5).view(), &wide, 1);
    assert!(plan.direct.is_none());
    let same3 = Window2d {
        kernel_size: [3, 3],
        padding: [1, 1],
        ..Default::default()
    };
    let plan = Plan::new([2, 3, 10, 10], 4, w(4, 3, 3).view(), &same3, 1);
    assert!(plan.direct.is_some() && plan.virtual_grid);
    assert!(!plan.winograd);
    // The modern CNN's conv2: Winograd, its weight gradient too (even sides).
    let plan = Plan::new([2, 32, 14, 14], 32, w(32, 32, 3).view(), &same3, 1);
    assert!(plan.winograd && plan.winograd_weight_grad && !plan.pixel_major);
    assert!(!plan.input_grad_channels_last());
    // A cache laid out by another plan of the same layer (the SIMD limit changed
    // between the forward and the backward): a direct 3×3 plan keeps its kernel on its
    // own channels-last cache, and any Winograd plan takes the direct product on a
    // plain one.
    let direct3x3 = Plan {
        direct3x3: true,
        winograd_weight_grad: false,
        ..plan.clone()
    };
    assert!(direct3x3.clone().reading_cache(true).direct3x3);
    for plan in [direct3x3, plan] {
        let plain = plan.reading_cache(false);
        assert!(!plain.direct3x3 && !plain.winograd_weight_grad);
    }
    // The ResNet's last stage: odd sides, where the last tiles overhang the output;
    // Winograd's weight gradient all the same.
    let plan = Plan::new([2, 64, 7, 7], 64, w(64, 64, 3).view(), &same3, 1);
    assert!(plan.winograd && plan.winograd_weight_grad && plan.direct.is_some());
    assert_eq!(plan.input_grad_window(), Some(same3));
    // A plane narrower than 4: no virtual grid, but a Winograd input gradient.
    let plan = Plan::new([2, 64, 3, 3], 64, w(64, 64, 3).view(), &same3, 1);
    assert!(plan.winograd && !plan.virtual_grid);
    assert_eq!(plan.input_grad_window(), Some(same3));
    let plan = Plan::new([2, 8, 3, 3], 8, w(8, 8, 3).view(), &same3, 1);
    assert!(!plan.winograd && !plan.virtual_grid && plan.input_grad_window().is_none());
    // Below 16 channels on either side: no Winograd.
    let plan = Plan::new([2, 8, 14, 14], 32, w(32, 8, 3).view(), &same3, 1);
    assert!(!plan.winograd && plan.direct.is_some());
    // A 1×1 convolution on a 7×7 plane: its 49 columns fill their vectors (four of 16
    // lanes, or seven of 8) worse than 256 output channels fill theirs.
    let one = Window2d {
        kernel_size: [1, 1],
        ..Default::default()
    };
    let plan = Plan::new([2, 256, 7, 7], 256, w(256, 256, 1).view(), &one, 1);
    assert!(plan.virtual_grid && plan.pixel_major);
}

/// The strategies of strided convolutions: direct or im2col, and the input gradient's
/// fold.
#[test]
fn strided_strategies_are_chosen_as_documented() {
    let w = |o, c, k| Array4::<f32>::zeros((o, c, k, k));
    let down = Window2d {
        kernel_size: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
        ..Default::default()
    };
    let plan = Plan::new([2, 16, 28, 28], 32, w(32, 16, 3).view(), &down, 1);
    assert!(plan.direct.is_some() && !plan.virtual_grid && plan.pixel_major);
    assert!(!plan.winograd);
    // Its windows overlap (3 > 2): the input gradient folds channels-last; so do
    // windows that overlap down the rows only, and windows that tile the plane do not.
    assert!(plan.input_grad_channels_last());
    let overlapping = |kernel_size, padding| Window2d {
        kernel_size,
        stride: [2, 2],
        padding,
        ..Default::default()
    };
    let rows_only = overlapping([3, 1], [1, 0]);
    let weight = Array4::<f32>::zeros((32, 16, 3, 1));
    let plan = Plan::new([2, 16, 28, 28], 32, weight.view(), &rows_only, 1);
    assert!(plan.input_grad_channels_last());
    let tiled = overlapping([2, 2], [0, 0]);
    let weight = Array4::<f32>::zeros((32, 16, 2, 2));
    let plan = Plan::new([2, 16, 28, 28], 32, weight.view(), &tiled, 1);
    assert!(!plan.input_grad_channels_last());
    // The 1×1 stride-2 projection: im2col, whose fold adds each value once.
    let projection = Window2d {
        kernel_size: [1, 1],
        stride: [2, 2],
        ..Default::default()
    };
    let plan = Plan::new([2, 16, 28, 28], 32, w(32, 16, 1).view(), &projection, 1);
    assert!(plan.direct.is_none() && !plan.input_grad_channels_last());
    // A stride of 8 on a 9×9 plane: unpadded, the padded copy is the input itself (81
    // floats a channel, against 9 of columns), so it runs direct; padded by 4, the
    // copy (17² a channel) outgrows the input and the columns, so im2col.
    let sparse = |padding| Window2d {
        kernel_size: [3, 3],
        stride: [8, 8],
        padding: [padding; 2],
        ..Default::default()
    };
    let plan = Plan::new([2, 16, 9, 9], 4, w(4, 16, 3).view(), &sparse(0), 1);
    assert!(plan.direct.is_some());
    let plan = Plan::new([2, 16, 9, 9], 4, w(4, 16, 3).view(), &sparse(4), 1);
    assert!(plan.direct.is_none());
    let plan = Plan::new([2, 16, 28, 28], 32, w(32, 8, 3).view(), &down, 2);
    assert!(plan.direct.is_none());
    // A padding that makes the padded plane larger than the input and the columns:
    // im2col, which keeps the 1×1 input (the padded copy was 6001² floats a sample).
    let far = Window2d {
        kernel_size: [3, 3],
        stride: [3000, 3000],
        padding: [3000, 3000],
        ..Default::default()
    };
    let plan = Plan::new([8, 1, 1, 1], 1, w(1, 1, 3).view(), &far, 1);
    assert_eq!([plan.oh, plan.ow], [2, 2]);
    assert!(plan.direct.is_none());
    assert!(plan.cache_sample_len() <= plan.columns_len().max(plan.in_sample()));
}

/// A strided convolution whose padding is far larger than its input (on im2col, see
/// [`strided_strategies_are_chosen_as_documented`]) against the definitions.
#[test]
fn strided_convolution_with_a_padding_far_beyond_its_input_matches_definitions() {
    for (stride, padding, dilation) in [(300, 300, 1), (2, 40, 1), (1, 30, 20)] {
        let win = Window2d {
            kernel_size: [3, 3],
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [dilation; 2],
        };
        check_against_definitions(2, 3, 2, &win, 1);
    }
}

/// Chunked parallel kernels: bit-identical results in 1- and 4-thread pools.
#[test]
fn batch_kernels_are_bit_identical_for_any_thread_count() {
    let conv1 = Window2d {
        kernel_size: [5, 5],
        padding: [2, 2],
        ..Default::default()
    };
    let conv2 = Window2d {
        kernel_size: [5, 5],
        ..Default::default()
    };
    for (c, o, size, win) in [(1, 6, 28, conv1), (6, 16, 14, conv2)] {
        let x = ramp((40, c, size, size), 0.1); // 3 chunks: 16, 16, 8
        let wt = ramp((o, c, 5, 5), 0.05);
        let bias = Array::from_shape_fn(o, |i| i as f32 * 0.1);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut cache = Conv2dCache::default();
                let y = conv2d_forward(
                    x.view(),
                    wt.view(),
                    Some(bias.view()),
                    &win,
                    1,
                    Some(&mut cache),
                );
                let dy = ramp(y.dim(), 0.03);
                let mut dw = Array4::<f32>::zeros(wt.dim());
                let mut db = Array1::<f32>::zeros(o);
                let dx = conv2d_backward(
                    dy.view(),
                    wt.view(),
                    &win,
                    1,
                    &cache,
                    dw.view_mut(),
                    Some(db.view_mut()),
                );
                let bits = |a: &[f32]| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                [
                    bits(y.as_slice().unwrap()),
                    bits(dx.as_slice().unwrap()),
                    bits(dw.as_slice().unwrap()),
                    bits(db.as_slice().unwrap()),
                ]
            })
        };
        assert_eq!(run(1), run(4));
    }
}

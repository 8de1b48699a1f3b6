//! Property tests: for random layer configurations and input sizes, the
//! inferred output shape is the real one, backward passes gradcheck, and
//! invalid configurations are rejected with an error (never a panic).

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use proptest::prelude::*;
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig};
use scratchnet_layers::*;

/// Distinct values 0.05 apart, shuffled: no ties, nothing within the gradcheck step of 0.
fn well_separated(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n)
        .map(|i| (i as f32 - n as f32 / 2.0 + 0.5) * 0.05)
        .collect();
    values.shuffle(&mut StdRng::seed_from_u64(seed));
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// Runs `layer` on a batch of 2 and checks the claimed shape against the real one,
/// then gradchecks it when the shape is valid; an invalid shape must be an error from both.
fn check_layer(mut layer: impl Layer, sample: &[usize], seed: u64) -> Result<(), TestCaseError> {
    let batch: Vec<usize> = [2].iter().chain(sample).copied().collect();
    let x = well_separated(&batch, seed);
    match layer.output_shape(sample) {
        Ok(out) => {
            let y = layer
                .forward(x.view(), Mode::Train)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&y.shape()[1..], &out[..], "{}", layer.describe());
            if let Err(e) = gradcheck(&mut layer, x.view(), &GradcheckConfig::default()) {
                return Err(TestCaseError::fail(format!("{}: {e}", layer.describe())));
            }
        }
        Err(_) => prop_assert!(layer.forward(x.view(), Mode::Train).is_err()),
    }
    Ok(())
}

fn pair(max: usize) -> impl Strategy<Value = [usize; 2]> {
    (1..=max, 1..=max).prop_map(|(a, b)| [a, b])
}

fn pair_from_zero(max: usize) -> impl Strategy<Value = [usize; 2]> {
    (0..=max, 0..=max).prop_map(|(a, b)| [a, b])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_shapes_and_gradients(
        (groups, in_per_group, out_per_group) in (1usize..=2, 1usize..=2, 1usize..=2),
        kernel_size in pair(3), stride in pair(2), padding in pair_from_zero(2), dilation in pair(2),
        bias in any::<bool>(), h in 1usize..=7, w in 1usize..=7, seed in any::<u64>(),
    ) {
        let config = Conv2dConfig { stride, padding, dilation, groups, bias };
        let conv = Conv2d::new(groups * in_per_group, groups * out_per_group, kernel_size, config, &mut StdRng::seed_from_u64(seed));
        check_layer(conv, &[groups * in_per_group, h, w], seed)?;
    }

    #[test]
    fn max_pool2d_shapes_and_gradients(kernel_size in pair(3), stride in pair(3), padding in pair_from_zero(1),
                                       h in 1usize..=7, w in 1usize..=7, seed in any::<u64>()) {
        let pool = MaxPool2d::new(kernel_size, MaxPool2dConfig { stride: Some(stride), padding });
        check_layer(pool, &[2, h, w], seed)?;
    }

    #[test]
    fn avg_pool2d_shapes_and_gradients(kernel_size in pair(3), stride in pair(3), padding in pair_from_zero(1),
                                       count_include_pad in any::<bool>(), h in 1usize..=7, w in 1usize..=7, seed in any::<u64>()) {
        let pool = AvgPool2d::new(kernel_size, AvgPool2dConfig { stride: Some(stride), padding, count_include_pad });
        check_layer(pool, &[2, h, w], seed)?;
    }

    #[test]
    fn dense_and_flatten_shapes_and_gradients(inputs in 1usize..=6, outputs in 1usize..=4, c in 1usize..=3, seed in any::<u64>()) {
        check_layer(Dense::new(inputs, outputs, &mut StdRng::seed_from_u64(seed)), &[inputs], seed)?;
        check_layer(Dense::new(inputs, outputs, &mut StdRng::seed_from_u64(seed)), &[inputs + 1], seed)?;
        check_layer(Flatten::new(), &[c, inputs, outputs], seed)?;
    }

    /// A zero kernel, stride or dilation is a configuration error at build, whatever the rest.
    #[test]
    fn zero_sizes_are_rejected_at_build(zero_field in 0usize..3, dim in 0usize..2, h in 1usize..=9, w in 1usize..=9) {
        let mut kernel_size = [2, 2];
        let mut config = Conv2dConfig::default();
        match zero_field {
            0 => kernel_size[dim] = 0,
            1 => config.stride[dim] = 0,
            _ => config.dilation[dim] = 0,
        }
        let conv = Conv2d::new(1, 1, kernel_size, config, &mut StdRng::seed_from_u64(0));
        let err = Sequential::new().add("conv", conv).build(&[1, h, w]).err();
        prop_assert!(matches!(err, Some(LayerError::Config { .. })), "{:?}", err);
        let mut pool_kernel = [2, 2];
        let mut stride = [2, 2];
        if zero_field == 0 { pool_kernel[dim] = 0 } else { stride[dim] = 0 }
        let pool = MaxPool2d::new(pool_kernel, MaxPool2dConfig { stride: Some(stride), padding: [0, 0] });
        let err = Sequential::new().add("pool", pool).build(&[1, h, w]).err();
        prop_assert!(matches!(err, Some(LayerError::Config { .. })), "{:?}", err);
    }

    /// A kernel larger than the padded input is a shape error at build naming the layer.
    #[test]
    fn kernel_larger_than_padded_input_is_rejected(h in 1usize..=6, extra in 1usize..=3, padding in 0usize..=1) {
        let kernel = h + 2 * padding + extra;
        let conv = Conv2d::new(1, 1, [kernel, 1], Conv2dConfig { padding: [padding, 0], ..Default::default() }, &mut StdRng::seed_from_u64(0));
        let err = Sequential::new().add("conv", conv).build(&[1, h, 4]).err();
        prop_assert!(matches!(&err, Some(LayerError::Shape { layer, .. }) if layer == "conv (Conv2d)"), "{:?}", err);
    }
}

/// An empty plane (H or W = 0) is a shape error in every windowed layer, even where the
/// padding would leave room for a window: the kernels would otherwise split the batch into
/// samples of zero floats.
#[test]
fn empty_planes_are_shape_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let padded = [1, 1];
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Conv2d::new(
            1,
            2,
            [2, 2],
            Conv2dConfig {
                padding: padded,
                ..Default::default()
            },
            &mut rng,
        )),
        Box::new(MaxPool2d::new(
            [2, 2],
            MaxPool2dConfig {
                padding: padded,
                ..Default::default()
            },
        )),
        Box::new(AvgPool2d::new(
            [2, 2],
            AvgPool2dConfig {
                padding: padded,
                ..Default::default()
            },
        )),
    ];
    for mut layer in layers {
        for shape in [[2, 1, 0, 5], [2, 1, 5, 0]] {
            let err = layer
                .forward(ArrayD::zeros(&shape[..]).view(), Mode::Train)
                .err();
            assert!(
                matches!(err, Some(LayerError::Shape { .. })),
                "{}: {shape:?} gave {err:?}",
                layer.name()
            );
            assert!(layer.output_shape(&shape[1..]).is_err(), "{}", layer.name());
        }
    }
}

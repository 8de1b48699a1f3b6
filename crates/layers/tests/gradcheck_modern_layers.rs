//! The layers modern CNNs use pass `gradcheck` (default step and tolerance, see
//! the `gradcheck` module docs), in their edge configurations: odd sizes,
//! stride > 1, padding, output padding, groups, dilation; and they refuse bad
//! shapes and hyper-parameters at build, naming what they need.

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig, GradcheckReport};
use scratchnet_layers::*;

fn uniform(shape: &[usize], low: f32, high: f32, seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(low, high).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

fn check(layer: &mut dyn Layer, input: &ArrayD<f32>) -> GradcheckReport {
    match gradcheck(layer, input.view(), &GradcheckConfig::default()) {
        Ok(report) => {
            println!("{}: {report}", layer.describe());
            report
        }
        Err(e) => panic!("{}: {e}", layer.describe()),
    }
}

/// The checked tensors' names: the input, then each parameter.
fn names(report: &GradcheckReport) -> Vec<&str> {
    report.tensors.iter().map(|t| t.tensor.as_str()).collect()
}

/// Sets every parameter to values away from its initialisation (γ ≠ 1, β ≠ 0).
fn randomize(layer: &mut dyn Layer, seed: u64) {
    for (i, (_, p)) in layer.parameters_mut().into_iter().enumerate() {
        p.value = uniform(p.value.shape(), -1.5, 1.5, seed + i as u64);
    }
}

#[test]
fn conv_transpose2d_in_its_edge_configurations() {
    let configs = [
        (3, 2, [3, 3], ConvTranspose2dConfig::default(), [2, 3, 3, 4]),
        (
            4,
            2,
            [3, 2],
            ConvTranspose2dConfig {
                stride: [2, 3],
                padding: [1, 1],
                output_padding: [1, 2],
                ..Default::default()
            },
            [2, 4, 3, 3],
        ),
        (
            4,
            6,
            [3, 3],
            ConvTranspose2dConfig {
                stride: [2, 1],
                padding: [2, 1],
                output_padding: [1, 0],
                dilation: [2, 2],
                groups: 2,
                bias: false,
            },
            [1, 4, 3, 5],
        ),
        (
            2,
            3,
            [2, 2],
            ConvTranspose2dConfig {
                stride: [3, 3],
                ..Default::default()
            },
            [1, 2, 2, 3],
        ),
        // output_padding ≥ stride: the plain loops, not the Conv2d kernels.
        (
            2,
            3,
            [3, 3],
            ConvTranspose2dConfig {
                padding: [1, 1],
                output_padding: [1, 1],
                dilation: [2, 2],
                ..Default::default()
            },
            [1, 2, 3, 4],
        ),
    ];
    for (i, (cin, cout, kernel, config, shape)) in configs.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(i as u64);
        let mut layer = ConvTranspose2d::new(cin, cout, kernel, config, &mut rng);
        let report = check(&mut layer, &uniform(&shape, -1.0, 1.0, 10 + i as u64));
        let want: &[&str] = if config.bias {
            &["input", "weight", "bias"]
        } else {
            &["input", "weight"]
        };
        assert_eq!(names(&report), want);
    }
}

#[test]
fn upsample_nearest_and_bilinear() {
    let configs = [
        UpsampleConfig::default(),
        UpsampleConfig {
            size: UpsampleSize::Size([5, 7]),
            ..Default::default()
        },
        UpsampleConfig {
            size: UpsampleSize::ScaleFactor([1.5, 2.5]),
            mode: UpsampleMode::Bilinear,
            align_corners: false,
        },
        UpsampleConfig {
            size: UpsampleSize::Size([7, 2]),
            mode: UpsampleMode::Bilinear,
            align_corners: false,
        },
        UpsampleConfig {
            size: UpsampleSize::Size([7, 5]),
            mode: UpsampleMode::Bilinear,
            align_corners: true,
        },
    ];
    for (i, config) in configs.into_iter().enumerate() {
        let report = check(
            &mut Upsample::new(config),
            &uniform(&[2, 2, 3, 4], -1.0, 1.0, 20 + i as u64),
        );
        assert_eq!(names(&report), ["input"]);
    }
}

#[test]
fn adaptive_avg_pool2d_overlapping_larger_and_global() {
    for (i, (size, shape)) in [
        ([3, 4], [2, 2, 5, 7]),
        ([4, 5], [1, 2, 2, 3]),
        ([1, 1], [2, 3, 3, 5]),
    ]
    .into_iter()
    .enumerate()
    {
        check(
            &mut AdaptiveAvgPool2d::new(size),
            &uniform(&shape, -1.0, 1.0, 30 + i as u64),
        );
    }
}

#[test]
fn silu_and_both_gelus() {
    let x = uniform(&[2, 3, 3, 4], -4.0, 4.0, 40);
    check(&mut SiLU::new(), &x);
    check(&mut GELU::new(GeluConfig::default()), &x);
    check(
        &mut GELU::new(GeluConfig {
            approximate: GeluApproximate::Tanh,
        }),
        &x,
    );
}

#[test]
fn group_norm_groups_instance_and_features() {
    let cases: [(usize, usize, GroupNormConfig, &[usize]); 4] = [
        (2, 6, GroupNormConfig::default(), &[2, 6, 3, 3]),
        (4, 4, GroupNormConfig::default(), &[2, 4, 2, 3]),
        (
            1,
            3,
            GroupNormConfig {
                affine: false,
                ..Default::default()
            },
            &[1, 3, 3, 2],
        ),
        (2, 4, GroupNormConfig::default(), &[5, 4]),
    ];
    for (i, (groups, channels, config, shape)) in cases.into_iter().enumerate() {
        let mut gn = GroupNorm::new(groups, channels, config);
        randomize(&mut gn, 50 + i as u64);
        let report = check(&mut gn, &uniform(shape, -1.0, 1.0, 60 + i as u64));
        let want: &[&str] = if config.affine {
            &["input", "weight", "bias"]
        } else {
            &["input"]
        };
        assert_eq!(names(&report), want);
    }
}

#[test]
fn layer_norm_over_chw_features_and_the_last_axis() {
    let cases: [(&[usize], LayerNormConfig, &[usize]); 4] = [
        (&[3, 3, 4], LayerNormConfig::default(), &[2, 3, 3, 4]),
        (&[7], LayerNormConfig::default(), &[3, 7]),
        (
            &[5],
            LayerNormConfig {
                bias: false,
                ..Default::default()
            },
            &[2, 2, 3, 5],
        ),
        (
            &[2, 3],
            LayerNormConfig {
                elementwise_affine: false,
                ..Default::default()
            },
            &[2, 3, 2, 3],
        ),
    ];
    for (i, (normalized, config, shape)) in cases.into_iter().enumerate() {
        let mut ln = LayerNorm::new(normalized, config);
        randomize(&mut ln, 70 + i as u64);
        check(&mut ln, &uniform(shape, -1.0, 1.0, 80 + i as u64));
    }
}

#[test]
fn dense_without_bias_has_only_a_weight() {
    let mut fc = Dense::without_bias(5, 3, &mut StdRng::seed_from_u64(90));
    let report = check(&mut fc, &uniform(&[4, 5], -1.0, 1.0, 91));
    assert_eq!(names(&report), ["input", "weight"]);
    assert_eq!(fc.num_parameters(), 15);
    assert_eq!(
        fc.describe(),
        "Dense(in_features=5, out_features=3, bias=false)"
    );
}

/// Building a model checks every shape and hyper-parameter, naming the layer.
#[test]
fn bad_shapes_and_hyper_parameters_are_refused_at_build() {
    let mut rng = StdRng::seed_from_u64(0);
    let build = |layer: Box<dyn Layer>, input: &[usize]| {
        let mut model = Sequential::new();
        model.push("layer", layer);
        model
            .build(input)
            .map(drop)
            .map_err(|e| e.to_string())
            .unwrap_err()
    };
    let cases: Vec<(Box<dyn Layer>, &[usize], &str)> = vec![
        (
            Box::new(ConvTranspose2d::new(3, 2, [3, 3], Default::default(), &mut rng)),
            &[4, 5, 5],
            "[3, H, W] (in_channels = 3)",
        ),
        (
            Box::new(ConvTranspose2d::new(
                4,
                6,
                [3, 3],
                ConvTranspose2dConfig {
                    groups: 4,
                    ..Default::default()
                },
                &mut rng,
            )),
            &[4, 5, 5],
            "groups = 4 must divide in_channels = 4 and out_channels = 6",
        ),
        (
            Box::new(ConvTranspose2d::new(
                2,
                2,
                [3, 3],
                ConvTranspose2dConfig {
                    stride: [2, 2],
                    output_padding: [2, 0],
                    ..Default::default()
                },
                &mut rng,
            )),
            &[2, 5, 5],
            "output_padding = [2, 0] must be smaller than either stride = [2, 2] or dilation = [1, 1]",
        ),
        (
            Box::new(ConvTranspose2d::new(
                2,
                2,
                [1, 1],
                ConvTranspose2dConfig {
                    padding: [1, 0],
                    ..Default::default()
                },
                &mut rng,
            )),
            &[2, 2, 2],
            "this input gives 0×2",
        ),
        (
            Box::new(ConvTranspose2d::new(
                2,
                2,
                [1, 1],
                ConvTranspose2dConfig {
                    padding: [0, 1],
                    ..Default::default()
                },
                &mut rng,
            )),
            &[2, 2, 2],
            "this input gives 2×0",
        ),
        (
            Box::new(Upsample::new(UpsampleConfig::default())),
            &[8],
            "[C, H, W]",
        ),
        (
            Box::new(Upsample::new(UpsampleConfig {
                align_corners: true,
                ..Default::default()
            })),
            &[1, 4, 4],
            "align_corners = true only applies to mode Bilinear",
        ),
        (
            Box::new(Upsample::new(UpsampleConfig {
                size: UpsampleSize::ScaleFactor([0.25, 1.0]),
                ..Default::default()
            })),
            &[1, 3, 4],
            "gives 0×4",
        ),
        (
            Box::new(Upsample::new(UpsampleConfig {
                size: UpsampleSize::Size([0, 4]),
                ..Default::default()
            })),
            &[1, 3, 4],
            "size = [0, 4] must be at least 1 on each axis",
        ),
        (
            Box::new(Upsample::new(UpsampleConfig {
                size: UpsampleSize::ScaleFactor([f64::NAN, 1.0]),
                ..Default::default()
            })),
            &[1, 3, 4],
            "must be finite and positive",
        ),
        (
            Box::new(AdaptiveAvgPool2d::new([2, 0])),
            &[1, 3, 4],
            "output_size = [2, 0] must be at least 1",
        ),
        (
            Box::new(AdaptiveAvgPool2d::new([2, 2])),
            &[3, 0, 4],
            "[C, H, W] with H ≥ 1 and W ≥ 1",
        ),
        (
            Box::new(GroupNorm::new(4, 6, GroupNormConfig::default())),
            &[6, 2, 2],
            "num_groups = 4 must be at least 1 and divide num_channels = 6",
        ),
        (
            Box::new(GroupNorm::new(2, 6, GroupNormConfig::default())),
            &[4, 2, 2],
            "[6, …] (num_channels = 6)",
        ),
        (
            Box::new(LayerNorm::new(&[3, 4, 4], LayerNormConfig::default())),
            &[3, 5, 5],
            "ending with normalized_shape = [3, 4, 4]",
        ),
        (
            Box::new(LayerNorm::new(&[], LayerNormConfig::default())),
            &[3],
            "normalized_shape = [] must have at least one axis",
        ),
        (
            Box::new(Dense::without_bias(4, 2, &mut rng)),
            &[5],
            "[4] (in_features = 4)",
        ),
    ];
    for (layer, input, want) in cases {
        // The layer's kind as its description spells it (`GroupNorm(…)`), so that a
        // wrong `name()` shows.
        let description = layer.describe();
        let kind = description
            .split('(')
            .next()
            .unwrap_or_default()
            .to_string();
        let err = build(layer, input);
        println!("{err}");
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        let named = format!("layer ({kind})");
        assert!(
            err.starts_with(&named),
            "{err:?} should name the layer: {named}"
        );
    }
}

/// Convolutions describe themselves as PyTorch's repr does, naming only what differs
/// from the defaults; a transposed one's smallest output, 1×1, is accepted.
#[test]
fn convolutions_describe_their_options_and_a_one_pixel_output_is_accepted() {
    let mut rng = StdRng::seed_from_u64(0);
    let config = Conv2dConfig {
        stride: [2, 2],
        bias: false,
        ..Default::default()
    };
    let conv = Conv2d::new(3, 2, [3, 3], config, &mut rng);
    assert_eq!(
        conv.describe(),
        "Conv2d(3, 2, kernel_size=[3, 3], stride=[2, 2], bias=false)"
    );
    let plain = ConvTranspose2d::new(3, 2, [3, 3], Default::default(), &mut rng);
    assert_eq!(
        plain.describe(),
        "ConvTranspose2d(3, 2, kernel_size=[3, 3])"
    );
    let config = ConvTranspose2dConfig {
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [1, 0],
        bias: false,
        ..Default::default()
    };
    let custom = ConvTranspose2d::new(3, 2, [3, 3], config, &mut rng);
    assert_eq!(
        custom.describe(),
        "ConvTranspose2d(3, 2, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], output_padding=[1, 0], bias=false)"
    );
    let pointwise = ConvTranspose2d::new(2, 2, [1, 1], Default::default(), &mut rng);
    assert_eq!(pointwise.output_shape(&[2, 1, 1]).unwrap(), [2, 1, 1]);
}

/// The statistics are per sample: a sample's output does not depend on the rest
/// of the batch, and training and evaluation agree.
#[test]
fn group_norm_and_layer_norm_are_per_sample() {
    let x = uniform(&[3, 4, 2, 2], -1.0, 1.0, 100);
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(GroupNorm::new(2, 4, GroupNormConfig::default())),
        Box::new(LayerNorm::new(&[4, 2, 2], LayerNormConfig::default())),
    ];
    for mut layer in layers {
        randomize(layer.as_mut(), 101);
        let batch = layer.forward(x.view(), Mode::Train).unwrap();
        let alone = layer
            .forward(
                x.slice(ndarray::s![1..2, .., .., ..]).into_dyn(),
                Mode::Eval,
            )
            .unwrap();
        assert_eq!(
            batch.slice(ndarray::s![1..2, .., .., ..]).into_dyn(),
            alone.view()
        );
    }
}

/// The Conv2d kernels that run a transposed convolution (when `output_padding <
/// stride`) compute what its plain loops define, to f32 rounding.
#[test]
fn conv_transpose2d_on_the_conv_kernels_matches_its_loops() {
    let configs = [
        ([3, 3], ConvTranspose2dConfig::default(), 1, [2, 4, 5, 6]),
        (
            [3, 2],
            ConvTranspose2dConfig {
                stride: [2, 3],
                padding: [1, 1],
                output_padding: [1, 2],
                ..Default::default()
            },
            1,
            [3, 4, 4, 5],
        ),
        (
            [3, 3],
            ConvTranspose2dConfig {
                stride: [2, 2],
                padding: [2, 1],
                output_padding: [1, 0],
                dilation: [2, 1],
                groups: 2,
                bias: false,
            },
            2,
            [2, 4, 5, 3],
        ),
        (
            [2, 2],
            ConvTranspose2dConfig {
                stride: [3, 3],
                ..Default::default()
            },
            1,
            [1, 4, 3, 3],
        ),
    ];
    let close = |got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str| {
        assert_eq!(got.shape(), want.shape(), "{what}");
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * scale, "{what}: {g} vs {w}");
        }
    };
    for (i, (kernel, config, groups, shape)) in configs.into_iter().enumerate() {
        let config = ConvTranspose2dConfig { groups, ..config };
        let mut layer =
            ConvTranspose2d::new(4, 6, kernel, config, &mut StdRng::seed_from_u64(i as u64));
        let x = uniform(&shape, -1.0, 1.0, 110 + i as u64);
        let mut y = layer.forward(x.view(), Mode::Train).unwrap();
        if let Some(bias) = &layer.bias {
            for (o, mut plane) in y.axis_iter_mut(ndarray::Axis(1)).enumerate() {
                plane -= bias.value[[o]];
            }
        }
        let x4 = x.view().into_dimensionality().unwrap();
        let size = [y.shape()[2], y.shape()[3]];
        close(&y, &layer.forward_loops(x4, size).into_dyn(), "output");
        let dy = uniform(y.shape(), -1.0, 1.0, 120 + i as u64);
        let dx = layer.backward(dy.view()).unwrap();
        let (dx_loops, dw_loops) =
            layer.backward_loops(x4, dy.view().into_dimensionality().unwrap());
        close(&dx, &dx_loops.into_dyn(), "grad_input");
        close(&layer.weight.grad, &dw_loops.into_dyn(), "weight.grad");
    }
}

/// The `bias` parameter of `layer`.
fn bias_of(layer: &mut dyn Layer) -> &mut Parameter {
    let bias = layer
        .parameters_mut()
        .into_iter()
        .find(|(name, _)| name == "bias");
    bias.expect("a bias").1
}

/// A bias replaced by one of another shape (its value, or only its gradient) is
/// refused at the next forward, naming which, not indexed past.
#[test]
fn a_parameter_of_the_wrong_shape_is_refused_by_name() {
    let x = uniform(&[2, 4, 3, 3], -1.0, 1.0, 110);
    let mut rng = StdRng::seed_from_u64(111);
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(LayerNorm::new(&[4, 3, 3], LayerNormConfig::default())),
        Box::new(GroupNorm::new(2, 4, GroupNormConfig::default())),
        Box::new(ConvTranspose2d::new(
            4,
            2,
            [3, 3],
            Default::default(),
            &mut rng,
        )),
    ];
    for mut layer in layers {
        for (tensor, replace_value) in [("bias", true), ("bias.grad", false)] {
            let bias = bias_of(layer.as_mut());
            let kept = bias.clone();
            let wrong = ArrayD::zeros(IxDyn(&[5]));
            if replace_value {
                bias.value = wrong;
            } else {
                bias.grad = wrong;
            }
            let err = layer.forward(x.view(), Mode::Train).unwrap_err();
            let says = format!("{tensor} has the shape [5], but");
            assert!(
                err.to_string().contains(&says),
                "{}: {err}",
                layer.describe()
            );
            *bias_of(layer.as_mut()) = kept;
            layer.forward(x.view(), Mode::Train).unwrap();
        }
    }
}

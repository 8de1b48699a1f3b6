//! A wrong model fails when it is built, with an error naming the layer and both shapes; never a panic.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;

fn lenet(fc1_inputs: usize) -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(
                1,
                6,
                [5, 5],
                Conv2dConfig {
                    padding: [2, 2],
                    ..Default::default()
                },
                &mut rng,
            ),
        )
        .add("relu1", ReLU::new())
        .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add(
            "conv2",
            Conv2d::new(6, 16, [5, 5], Conv2dConfig::default(), &mut rng),
        )
        .add("relu2", ReLU::new())
        .add("pool2", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(fc1_inputs, 120, &mut rng))
        .add("relu3", ReLU::new())
        .add("fc2", Dense::new(120, 84, &mut rng))
        .add("relu4", ReLU::new())
        .add("fc3", Dense::new(84, 10, &mut rng))
}

#[test]
fn dense_that_does_not_match_the_flattened_conv_output_is_rejected_at_build() {
    let err = lenet(256)
        .build(&[1, 28, 28])
        .err()
        .expect("a 256-input fc1 after a 400-wide flatten must be rejected");
    assert_eq!(
        err,
        LayerError::Shape {
            layer: "fc1 (Dense)".into(),
            expected: "[256] (in_features = 256)".into(),
            got: vec![400]
        }
    );
    assert_eq!(
        err.to_string(),
        "fc1 (Dense): expects input of shape [256] (in_features = 256) per sample, but got [400]"
    );
}

#[test]
fn the_right_model_builds_and_has_lenets_parameter_count() {
    let model = lenet(400).build(&[1, 28, 28]).unwrap();
    assert_eq!(model.num_parameters(), 61_706);
    let summary = model.summary().unwrap();
    assert_eq!(summary.total_parameters(), 61_706);
    assert_eq!(summary.rows[6].output_shape, vec![400]);
    let text = summary.to_string();
    assert!(
        text.contains("61,706")
            && text.contains("conv1 (Conv2d(1, 6, kernel_size=[5, 5], padding=[2, 2]))"),
        "{text}"
    );
    let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names[..4],
        ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    );
}

#[test]
fn wrong_input_channels_and_too_small_images_are_named() {
    let err = lenet(400).build(&[3, 28, 28]).err().unwrap();
    assert!(
        matches!(&err, LayerError::Shape { layer, got, .. } if layer == "conv1 (Conv2d)" && got == &[3, 28, 28]),
        "{err}"
    );
    assert!(err.to_string().contains("in_channels = 1"), "{err}");
    // 8×8 → conv1 8×8 → pool 4×4 → conv2 (5×5) does not fit.
    let err = lenet(400).build(&[1, 8, 8]).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("conv2 (Conv2d): expects input of shape [6, H, W] with H ≥ 5 and W ≥ 5"),
        "{err}"
    );
}

#[test]
fn invalid_hyper_parameters_are_configuration_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let zero_stride = Conv2d::new(
        1,
        1,
        [3, 3],
        Conv2dConfig {
            stride: [0, 1],
            ..Default::default()
        },
        &mut rng,
    );
    let err = Sequential::new()
        .add("c", zero_stride)
        .build(&[1, 5, 5])
        .err()
        .unwrap();
    assert!(
        matches!(err, LayerError::Config { .. }) && err.to_string().contains("stride"),
        "{err}"
    );
    let bad_groups = Conv2d::new(
        3,
        4,
        [1, 1],
        Conv2dConfig {
            groups: 2,
            ..Default::default()
        },
        &mut rng,
    );
    assert!(bad_groups
        .output_shape(&[3, 4, 4])
        .unwrap_err()
        .to_string()
        .contains("groups = 2"));
    let wide_padding = MaxPool2d::new(
        [2, 2],
        MaxPool2dConfig {
            stride: None,
            padding: [2, 0],
        },
    );
    assert!(matches!(
        wide_padding.output_shape(&[1, 4, 4]),
        Err(LayerError::Config { .. })
    ));
    let dup = Sequential::new()
        .add("a", ReLU::new())
        .add("a", ReLU::new())
        .build(&[3]);
    assert!(dup.err().unwrap().to_string().contains("unique"));
    assert!(Dropout::new(1.0, 0).output_shape(&[3]).is_err());
}

#[test]
fn a_wrong_batch_at_run_time_is_an_error_not_a_panic() {
    let mut model = lenet(400).build(&[1, 28, 28]).unwrap();
    let err = model.forward(ArrayD::zeros(IxDyn(&[2, 1, 27, 28])).view(), Mode::Eval);
    assert!(err.is_err());
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[2, 784])).view(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().starts_with("conv1 (Conv2d)"), "{err}");
    // backward before a training forward
    let err = model
        .backward(ArrayD::zeros(IxDyn(&[2, 10])).view())
        .unwrap_err();
    assert!(matches!(err, LayerError::NoForwardCache { .. }), "{err}");
    // a gradient of the wrong shape
    model
        .forward(ArrayD::zeros(IxDyn(&[2, 1, 28, 28])).view(), Mode::Train)
        .unwrap();
    let err = model
        .backward(ArrayD::zeros(IxDyn(&[3, 10])).view())
        .unwrap_err();
    assert!(err.to_string().starts_with("fc3 (Dense)"), "{err}");
    // Issue 16: both batch sizes are named (it said "expected [10] for a batch of 2 …,
    // got: [10]").
    assert!(
        err.to_string().contains("batch of 3 ([3, 10])")
            && err.to_string().contains("batch of 2: expected [2, 10]"),
        "{err}"
    );
    // the right batch with a wrong per-sample shape: a gradient, not "input of shape
    // [10] for a batch of 2 (the gradient of this layer's output) per sample" (QA)
    let err = model
        .backward(ArrayD::zeros(IxDyn(&[2, 9])).view())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "fc3 (Dense): the gradient of this layer's output has the shape [2, 9], but its \
         forward's output had [2, 10]: the gradient must have the output's shape"
    );
    // loss with a bad label
    let mut loss = SoftmaxCrossEntropy::new();
    let err = loss
        .forward(ArrayD::zeros(IxDyn(&[1, 10])).view(), &[10])
        .unwrap_err();
    assert!(err.to_string().contains("label 10"), "{err}");
}

/// The error of building `layer` alone for an input of `input_shape`.
fn build_error(layer: impl Layer + 'static, input_shape: &[usize]) -> LayerError {
    Sequential::new()
        .add("layer", layer)
        .build(input_shape)
        .err()
        .expect("the model is refused")
}

/// Issue 16: sizes whose arithmetic overflows, or that ask for more than a layer may
/// allocate, are configuration errors naming the limit — not a panic inside ndarray, an
/// overflow panic in debug builds, a wrong shape in release ones, or an abort on a
/// 5.2 GB allocation.
#[test]
fn sizes_that_overflow_or_exceed_the_tensor_limit_are_configuration_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let padded = |padding: usize, rng: &mut StdRng| {
        Conv2d::new(
            1,
            6,
            [5, 5],
            Conv2dConfig {
                padding: [padding, padding],
                ..Default::default()
            },
            rng,
        )
    };
    let limit = MAX_TENSOR_ELEMENTS.to_string();

    // `28 + 2·padding` overflows.
    let err = build_error(padded(usize::MAX / 2, &mut rng), &[1, 28, 28]);
    assert!(
        matches!(err, LayerError::Config { .. }) && err.to_string().contains("padding"),
        "{err}"
    );
    // Padding 20000: an output of 6 × 40024 × 40024 per sample, refused before any
    // allocation.
    let err = build_error(padded(20000, &mut rng), &[1, 28, 28]);
    assert!(
        matches!(err, LayerError::Config { .. })
            && err
                .to_string()
                .contains("the output per sample [6, 40024, 40024]")
            && err.to_string().contains(&limit),
        "{err}"
    );
    // A kernel of 2³² taps per axis: its weight is never allocated.
    let big_kernel = Conv2d::new(1, 1, [1 << 32, 1 << 32], Conv2dConfig::default(), &mut rng);
    let err = build_error(big_kernel, &[1, 28, 28]);
    assert!(
        matches!(err, LayerError::Config { .. })
            && err.to_string().contains("the weight")
            && err.to_string().contains(&limit),
        "{err}"
    );
    // `Dense::new(usize::MAX, 2)`: the same, in the layer that cannot return an error
    // from `new`; its output_shape says so.
    let huge = Dense::new(usize::MAX, 2, &mut rng);
    let err = huge.output_shape(&[usize::MAX]).unwrap_err();
    assert!(err.to_string().contains(&limit), "{err}");
    let err = build_error(Dense::new(usize::MAX, 2, &mut rng), &[3]);
    assert!(matches!(err, LayerError::Config { .. }), "{err}");
    // Per-channel tensors of batch norm.
    let err = build_error(
        BatchNorm2d::new(usize::MAX, BatchNorm2dConfig::default()),
        &[1, 4, 4],
    );
    assert!(err.to_string().contains(&limit), "{err}");
    // A flattened size that overflows.
    assert!(Flatten::new().output_shape(&[usize::MAX, 2]).is_err());
    // Just within the limit still builds: 2²⁸ elements of output, 1 GiB, but never
    // allocated here.
    let side = 1 << 14; // 1 × 16384 × 16384 = 2²⁸
    let fits = Conv2d::new(1, 1, [1, 1], Conv2dConfig::default(), &mut rng);
    assert_eq!(
        fits.output_shape(&[1, side, side]).unwrap(),
        vec![1, side, side]
    );
    assert!(fits.output_shape(&[1, side, side + 1]).is_err());
    // The im2col columns of a small output: 64 input channels × 2²³ pixels is 2²⁹
    // elements, but in two groups each sample's columns hold one group's 32 channels.
    let long_row = [64, 1, 1 << 23];
    let conv = |groups: usize, rng: &mut StdRng| {
        let config = Conv2dConfig {
            groups,
            ..Default::default()
        };
        Conv2d::new(64, 2, [1, 1], config, rng)
    };
    assert_eq!(
        conv(2, &mut rng).output_shape(&long_row).unwrap(),
        vec![2, 1, 1 << 23]
    );
    let err = build_error(conv(1, &mut rng), &long_row);
    assert!(
        matches!(err, LayerError::Config { .. })
            && err
                .to_string()
                .contains("the im2col columns per sample [64, 1, 1, 1, 8388608]")
            && err.to_string().contains(&limit),
        "{err}"
    );
}

/// The same for the layers that make an image larger: a transposed convolution's
/// weight, output or columns, an upsampling's or an adaptive pooling's output size
/// that overflows `usize` or asks for more than [`MAX_TENSOR_ELEMENTS`] is a
/// configuration error naming the tensor and the limit, found when the model is
/// built — not an overflow panic, a saturated shape, or an allocation.
#[test]
fn sizes_of_upsampling_layers_that_overflow_or_exceed_the_tensor_limit_are_configuration_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let limit = MAX_TENSOR_ELEMENTS.to_string();
    let refused = |err: LayerError, tensor: &str| {
        assert!(
            matches!(err, LayerError::Config { .. })
                && err.to_string().contains(tensor)
                && err.to_string().contains(&limit),
            "{err}"
        );
    };
    let transposed = |kernel_size: [usize; 2], stride: usize, rng: &mut StdRng| {
        let config = ConvTranspose2dConfig {
            stride: [stride, stride],
            ..Default::default()
        };
        ConvTranspose2d::new(1, 1, kernel_size, config, rng)
    };

    // A kernel of 2³² taps per axis: its weight is never allocated.
    let err = build_error(transposed([1 << 32, 1 << 32], 1, &mut rng), &[1, 28, 28]);
    refused(err, "the weight");
    // `(28 − 1)·stride` overflows.
    let err = build_error(transposed([3, 3], usize::MAX / 2, &mut rng), &[1, 28, 28]);
    refused(err, "the output per sample");
    // Stride 20000: an output of 540003 × 540003 per sample.
    let err = build_error(transposed([3, 3], 20000, &mut rng), &[1, 28, 28]);
    refused(err, "the output per sample [1, 540003, 540003]");
    // A small output, but 64 · 64×64 taps for each of the 64×64 input pixels.
    let wide = ConvTranspose2d::new(1, 64, [64, 64], Default::default(), &mut rng);
    let err = build_error(wide, &[1, 64, 64]);
    refused(err, "the columns per sample");

    let upsample = |size: UpsampleSize| {
        Upsample::new(UpsampleConfig {
            size,
            ..Default::default()
        })
    };
    let err = build_error(upsample(UpsampleSize::Size([1 << 20, 1 << 20])), &[3, 4, 4]);
    refused(err, "the output per sample [3, 1048576, 1048576]");
    for factor in [1e30, f64::MAX] {
        let err = build_error(
            upsample(UpsampleSize::ScaleFactor([factor, 2.0])),
            &[3, 4, 4],
        );
        refused(err, "the output per sample");
    }
    let err = build_error(
        upsample(UpsampleSize::ScaleFactor([5000.0, 5000.0])),
        &[3, 4, 4],
    );
    refused(err, "the output per sample [3, 20000, 20000]");

    let err = build_error(AdaptiveAvgPool2d::new([1 << 20, 1 << 20]), &[3, 4, 4]);
    refused(err, "the output per sample [3, 1048576, 1048576]");
    let err = build_error(AdaptiveAvgPool2d::new([usize::MAX, 2]), &[3, 4, 4]);
    refused(err, "the output per sample");

    // Just within the limit still builds: 2²⁸ elements of output, never allocated here.
    let side = 1 << 14;
    let fits = upsample(UpsampleSize::Size([side, side]));
    assert_eq!(fits.output_shape(&[1, 4, 4]).unwrap(), vec![1, side, side]);
    let fits = AdaptiveAvgPool2d::new([side, side]);
    assert_eq!(fits.output_size(), [side, side]);
    assert_eq!(fits.output_shape(&[1, 4, 4]).unwrap(), vec![1, side, side]);
    assert!(AdaptiveAvgPool2d::new([side, side + 1])
        .output_shape(&[1, 4, 4])
        .is_err());
}

/// A layer of one's own that promises its input's shape but drops the last column, and
/// names its one parameter twice when `twice` is set.
struct Careless {
    weight: Parameter,
    twice: bool,
}

impl Layer for Careless {
    fn name(&self) -> &str {
        "Careless"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let w = x.shape()[x.ndim() - 1];
        Ok(
            x.slice_axis(ndarray::Axis(x.ndim() - 1), ndarray::Slice::from(..w - 1))
                .to_owned(),
        )
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("weight", &self.weight);
        if self.twice {
            state.parameter("weight", &self.weight);
        }
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("weight", &mut self.weight);
    }
}

/// `Sequential` names the layer that broke its promise, not the layer after it that
/// would have tripped over the shape; and refuses state named twice when it is built.
#[test]
fn sequential_names_a_layer_that_breaks_the_contract() {
    let careless = |twice| Careless {
        weight: Parameter::new(ArrayD::zeros(IxDyn(&[2]))),
        twice,
    };
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = Sequential::new()
        .add("mine", careless(false))
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(12, 2, &mut rng))
        .build(&[1, 3, 4])
        .unwrap();
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[2, 1, 3, 4])).view(), Mode::Train)
        .unwrap_err();
    assert!(matches!(err, LayerError::Contract { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("mine (Careless) breaks the Layer contract: forward gave [1, 3, 3]"),
        "{err}"
    );
    let err = Sequential::new()
        .add("mine", careless(true))
        .build(&[1, 3, 4])
        .err()
        .unwrap();
    assert!(matches!(err, LayerError::Contract { .. }), "{err}");
    assert!(
        err.to_string().contains("visit_state and visit_state_mut"),
        "{err}"
    );
}

/// Weights and biases start as PyTorch's do, uniform in ±1/√fan_in with fan_in the
/// inputs of one output (`in_channels / groups · kh · kw` for a convolution). An
/// initialisation by fan_out, or by all input channels of a grouped convolution,
/// still trained, so nothing failed.
#[test]
fn parameters_start_within_pytorch_s_bound_and_fill_it() {
    let mut rng = StdRng::seed_from_u64(0);
    let depthwise = Conv2dConfig {
        groups: 32,
        ..Default::default()
    };
    let layers: [(Box<dyn Layer>, usize); 3] = [
        (Box::new(Dense::new(400, 120, &mut rng)), 400),
        (
            Box::new(Conv2d::new(
                6,
                16,
                [5, 5],
                Conv2dConfig::default(),
                &mut rng,
            )),
            150,
        ),
        (
            Box::new(Conv2d::new(32, 32, [3, 3], depthwise, &mut rng)),
            9,
        ),
    ];
    for (layer, fan_in) in &layers {
        let bound = 1.0 / (*fan_in as f32).sqrt();
        for (name, parameter) in layer.parameters() {
            let largest = parameter.value.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            // Biases have few values: only the bound, not how close they come to it.
            let floor = if name == "bias" { 0.0 } else { 0.95 * bound };
            assert!(
                largest <= bound && largest > floor,
                "{} {name}: largest |w| {largest}, bound 1/√{fan_in} = {bound}",
                layer.describe()
            );
        }
    }
}

/// QA: `Dense::new(0, 3)` built (its [3, 0] weight looked "too large to allocate", so
/// its bias had 0 elements) and then panicked in forward ("bias has the wrong length").
#[test]
fn a_dense_layer_with_zero_features_is_refused_at_build() {
    let mut rng = StdRng::seed_from_u64(0);
    for (inputs, outputs) in [(0, 3), (3, 0), (0, 0)] {
        let err = build_error(Dense::new(inputs, outputs, &mut rng), &[inputs]);
        assert!(matches!(err, LayerError::Config { .. }), "{err}");
        assert!(err.to_string().contains("must be at least 1"), "{err}");
        let mut dense = Dense::new(inputs, outputs, &mut rng);
        let x = ArrayD::zeros(IxDyn(&[2, inputs]));
        assert!(dense.forward(x.view(), Mode::Train).is_err());
    }
}

/// QA: a parameter replaced by one of another shape panicked in forward (`dense.rs`:
/// "input and weight disagree on in_features", `conv2d.rs`: "weight kernel does not
/// match the window"); it is an error naming the tensor.
#[test]
fn a_replaced_parameter_of_the_wrong_shape_is_an_error_naming_it() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = Sequential::new()
        .add("fc", Dense::new(4, 3, &mut rng))
        .build(&[4])
        .unwrap();
    model.parameters_mut()[0].1.value = ArrayD::zeros(IxDyn(&[3, 5]));
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[2, 4])).view(), Mode::Eval)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("fc (Dense): invalid configuration: weight has the shape [3, 5], but in_features = 4, out_features = 3 needs [3, 4]"),
        "{err}"
    );
    let mut dense = Dense::new(4, 3, &mut rng);
    dense.bias = Some(Parameter::new(ArrayD::zeros(IxDyn(&[4]))));
    let err = dense
        .forward(ArrayD::zeros(IxDyn(&[2, 4])).view(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().contains("bias has the shape [4]"), "{err}");
    // Replaced between forward and backward.
    let mut dense = Dense::new(4, 3, &mut rng);
    dense
        .forward(ArrayD::zeros(IxDyn(&[2, 4])).view(), Mode::Train)
        .unwrap();
    dense.weight = Parameter::new(ArrayD::zeros(IxDyn(&[3, 5])));
    let err = dense
        .backward(ArrayD::zeros(IxDyn(&[2, 3])).view())
        .unwrap_err();
    assert!(
        err.to_string().contains("weight has the shape [3, 5]"),
        "{err}"
    );

    let mut conv = Conv2d::new(1, 2, [3, 3], Conv2dConfig::default(), &mut rng);
    conv.weight = Parameter::new(ArrayD::zeros(IxDyn(&[2, 1, 5, 5])));
    let err = conv
        .forward(ArrayD::zeros(IxDyn(&[1, 1, 8, 8])).view(), Mode::Train)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("weight has the shape [2, 1, 5, 5]")
            && err.to_string().contains("needs [2, 1, 3, 3]"),
        "{err}"
    );
    let mut conv = Conv2d::new(1, 2, [3, 3], Conv2dConfig::default(), &mut rng);
    conv.parameters_mut()[1].1.value = ArrayD::zeros(IxDyn(&[3]));
    let err = conv
        .forward(ArrayD::zeros(IxDyn(&[1, 1, 8, 8])).view(), Mode::Train)
        .unwrap_err();
    assert!(err.to_string().contains("bias has the shape [3]"), "{err}");
}

/// QA: a model built for [3, 8, 8] fed one image of [3, 8, 8] said only "expects input
/// of shape [3, H, W] (in_channels = 3) per sample, but got [8, 8]".
#[test]
fn an_input_without_its_batch_axis_gets_a_hint() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = Sequential::new()
        .add(
            "stem",
            Conv2d::new(3, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .build(&[3, 8, 8])
        .unwrap();
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[3, 8, 8])).view(), Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("without the batch axis")
            && err.contains("a single sample needs the shape [1, 3, 8, 8]")
            && err.contains("stem (Conv2d)"),
        "{err}"
    );
    // Any other wrong shape keeps the layer's own error.
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[2, 8, 8])).view(), Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("stem (Conv2d)") && !err.contains("batch axis"),
        "{err}"
    );
}

/// QA: `Flatten` turned a 1-D input `[N]` into `[N, 1]`; PyTorch's `nn.Flatten()`
/// refuses it ("Dimension out of range").
#[test]
fn flatten_refuses_an_input_without_axes_after_the_batch() {
    let err = build_error(Flatten::new(), &[]);
    assert!(matches!(err, LayerError::Shape { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("at least one axis after the batch axis"),
        "{err}"
    );
    let err = Flatten::new()
        .forward(ArrayD::zeros(IxDyn(&[4])).view(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().contains("but got []"), "{err}");
    let err = Flatten::new()
        .forward(ArrayD::zeros(IxDyn(&[])).view(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().contains("the input is a scalar"), "{err}");
    let y = Flatten::new()
        .forward(ArrayD::zeros(IxDyn(&[4, 2])).view(), Mode::Eval)
        .unwrap();
    assert_eq!(y.shape(), [4, 2]);
}

/// Every built-in layer but the containers (whose errors name the child) names itself,
/// in its errors and a model's summary, by the kind its description spells (PyTorch's
/// class name; `Dense` for `Linear`), and a backward before any forward says which kind of
/// layer it was.
#[test]
fn each_layer_names_its_kind_in_its_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let layers: Vec<(&str, Box<dyn Layer>)> = vec![
        (
            "AdaptiveAvgPool2d",
            Box::new(AdaptiveAvgPool2d::new([1, 1])),
        ),
        (
            "AvgPool2d",
            Box::new(AvgPool2d::new([2, 2], AvgPool2dConfig::default())),
        ),
        (
            "BatchNorm2d",
            Box::new(BatchNorm2d::new(2, BatchNorm2dConfig::default())),
        ),
        (
            "Conv2d",
            Box::new(Conv2d::new(2, 2, [1, 1], Conv2dConfig::default(), &mut rng)),
        ),
        (
            "ConvTranspose2d",
            Box::new(ConvTranspose2d::new(
                2,
                2,
                [1, 1],
                Default::default(),
                &mut rng,
            )),
        ),
        ("Dense", Box::new(Dense::new(2, 2, &mut rng))),
        ("Dropout", Box::new(Dropout::new(0.5, 0))),
        ("Flatten", Box::new(Flatten::new())),
        ("GELU", Box::new(GELU::new(GeluConfig::default()))),
        ("GlobalAvgPool2d", Box::new(GlobalAvgPool2d::new())),
        (
            "GroupNorm",
            Box::new(GroupNorm::new(1, 2, GroupNormConfig::default())),
        ),
        (
            "LayerNorm",
            Box::new(LayerNorm::new(&[4], LayerNormConfig::default())),
        ),
        ("LeakyReLU", Box::new(LeakyReLU::new(0.01))),
        (
            "MaxPool2d",
            Box::new(MaxPool2d::new([2, 2], MaxPool2dConfig::default())),
        ),
        ("ReLU", Box::new(ReLU::new())),
        ("Sigmoid", Box::new(Sigmoid::new())),
        ("SiLU", Box::new(SiLU::new())),
        ("Tanh", Box::new(Tanh::new())),
        (
            "Upsample",
            Box::new(Upsample::new(UpsampleConfig::default())),
        ),
    ];
    for (kind, mut layer) in layers {
        let description = layer.describe();
        assert_eq!(layer.name(), kind, "{description}");
        assert_eq!(description.split('(').next(), Some(kind));
        let grad = ArrayD::zeros(IxDyn(&[1, 2, 4, 4]));
        let err = layer.backward(grad.view()).unwrap_err().to_string();
        let says = format!("{kind}: backward called without a forward");
        assert!(err.starts_with(&says), "{description}: {err}");
    }
}

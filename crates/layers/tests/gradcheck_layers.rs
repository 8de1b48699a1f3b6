//! Every built-in layer and the loss pass `gradcheck`; and gradcheck catches broken layers.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::gradcheck::{gradcheck, gradcheck_loss, GradcheckConfig, GradcheckError};
use scratchnet_layers::*;

fn uniform(shape: &[usize], seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(-1.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Distinct values at least 0.05 apart, shuffled: no ties and no element within
/// the step `h = 0.01` of another or of 0, so max pooling and ReLU are
/// differentiable everywhere the finite differences look.
fn well_separated(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n)
        .map(|i| (i as f32 - n as f32 / 2.0 + 0.5) * 0.05)
        .collect();
    values.shuffle(&mut StdRng::seed_from_u64(seed));
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

fn check(layer: &mut dyn Layer, input: &ArrayD<f32>) {
    match gradcheck(layer, input.view(), &GradcheckConfig::default()) {
        Ok(report) => println!("{report}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn conv2d_with_stride_padding_non_square_kernel_dilation_and_groups() {
    let mut rng = StdRng::seed_from_u64(1);
    let configs = [
        ([3, 3], Conv2dConfig::default()),
        (
            [3, 2],
            Conv2dConfig {
                stride: [2, 1],
                padding: [1, 2],
                ..Default::default()
            },
        ),
        (
            [2, 2],
            Conv2dConfig {
                dilation: [2, 1],
                groups: 2,
                bias: false,
                ..Default::default()
            },
        ),
    ];
    for (kernel, config) in configs {
        let mut conv = Conv2d::new(2, 4, kernel, config, &mut rng);
        check(&mut conv, &uniform(&[2, 2, 6, 5], 2));
    }
}

#[test]
fn max_pool2d_overlapping_padded_and_untiled() {
    for (kernel, config) in [
        ([2, 2], MaxPool2dConfig::default()),
        (
            [3, 3],
            MaxPool2dConfig {
                stride: Some([2, 2]),
                padding: [1, 1],
            },
        ),
        (
            [3, 2],
            MaxPool2dConfig {
                stride: Some([1, 2]),
                padding: [0, 0],
            },
        ),
    ] {
        check(
            &mut MaxPool2d::new(kernel, config),
            &well_separated(&[2, 2, 7, 5], 3),
        );
    }
}

#[test]
fn avg_pool2d_with_and_without_counting_padding() {
    for count_include_pad in [true, false] {
        let config = AvgPool2dConfig {
            stride: Some([2, 1]),
            padding: [1, 1],
            count_include_pad,
        };
        check(
            &mut AvgPool2d::new([3, 2], config),
            &uniform(&[2, 3, 7, 5], 4),
        );
    }
}

#[test]
fn dense_flatten_and_activations() {
    let mut rng = StdRng::seed_from_u64(5);
    check(&mut Dense::new(6, 4, &mut rng), &uniform(&[3, 6], 6));
    check(&mut Flatten::new(), &uniform(&[2, 3, 2, 2], 7));
    check(&mut ReLU::new(), &well_separated(&[3, 8], 8));
    check(&mut Tanh::new(), &uniform(&[3, 8], 9));
    check(&mut Sigmoid::new(), &uniform(&[3, 8], 10));
}

/// Dropout in training mode draws a new mask per forward; pinning the mask
/// number (`set_step`) before each forward makes it a fixed function to check.
struct PinnedDropout(Dropout);

impl Layer for PinnedDropout {
    fn name(&self) -> &str {
        "Dropout (mask pinned)"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.0.output_shape(input_shape)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.0.set_step(0);
        self.0.forward(input, mode)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        self.0.backward(grad_output)
    }
}

#[test]
fn dropout_in_training_mode() {
    let mut dropout = PinnedDropout(Dropout::new(0.4, 11));
    let x = uniform(&[4, 10], 12);
    let y = dropout.forward(x.view(), Mode::Train).unwrap();
    let dropped = y.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (4..=28).contains(&dropped),
        "{dropped} of 40 dropped at p = 0.4"
    );
    check(&mut dropout, &x);
}

#[test]
fn a_whole_lenet_like_sequential() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut model = Sequential::new()
        .add(
            "conv1",
            Conv2d::new(
                1,
                3,
                [3, 3],
                Conv2dConfig {
                    padding: [1, 1],
                    ..Default::default()
                },
                &mut rng,
            ),
        )
        .add("act1", Tanh::new())
        .add("pool1", AvgPool2d::new([2, 2], AvgPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(3 * 3 * 3, 5, &mut rng))
        .add("act2", Sigmoid::new())
        .add("fc2", Dense::new(5, 3, &mut rng))
        .build(&[1, 6, 6])
        .unwrap();
    let report = gradcheck(
        &mut model,
        uniform(&[2, 1, 6, 6], 14).view(),
        &GradcheckConfig::default(),
    )
    .unwrap();
    let names: Vec<&str> = report.tensors.iter().map(|t| t.tensor.as_str()).collect();
    assert_eq!(
        names,
        [
            "input",
            "conv1.weight",
            "conv1.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
}

#[test]
fn softmax_cross_entropy_including_huge_logits() {
    let config = GradcheckConfig::default();
    gradcheck_loss(uniform(&[4, 5], 15).view(), &[0, 4, 2, 2], &config).unwrap();
    let huge = ndarray::arr2(&[[1000.0f32, -1000.0, 999.0], [-1000.0, 1000.0, 0.0]]).into_dyn();
    let report = gradcheck_loss(huge.view(), &[2, 1], &config).unwrap();
    println!("{report}");
}

// ---- gradcheck must be able to fail ----

/// A max pool whose backward sends each gradient to the *last* element of the
/// window instead of its maximum: a classic bug that still trains.
struct WrongElementMaxPool(MaxPool2d, [usize; 4]);

impl Layer for WrongElementMaxPool {
    fn name(&self) -> &str {
        "WrongElementMaxPool"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.0.output_shape(input_shape)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let s = input.shape();
        self.1 = [s[0], s[1], s[2], s[3]];
        self.0.forward(input, mode)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let mut grad_input = ArrayD::zeros(IxDyn(&self.1));
        for ((n, c, oy, ox), &g) in grad_output
            .into_dimensionality::<ndarray::Ix4>()
            .unwrap()
            .indexed_iter()
        {
            grad_input[[n, c, 2 * oy + 1, 2 * ox + 1]] += g;
        }
        Ok(grad_input)
    }
}

/// A convolution whose backward forgets the bias gradient.
struct NoBiasGradConv(Conv2d);

impl Layer for NoBiasGradConv {
    fn name(&self) -> &str {
        "NoBiasGradConv"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.0.output_shape(input_shape)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.0.forward(input, mode)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let grad_input = self.0.backward(grad_output)?;
        self.0.bias.as_mut().unwrap().grad.fill(0.0);
        Ok(grad_input)
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.inline(&self.0);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.inline(&mut self.0);
    }
}

/// A dense layer whose backward overwrites the weight gradient instead of adding to it.
struct OverwritingDense(Dense);

impl Layer for OverwritingDense {
    fn name(&self) -> &str {
        "OverwritingDense"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.0.output_shape(input_shape)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.0.forward(input, mode)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        self.0.zero_grad();
        self.0.backward(grad_output)
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.inline(&self.0);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.inline(&mut self.0);
    }
}

#[test]
fn catches_a_max_pool_that_routes_the_gradient_to_the_wrong_element() {
    let mut broken =
        WrongElementMaxPool(MaxPool2d::new([2, 2], MaxPool2dConfig::default()), [0; 4]);
    match gradcheck(
        &mut broken,
        well_separated(&[1, 2, 4, 4], 20).view(),
        &GradcheckConfig::default(),
    ) {
        Err(GradcheckError::Mismatch(report)) => {
            assert_eq!(report.tensors[0].tensor, "input");
            assert!(report.tensors[0].error_ratio > 10.0, "{report}");
        }
        other => panic!("the broken max pool was not caught: {other:?}"),
    }
}

#[test]
fn catches_a_convolution_that_drops_the_bias_gradient() {
    let conv = Conv2d::new(
        1,
        2,
        [3, 3],
        Conv2dConfig::default(),
        &mut StdRng::seed_from_u64(21),
    );
    match gradcheck(
        &mut NoBiasGradConv(conv),
        uniform(&[2, 1, 5, 5], 22).view(),
        &GradcheckConfig::default(),
    ) {
        Err(GradcheckError::Mismatch(report)) => {
            let bad: Vec<&str> = report
                .tensors
                .iter()
                .filter(|t| t.error_ratio > 1.0)
                .map(|t| t.tensor.as_str())
                .collect();
            assert_eq!(bad, ["bias"], "{report}");
        }
        other => panic!("the missing bias gradient was not caught: {other:?}"),
    }
}

#[test]
fn catches_a_backward_that_overwrites_instead_of_accumulating() {
    let dense = Dense::new(3, 2, &mut StdRng::seed_from_u64(23));
    let err = gradcheck(
        &mut OverwritingDense(dense),
        uniform(&[2, 3], 24).view(),
        &GradcheckConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, GradcheckError::Contract { .. }), "{err}");
    assert!(err.to_string().contains("accumulate"), "{err}");
}

/// How a layer of one's own can break the contract in ways no value comparison sees.
#[derive(Clone, Copy, Debug)]
enum Breach {
    /// backward returns the input gradient flattened to `[N, C·H·W]`.
    FlatInputGradient,
    /// backward returns only the first sample's gradient.
    FirstSampleOnly,
    /// backward adds a `[1, 2]` gradient to the `[2]` scale (broadcast).
    BroadcastParameterGradient,
    /// forward drops the last column that `output_shape` promises.
    ShortOutput,
    /// both parameters are named `weight`.
    DuplicateName,
    /// visit_state_mut names the scale `gamma`, visit_state `weight`.
    VisitorsDisagree,
}

/// `y = x · scale[c]` over `[N, 2, H, W]`, correct but for `Breach`.
struct BrokenScale {
    scale: Parameter,
    other: Parameter,
    input: Option<ArrayD<f32>>,
    breach: Breach,
}

impl BrokenScale {
    fn new(breach: Breach) -> Self {
        Self {
            scale: Parameter::new(ndarray::arr1(&[1.5f32, -0.5]).into_dyn()),
            other: Parameter::new(ndarray::arr1(&[0.0f32]).into_dyn()),
            input: None,
            breach,
        }
    }
    fn scale_of(&self, shape: &[usize]) -> ArrayD<f32> {
        let scale = self
            .scale
            .value
            .clone()
            .into_shape_with_order(IxDyn(&[1, 2, 1, 1]))
            .unwrap();
        scale.broadcast(IxDyn(shape)).unwrap().to_owned()
    }
}

impl Layer for BrokenScale {
    fn name(&self) -> &str {
        "BrokenScale"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, input: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.input = Some(input.to_owned());
        let y = &input * &self.scale_of(input.shape());
        Ok(match self.breach {
            Breach::ShortOutput => {
                let w = y.shape()[3];
                y.slice_axis(ndarray::Axis(3), ndarray::Slice::from(..w - 1))
                    .to_owned()
            }
            _ => y,
        })
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self.input.as_ref().unwrap();
        let grad_scale = (&grad_output * x)
            .sum_axis(ndarray::Axis(3))
            .sum_axis(ndarray::Axis(2))
            .sum_axis(ndarray::Axis(0));
        if let Breach::BroadcastParameterGradient = self.breach {
            let grad_scale = grad_scale.into_shape_with_order(IxDyn(&[1, 2])).unwrap();
            self.scale.grad = &self.scale.grad + &grad_scale;
        } else {
            self.scale.grad += &grad_scale;
        }
        let grad_input = &grad_output * &self.scale_of(grad_output.shape());
        let n = grad_input.shape()[0];
        Ok(match self.breach {
            Breach::FlatInputGradient => grad_input
                .into_shape_with_order(IxDyn(&[n, x.len() / n]))
                .unwrap(),
            Breach::FirstSampleOnly => grad_input
                .slice_axis(ndarray::Axis(0), ndarray::Slice::from(..1))
                .to_owned(),
            _ => grad_input,
        })
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("weight", &self.scale);
        let other = if let Breach::DuplicateName = self.breach {
            "weight"
        } else {
            "bias"
        };
        state.parameter(other, &self.other);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        let name = if let Breach::VisitorsDisagree = self.breach {
            "gamma"
        } else {
            "weight"
        };
        state.parameter(name, &mut self.scale);
        let other = if let Breach::DuplicateName = self.breach {
            "weight"
        } else {
            "bias"
        };
        state.parameter(other, &mut self.other);
    }
}

/// Every breach is a `Contract` error naming what is wrong; the same layer without a
/// breach passes, so the checks do not refuse a correct layer.
#[test]
fn catches_layers_that_break_the_contract_in_shape_or_state() {
    let x = uniform(&[2, 2, 3, 4], 25);
    let config = GradcheckConfig::default();
    for (breach, says) in [
        (Breach::FlatInputGradient, "backward returned [2, 24] for an input of [2, 2, 3, 4]"),
        (Breach::FirstSampleOnly, "backward returned [1, 2, 3, 4] for an input of [2, 2, 3, 4]"),
        (Breach::BroadcastParameterGradient, "weight.grad has the shape [1, 2], but weight has [2]"),
        (Breach::ShortOutput, "forward gave [2, 3, 3] per sample for an input of [2, 3, 4], but output_shape says [2, 3, 4]"),
        (Breach::DuplicateName, "two pieces of state are named \"weight\""),
        (Breach::VisitorsDisagree, "visit_state and visit_state_mut must name the same state"),
    ] {
        let err = gradcheck(&mut BrokenScale::new(breach), x.view(), &config).unwrap_err();
        assert!(matches!(err, GradcheckError::Contract { .. }), "{breach:?}: {err}");
        assert!(err.to_string().contains(says), "{breach:?}: {err}");
    }
    /// The same layer, unbroken.
    struct Fine(BrokenScale);
    impl Layer for Fine {
        fn name(&self) -> &str {
            "Fine"
        }
        fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
            Ok(s.to_vec())
        }
        fn forward(&mut self, x: ArrayViewD<f32>, m: Mode) -> Result<ArrayD<f32>, LayerError> {
            self.0.forward(x, m)
        }
        fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
            self.0.backward(dy)
        }
        fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
            state.parameter("weight", &self.0.scale)
        }
        fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
            state.parameter("weight", &mut self.0.scale)
        }
    }
    // `Breach::DuplicateName` only renames the unused parameter, which `Fine` does not visit.
    let report = gradcheck(
        &mut Fine(BrokenScale::new(Breach::DuplicateName)),
        x.view(),
        &config,
    )
    .unwrap();
    assert_eq!(report.tensors.len(), 2, "{report}");
}

/// QA: `gradcheck(&mut Dropout::new(0.5, 0), …)` reported MISMATCH, as if the backward
/// were wrong; the forward is not a fixed function, and gradcheck says so.
#[test]
fn a_random_forward_is_reported_as_such_not_as_a_mismatch() {
    let x = uniform(&[4, 10], 30);
    let err = gradcheck(
        &mut Dropout::new(0.5, 0),
        x.view(),
        &GradcheckConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, GradcheckError::Nondeterministic { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("different outputs") && err.to_string().contains("set_step"),
        "{err}"
    );
    // Pinned, the same layer passes.
    check(&mut PinnedDropout(Dropout::new(0.5, 0)), &x);
}

/// QA: a step of 0 or a NaN tolerance gave "MISMATCH … finite difference NaN".
#[test]
fn an_invalid_gradcheck_config_is_a_config_error() {
    let x = uniform(&[2, 3], 31);
    let default = GradcheckConfig::default();
    let invalid = [
        GradcheckConfig {
            step: 0.0,
            ..default
        },
        GradcheckConfig {
            step: -1e-2,
            ..default
        },
        GradcheckConfig {
            step: f32::NAN,
            ..default
        },
        GradcheckConfig {
            rel_tolerance: f64::NAN,
            ..default
        },
        GradcheckConfig {
            abs_tolerance: -1.0,
            ..default
        },
        GradcheckConfig {
            abs_tolerance: f64::INFINITY,
            ..default
        },
        GradcheckConfig {
            abs_tolerance: 0.0,
            rel_tolerance: 0.0,
            ..default
        },
        // Positive, but too small to move 0.5 in f32.
        GradcheckConfig {
            step: 1e-12,
            ..default
        },
    ];
    for config in invalid {
        let mut dense = Dense::new(3, 2, &mut StdRng::seed_from_u64(32));
        let err = gradcheck(&mut dense, x.view(), &config).unwrap_err();
        assert!(
            matches!(err, GradcheckError::Config(_)),
            "{config:?}: {err}"
        );
        let err = gradcheck_loss(x.view(), &[0, 1], &config).unwrap_err();
        assert!(
            matches!(err, GradcheckError::Config(_)),
            "{config:?}: {err}"
        );
    }
}

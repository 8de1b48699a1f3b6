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

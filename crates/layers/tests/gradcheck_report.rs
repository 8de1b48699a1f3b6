//! What gradcheck's report and errors tell a user about their layer: kinks crossed
//! by the step (named, not counted, while a wrong backward still fails), a step too
//! small to change an element, a layer with no parameters, a forward that changes
//! state it reads, forwards that differ by rounding, and an invalid configuration.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig, GradcheckError};
use scratchnet_layers::*;

/// Elements `±(0.1 … 1)`, far from ReLU's kink at 0.
fn away_from_zero(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let x = ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(0.1f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    );
    let mut sign = 1.0;
    x.mapv(|v| {
        sign = -sign;
        v * sign
    })
}

#[test]
fn an_element_whose_step_crosses_a_kink_is_named_and_not_counted() {
    let mut x = away_from_zero(&[2, 3, 4], 1);
    x[[1, 2, 3]] = 0.004; // within h = 0.01 of ReLU's kink
    let report = gradcheck(&mut ReLU::new(), x.view(), &GradcheckConfig::default()).unwrap();
    let input = &report.tensors[0];
    assert_eq!(input.kinks, 1, "{report}");
    assert_eq!(input.worst_kink.as_ref().unwrap().index, [1, 2, 3]);
    let text = report.to_string();
    assert!(
        text.contains("1 of its elements at kinks (not counted): a non-differentiable point lies within ±h: at [1, 2, 3]"),
        "{text}"
    );
}

#[test]
fn a_tensor_wholly_at_kinks_still_fails() {
    let x = away_from_zero(&[2, 3, 4], 2).mapv(|v| v * 0.005);
    let err = gradcheck(&mut ReLU::new(), x.view(), &GradcheckConfig::default()).unwrap_err();
    let GradcheckError::Mismatch(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(report.tensors[0].kinks, 24, "{report}");
    assert!(
        err.to_string()
            .contains("every element, so nothing was checked: counted"),
        "{err}"
    );
}

/// Tanh whose backward is 10% too large: a wrong backward on a smooth layer.
struct TenPercentOff(Tanh);

impl Layer for TenPercentOff {
    fn name(&self) -> &str {
        "TenPercentOff"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.0.output_shape(s)
    }
    fn forward(&mut self, x: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.0.forward(x, mode)
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(self.0.backward(dy)? * 1.1)
    }
}

/// The kink test does not excuse a wrong backward: on a smooth layer the one-sided
/// differences agree, so no element is taken for a kink.
#[test]
fn a_wrong_backward_on_a_smooth_layer_still_fails() {
    let x = ArrayD::random_using(
        IxDyn(&[2, 3, 4]),
        Uniform::new(-2.0f32, 2.0).unwrap(),
        &mut StdRng::seed_from_u64(3),
    );
    let config = GradcheckConfig::default();
    gradcheck(&mut Tanh::new(), x.view(), &config).unwrap();
    let err = gradcheck(&mut TenPercentOff(Tanh::new()), x.view(), &config).unwrap_err();
    let GradcheckError::Mismatch(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(report.tensors[0].kinks, 0, "{report}");
    assert!(report.tensors[0].error_ratio > 2.0, "{report}");
}

/// A small model with ReLU and max pooling, with `extra` after `fc1` if given.
fn kinked_model(extra: Option<Box<dyn Layer>>) -> Sequential {
    let mut rng = StdRng::seed_from_u64(5);
    let mut model = Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .add("relu1", ReLU::new())
        .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(4 * 3 * 3, 6, &mut rng));
    if let Some(extra) = extra {
        model.push("extra", extra);
    }
    model
        .add("relu2", LeakyReLU::new(0.1))
        .add("fc2", Dense::new(6, 3, &mut rng))
        .build(&[1, 8, 8])
        .unwrap()
}

/// A whole model with ReLU and max pooling at a random input: the kinks its steps
/// cross are reported, and it passes; with a wrong backward in it, it fails.
#[test]
fn a_whole_model_with_relu_and_max_pooling_passes_with_its_kinks_named() {
    let x = ArrayD::random_using(
        IxDyn(&[4, 1, 8, 8]),
        Uniform::new(-1.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(6),
    );
    let config = GradcheckConfig::default();
    let report = gradcheck(&mut kinked_model(None), x.view(), &config);
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    assert!(report.tensors.iter().any(|t| t.kinks > 0), "{report}");
    let mut broken = kinked_model(Some(Box::new(TenPercentOff(Tanh::new()))));
    let err = gradcheck(&mut broken, x.view(), &config).unwrap_err();
    assert!(matches!(err, GradcheckError::Mismatch(_)), "{err}");
}

#[test]
fn a_layer_without_parameters_is_reported_as_such() {
    let x = away_from_zero(&[2, 3], 4);
    let config = GradcheckConfig::default();
    let report = gradcheck(&mut ReLU::new(), x.view(), &config).unwrap();
    let says = "no parameters: if the layer has any, its visit_state does not name them";
    assert!(report.to_string().contains(says), "{report}");
    let mut rng = StdRng::seed_from_u64(0);
    let report = gradcheck(&mut Dense::new(3, 2, &mut rng), x.view(), &config).unwrap();
    assert!(!report.to_string().contains("no parameters"), "{report}");
}

/// Subtracts a running mean of its inputs, updated in every training forward and
/// kept in a plain field.
struct RunningShift {
    running: f32,
}

impl Layer for RunningShift {
    fn name(&self) -> &str {
        "RunningShift"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        if mode == Mode::Train {
            self.running = 0.9 * self.running + 0.1 * x.mean().unwrap_or(0.0);
        }
        Ok(&x - self.running)
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
}

#[test]
fn a_forward_that_updates_state_it_reads_is_told_apart_from_randomness() {
    let x = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
    let mut layer = RunningShift { running: 0.0 };
    let err = gradcheck(&mut layer, x.view(), &GradcheckConfig::default()).unwrap_err();
    assert!(
        matches!(err, GradcheckError::Nondeterministic { .. }),
        "{err}"
    );
    let says = "if its forward updates state it then reads in Mode::Train (a running statistic \
                kept outside visit_state's buffers), name that state with state.buffer and check \
                the layer in Mode::Eval";
    assert!(err.to_string().contains(says), "{err}");
    let eval = GradcheckConfig {
        mode: Mode::Eval,
        ..GradcheckConfig::default()
    };
    gradcheck(&mut layer, x.view(), &eval).unwrap();
}

/// `x + k·(max(0, x − c) + min(0, x + c))`: slope 1 within `±c` of 0, `1 + k` beyond,
/// so an element at 0 stepped by `h > c` crosses two kinks.
struct TwoKinks {
    input: Option<ArrayD<f32>>,
}

const KINK_AT: f32 = 0.004;
const SLOPE_CHANGE: f32 = 0.02;

impl Layer for TwoKinks {
    fn name(&self) -> &str {
        "TwoKinks"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.input = Some(x.to_owned());
        Ok(x.mapv(|v| v + SLOPE_CHANGE * ((v - KINK_AT).max(0.0) + (v + KINK_AT).min(0.0))))
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self.input.as_ref().expect("forward first");
        let slope = x.mapv(|v| {
            if v.abs() < KINK_AT {
                1.0
            } else {
                1.0 + SLOPE_CHANGE
            }
        });
        Ok(&dy * &slope)
    }
}

/// Two kinks within ±h, as in a whole model: the one-sided differences agree (the
/// kinks lie symmetrically), and the central difference of half the step stays within
/// the tolerance of the full step's, but moves towards backward's value. That element
/// is a kink, not a mismatch; every other element is checked and matches.
#[test]
fn two_kinks_within_the_step_are_told_by_the_half_step() {
    let mut x = away_from_zero(&[2, 3, 4], 7);
    x[[0, 1, 2]] = 0.0;
    // Relative only, so that the verdict does not depend on `R`'s element there:
    // backward 1, central 1 + 0.6·k, one-sided 1 + 0.6·k each, half step 1 + 0.2·k.
    let config = GradcheckConfig {
        abs_tolerance: 0.0,
        ..GradcheckConfig::default()
    };
    let report = gradcheck(&mut TwoKinks { input: None }, x.view(), &config);
    let report = report.unwrap_or_else(|e| panic!("{e}"));
    let input = &report.tensors[0];
    assert_eq!(input.kinks, 1, "{report}");
    assert_eq!(input.worst_kink.as_ref().unwrap().index, [0, 1, 2]);
}

/// A step that leaves an element unchanged in `f32`, on either side, is the
/// caller's mistake, named with its fix.
#[test]
fn a_step_too_small_to_change_an_element_either_way_is_refused() {
    let x = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
    // 1e-10 changes 1.0 in neither direction; 4e-8 only downwards (the spacing of
    // f32 is 1.2e-7 above 1.0 and 6e-8 below it).
    for step in [1e-10, 4e-8] {
        let config = GradcheckConfig {
            step,
            ..GradcheckConfig::default()
        };
        let err = gradcheck(&mut Tanh::new(), x.view(), &config).unwrap_err();
        assert!(
            matches!(err, GradcheckError::Config(_)),
            "step {step}: {err}"
        );
        assert!(
            err.to_string()
                .contains("too small to change the value 1 in f32: use a larger step"),
            "step {step}: {err}"
        );
    }
}

/// The identity, but its second forward (gradcheck's check that the forward is a fixed
/// function) adds `nudge` to the first element: by a unit in the last place, what
/// summing in another order can do.
struct DiffersOnce {
    nudge: f32,
    forwards: usize,
}

impl Layer for DiffersOnce {
    fn name(&self) -> &str {
        "DiffersOnce"
    }
    fn output_shape(&self, s: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(s.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.forwards += 1;
        let mut y = x.to_owned();
        if self.forwards == 2 {
            *y.iter_mut().next().expect("a non-empty input") += self.nudge;
        }
        Ok(y)
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
}

/// Two forwards that differ by rounding are the same function, and the tolerance grows
/// with the values (a unit in the last place of 1000 is 2⁻¹⁴, 6.1e-5); 1e-4 at 1 is
/// more than rounding.
#[test]
fn forwards_that_differ_by_rounding_are_deterministic_and_by_more_are_not() {
    let x = ArrayD::from_elem(IxDyn(&[2, 3]), 1000.0f32);
    let mut layer = DiffersOnce {
        nudge: 2f32.powi(-14),
        forwards: 0,
    };
    let report = gradcheck(&mut layer, x.view(), &GradcheckConfig::default());
    report.unwrap_or_else(|e| panic!("{e}"));
    assert!(layer.forwards > 2);

    let x = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
    let mut layer = DiffersOnce {
        nudge: 1e-4,
        forwards: 0,
    };
    let err = gradcheck(&mut layer, x.view(), &GradcheckConfig::default()).unwrap_err();
    assert!(
        matches!(err, GradcheckError::Nondeterministic { .. }),
        "{err}"
    );
}

/// Each invalid field of the configuration is refused by name before the layer runs.
#[test]
fn an_invalid_configuration_is_refused_naming_the_field() {
    let x = away_from_zero(&[2, 3], 7);
    let with = |step: f32, rel_tolerance: f64, abs_tolerance: f64| GradcheckConfig {
        step,
        rel_tolerance,
        abs_tolerance,
        ..GradcheckConfig::default()
    };
    let cases = [
        (
            with(0.0, 1e-2, 1e-3),
            "step = 0.0 must be finite and positive",
        ),
        (
            with(-1e-2, 1e-2, 1e-3),
            "step = -0.01 must be finite and positive",
        ),
        (with(f32::NAN, 1e-2, 1e-3), "step = NaN must be finite"),
        (with(f32::INFINITY, 1e-2, 1e-3), "step = inf must be finite"),
        (
            with(1e-2, -1e-2, 1e-3),
            "rel_tolerance = -0.01 must be finite and non-negative",
        ),
        (
            with(1e-2, f64::NAN, 1e-3),
            "rel_tolerance = NaN must be finite",
        ),
        (
            with(1e-2, 1e-2, f64::INFINITY),
            "abs_tolerance = inf must be finite",
        ),
        (
            with(1e-2, 0.0, 0.0),
            "rel_tolerance and abs_tolerance are both 0",
        ),
    ];
    for (config, says) in cases {
        let mut layer = DiffersOnce {
            nudge: 0.0,
            forwards: 0,
        };
        let err = gradcheck(&mut layer, x.view(), &config).unwrap_err();
        assert!(matches!(err, GradcheckError::Config(_)), "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
        assert_eq!(layer.forwards, 0, "{says}");
    }
    // One tolerance of 0 is allowed.
    with(1e-2, 0.0, 1e-3).validate().unwrap();
    with(1e-2, 1e-2, 0.0).validate().unwrap();
}

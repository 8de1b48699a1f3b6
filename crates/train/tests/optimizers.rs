//! Optimizer steps against PyTorch.
//!
//! The expected values come from PyTorch 2.x, three steps on one parameter
//! `w = [0.5, -1.0, 2.0]` with the gradients below (float32):
//!
//! ```python
//! p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
//! opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)  # etc.
//! for g in GRADS:
//!     p.grad = torch.tensor(g); opt.step(); print(p.tolist())
//! ```

use ndarray::{arr1, ArrayD, ArrayViewD};
use scratchnet_layers::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use scratchnet_train::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig, TrainError};

const W0: [f32; 3] = [0.5, -1.0, 2.0];
const GRADS: [[f32; 3]; 3] = [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.0], [1.0, 1.0, -1.0]];

/// A "model" with one parameter named `w`, whose gradient the test sets directly.
struct OneParameter {
    w: Parameter,
}

impl OneParameter {
    fn new() -> Self {
        Self {
            w: Parameter::new(arr1(&W0).into_dyn()),
        }
    }
}

impl Layer for OneParameter {
    fn name(&self) -> &str {
        "OneParameter"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _: Mode) -> Result<ArrayD<f32>, LayerError> {
        Ok(x.to_owned())
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("w", &self.w);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("w", &mut self.w);
    }
}

/// Runs the three steps and compares each with PyTorch's values.
fn check(mut optimizer: impl Optimizer, expected: &[[f64; 3]; 3]) {
    let mut model = OneParameter::new();
    for (step, (grad, want)) in GRADS.iter().zip(expected).enumerate() {
        model.w.grad = arr1(grad).into_dyn();
        optimizer.step(&mut model);
        for (i, (&got, &want)) in model.w.value.iter().zip(want).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 2e-7 * want.abs().max(1.0),
                "step {}, element {i}: got {got}, PyTorch has {want}",
                step + 1
            );
        }
    }
    assert_eq!(optimizer.steps(), 3);
}

fn sgd(config: SgdConfig) -> Sgd {
    Sgd::new(config).unwrap()
}

#[test]
fn sgd_plain_is_w_minus_lr_g() {
    // Hand-computed: 0.5 − 0.1·0.1 = 0.49; then 0.49 + 0.05 = 0.54; then 0.54 − 0.1 = 0.44.
    check(
        sgd(SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        }),
        &[
            [0.49000000953674316, -0.9800000190734863, 1.9700000286102295],
            [0.5400000214576721, -1.0199999809265137, 1.9700000286102295],
            [0.4400000274181366, -1.1200000047683716, 2.069999933242798],
        ],
    );
}

/// Weight decay without momentum: `w -= lr·(g + wd·w)`. A decay not scaled by the
/// learning rate (`w -= lr·g + wd·w`, 1/lr times too strong) passed every other test.
#[test]
fn sgd_plain_with_weight_decay_matches_pytorch() {
    check(
        sgd(SgdConfig {
            lr: 0.1,
            weight_decay: 0.01,
            ..SgdConfig::default()
        }),
        &[
            [0.4894999861717224, -0.9789999723434448, 1.968000054359436],
            [0.5390104651451111, -1.0180209875106812, 1.9660320281982422],
            [0.4384714663028717, -1.1170029640197754, 2.064065933227539],
        ],
    );
}

#[test]
fn sgd_momentum_with_weight_decay_matches_pytorch() {
    check(
        sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            ..SgdConfig::default()
        }),
        &[
            [0.4894999861717224, -0.9789999723434448, 1.968000054359436],
            [0.5295605063438416, -0.9991209506988525, 1.9372320175170898],
            [0.46508538722991943, -1.1162307262420654, 2.007603645324707],
        ],
    );
}

#[test]
fn sgd_nesterov_matches_pytorch() {
    check(
        sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: true,
            ..SgdConfig::default()
        }),
        &[
            [0.4800499975681305, -0.960099995136261, 1.9392000436782837],
            [0.5656328797340393, -1.017265796661377, 1.9095956087112427],
            [0.4070148468017578, -1.2216463088989258, 2.071068525314331],
        ],
    );
}

#[test]
fn sgd_dampening_matches_pytorch() {
    // The first step puts the raw gradient in the buffer (no dampening), as PyTorch does.
    check(
        sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..SgdConfig::default()
        }),
        &[
            [0.49000000953674316, -0.9800000190734863, 1.9700000286102295],
            [0.5059999823570251, -0.9819999933242798, 1.943000078201294],
            [0.47039997577667236, -1.0338000059127808, 1.9687000513076782],
        ],
    );
}

#[test]
fn adam_matches_pytorch() {
    // Hand-computed first step: m̂ = g, v̂ = g², so w −= lr·g/(|g| + ε) ≈ lr·sign(g).
    check(
        Adam::new(AdamConfig::adam(0.01)).unwrap(),
        &[
            [0.49000000953674316, -0.9900000095367432, 1.9900000095367432],
            [0.4959835410118103, -0.9936610460281372, 1.9832993745803833],
            [0.4923921227455139, -1.0006479024887085, 1.9879316091537476],
        ],
    );
}

#[test]
fn adam_with_l2_weight_decay_matches_pytorch() {
    check(
        Adam::new(AdamConfig {
            weight_decay: 0.1,
            ..AdamConfig::adam(0.01)
        })
        .unwrap(),
        &[
            [0.49000000953674316, -0.9900000095367432, 1.9900000095367432],
            [0.4949477016925812, -0.9905429482460022, 1.9810218811035156],
            [0.49070504307746887, -0.9965003132820129, 1.982463002204895],
        ],
    );
}

#[test]
fn adamw_matches_pytorch() {
    check(
        Adam::new(AdamConfig {
            weight_decay: 0.1,
            ..AdamConfig::adamw(0.01)
        })
        .unwrap(),
        &[
            [0.4895000159740448, -0.9890000224113464, 1.9880000352859497],
            [0.49499404430389404, -0.9916720986366272, 1.979311466217041],
            [0.4909076392650604, -0.9976673722267151, 1.9819644689559937],
        ],
    );
}

#[test]
fn adam_with_other_betas_and_eps_matches_pytorch() {
    check(
        Adam::new(AdamConfig {
            betas: (0.5, 0.9),
            eps: 1e-3,
            ..AdamConfig::adam(0.05)
        })
        .unwrap(),
        &[
            [0.45049506425857544, -0.9502487778663635, 1.95016610622406],
            [0.4910126328468323, -0.9812871217727661, 1.9260667562484741],
            [0.45823514461517334, -1.0310813188552856, 1.9680029153823853],
        ],
    );
}

/// Stepping twice, saving the state into a fresh optimizer, and stepping once more
/// gives exactly what three uninterrupted steps give.
fn state_round_trip(make: impl Fn() -> Box<dyn Optimizer>) {
    let mut straight = OneParameter::new();
    let mut optimizer = make();
    for g in &GRADS {
        straight.w.grad = arr1(g).into_dyn();
        optimizer.step(&mut straight);
    }

    let mut resumed = OneParameter::new();
    let mut first = make();
    for g in &GRADS[..2] {
        resumed.w.grad = arr1(g).into_dyn();
        first.step(&mut resumed);
    }
    let mut second = make();
    second.load_state(first.state(), &resumed).unwrap();
    assert_eq!(second.steps(), 2);
    resumed.w.grad = arr1(&GRADS[2]).into_dyn();
    second.step(&mut resumed);
    assert_eq!(resumed.w.value, straight.w.value);
}

#[test]
fn optimizer_state_round_trips() {
    state_round_trip(|| {
        Box::new(sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            ..SgdConfig::default()
        }))
    });
    state_round_trip(|| Box::new(Adam::new(AdamConfig::adamw(0.01)).unwrap()));
}

#[test]
fn state_slots_have_pytorch_names() {
    let mut model = OneParameter::new();
    let mut adam = Adam::new(AdamConfig::adam(0.01)).unwrap();
    adam.step(&mut model);
    let names: Vec<_> = adam.state().tensors.keys().cloned().collect();
    assert_eq!(names, ["w.exp_avg", "w.exp_avg_sq"]);
    let mut momentum = sgd(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::default()
    });
    momentum.step(&mut model);
    let names: Vec<_> = momentum.state().tensors.keys().cloned().collect();
    assert_eq!(names, ["w.momentum_buffer"]);
}

#[test]
fn loading_another_kind_or_shape_is_refused() {
    let mut model = OneParameter::new();
    let mut adam = Adam::new(AdamConfig::adam(0.01)).unwrap();
    adam.step(&mut model);
    let state = adam.state();

    let mut sgd_opt = sgd(SgdConfig::default());
    let err = sgd_opt
        .load_state(state.clone(), &model)
        .unwrap_err()
        .to_string();
    assert!(err.contains("for adam") && err.contains("sgd"), "{err}");
    let err = Adam::new(AdamConfig::adamw(0.01))
        .unwrap()
        .load_state(state.clone(), &model)
        .unwrap_err()
        .to_string();
    assert!(err.contains("adamw"), "{err}");

    let mut wrong = state.clone();
    wrong
        .tensors
        .insert("w.exp_avg".into(), ArrayD::zeros(ndarray::IxDyn(&[4])));
    let err = adam.load_state(wrong, &model).unwrap_err().to_string();
    assert!(
        err.contains("optimizer.w.exp_avg has shape [4], but the model expects [3]"),
        "{err}"
    );

    let mut stray = state.clone();
    stray
        .tensors
        .insert("v.exp_avg".into(), ArrayD::zeros(ndarray::IxDyn(&[3])));
    let err = adam.load_state(stray, &model).unwrap_err().to_string();
    assert!(
        err.contains("unexpected tensor optimizer.v.exp_avg"),
        "{err}"
    );

    let mut half = state;
    half.tensors.remove("w.exp_avg_sq");
    let err = adam.load_state(half, &model).unwrap_err().to_string();
    assert!(
        err.contains("missing tensor optimizer.w.exp_avg_sq"),
        "{err}"
    );
}

/// QA: a checkpoint of `{"kind":"adam","steps":32}` whose optimizer tensors were
/// all removed resumed with zero moments, silently (removing one was an error).
#[test]
fn a_stepped_state_without_its_tensors_is_refused() {
    let mut model = OneParameter::new();
    let momentum = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let optimizers: [Box<dyn Optimizer>; 2] = [
        Box::new(Adam::new(AdamConfig::adam(0.01)).unwrap()),
        Box::new(sgd(momentum)),
    ];
    for (mut optimizer, slot) in optimizers.into_iter().zip(["exp_avg", "momentum_buffer"]) {
        // Before the first step a state has no tensors: that loads.
        let mut fresh = optimizer.state();
        assert!(fresh.tensors.is_empty());
        optimizer.load_state(fresh.clone(), &model).unwrap();
        model.w.grad.fill(0.5);
        optimizer.step(&mut model);
        let mut emptied = optimizer.state();
        emptied.tensors.clear();
        let err = optimizer
            .load_state(emptied, &model)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("missing tensor optimizer.w.{slot}")),
            "{err}"
        );
        assert_eq!(optimizer.steps(), 1, "unchanged on error");
        fresh.steps = 0;
        optimizer.load_state(fresh, &model).unwrap();
    }
    // Plain SGD keeps no tensors: its stepped state has none.
    let mut plain = sgd(SgdConfig::default());
    plain.step(&mut model);
    let state = plain.state();
    assert!(state.tensors.is_empty());
    plain.load_state(state, &model).unwrap();
}

#[test]
fn invalid_hyper_parameters_are_refused() {
    let bad_sgd = [
        SgdConfig {
            lr: -1.0,
            ..SgdConfig::default()
        },
        SgdConfig {
            lr: f32::NAN,
            ..SgdConfig::default()
        },
        SgdConfig {
            nesterov: true,
            ..SgdConfig::default()
        },
        SgdConfig {
            momentum: 0.9,
            dampening: 0.1,
            nesterov: true,
            ..SgdConfig::default()
        },
    ];
    for config in bad_sgd {
        assert!(
            matches!(Sgd::new(config), Err(TrainError::Config(_))),
            "{config:?}"
        );
    }
    let bad_adam = [
        AdamConfig::adam(-0.1),
        AdamConfig {
            betas: (1.0, 0.999),
            ..AdamConfig::default()
        },
        AdamConfig {
            eps: 0.0,
            ..AdamConfig::default()
        },
    ];
    for config in bad_adam {
        assert!(
            matches!(Adam::new(config), Err(TrainError::Config(_))),
            "{config:?}"
        );
    }
}

#[test]
fn set_learning_rate_changes_the_next_step() {
    let mut model = OneParameter::new();
    model.w.grad = arr1(&[1.0, 1.0, 1.0]).into_dyn();
    let mut opt = sgd(SgdConfig {
        lr: 0.1,
        ..SgdConfig::default()
    });
    opt.set_learning_rate(0.5);
    assert_eq!(opt.learning_rate(), 0.5);
    opt.step(&mut model);
    assert_eq!(model.w.value[0], 0.0);
}

/// `logits = x · w` over `[N, 3]`, whose backward adds `w`'s gradient broadcast to
/// `[1, 3]`: a layer of one's own with a gradient of the wrong shape.
struct BroadcastingScale {
    w: Parameter,
    x: Option<ArrayD<f32>>,
}

impl Layer for BroadcastingScale {
    fn name(&self) -> &str {
        "BroadcastingScale"
    }
    fn output_shape(&self, _input: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(vec![3])
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _: Mode) -> Result<ArrayD<f32>, LayerError> {
        // Images of [3, 1, 1], seen as vectors of 3.
        let x = x
            .to_shape(ndarray::IxDyn(&[x.shape()[0], 3]))
            .unwrap()
            .to_owned();
        let y = &x * &self.w.value;
        self.x = Some(x);
        Ok(y)
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self.x.as_ref().expect("forward first");
        let grad = (&dy * x)
            .sum_axis(ndarray::Axis(0))
            .insert_axis(ndarray::Axis(0));
        self.w.grad = &self.w.grad + &grad; // [3] + [1, 3] broadcasts to [1, 3]
        let dx = &dy * &self.w.value;
        Ok(dx
            .into_shape_with_order(ndarray::IxDyn(&[x.shape()[0], 3, 1, 1]))
            .unwrap())
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("w", &self.w);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("w", &mut self.w);
    }
}

fn broadcasting_scale() -> BroadcastingScale {
    BroadcastingScale {
        w: Parameter::new(arr1(&W0).into_dyn()),
        x: None,
    }
}

/// A gradient of another shape than its parameter is an error naming the parameter in a
/// training step (plain and data-parallel), and the weights stay as they were; an
/// optimizer given such a model directly panics with the same words. Before, Adam
/// applied the gradient's first elements silently.
#[test]
fn a_gradient_of_the_wrong_shape_is_an_error_naming_the_parameter() {
    let images = ndarray::Array4::<f32>::from_elem((4, 3, 1, 1), 0.5);
    let labels = [0, 1, 2, 0];
    let says = "w.grad has the shape [1, 3], but w has [3]";
    let mut model = broadcasting_scale();
    let mut adam = Adam::new(AdamConfig::adam(0.1)).unwrap();
    let err =
        scratchnet_train::train_step(&mut model, &mut adam, images.view(), &labels).unwrap_err();
    assert!(
        matches!(err, TrainError::Layer(LayerError::Contract { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(says), "{err}");
    assert_eq!(model.w.value, arr1(&W0).into_dyn());
    assert_eq!(adam.steps(), 0);

    let factory: scratchnet_train::ModelFactory =
        std::sync::Arc::new(|| Box::new(broadcasting_scale()));
    let mut model = broadcasting_scale();
    let mut parallel =
        scratchnet_train::DataParallel::with_replicas(2, 2, &factory, &model).unwrap();
    let err = parallel
        .train_step(&mut model, &mut adam, images.view(), &labels)
        .unwrap_err();
    assert!(err.to_string().contains(says), "{err}");
    assert_eq!(model.w.value, arr1(&W0).into_dyn());

    for optimizer in [
        Box::new(Adam::new(AdamConfig::adam(0.1)).unwrap()) as Box<dyn Optimizer>,
        Box::new(Sgd::new(SgdConfig::default()).unwrap()),
    ] {
        let mut optimizer = optimizer;
        let mut model = broadcasting_scale();
        model.w.grad = ArrayD::zeros(ndarray::IxDyn(&[1, 3]));
        let panic =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| optimizer.step(&mut model)))
                .expect_err("a step with a wrong-shaped gradient must not pass");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains(says), "{message}");
        assert_eq!(model.w.value, arr1(&W0).into_dyn());
    }
}

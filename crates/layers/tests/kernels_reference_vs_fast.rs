//! A LeNet-like model trained one step on the reference kernels and on the fast
//! ones: the same loss, outputs and gradients, within rounding.
//!
//! The kernel choice is global to the program, so everything that switches it
//! is in ONE test of this binary (run sequentially), which leaves it at `Fast`.

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;
use scratchnet_tensor::kernels::{set_kernels, Kernels};

/// conv (direct strategy) → ReLU → max pool → grouped conv (im2col) → leaky
/// ReLU → average pool → dense → tanh → dense → sigmoid → dense: every layer
/// with a reference kernel.
fn model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(42);
    let padded = Conv2dConfig {
        padding: [2, 2],
        ..Default::default()
    };
    let grouped = Conv2dConfig {
        groups: 2,
        ..Default::default()
    };
    Sequential::new()
        .add("conv1", Conv2d::new(1, 6, [5, 5], padded, &mut rng))
        .add("relu1", ReLU::new())
        .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("conv2", Conv2d::new(6, 16, [5, 5], grouped, &mut rng))
        .add("leaky2", LeakyReLU::new(0.1))
        .add("pool2", AvgPool2d::new([2, 2], AvgPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(400, 120, &mut rng))
        .add("tanh3", Tanh::new())
        .add("fc2", Dense::new(120, 84, &mut rng))
        .add("sigmoid4", Sigmoid::new())
        .add("fc3", Dense::new(84, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// What one training step produces: loss, logits, input gradient, parameter gradients.
struct Step {
    loss: f32,
    logits: ArrayD<f32>,
    grad_input: ArrayD<f32>,
    grads: Vec<(String, ArrayD<f32>)>,
}

/// One forward + backward, the forward on `forward_kernels` and the backward on `backward_kernels`.
fn step(forward_kernels: Kernels, backward_kernels: Kernels) -> Step {
    let x = ArrayD::from_shape_fn(IxDyn(&[20, 1, 28, 28]), |i| {
        ((i[0] * 131 + i[2] * 29 + i[3] * 7) % 17) as f32 / 8.0 - 1.0
    });
    let targets: Vec<usize> = (0..20).map(|i| i * 7 % 10).collect();
    let mut model = model();
    let mut loss_fn = SoftmaxCrossEntropy::new();
    set_kernels(forward_kernels);
    let logits = model.forward(x.view(), Mode::Train).unwrap();
    let loss = loss_fn.forward(logits.view(), &targets).unwrap();
    set_kernels(backward_kernels);
    let grad_logits = loss_fn.backward().unwrap();
    let grad_input = model.backward(grad_logits.view()).unwrap();
    let grads = model
        .parameters()
        .into_iter()
        .map(|(name, p)| (name, p.grad.clone()))
        .collect();
    Step {
        loss,
        logits,
        grad_input,
        grads,
    }
}

/// `|a − b| ≤ 1e-4 · max(1, max |b|)` element by element.
fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

fn assert_steps_close(a: &Step, b: &Step, label: &str) {
    assert!(
        (a.loss - b.loss).abs() <= 1e-4 * b.loss.abs().max(1.0),
        "{label}: loss {} vs {}",
        a.loss,
        b.loss
    );
    assert_close(&a.logits, &b.logits, &format!("{label}: logits"));
    assert_close(
        &a.grad_input,
        &b.grad_input,
        &format!("{label}: grad_input"),
    );
    assert_eq!(a.grads.len(), b.grads.len());
    for ((name, ga), (_, gb)) in a.grads.iter().zip(&b.grads) {
        assert!(
            gb.iter().any(|&g| g != 0.0),
            "{label}: {name} has no gradient"
        );
        assert_close(ga, gb, &format!("{label}: {name}.grad"));
    }
}

#[test]
fn lenet_step_on_reference_and_fast_kernels_agree() {
    let reference = step(Kernels::Reference, Kernels::Reference);
    let fast = step(Kernels::Fast, Kernels::Fast);
    assert_steps_close(&fast, &reference, "fast vs reference");
    // A forward's tier decides its backward: switching in between is safe (the
    // convolution's cache holds the plain input on one tier, a padded one on the other).
    let switched = step(Kernels::Reference, Kernels::Fast);
    assert_steps_close(&switched, &reference, "reference forward, fast backward");
    let switched = step(Kernels::Fast, Kernels::Reference);
    assert_steps_close(&switched, &fast, "fast forward, reference backward");
    set_kernels(Kernels::Fast);
}

//! A container written by a user, the way the guide teaches (`visit_state` forwarding
//! its child with `state.child`), around a body with batch norm: the body's running
//! statistics reach the checkpoint under the container's prefix and are updated by
//! training — also when the trainer is given replicas, which it must refuse for a model
//! with state.
//!
//! Before the state traversal, a container forwarded `parameters`/`parameters_mut` by
//! hand (as the guide's pattern taught) and silently dropped the body's buffers: the
//! checkpoint held only `block.body.bn.weight`/`bias`, and the trainer's has-state
//! check, fooled, trained on replicas whose statistics never updated.

use ndarray::{Array4, ArrayD, ArrayViewD};
use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_data::{BatchConfig, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Flatten, Layer, LayerError, Mode,
    ReLU, Sequential, StateVisitor, StateVisitorMut,
};
use scratchnet_train::{
    Adam, AdamConfig, Checkpoint, History, LrSchedule, ProgressMode, TrainConfig, Trainer,
};
use std::sync::Arc;

/// `y = x + body(x)`: a residual block, written as a user would.
struct AddSkip {
    body: Sequential,
}

impl Layer for AddSkip {
    fn name(&self) -> &str {
        "AddSkip"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        let body = self.body.output_shape(input_shape)?;
        if body != input_shape {
            return Err(LayerError::shape(
                "AddSkip",
                format!("{input_shape:?}"),
                &body,
            ));
        }
        Ok(body)
    }
    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        Ok(self.body.forward(input.view(), mode)? + input)
    }
    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(self.body.backward(grad_output.view())? + grad_output)
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.child("body", &self.body);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.child("body", &mut self.body);
    }
}

fn net(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let same = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    let body = Sequential::new()
        .add("conv", Conv2d::new(2, 2, [3, 3], same, &mut rng))
        .add("bn", BatchNorm2d::new(2, BatchNorm2dConfig::default()));
    Sequential::new()
        .add("stem", Conv2d::new(1, 2, [3, 3], same, &mut rng))
        .add("block", AddSkip { body })
        .add("relu", ReLU::new())
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(2 * 28 * 28, 10, &mut rng))
        .build(&[1, 28, 28])
        .unwrap()
}

/// `n` noisy 28×28 images, class `c` with a bright block at a place of its own.
fn synthetic(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut images = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 10) as u8;
        let (top, left) = (2 + 8 * (class as usize / 4), 2 + 6 * (class as usize % 4));
        for y in 0..28 {
            for x in 0..28 {
                let inside = (top..top + 8).contains(&y) && (left..left + 8).contains(&x);
                let base: u8 = if inside { 200 } else { 0 };
                images.push(base.saturating_add(rng.random_range(0..50)));
            }
        }
        labels.push(class);
    }
    Split::new(images, labels, Normalization::MNIST)
}

#[test]
fn a_user_containers_batch_norm_statistics_are_checkpointed_and_trained() {
    let model = net(0);
    let names: Vec<String> = Checkpoint::from_model(&model).tensors.into_keys().collect();
    for name in [
        "block.body.bn.running_mean",
        "block.body.bn.running_var",
        "block.body.bn.num_batches_tracked",
        "block.body.conv.weight",
        "block.body.bn.weight",
    ] {
        assert!(names.contains(&name.to_string()), "{name} in {names:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("container.safetensors");
    let mut model = net(0);
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let mut trainer = Trainer::new(TrainConfig {
        epochs: 1,
        threads: 2,
        batch: BatchConfig {
            batch_size: 32,
            shuffle: true,
            seed: 5,
            augment: false,
        },
        eval_batch_size: 64,
        schedule: LrSchedule::Constant,
        progress: ProgressMode::Quiet,
        save_path: Some(path.clone()),
        ..TrainConfig::default()
    })
    .unwrap()
    // Replicas would train on copies whose statistics the model never sees: the
    // trainer must see the body's buffers and train on the model itself.
    .with_replicas(Arc::new(|| Box::new(net(1))));
    let (train, test) = (synthetic(128, 1), synthetic(40, 2));
    trainer
        .fit(&mut model, &mut adam, &train, &test, History::new())
        .unwrap();

    let saved = Checkpoint::load(&path).unwrap();
    // Four batches of 32: the statistics were updated once per batch.
    let count = &saved.tensors["block.body.bn.num_batches_tracked"];
    assert_eq!(count.iter().copied().collect::<Vec<f32>>(), vec![4.0]);
    let mean = &saved.tensors["block.body.bn.running_mean"];
    assert!(mean.iter().all(|&m| m != 0.0), "running_mean {mean}");
    let var = &saved.tensors["block.body.bn.running_var"];
    assert!(var.iter().all(|&v| v != 1.0), "running_var {var}");

    // The saved statistics come back into a fresh model.
    let mut fresh = net(2);
    saved.apply_to(&mut fresh).unwrap();
    let buffers: Vec<(String, ArrayD<f32>)> = fresh
        .buffers()
        .into_iter()
        .map(|(name, b)| (name, b.clone()))
        .collect();
    assert_eq!(
        buffers[0],
        ("block.body.bn.running_mean".into(), mean.clone())
    );

    // And they are what eval uses: the trained model and the fresh one agree.
    let x =
        Array4::from_shape_fn((2, 1, 28, 28), |(n, _, y, x)| ((n + y * x) % 7) as f32).into_dyn();
    let trained_out = model.forward(x.view(), Mode::Eval).unwrap();
    let mut reloaded = net(3);
    scratchnet_train::load_model(&path, &mut reloaded).unwrap();
    assert_eq!(trained_out, reloaded.forward(x.view(), Mode::Eval).unwrap());
}

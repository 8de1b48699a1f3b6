//! `save_model` and the trainer refuse a model whose state has two pieces of one name:
//! a file could hold only one of them, and the optimizer would share their state (QA:
//! a layer whose `visit_state` named `weight` twice saved, and loaded back, without an
//! error).

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use scratchnet_data::{Normalization, Split};
use scratchnet_layers::{Layer, LayerError, Mode, Parameter, StateVisitor, StateVisitorMut};
use scratchnet_train::{
    save_model, Adam, AdamConfig, CheckpointError, History, Optimizer, TrainConfig,
};
use scratchnet_train::{TrainError, Trainer};

/// A layer of one's own with two parameters named `names`.
struct Twice {
    names: [&'static str; 2],
    weights: [Parameter; 2],
}

impl Layer for Twice {
    fn name(&self) -> &str {
        "Twice"
    }
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: ArrayViewD<f32>, _mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        Ok(x.to_owned())
    }
    fn backward(&mut self, dy: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        Ok(dy.to_owned())
    }
    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        for (name, weight) in self.names.iter().zip(&self.weights) {
            state.parameter(name, weight);
        }
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        for (name, weight) in self.names.iter().zip(&mut self.weights) {
            state.parameter(name, weight);
        }
    }
}

fn twice(names: [&'static str; 2]) -> Twice {
    let weight = |v| Parameter::new(ArrayD::from_elem(IxDyn(&[2]), v));
    Twice {
        names,
        weights: [weight(1.0), weight(2.0)],
    }
}

#[test]
fn save_model_refuses_two_pieces_of_state_of_one_name_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("scratchnet-save-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("twice.safetensors");
    let err = save_model(&path, &twice(["weight", "weight"])).unwrap_err();
    assert!(matches!(err, CheckpointError::Encode { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("two pieces of state are named \"weight\""),
        "{err}"
    );
    assert!(!path.exists());
    let err = save_model(&path, &twice(["", "weight"])).unwrap_err();
    assert!(err.to_string().contains("must be non-empty"), "{err}");
    save_model(&path, &twice(["weight", "bias"])).unwrap();
    assert!(path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_trainer_refuses_two_pieces_of_state_of_one_name_before_training() {
    let split = Split::new(vec![0; 4 * 784], vec![0, 1, 0, 1], Normalization::MNIST);
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let mut trainer = Trainer::new(TrainConfig::default()).unwrap();
    let err = trainer
        .fit(
            &mut twice(["weight", "weight"]),
            &mut adam,
            &split,
            &split,
            History::new(),
        )
        .unwrap_err();
    assert!(matches!(err, TrainError::Layer(_)), "{err}");
    assert!(
        err.to_string()
            .contains("two pieces of state are named \"weight\""),
        "{err}"
    );
    assert_eq!(adam.steps(), 0);
}

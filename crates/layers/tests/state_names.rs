//! Every piece of a model's state has one name of its own, checked whether or not the
//! model was built: optimizers and checkpoints find state by name, and two pieces of
//! one name (or a name with an empty part) would share, or lose, their values. The
//! counters are written through the names they are read by.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;

/// A layer of one's own whose state visitors name its parameters `names`.
struct Named {
    names: [&'static str; 2],
    weights: [Parameter; 2],
}

impl Named {
    fn new(names: [&'static str; 2]) -> Self {
        let weight = || Parameter::new(ArrayD::zeros(IxDyn(&[2])));
        Self {
            names,
            weights: [weight(), weight()],
        }
    }
}

impl Layer for Named {
    fn name(&self) -> &str {
        "Named"
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

fn batch() -> ArrayD<f32> {
    ArrayD::zeros(IxDyn(&[2, 1, 4, 4]))
}

/// QA: a top-level Sequential that was never built, with two children named `c`,
/// trained silently (Adam's state for the two `c.weight` shared) and saved a
/// checkpoint that could not be loaded. Its first forward refuses it.
#[test]
fn an_unbuilt_sequential_with_two_children_of_one_name_refuses_to_run() {
    let mut rng = StdRng::seed_from_u64(0);
    let same = Conv2dConfig {
        padding: [1, 1],
        ..Default::default()
    };
    let mut model = Sequential::new()
        .add("c", Conv2d::new(1, 1, [3, 3], same, &mut rng))
        .add("c", Conv2d::new(1, 1, [3, 3], same, &mut rng));
    for mode in [Mode::Train, Mode::Eval] {
        let err = model.forward(batch().view(), mode).unwrap_err();
        assert!(
            err.to_string().contains("two layers are named \"c\""),
            "{err}"
        );
    }
    let err = model
        .forward_visiting(batch().view(), Mode::Eval, &mut |_, _| {})
        .unwrap_err();
    assert!(matches!(err, LayerError::Config { .. }), "{err}");
    // Renaming is not possible, but a fresh model of distinct names runs unbuilt.
    let mut model = Sequential::new()
        .add("c1", Conv2d::new(1, 1, [3, 3], same, &mut rng))
        .add("c2", Conv2d::new(1, 1, [3, 3], same, &mut rng));
    assert!(model.forward(batch().view(), Mode::Train).is_ok());
}

/// A layer of one's own that names `weight` twice is refused by an unbuilt
/// Sequential's forward, as by `build`.
#[test]
fn an_unbuilt_sequential_refuses_a_child_that_names_its_state_twice() {
    let mut model = Sequential::new().add("mine", Named::new(["weight", "weight"]));
    let err = model.forward(batch().view(), Mode::Train).unwrap_err();
    assert!(matches!(err, LayerError::Contract { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("two pieces of state are named \"mine.weight\""),
        "{err}"
    );
    assert!(contract::check_state_names(&Named::new(["weight", "weight"])).is_err());
    assert!(contract::check_state_names(&Named::new(["weight", "bias"])).is_ok());
}

/// QA: `state.parameter("")` gave the key `d.` and nothing refused it.
#[test]
fn names_with_an_empty_part_break_the_contract() {
    for names in [["", "w"], ["a.", "w"], ["a..b", "w"], [".a", "w"]] {
        let mut layer = Named::new(names);
        let err = contract::check_state(&mut layer).unwrap_err();
        assert!(matches!(err, LayerError::Contract { .. }), "{err}");
        assert!(
            err.to_string().contains("must be non-empty"),
            "{names:?}: {err}"
        );
        let built = Sequential::new()
            .add("d", Named::new(names))
            .build(&[1, 4, 4]);
        assert!(built.is_err(), "{names:?}");
    }
    assert!(contract::check_state(&mut Named::new(["w", "v"])).is_ok());
}

/// The counters are written through the names they are read by, in a nested model
/// too: a checkpoint restores each `Dropout`'s count of masks through them.
#[test]
fn counters_are_written_through_the_names_they_are_read_by() {
    let mut model = Sequential::new()
        .add("drop", Dropout::new(0.5, 1))
        .add("block", Sequential::new().add("drop", Dropout::new(0.5, 2)));
    let names: Vec<String> = model
        .extra_state_mut()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["drop.step", "block.drop.step"]);
    for (i, (_, counter)) in model.extra_state_mut().into_iter().enumerate() {
        *counter = 10 + i as u64;
    }
    let counters = [
        ("drop.step".to_string(), 10),
        ("block.drop.step".to_string(), 11),
    ];
    assert_eq!(model.extra_state(), counters);
}

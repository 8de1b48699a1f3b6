//! [`ModelSpec`]: which model a run trains, and [`ModelInput`]: what its data gives it.

use ndarray_rand::rand::rngs::StdRng;
use scratchnet_layers::{LayerError, Sequential};
use scratchnet_train::models::lenet5;
use scratchnet_train::TrainError;
use std::fmt;

/// What a run's data gives its model: the per-sample shape `[C, H, W]` and the number of
/// classes (the logits the model must output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelInput {
    /// Per-sample input shape `[C, H, W]` (`[1, 28, 28]` for MNIST, `[3, 32, 32]` for
    /// CIFAR-10).
    pub sample_shape: [usize; 3],
    /// Number of classes.
    pub num_classes: usize,
}

impl ModelInput {
    /// MNIST's: `[1, 28, 28]`, 10 classes.
    pub const MNIST: ModelInput = ModelInput {
        sample_shape: [1, 28, 28],
        num_classes: 10,
    };
}

impl fmt::Display for ModelInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.sample_shape;
        write!(f, "{c}×{h}×{w} images of {} classes", self.num_classes)
    }
}

#[derive(Clone, Copy)]
enum Builder {
    /// A model for one input only (LeNet-5: 1×28×28, 10 classes).
    Fixed(fn(&mut StdRng) -> Sequential),
    /// A model built for the data's shape and classes.
    ForInput(fn(&mut StdRng, &ModelInput) -> Result<Sequential, LayerError>),
}

/// The model a run trains: a name, stored in its checkpoints' metadata as `model`,
/// and a function building it from a seeded generator — either for one input only
/// ([`ModelSpec::new`], e.g. LeNet-5 for 1×28×28) or for the data's shape and number of
/// classes ([`ModelSpec::for_input`], e.g. the `cifar10_cnn` example's CNN, which also
/// trains on an image folder of any size).
///
/// The function is called for the model itself (with the run's seed) and, when the
/// model has no buffers, for one replica per thread (see
/// [`ModelFactory`](scratchnet_train::ModelFactory)).
///
/// ```
/// use scratchnet_cli::{ModelSpec, RunConfig};
/// let config = RunConfig { model: ModelSpec::new("lenet5", scratchnet_train::models::lenet5), ..RunConfig::default() };
/// assert_eq!(config.model, ModelSpec::lenet5());
/// ```
#[derive(Clone, Copy)]
pub struct ModelSpec {
    /// The model's name (`"lenet5"`).
    pub name: &'static str,
    builder: Builder,
}

impl ModelSpec {
    /// A model called `name` built by `build`, for one input only (checked against the
    /// data by [`build`](Self::build)).
    pub fn new(name: &'static str, build: fn(&mut StdRng) -> Sequential) -> Self {
        Self {
            name,
            builder: Builder::Fixed(build),
        }
    }

    /// A model called `name` that `build` makes for the data's [`ModelInput`] (or
    /// refuses, when its layers cannot take that input: images too large, say).
    pub fn for_input(
        name: &'static str,
        build: fn(&mut StdRng, &ModelInput) -> Result<Sequential, LayerError>,
    ) -> Self {
        Self {
            name,
            builder: Builder::ForInput(build),
        }
    }

    /// LeNet-5 ([`lenet5`]), the default.
    pub fn lenet5() -> Self {
        Self::new("lenet5", lenet5)
    }

    /// The model for `input`, from `rng`.
    ///
    /// # Errors
    /// [`TrainError::Config`] when the model takes another input shape or outputs another
    /// number of logits than `input` has classes (a model made by [`ModelSpec::new`] for
    /// MNIST asked to train on CIFAR-10), or its layers do not fit together.
    pub fn build(&self, rng: &mut StdRng, input: &ModelInput) -> Result<Sequential, TrainError> {
        let model = match self.builder {
            Builder::Fixed(build) => build(rng),
            Builder::ForInput(build) => build(rng, input).map_err(|e| {
                TrainError::config(format!(
                    "the model {} cannot be built for {input}: {e}; train on smaller images \
                     (--image-size)",
                    self.name
                ))
            })?,
        };
        let summary = model.summary()?;
        let takes = summary.input_shape.clone();
        let gives = summary
            .rows
            .iter()
            .rfind(|r| r.depth == 0)
            .map(|r| r.output_shape.clone())
            .unwrap_or_else(|| takes.clone());
        if takes != input.sample_shape || gives != [input.num_classes] {
            return Err(TrainError::config(format!(
                "the model {} takes {:?} inputs and gives {:?} logits, but the data has {input}: \
                 train this data with a model built for it (examples/cifar10_cnn.rs adapts to \
                 any image size and number of classes)",
                self.name, takes, gives
            )));
        }
        Ok(model)
    }

    /// [`build`](Self::build) without the checks, for the replicas of a model already
    /// built once for `input` (so building it again cannot fail).
    pub(crate) fn build_unchecked(&self, rng: &mut StdRng, input: &ModelInput) -> Sequential {
        match self.builder {
            Builder::Fixed(build) => build(rng),
            Builder::ForInput(build) => {
                build(rng, input).expect("the model was built once for this input")
            }
        }
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self::lenet5()
    }
}

impl PartialEq for ModelSpec {
    /// Models are compared by name.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

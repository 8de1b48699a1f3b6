//! [`ModelSpec`]: which model a run trains.

use ndarray_rand::rand::rngs::StdRng;
use scratchnet_layers::Sequential;
use scratchnet_train::models::lenet5;
use std::fmt;

/// The model a run trains: a name, stored in its checkpoints' metadata as `model`,
/// and a function building it (already [`build`](Sequential::build)-checked for
/// `[1, 28, 28]` inputs, ending in 10 logits) from a seeded generator.
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
    /// Builds the model from a seeded generator.
    pub build: fn(&mut StdRng) -> Sequential,
}

impl ModelSpec {
    /// A model called `name` built by `build`.
    pub fn new(name: &'static str, build: fn(&mut StdRng) -> Sequential) -> Self {
        Self { name, build }
    }

    /// LeNet-5 ([`lenet5`]), the default.
    pub fn lenet5() -> Self {
        Self::new("lenet5", lenet5)
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

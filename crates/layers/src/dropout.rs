//! Dropout layer.

use crate::checks::check_same_shape;
use crate::{Layer, LayerError, Mode, StateVisitor, StateVisitorMut};
use ndarray::{ArrayD, ArrayViewD};
use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};

/// Randomly zeroes elements in training, PyTorch's `nn.Dropout(p)`.
///
/// In [`Mode::Train`] each element is kept with probability `1 − p` and
/// scaled by `1 / (1 − p)`, so the expected output equals the input; in
/// [`Mode::Eval`] the layer is the identity.
///
/// **Randomness.** The mask of the `k`-th training forward is drawn from a
/// generator seeded with `(seed, k)`, so a run is reproducible, and a resumed
/// run continues the same sequence once `k` is restored: checkpoints carry it as the
/// layer's [`extra_state`](Layer::extra_state) `"step"`, or call [`set_step`](Dropout::set_step).
///
/// # Shapes
/// Any shape `[N, …]` → the same shape.
///
/// ```
/// use scratchnet_layers::{Dropout, Layer, Mode};
/// let mut drop = Dropout::new(0.5, 42);
/// let x = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[2, 1000]));
/// let y = drop.forward(x.view(), Mode::Train).unwrap();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// assert_eq!(drop.forward(x.view(), Mode::Eval).unwrap(), x);
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    seed: u64,
    step: u64,
    /// The scaled keep-mask (`0` or `1/(1−p)`) of the last training forward.
    mask: Option<ArrayD<f32>>,
}

impl Dropout {
    /// Dropout with drop probability `p` (in `[0, 1)`), its masks drawn from `seed`.
    pub fn new(p: f32, seed: u64) -> Self {
        Self {
            p,
            seed,
            step: 0,
            mask: None,
        }
    }

    /// How many training forwards have drawn a mask so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Sets the number of masks already drawn: the next training forward uses mask number `step`.
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }
}

impl Layer for Dropout {
    fn name(&self) -> &str {
        "Dropout"
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(LayerError::config(
                self.name(),
                format!("p = {} must be in [0, 1)", self.p),
            ));
        }
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(&[])?;
        if mode == Mode::Eval {
            self.mask = None;
            return Ok(input.to_owned());
        }
        let mut rng = StdRng::seed_from_u64(
            self.seed
                ^ self
                    .step
                    .wrapping_add(1)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        self.step += 1;
        let scale = 1.0 / (1.0 - self.p);
        let mask = ArrayD::from_shape_simple_fn(input.raw_dim(), || {
            if rng.random::<f32>() < self.p {
                0.0
            } else {
                scale
            }
        });
        let output = &input * &mask;
        self.mask = Some(mask);
        Ok(output)
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.counter("step", self.step);
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.counter("step", &mut self.step);
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let mask = self
            .mask
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_same_shape(self.name(), grad_output.shape(), mask.shape())?;
        Ok(&grad_output * mask)
    }
}

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

    /// The generator of the next training forward's mask, seeded with `(seed, step)`.
    fn generator(&self) -> StdRng {
        StdRng::seed_from_u64(
            self.seed
                ^ self
                    .step
                    .wrapping_add(1)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }
}

/// The uniform float in `[0, 1)` that `rand` makes of a 32-bit draw
/// (`Rng::random::<f32>()`): its top 24 bits, scaled by `2⁻²⁴`.
fn uniform(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
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
        let mut rng = self.generator();
        self.step += 1;
        let scale = 1.0 / (1.0 - self.p);
        // One 32-bit draw per element, in order: what `rng.random::<f32>()` per element
        // would consume, drawn in bulk.
        let mut draws = vec![0u32; input.len()];
        rng.fill(&mut draws[..]);
        let mask: Vec<f32> = draws
            .iter()
            .map(|&bits| if uniform(bits) < self.p { 0.0 } else { scale })
            .collect();
        let mask = ArrayD::from_shape_vec(input.raw_dim(), mask).expect("one draw per element");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask drawn in bulk is the one of the plain definition: one
    /// `random::<f32>()` per element, in order, dropped where it falls below `p`; and
    /// each training forward, and only a training forward, counts one mask drawn.
    #[test]
    fn bulk_draws_are_one_random_float_per_element() {
        let (p, shape) = (0.3f32, [3, 1001]);
        let mut layer = Dropout::new(p, 5);
        layer.set_step(7);
        let mut rng = layer.generator();
        let x = ArrayD::<f32>::ones(ndarray::IxDyn(&shape));
        let y = layer.forward(x.view(), Mode::Train).unwrap();
        let expected: Vec<f32> = (0..x.len())
            .map(|_| {
                if rng.random::<f32>() < p {
                    0.0
                } else {
                    1.0 / (1.0 - p)
                }
            })
            .collect();
        assert_eq!(y.as_slice().unwrap(), expected.as_slice());
        let dropped = expected.iter().filter(|&&v| v == 0.0).count();
        assert!((800..1000).contains(&dropped), "{dropped} of 3003 dropped");
        // Mask number 7 drawn, the next is number 8; evaluation draws none.
        assert_eq!(layer.step(), 8);
        layer.forward(x.view(), Mode::Eval).unwrap();
        assert_eq!(layer.step(), 8);
    }
}

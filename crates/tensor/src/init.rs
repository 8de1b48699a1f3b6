//! Seeded weight initialisers, built on `ndarray-rand`.
//!
//! Every function takes the generator explicitly, so a model built twice from
//! the same seed has the same weights. `fan_in` is the number of inputs
//! feeding one output: `in_features` for a dense layer, `C/groups·KH·KW` for a
//! convolution (PyTorch's `_calculate_fan_in_and_fan_out`).
//!
//! ```
//! use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
//! use scratchnet_tensor::init;
//! let mut rng = StdRng::seed_from_u64(0);
//! let w = init::kaiming_uniform(&[6, 1, 5, 5], 25, &mut rng);
//! assert!(w.iter().all(|&x| x.abs() <= 0.2)); // bound 1/√25
//! ```

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::{Normal, Uniform};
use ndarray_rand::RandomExt;

/// PyTorch's default for `Conv2d` and `Linear` weights and biases:
/// `kaiming_uniform_(a = √5)`, i.e. `U(−1/√fan_in, 1/√fan_in)`.
pub fn kaiming_uniform<R: Rng + ?Sized>(
    shape: &[usize],
    fan_in: usize,
    rng: &mut R,
) -> ArrayD<f32> {
    uniform(shape, 1.0 / (fan_in.max(1) as f32).sqrt(), rng)
}

/// Xavier/Glorot uniform: `U(−b, b)` with `b = √(6 / (fan_in + fan_out))`, suited to tanh and sigmoid.
pub fn xavier_uniform<R: Rng + ?Sized>(
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut R,
) -> ArrayD<f32> {
    uniform(shape, (6.0 / (fan_in + fan_out).max(1) as f32).sqrt(), rng)
}

/// He (Kaiming) normal: `N(0, 2 / fan_in)`, suited to ReLU networks.
pub fn he_normal<R: Rng + ?Sized>(shape: &[usize], fan_in: usize, rng: &mut R) -> ArrayD<f32> {
    let std = (2.0 / fan_in.max(1) as f32).sqrt();
    ArrayD::random_using(
        IxDyn(shape),
        Normal::new(0.0, std).expect("std is finite and positive"),
        rng,
    )
}

/// `U(−bound, bound)`; all zeros when `bound` is 0.
pub fn uniform<R: Rng + ?Sized>(shape: &[usize], bound: f32, rng: &mut R) -> ArrayD<f32> {
    if bound <= 0.0 {
        return ArrayD::zeros(IxDyn(shape));
    }
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new_inclusive(-bound, bound).expect("bound is finite"),
        rng,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_rand::rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn same_seed_same_weights_and_right_spread() {
        let a = kaiming_uniform(&[120, 400], 400, &mut StdRng::seed_from_u64(7));
        let b = kaiming_uniform(&[120, 400], 400, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
        assert!(a.iter().all(|x| x.abs() <= 0.05));
        let var = a.mapv(|x| x * x).mean().unwrap();
        assert!((var - 0.05f32.powi(2) / 3.0).abs() < 1e-4, "variance {var}");
        let h = he_normal(&[200, 200], 50, &mut StdRng::seed_from_u64(1));
        let hv = h.mapv(|x| x * x).mean().unwrap();
        assert!((hv - 2.0 / 50.0).abs() < 2e-3, "variance {hv}");
        let x = xavier_uniform(&[10, 10], 10, 20, &mut StdRng::seed_from_u64(1));
        assert!(x.iter().all(|v| v.abs() <= (6.0f32 / 30.0).sqrt()));
    }
}

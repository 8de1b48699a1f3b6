//! Fully connected layer.

use crate::checks::{check_grad_shape, per_sample};
use crate::{Layer, LayerError, Mode, Parameter};
use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};
use ndarray_rand::rand::Rng;
use scratchnet_tensor::gemm::{self, Init, Segment, Strided};
use scratchnet_tensor::init;
use scratchnet_tensor::parallel::{build, SAMPLE_CHUNK};

/// Multiply-adds below which a dense layer's product runs on the calling
/// thread: waking the pool costs more than such a product (LeNet's fc2, fc3).
const PARALLEL_MACS: usize = 1 << 20;

/// A fully connected layer `y = x·Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Parameters: `weight` `[out_features, in_features]` and `bias`
/// `[out_features]`, initialised like PyTorch (`U(±1/√in_features)`).
///
/// # Shapes
/// - input: `[N, in_features]`
/// - output: `[N, out_features]`
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::{Dense, Layer};
/// let fc = Dense::new(400, 120, &mut StdRng::seed_from_u64(0));
/// assert_eq!(fc.output_shape(&[400]).unwrap(), vec![120]);
/// assert_eq!(fc.num_parameters(), 400 * 120 + 120);
/// assert!(fc.output_shape(&[256]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Dense {
    in_features: usize,
    out_features: usize,
    /// `[out_features, in_features]`.
    pub weight: Parameter,
    /// `[out_features]`.
    pub bias: Parameter,
    input: Option<Array2<f32>>,
}

impl Dense {
    /// A dense layer from `in_features` to `out_features`, its weights drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(in_features: usize, out_features: usize, rng: &mut R) -> Self {
        let weight = init::kaiming_uniform(&[out_features, in_features], in_features, rng);
        let bias = init::kaiming_uniform(&[out_features], in_features, rng);
        Self {
            in_features,
            out_features,
            weight: Parameter::new(weight),
            bias: Parameter::new(bias),
            input: None,
        }
    }
}

impl Layer for Dense {
    fn name(&self) -> &str {
        "Dense"
    }

    fn describe(&self) -> String {
        format!(
            "Dense(in_features={}, out_features={})",
            self.in_features, self.out_features
        )
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if input_shape != [self.in_features] {
            let hint = if input_shape.len() > 1 {
                "; put a Flatten before it"
            } else {
                ""
            };
            let expected = format!(
                "[{}] (in_features = {}{hint})",
                self.in_features, self.in_features
            );
            return Err(LayerError::shape(self.name(), expected, input_shape));
        }
        Ok(vec![self.out_features])
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.output_shape(per_sample(input.shape()))?;
        let x = input.into_dimensionality::<Ix2>().expect("checked rank");
        let x = x.as_standard_layout();
        let (n, fan_in, fan_out) = (x.nrows(), self.in_features, self.out_features);
        let xs = x.as_slice().expect("standard layout");
        let w = self
            .weight
            .value
            .as_slice()
            .expect("parameters are contiguous");
        let bias = self
            .bias
            .value
            .as_slice()
            .expect("parameters are contiguous");
        // y = x·Wᵀ + b: one dot product per output, rows of x and W both contiguous.
        // Chunks of SAMPLE_CHUNK rows in parallel; each element's sum never depends on them.
        let b_offsets: Vec<usize> = (0..fan_out).map(|j| j * fan_in).collect();
        let parallel = n * fan_in * fan_out >= PARALLEL_MACS;
        let (y, _) = build(n * fan_out, SAMPLE_CHUNK * fan_out, parallel, |chunk, y| {
            let rows = y.len() / fan_out;
            let a_offsets: Vec<usize> = (0..rows).map(|i| i * fan_in).collect();
            let a = &xs[chunk * SAMPLE_CHUNK * fan_in..];
            let segment = Segment { a, b: w };
            gemm::gemm_abt(
                fan_in,
                &[segment],
                &a_offsets,
                &b_offsets,
                y,
                fan_out,
                false,
                Some(bias),
            );
        });
        self.input = (mode == Mode::Train).then(|| x.into_owned());
        Ok(ArrayD::from_shape_vec(vec![n, fan_out], y).expect("sized above"))
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let x = self
            .input
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache(self.name()))?;
        check_grad_shape(
            self.name(),
            grad_output.shape(),
            x.nrows(),
            &[self.out_features],
        )?;
        let dy = grad_output
            .into_dimensionality::<Ix2>()
            .expect("checked shape");
        let dy = dy.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        let xs = x.as_slice().expect("cached input is contiguous");
        let (n, fan_in, fan_out) = (x.nrows(), self.in_features, self.out_features);
        let parallel = n * fan_in * fan_out >= PARALLEL_MACS;
        // dW += dYᵀ·x: rows of dW split between threads; each element sums over the batch in order.
        let grad_w = self
            .weight
            .grad
            .as_slice_mut()
            .expect("parameters are contiguous");
        gemm::gemm_par_rows(
            fan_out,
            fan_in,
            n,
            &Strided::new(dys, fan_out, n, 1, fan_out),
            &Strided::new(xs, n, fan_in, fan_in, 1),
            grad_w,
            fan_in,
            Init::Accumulate,
            if parallel { SAMPLE_CHUNK } else { fan_out },
        );
        let grad_b = self
            .bias
            .grad
            .as_slice_mut()
            .expect("parameters are contiguous");
        for row in dys.chunks_exact(fan_out) {
            grad_b.iter_mut().zip(row).for_each(|(g, d)| *g += d);
        }
        // dx = dY·W, chunks of SAMPLE_CHUNK rows in parallel.
        let w = self
            .weight
            .value
            .as_slice()
            .expect("parameters are contiguous");
        let (dx, _) = build(n * fan_in, SAMPLE_CHUNK * fan_in, parallel, |chunk, dx| {
            let rows = dx.len() / fan_in;
            let a = Strided::new(
                &dys[chunk * SAMPLE_CHUNK * fan_out..],
                rows,
                fan_out,
                fan_out,
                1,
            );
            let b = Strided::new(w, fan_out, fan_in, fan_in, 1);
            gemm::gemm(rows, fan_in, fan_out, &a, &b, dx, fan_in, Init::Overwrite);
        });
        Ok(ArrayD::from_shape_vec(vec![n, fan_in], dx).expect("sized above"))
    }

    fn parameters(&self) -> Vec<(String, &Parameter)> {
        vec![
            ("weight".to_string(), &self.weight),
            ("bias".to_string(), &self.bias),
        ]
    }

    fn parameters_mut(&mut self) -> Vec<(String, &mut Parameter)> {
        vec![
            ("weight".to_string(), &mut self.weight),
            ("bias".to_string(), &mut self.bias),
        ]
    }
}

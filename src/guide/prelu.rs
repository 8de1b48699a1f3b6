use scratchnet::prelude::*;

/// Parametric ReLU: `x` for `x > 0`, `a[c] · x` otherwise, with one learnable
/// slope `a[c]` per channel (axis 1 of the input), PyTorch's
/// `nn.PReLU(num_parameters=C)`. With `C = 1` one slope is shared by every element.
///
/// # Shapes
/// `[N, C, …]` → the same shape. Parameter `weight`: `[C]`, initially 0.25.
pub struct PReLU {
    weight: Parameter,
    /// The input of the last training forward: backward needs its sign and value.
    cache: Option<ArrayD<f32>>,
}

impl PReLU {
    /// `num_parameters` slopes (the input's channel count, or 1 for one shared slope).
    pub fn new(num_parameters: usize) -> Self {
        Self {
            // PyTorch initialises every slope to 0.25.
            weight: Parameter::new(ArrayD::from_elem(IxDyn(&[num_parameters]), 0.25)),
            cache: None,
        }
    }

    /// The slope's index for element `index` (`[n, c, …]`) of the input.
    fn channel(&self, index: &IxDyn) -> usize {
        if self.weight.len() == 1 {
            0
        } else {
            index[1]
        }
    }
}

impl Layer for PReLU {
    fn name(&self) -> &str {
        "PReLU"
    }

    fn describe(&self) -> String {
        format!("PReLU(num_parameters={})", self.weight.len())
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        let channels = self.weight.len();
        if channels != 1 && input_shape.first() != Some(&channels) {
            let expected = format!("[{channels}, …]");
            return Err(LayerError::shape(self.name(), expected, input_shape));
        }
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        // Shapes given to `output_shape` are per sample: the input without its batch axis.
        let Some(sample_shape) = input.shape().get(1..) else {
            return Err(LayerError::input(
                self.name(),
                "the input has no batch axis",
            ));
        };
        self.output_shape(sample_shape)?;
        let mut output = input.to_owned();
        for (index, y) in output.indexed_iter_mut() {
            if *y <= 0.0 {
                *y *= self.weight.value[[self.channel(&index)]];
            }
        }
        // Cache only for training: evaluation is never followed by backward.
        self.cache = (mode == Mode::Train).then(|| input.to_owned());
        Ok(output)
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::no_forward_cache("PReLU"))?;
        if grad_output.shape() != input.shape() {
            let reason = format!(
                "the gradient has the shape {:?}, but the last forward's output had {:?}",
                grad_output.shape(),
                input.shape()
            );
            return Err(LayerError::input(self.name(), reason));
        }
        let mut grad_input = grad_output.to_owned();
        for (index, g) in grad_input.indexed_iter_mut() {
            let x = input[&index];
            if x <= 0.0 {
                let c = self.channel(&index);
                self.weight.grad[[c]] += *g * x; // ∂y/∂a[c] = x: accumulate, never assign
                *g *= self.weight.value[[c]]; // ∂y/∂x = a[c]
            }
        }
        Ok(grad_input)
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.parameter("weight", &self.weight);
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.parameter("weight", &mut self.weight);
    }
}

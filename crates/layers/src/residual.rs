//! The `Residual` container: `y = body(x) + shortcut(x)`.

use crate::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Layer, LayerError, Mode, ReLU,
    Sequential, StateVisitor, StateVisitorMut, SummaryRow,
};
use ndarray::{ArrayD, ArrayViewD};
use ndarray_rand::rand::Rng;
use scratchnet_tensor::add;

/// The options of a [`Residual`] block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResidualConfig {
    /// Apply a ReLU after the addition, as torchvision's `BasicBlock` does. Default `false`.
    pub relu: bool,
}

/// A residual block, `y = body(x) + shortcut(x)` (then a ReLU if
/// [`ResidualConfig::relu`]): torchvision's `BasicBlock` with the body of your choice.
///
/// The shortcut is the identity, or — when the body changes the shape — a projection
/// `downsample`: a 1×1 [`Conv2d`] with no bias, then a [`BatchNorm2d`].
/// [`Residual::new`] picks it from the input shape and the body's output shape: the
/// projection's stride is the smallest that gives the body's output height and width.
/// For torchvision's bodies (3×3 convolutions with padding 1, the first of stride
/// `s`) that is the body's stride `s`; for a body that shrinks the image otherwise
/// (an unpadded 3×3 convolution of stride 2 takes 8×8 to 3×3, and a 1×1 convolution
/// needs stride 3 for that) it is not. [`Residual::projected`] takes the stride
/// you choose, and building the model checks that the two paths agree.
///
/// Checkpoint names are torchvision's: the body's children appear at the block's
/// level (`conv1.weight`, `bn1.running_mean`), the projection as `downsample.0.weight`
/// and `downsample.1.weight`.
///
/// # Shapes
/// `[N, C, H, W]` → the body's output `[N, C', H', W']`; the shortcut must give the same.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::*;
/// let mut rng = StdRng::seed_from_u64(0);
/// let conv = |i, o, s: usize, rng: &mut StdRng| {
///     let config = Conv2dConfig { stride: [s, s], padding: [1, 1], bias: false, ..Conv2dConfig::default() };
///     Conv2d::new(i, o, [3, 3], config, rng)
/// };
/// let body = Sequential::new()
///     .add("conv1", conv(4, 8, 2, &mut rng))
///     .add("bn1", BatchNorm2d::new(8, BatchNorm2dConfig::default()))
///     .add("relu", ReLU::new())
///     .add("conv2", conv(8, 8, 1, &mut rng))
///     .add("bn2", BatchNorm2d::new(8, BatchNorm2dConfig::default()));
/// let block = Residual::new(body, &[4, 6, 6], ResidualConfig { relu: true }, &mut rng)?;
/// assert_eq!(block.output_shape(&[4, 6, 6])?, [8, 3, 3]);
/// let names: Vec<String> = block.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[0], "conv1.weight");
/// assert!(names.contains(&"downsample.0.weight".to_string()));
/// # Ok::<(), LayerError>(())
/// ```
pub struct Residual {
    body: Sequential,
    downsample: Option<Sequential>,
    config: ResidualConfig,
    /// With `relu`: the ReLU after the sum (it keeps the mask its backward needs).
    relu: ReLU,
}

impl Residual {
    /// A block for per-sample input `input_shape` (`[C, H, W]`): an identity shortcut
    /// if the body keeps the shape, otherwise a projection: a 1×1 convolution with
    /// no bias, then batch norm. Its stride is the smallest `s` with
    /// `(H − 1) / s + 1 = H′` and `(W − 1) / s + 1 = W′` for the body's output
    /// `[C′, H′, W′]` — the body's stride for a padded body (see [`Residual`]); give
    /// it yourself with [`Residual::projected`].
    ///
    /// # Errors
    /// The body's shape error; a [`LayerError::Config`] if no 1×1 convolution of one
    /// stride turns the input's shape into the body's output shape, or if the block
    /// needs a projection and the body has a child named `downsample` (the
    /// projection's name in a checkpoint).
    pub fn new<R: Rng + ?Sized>(
        body: Sequential,
        input_shape: &[usize],
        config: ResidualConfig,
        rng: &mut R,
    ) -> Result<Self, LayerError> {
        let output_shape = body.output_shape(input_shape)?;
        if output_shape == input_shape {
            return Ok(Self::identity(body, config));
        }
        let (&[in_channels, height, width], &[out_channels, out_height, out_width]) =
            (input_shape, output_shape.as_slice())
        else {
            return Err(LayerError::config(
                "Residual",
                format!(
                    "the body turns {input_shape:?} into {output_shape:?}, and the projection shortcut that a shape-changing body needs takes [C, H, W] to [C′, H′, W′]: give the block an input and a body output of shape [C, H, W]"
                ),
            ));
        };
        check_no_downsample_child(&body)?;
        let fits = |stride: usize| {
            (height.max(1) - 1) / stride + 1 == out_height
                && (width.max(1) - 1) / stride + 1 == out_width
        };
        let Some(stride) = (1..=height.max(width).max(1)).find(|&s| fits(s)) else {
            return Err(LayerError::config(
                "Residual",
                format!(
                    "no 1×1 convolution of one stride turns {input_shape:?} into the body's output {output_shape:?}: change the body so that a single stride fits both axes"
                ),
            ));
        };
        Ok(Self::projected(
            body,
            in_channels,
            out_channels,
            stride,
            config,
            rng,
        ))
    }

    /// A block with the identity shortcut: the body must keep the shape.
    pub fn identity(body: Sequential, config: ResidualConfig) -> Self {
        Self {
            body,
            downsample: None,
            config,
            relu: ReLU::new(),
        }
    }

    /// A block with a projection shortcut `downsample`: a 1×1 convolution from
    /// `in_channels` to `out_channels` with `stride` and no bias (`downsample.0`),
    /// then batch norm (`downsample.1`), as torchvision's ResNet. Nothing is checked
    /// here: [`Layer::output_shape`] (so building a model) reports a projection whose
    /// output is not the body's, or a body child named `downsample`.
    pub fn projected<R: Rng + ?Sized>(
        body: Sequential,
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        config: ResidualConfig,
        rng: &mut R,
    ) -> Self {
        let conv = Conv2dConfig {
            stride: [stride, stride],
            bias: false,
            ..Conv2dConfig::default()
        };
        let downsample = Sequential::new()
            .add(
                "0",
                Conv2d::new(in_channels, out_channels, [1, 1], conv, rng),
            )
            .add(
                "1",
                BatchNorm2d::new(out_channels, BatchNorm2dConfig::default()),
            );
        Self {
            body,
            downsample: Some(downsample),
            config,
            relu: ReLU::new(),
        }
    }

    /// The body.
    pub fn body(&self) -> &Sequential {
        &self.body
    }

    /// The projection shortcut, if the shortcut is not the identity.
    pub fn downsample(&self) -> Option<&Sequential> {
        self.downsample.as_ref()
    }
}

impl Layer for Residual {
    fn name(&self) -> &str {
        "Residual"
    }

    fn describe(&self) -> String {
        let shortcut = if self.downsample.is_some() {
            "projection"
        } else {
            "identity"
        };
        let relu = if self.config.relu { ", relu" } else { "" };
        format!("Residual(shortcut={shortcut}{relu})")
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        if self.downsample.is_some() {
            check_no_downsample_child(&self.body)?;
        }
        let body = self.body.output_shape(input_shape)?;
        let (shortcut, which) = match &self.downsample {
            Some(downsample) => (
                downsample
                    .output_shape(input_shape)
                    .map_err(|e| e.within("downsample"))?,
                "downsample",
            ),
            None => (input_shape.to_vec(), "the identity"),
        };
        if body != shortcut {
            return Err(LayerError::config(
                "Residual",
                format!(
                    "for an input of {input_shape:?} per sample the body gives {body:?} but the shortcut ({which}) {shortcut:?}, and the two must agree to be added: build the block with Residual::new for this input shape, which adds a projection when the body changes the shape"
                ),
            ));
        }
        Ok(body)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        let mut output = self.body.forward(input.view(), mode)?;
        match &mut self.downsample {
            Some(downsample) => {
                let shortcut = downsample
                    .forward(input.view(), mode)
                    .map_err(|e| e.within("downsample"))?;
                add_into(&mut output, shortcut.view())?;
            }
            None => add_into(&mut output, input)?,
        }
        if self.config.relu {
            output = self
                .relu
                .forward(output.view(), mode)
                .map_err(|e| e.within("relu"))?;
        }
        Ok(output)
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let masked;
        let grad = if self.config.relu {
            masked = self
                .relu
                .backward(grad_output)
                .map_err(|e| e.within("relu"))?;
            masked.view()
        } else {
            grad_output
        };
        let mut grad_input = self.body.backward(grad.view())?;
        match &mut self.downsample {
            Some(downsample) => {
                let shortcut = downsample
                    .backward(grad.view())
                    .map_err(|e| e.within("downsample"))?;
                add_into(&mut grad_input, shortcut.view())?;
            }
            None => add_into(&mut grad_input, grad)?,
        }
        Ok(grad_input)
    }

    fn mixes_samples(&self) -> bool {
        self.body.mixes_samples() || self.downsample.as_ref().is_some_and(|d| d.mixes_samples())
    }

    fn summary_children(&self, input_shape: &[usize]) -> Result<Vec<SummaryRow>, LayerError> {
        let mut rows = self.body.summary_children(input_shape)?;
        if let Some(downsample) = &self.downsample {
            SummaryRow::child(&mut rows, "downsample", downsample, input_shape)?;
        }
        Ok(rows)
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        state.inline(&self.body);
        if let Some(downsample) = &self.downsample {
            state.child("downsample", downsample);
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        state.inline(&mut self.body);
        if let Some(downsample) = &mut self.downsample {
            state.child("downsample", downsample);
        }
    }
}

/// A [`LayerError::Config`] if `body` has a child named `downsample`: its state would
/// be named like the projection's (`downsample.0.weight`).
fn check_no_downsample_child(body: &Sequential) -> Result<(), LayerError> {
    if body.layers().any(|(name, _)| name == "downsample") {
        return Err(LayerError::config(
            "Residual",
            "the body has a child named \"downsample\", the name of the projection shortcut \
             (its state is downsample.0.weight, …): rename that child",
        ));
    }
    Ok(())
}

/// `total += addend`, or a config error if the two differ (a model not built).
fn add_into(total: &mut ArrayD<f32>, addend: ArrayViewD<f32>) -> Result<(), LayerError> {
    if total.shape() != addend.shape() {
        return Err(LayerError::config(
            "Residual",
            format!(
                "the body gives {:?} but the shortcut {:?}, and the two must agree to be added: build the block with Residual::new for this input shape",
                total.shape(),
                addend.shape()
            ),
        ));
    }
    add::add_assign(total, addend);
    Ok(())
}

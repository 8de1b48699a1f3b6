//! The `Sequential` container.

use crate::{contract, Layer, LayerError, Mode, StateVisitor, StateVisitorMut};
use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};
use std::fmt;

/// Layers applied one after another, each with a name, PyTorch's `nn.Sequential`
/// (with the names of an `OrderedDict`). It is itself a [`Layer`], so models nest.
///
/// Parameter names are `child.param` (`conv1.weight`), exactly as PyTorch's
/// `state_dict` names them, so checkpoints interoperate.
///
/// [`build`](Sequential::build) checks the whole chain against an input shape
/// once, so a wrong model fails when it is made, with an error naming the
/// layer, the shape it got and the shape it needs. A model that was never built
/// checks its names and state ([`contract::check_state`]) on its first `forward`,
/// so two children of one name are an error either way.
///
/// # Shapes
/// The first layer's input → the last layer's output.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::*;
/// let mut rng = StdRng::seed_from_u64(0);
/// let model = Sequential::new()
///     .add("conv1", Conv2d::new(1, 6, [5, 5], Conv2dConfig::default(), &mut rng))
///     .add("flatten", Flatten::new())
///     .add("fc1", Dense::new(256, 10, &mut rng)) // 6·24·24 = 3456, not 256
///     .build(&[1, 28, 28]);
/// let err = model.err().unwrap().to_string();
/// assert!(err.contains("fc1 (Dense)") && err.contains("3456"), "{err}");
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<(String, Box<dyn Layer>)>,
    input_shape: Option<Vec<usize>>,
    /// Whether the children's names and state were checked since the last `push`.
    state_checked: bool,
    /// Each child's input shape (`[N, …]`) in the last forward, in order: what its
    /// backward's input gradient must have ([`contract::check_input_gradient_shape`]).
    input_shapes: Vec<IxDyn>,
}

impl Sequential {
    /// An empty container (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `layer` under `name` (builder style).
    pub fn add(mut self, name: impl Into<String>, layer: impl Layer + 'static) -> Self {
        self.push(name, Box::new(layer));
        self
    }

    /// Appends an already boxed layer under `name`.
    pub fn push(&mut self, name: impl Into<String>, layer: Box<dyn Layer>) {
        self.layers.push((name.into(), layer));
        self.input_shape = None;
        self.state_checked = false;
    }

    /// Checks the names (non-empty, unique, without `.`), every layer's
    /// shape for per-sample input `input_shape` and every layer's state
    /// ([`contract::check_state`]: one name per tensor, the two visitors agreeing),
    /// and remembers that shape.
    ///
    /// # Errors
    /// The first layer that cannot take what the layer before it produces,
    /// as a [`LayerError`] naming it (`"fc1 (Dense)"`), or a
    /// [`LayerError::Contract`] for state named twice or visited differently.
    pub fn build(mut self, input_shape: &[usize]) -> Result<Self, LayerError> {
        self.output_shape(input_shape)?;
        self.check_state_once()?;
        self.input_shape = Some(input_shape.to_vec());
        Ok(self)
    }

    /// The checks of `build` that need no input shape — the children's names and
    /// [`contract::check_state`] — unless they passed since the last `push`.
    fn check_state_once(&mut self) -> Result<(), LayerError> {
        if !self.state_checked {
            self.check_names()?;
            contract::check_state(self)?;
            self.state_checked = true;
        }
        Ok(())
    }

    /// The per-sample input shape given to [`build`](Sequential::build), if built.
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.input_shape.as_deref()
    }

    /// The children with their names, in order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Layer)> {
        self.layers
            .iter()
            .map(|(name, layer)| (name.as_str(), layer.as_ref()))
    }

    /// The children, mutably.
    pub fn layers_mut(&mut self) -> impl Iterator<Item = (&str, &mut (dyn Layer + 'static))> {
        self.layers
            .iter_mut()
            .map(|(name, layer)| (name.as_str(), layer.as_mut()))
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if there are no children.
    ///
    /// ```
    /// use scratchnet_layers::{ReLU, Sequential};
    /// assert!(Sequential::new().is_empty());
    /// assert!(!Sequential::new().add("relu", ReLU::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// A table of every child's name, type, per-sample output shape and
    /// parameter count, with the total, for the shape given to `build`.
    ///
    /// # Errors
    /// If the model was not built (its input shape is unknown).
    pub fn summary(&self) -> Result<Summary, LayerError> {
        let input_shape = self.input_shape.clone().ok_or_else(|| {
            LayerError::config(
                "Sequential",
                "summary needs the input shape: call build(&input_shape) first",
            )
        })?;
        let rows = self.summary_children(&input_shape)?;
        Ok(Summary { input_shape, rows })
    }

    fn check_names(&self) -> Result<(), LayerError> {
        for (i, (name, _)) in self.layers.iter().enumerate() {
            if name.is_empty() || name.contains('.') {
                return Err(LayerError::config("Sequential", format!("layer {i} has the name {name:?}: names must be non-empty and contain no '.'")));
            }
            if self.layers[..i].iter().any(|(other, _)| other == name) {
                return Err(LayerError::config(
                    "Sequential",
                    format!("two layers are named {name:?}: names must be unique"),
                ));
            }
        }
        Ok(())
    }
}

/// The forward of the child `name`, checked against the shape its `output_shape`
/// promises (and the input's batch size), so that a layer of your own that breaks
/// its promise is named here rather than in the error of the layer after it.
/// Appends the input's shape to `input_shapes`, for the check of its backward.
fn forward_child(
    name: &str,
    layer: &mut dyn Layer,
    input: ArrayViewD<f32>,
    mode: Mode,
    input_shapes: &mut Vec<IxDyn>,
) -> Result<ArrayD<f32>, LayerError> {
    // (`IxDyn` keeps up to four axes inline: no allocation per forward.)
    let input_shape = input.raw_dim();
    let output = layer.forward(input, mode).map_err(|e| e.within(name))?;
    contract::check_output_shape(layer, input_shape.slice(), &output)
        .map_err(|e| e.within(name))?;
    input_shapes.push(input_shape);
    Ok(output)
}

/// `error`, a child's refusal of the model's input of `input_shape`, with a hint if
/// that is the shape one sample has in a model built for `built` (`[3, 8, 8]` for
/// `[3, 8, 8]`): the batch axis is missing.
fn hint_missing_batch_axis(
    error: LayerError,
    input_shape: &[usize],
    built: Option<&[usize]>,
) -> LayerError {
    if built != Some(input_shape) {
        return error;
    }
    let batch_of_one: Vec<usize> = std::iter::once(1)
        .chain(input_shape.iter().copied())
        .collect();
    LayerError::input(
        "Sequential",
        format!(
            "the input has the shape {input_shape:?}, the shape of one sample without the batch axis: \
             a single sample needs the shape {batch_of_one:?} ({error})"
        ),
    )
}

/// Backward through `layers`, last to first; `None` (nothing to do) if there are none.
/// Each input gradient must have the shape of that child's input in the forward,
/// `input_shapes` (checked if the forward recorded every child's), so that a layer
/// of your own returning another shape is named here, not the layer below it.
fn backward_through(
    layers: &mut [(String, Box<dyn Layer>)],
    input_shapes: &[IxDyn],
    grad_output: ArrayViewD<f32>,
) -> Result<Option<ArrayD<f32>>, LayerError> {
    let recorded = input_shapes.len() == layers.len();
    let mut grad: Option<ArrayD<f32>> = None;
    for (i, (name, layer)) in layers.iter_mut().enumerate().rev() {
        let dy = grad.as_ref().map_or(grad_output.view(), |g| g.view());
        let dx = layer.backward(dy).map_err(|e| e.within(name))?;
        if recorded {
            contract::check_input_gradient_shape(layer.as_ref(), input_shapes[i].slice(), &dx)
                .map_err(|e| e.within(name))?;
        }
        grad = Some(dx);
    }
    Ok(grad)
}

impl Layer for Sequential {
    fn name(&self) -> &str {
        "Sequential"
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.check_names()?;
        let mut shape = input_shape.to_vec();
        for (name, layer) in &self.layers {
            shape = layer.output_shape(&shape).map_err(|e| e.within(name))?;
        }
        Ok(shape)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.check_state_once()?;
        // (`IxDyn` keeps up to four axes inline: no allocation per forward.)
        let input_shape = input.raw_dim();
        let built = self.input_shape.as_deref();
        let hint = |e| hint_missing_batch_axis(e, input_shape.slice(), built);
        let shapes = &mut self.input_shapes;
        shapes.clear();
        let mut layers = self.layers.iter_mut();
        let Some((name, first)) = layers.next() else {
            return Ok(input.to_owned());
        };
        let mut x = forward_child(name, first.as_mut(), input, mode, shapes).map_err(hint)?;
        for (name, layer) in layers {
            x = forward_child(name, layer.as_mut(), x.view(), mode, shapes).map_err(hint)?;
        }
        Ok(x)
    }

    fn forward_visiting(
        &mut self,
        input: ArrayViewD<f32>,
        mode: Mode,
        visit: &mut dyn FnMut(&str, ArrayViewD<f32>),
    ) -> Result<ArrayD<f32>, LayerError> {
        self.check_state_once()?;
        self.input_shapes.clear();
        let mut x = input.to_owned();
        for (name, layer) in &mut self.layers {
            x = forward_child(name, layer.as_mut(), x.view(), mode, &mut self.input_shapes)?;
            visit(name, x.view());
        }
        Ok(x)
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let grad = backward_through(&mut self.layers, &self.input_shapes, grad_output.view())?;
        Ok(grad.unwrap_or_else(|| grad_output.to_owned()))
    }

    fn backward_parameters(&mut self, grad_output: ArrayViewD<f32>) -> Result<(), LayerError> {
        let Some(((first_name, first), rest)) = self.layers.split_first_mut() else {
            return Ok(());
        };
        let shapes = self.input_shapes.get(1..).unwrap_or(&[]);
        let grad = backward_through(rest, shapes, grad_output.view())?;
        let dy = grad.as_ref().map_or(grad_output, |g| g.view());
        first
            .backward_parameters(dy)
            .map_err(|e| e.within(first_name))
    }

    fn summary_children(&self, input_shape: &[usize]) -> Result<Vec<SummaryRow>, LayerError> {
        let mut shape = input_shape.to_vec();
        let mut rows = Vec::with_capacity(self.layers.len());
        for (name, layer) in &self.layers {
            shape = SummaryRow::child(&mut rows, name, layer.as_ref(), &shape)?;
        }
        Ok(rows)
    }

    fn mixes_samples(&self) -> bool {
        self.layers.iter().any(|(_, layer)| layer.mixes_samples())
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        for (name, layer) in &self.layers {
            state.child(name, layer.as_ref());
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        for (name, layer) in &mut self.layers {
            state.child(name, layer.as_mut());
        }
    }
}

/// One row of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// How deep the layer is nested: 0 for the model's own children, 1 for their
    /// children (a residual block's `conv1`), …; printed as indentation.
    pub depth: usize,
    /// The child's name (`conv1`).
    pub name: String,
    /// Its description (`Conv2d(1, 6, kernel_size=[5, 5])`).
    pub layer: String,
    /// Its per-sample output shape.
    pub output_shape: Vec<usize>,
    /// Its number of trainable scalars.
    pub parameters: usize,
}

impl SummaryRow {
    /// Appends to `rows` the row of child `layer` named `name`, taking per-sample
    /// `input_shape`, followed by its own children's rows one level deeper
    /// ([`Layer::summary_children`]); returns the child's output shape. What a
    /// container's `summary_children` calls for each child.
    ///
    /// # Errors
    /// The child's shape error, naming it.
    pub fn child(
        rows: &mut Vec<SummaryRow>,
        name: &str,
        layer: &dyn Layer,
        input_shape: &[usize],
    ) -> Result<Vec<usize>, LayerError> {
        let output_shape = layer
            .output_shape(input_shape)
            .map_err(|e| e.within(name))?;
        rows.push(SummaryRow {
            depth: 0,
            name: name.to_string(),
            layer: layer.describe(),
            output_shape: output_shape.clone(),
            parameters: layer.num_parameters(),
        });
        let nested = layer
            .summary_children(input_shape)
            .map_err(|e| e.within(name))?;
        rows.extend(nested.into_iter().map(|row| SummaryRow {
            depth: row.depth + 1,
            ..row
        }));
        Ok(output_shape)
    }
}

/// A model summary table; `Display` prints it, like Keras's `summary()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The per-sample input shape.
    pub input_shape: Vec<usize>,
    /// One row per child, each container's children after it, one level deeper.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Total number of trainable scalars (of the top-level rows: a container's row
    /// already counts its children).
    pub fn total_parameters(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.depth == 0)
            .map(|r| r.parameters)
            .sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = |s: &[usize]| format!("{s:?}");
        let name_w = self
            .rows
            .iter()
            .map(|r| 2 * r.depth + r.name.chars().count() + r.layer.chars().count() + 3)
            .max()
            .unwrap_or(0)
            .max(5);
        let shape_w = self
            .rows
            .iter()
            .map(|r| shape(&r.output_shape).len())
            .max()
            .unwrap_or(0)
            .max(12);
        let rule = "-".repeat(name_w + shape_w + 16);
        writeln!(
            f,
            "{:<name_w$}  {:<shape_w$}  {:>12}",
            "layer", "output shape", "parameters"
        )?;
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{:<name_w$}  {:<shape_w$}  {:>12}",
            "input",
            shape(&self.input_shape),
            ""
        )?;
        for r in &self.rows {
            let label = format!("{}{} ({})", "  ".repeat(r.depth), r.name, r.layer);
            writeln!(
                f,
                "{label:<name_w$}  {:<shape_w$}  {:>12}",
                shape(&r.output_shape),
                group_thousands(r.parameters)
            )?;
        }
        writeln!(f, "{rule}")?;
        write!(
            f,
            "{:<name_w$}  {:<shape_w$}  {:>12}",
            "total",
            "",
            group_thousands(self.total_parameters())
        )
    }
}

/// A count with commas between groups of three digits, as the [`Summary`] prints
/// parameter counts (and the training programs print image counts and rates):
/// `61706` → `"61,706"`.
///
/// ```
/// assert_eq!(scratchnet_layers::group_thousands(1_234_567), "1,234,567");
/// assert_eq!(scratchnet_layers::group_thousands(999), "999");
/// ```
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

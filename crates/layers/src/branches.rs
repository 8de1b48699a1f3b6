//! The `Branches` container: parallel branches on one input, added or concatenated.

use crate::{contract, Layer, LayerError, Mode, StateVisitor, StateVisitorMut, SummaryRow};
use ndarray::{concatenate, ArrayD, ArrayViewD, Axis, Dimension, IxDyn, Slice};

/// How [`Branches`] combines its branches' outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Combine {
    /// Element-wise sum: every branch gives the same shape. The default.
    #[default]
    Add,
    /// Concatenation along the channel axis (axis 1 of `[N, C, …]`, `torch.cat(dim=1)`):
    /// the branches agree on every other axis.
    Concat,
}

/// Parallel branches that all take the same input, their outputs added or
/// concatenated along the channel axis ([`Combine`]): an Inception block's
/// `torch.cat([b(x) for b in branches], dim=1)`, or a sum of paths. It is a
/// [`Layer`], so it nests in a [`Sequential`](crate::Sequential) and in other
/// containers.
///
/// State names are `branch.…` (`left.weight`), as an `nn.ModuleDict` names them.
///
/// # Shapes
/// `[N, …]` → with [`Combine::Add`], the branches' common output shape; with
/// [`Combine::Concat`], `[N, C₁ + C₂ + …, …]`.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::*;
/// let mut rng = StdRng::seed_from_u64(0);
/// let same = Conv2dConfig { padding: [1, 1], ..Conv2dConfig::default() };
/// let block = Branches::new(Combine::Concat)
///     .add("a", Conv2d::new(3, 4, [1, 1], Conv2dConfig::default(), &mut rng))
///     .add("b", Conv2d::new(3, 2, [3, 3], same, &mut rng));
/// assert_eq!(block.output_shape(&[3, 8, 8])?, [6, 8, 8]);
/// let unpadded = Branches::new(Combine::Add)
///     .add("a", Conv2d::new(3, 4, [1, 1], Conv2dConfig::default(), &mut rng))
///     .add("b", Conv2d::new(3, 4, [3, 3], Conv2dConfig::default(), &mut rng));
/// let err = unpadded.output_shape(&[3, 8, 8]).unwrap_err().to_string();
/// assert!(err.contains("b (Conv2d)") && err.contains("[4, 6, 6]") && err.contains("[4, 8, 8]"), "{err}");
/// # Ok::<(), LayerError>(())
/// ```
#[derive(Default)]
pub struct Branches {
    branches: Vec<(String, Box<dyn Layer>)>,
    combine: Combine,
    /// With `Concat`: each branch's channel count in the last training forward.
    channels: Option<Vec<usize>>,
    /// The input's shape (`[N, …]`) in the last forward: what each branch's input
    /// gradient must have ([`contract::check_input_gradient_shape`]).
    input_shape: Option<IxDyn>,
}

impl Branches {
    /// No branches yet, combined by `combine`.
    pub fn new(combine: Combine) -> Self {
        Self {
            combine,
            ..Self::default()
        }
    }

    /// Adds branch `layer` under `name` (builder style).
    pub fn add(mut self, name: impl Into<String>, layer: impl Layer + 'static) -> Self {
        self.push(name, Box::new(layer));
        self
    }

    /// Adds an already boxed branch under `name`.
    pub fn push(&mut self, name: impl Into<String>, layer: Box<dyn Layer>) {
        self.branches.push((name.into(), layer));
    }

    /// The branches with their names, in order.
    pub fn branches(&self) -> impl Iterator<Item = (&str, &dyn Layer)> {
        self.branches
            .iter()
            .map(|(name, layer)| (name.as_str(), layer.as_ref()))
    }

    fn check_names(&self) -> Result<(), LayerError> {
        if self.branches.is_empty() {
            return Err(LayerError::config(
                "Branches",
                "there are no branches: add at least one with .add(name, layer)",
            ));
        }
        for (i, (name, _)) in self.branches.iter().enumerate() {
            if name.is_empty() || name.contains('.') {
                return Err(LayerError::config("Branches", format!("branch {i} has the name {name:?}: names must be non-empty and contain no '.'")));
            }
            if self.branches[..i].iter().any(|(other, _)| other == name) {
                return Err(LayerError::config(
                    "Branches",
                    format!("two branches are named {name:?}: names must be unique"),
                ));
            }
        }
        Ok(())
    }
}

impl Layer for Branches {
    fn name(&self) -> &str {
        "Branches"
    }

    fn describe(&self) -> String {
        format!("Branches(combine={:?})", self.combine)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>, LayerError> {
        self.check_names()?;
        let mut combined: Option<(String, Vec<usize>)> = None;
        for (name, layer) in &self.branches {
            let shape = layer
                .output_shape(input_shape)
                .map_err(|e| e.within(name))?;
            let Some((first, total)) = &mut combined else {
                if self.combine == Combine::Concat && shape.is_empty() {
                    return Err(LayerError::config(
                        &format!("{name} ({})", layer.name()),
                        format!(
                            "for an input of {input_shape:?} per sample its output is a scalar, which has no channel axis to concatenate along"
                        ),
                    ));
                }
                combined = Some((name.clone(), shape));
                continue;
            };
            let fits = match self.combine {
                Combine::Add => shape == *total,
                Combine::Concat => !shape.is_empty() && shape[1..] == total[1..],
            };
            if !fits {
                let rule = match self.combine {
                    Combine::Add => "the same output shape as",
                    Combine::Concat => "outputs that differ only in channels from",
                };
                let want = match self.combine {
                    Combine::Add => format!("{total:?}"),
                    Combine::Concat => format!(
                        "[C, {}]",
                        format!("{:?}", &total[1..]).trim_matches(['[', ']'])
                    ),
                };
                return Err(LayerError::Config {
                    layer: format!("{name} ({})", layer.name()),
                    reason: format!("gives {shape:?} for input {input_shape:?}, but the branches are combined by {:?} and need {rule} branch {first:?}, {want}", self.combine),
                });
            }
            if self.combine == Combine::Concat {
                total[0] += shape[0];
            }
        }
        Ok(combined.expect("checked: at least one branch").1)
    }

    fn forward(&mut self, input: ArrayViewD<f32>, mode: Mode) -> Result<ArrayD<f32>, LayerError> {
        self.check_names()?;
        self.input_shape = Some(input.raw_dim());
        let mut outputs = Vec::with_capacity(self.branches.len());
        for (name, layer) in &mut self.branches {
            outputs.push(
                layer
                    .forward(input.view(), mode)
                    .map_err(|e| e.within(name))?,
            );
        }
        self.channels = None;
        let mismatch = |outputs: &[ArrayD<f32>]| {
            LayerError::config(
                "Branches",
                format!(
                    "the branches' outputs {:?} cannot be combined by {:?}: build the model to see which branch",
                    outputs.iter().map(|o| o.shape().to_vec()).collect::<Vec<_>>(),
                    self.combine
                ),
            )
        };
        match self.combine {
            Combine::Add => {
                let mut outputs = outputs.into_iter();
                let mut total = outputs.next().expect("checked: at least one branch");
                for output in outputs {
                    if output.shape() != total.shape() {
                        return Err(mismatch(&[total, output]));
                    }
                    total += &output;
                }
                Ok(total)
            }
            Combine::Concat => {
                if outputs.iter().any(|o| o.ndim() < 2) {
                    return Err(mismatch(&outputs));
                }
                let views: Vec<_> = outputs.iter().map(|o| o.view()).collect();
                let total = concatenate(Axis(1), &views).map_err(|_| mismatch(&outputs))?;
                if mode == Mode::Train {
                    self.channels = Some(outputs.iter().map(|o| o.shape()[1]).collect());
                }
                Ok(total)
            }
        }
    }

    fn backward(&mut self, grad_output: ArrayViewD<f32>) -> Result<ArrayD<f32>, LayerError> {
        let input_shape = self.input_shape.clone();
        let mut grad_input: Option<ArrayD<f32>> = None;
        let mut add = |name: &str, layer: &dyn Layer, grad: ArrayD<f32>| {
            if let Some(shape) = &input_shape {
                contract::check_input_gradient_shape(layer, shape.slice(), &grad)
                    .map_err(|e| e.within(name))?;
            }
            match &mut grad_input {
                None => grad_input = Some(grad),
                Some(total) if total.shape() == grad.shape() => *total += &grad,
                Some(total) => {
                    return Err(LayerError::contract(
                        "Branches",
                        format!(
                            "the branches' input gradients differ in shape, {:?} and {:?}: each must have the shape of the input",
                            total.shape(),
                            grad.shape()
                        ),
                    ))
                }
            }
            Ok(())
        };
        match self.combine {
            Combine::Add => {
                for (name, layer) in &mut self.branches {
                    let grad = layer
                        .backward(grad_output.view())
                        .map_err(|e| e.within(name))?;
                    add(name, layer.as_ref(), grad)?;
                }
            }
            Combine::Concat => {
                let channels = self
                    .channels
                    .as_ref()
                    .ok_or_else(|| LayerError::no_forward_cache("Branches"))?;
                let total: usize = channels.iter().sum();
                if grad_output.ndim() < 2 || grad_output.shape()[1] != total {
                    return Err(LayerError::input(
                        "Branches",
                        format!(
                            "the gradient of this layer's output has the shape {:?}, but the output had {total} channels (axis 1): the gradient must have the output's shape",
                            grad_output.shape()
                        ),
                    ));
                }
                let mut start = 0;
                for ((name, layer), &c) in self.branches.iter_mut().zip(channels) {
                    let part = grad_output.slice_axis(Axis(1), Slice::from(start..start + c));
                    start += c;
                    let grad = layer.backward(part).map_err(|e| e.within(name))?;
                    add(name, layer.as_ref(), grad)?;
                }
            }
        }
        grad_input.ok_or_else(|| LayerError::no_forward_cache("Branches"))
    }

    fn mixes_samples(&self) -> bool {
        self.branches.iter().any(|(_, layer)| layer.mixes_samples())
    }

    fn summary_children(&self, input_shape: &[usize]) -> Result<Vec<SummaryRow>, LayerError> {
        let mut rows = Vec::with_capacity(self.branches.len());
        for (name, layer) in &self.branches {
            SummaryRow::child(&mut rows, name, layer.as_ref(), input_shape)?;
        }
        Ok(rows)
    }

    fn visit_state<'a>(&'a self, state: &mut StateVisitor<'a, '_>) {
        for (name, layer) in &self.branches {
            state.child(name, layer.as_ref());
        }
    }

    fn visit_state_mut<'a>(&'a mut self, state: &mut StateVisitorMut<'a, '_>) {
        for (name, layer) in &mut self.branches {
            state.child(name, layer.as_mut());
        }
    }
}

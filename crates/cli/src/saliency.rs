//! [`saliency`]: which input pixels the predicted class's score is most sensitive to,
//! from the model's own backward pass (the "vanilla gradient" saliency map).

use ndarray::{Array2, Array4, ArrayD, ArrayView4, ArrayViewD, Axis, Ix2, Ix4};
use scratchnet_layers::{Layer, Mode, Sequential, StateMut, StateRef};
use scratchnet_train::TrainError;

/// The saliency map of one image and the prediction it explains.
#[derive(Clone, Debug, PartialEq)]
pub struct Saliency {
    /// The predicted class: the arg-max of the logits (the first one on a tie).
    pub class: usize,
    /// The model's logits for the image, in `Mode::Eval`, `[K]`.
    pub logits: Vec<f32>,
    /// ∂ logit\[class\] / ∂ input, the input's shape `[1, C, H, W]`.
    pub gradient: Array4<f32>,
    /// The map `[H, W]`, from 0 to 1: see [`saliency_map`].
    pub map: Array2<f32>,
}

/// The saliency map of `image` (`[1, C, H, W]`, normalised as the model's training data)
/// for the class `model` predicts: [`class_score_gradient`] of that class, reduced by
/// [`saliency_map`]. This is the "vanilla gradient" of Simonyan, Vedaldi and Zisserman,
/// *Deep Inside Convolutional Networks* (2013), §3:
///
/// `M[i, j] = max_c |∂S_k/∂x[c, i, j]|`, then `M / max(M)`,
///
/// where `S_k` is the score (logit, before the softmax) of the predicted class `k`. A
/// bright pixel is one where a small change of the input changes the class's score
/// most: for a digit, its strokes.
///
/// PyTorch equivalent: `x.requires_grad_(); model.eval(); model(x)[0, k].backward();
/// x.grad.abs().amax(1)`.
///
/// # Errors
/// As [`class_score_gradient`].
pub fn saliency(model: &mut Sequential, image: ArrayView4<f32>) -> Result<Saliency, TrainError> {
    let logits = model
        .forward(image.into_dyn(), Mode::Eval)?
        .into_dimensionality::<Ix2>()
        .map_err(|e| TrainError::config(format!("the model does not output [N, K] logits: {e}")))?;
    let logits: Vec<f32> = logits.iter().copied().collect();
    let class = (0..logits.len())
        .reduce(|best, k| if logits[k] > logits[best] { k } else { best })
        .ok_or_else(|| TrainError::config("the model outputs no class scores"))?;
    let gradient = class_score_gradient(model, image, class)?;
    let map = saliency_map(gradient.view());
    Ok(Saliency {
        class,
        logits,
        gradient,
        map,
    })
}

/// ∂ logit\[`class`\] / ∂ input for one `image` `[1, C, H, W]`, as the model computes
/// in `Mode::Eval` (running statistics of batch norm, no dropout): a forward that keeps
/// what backward needs, then the model's backward of the one-hot gradient
/// `e_class` (`[1, K]`), child by child. The gradients this adds to the model's
/// parameters are cleared afterwards (`zero_grad`), and its buffers and counters are
/// left as they were: the model predicts exactly as before.
///
/// Each child is forwarded so that its backward follows the evaluation function: in
/// `Mode::Train` when that computes the same output as `Mode::Eval` (convolution,
/// ReLU, pooling, linear layers: `Mode::Train` only keeps the cache), with its buffers
/// and counters restored after; otherwise (batch norm, dropout) in `Mode::Eval`, after
/// which a child whose output is its input (dropout) passes the gradient through, and
/// any other (batch norm keeps its cache in `Mode::Eval`) runs its backward.
///
/// # Errors
/// [`TrainError::Config`] if `image` is not one image, the model does not output
/// `[1, K]` logits or `class` is not below `K`; a layer's error (naming it) if one
/// cannot take the input or go back.
pub fn class_score_gradient(
    model: &mut Sequential,
    image: ArrayView4<f32>,
    class: usize,
) -> Result<Array4<f32>, TrainError> {
    if image.shape()[0] != 1 {
        return Err(TrainError::config(format!(
            "a saliency map is for one image [1, C, H, W], not {:?}",
            image.shape()
        )));
    }
    let (logits, passes) = forward_for_backward(model, image.into_dyn())?;
    let classes = match logits.shape() {
        [1, k] => *k,
        other => {
            return Err(TrainError::config(format!(
                "the model outputs {other:?}, not the [1, K] logits of one image"
            )))
        }
    };
    if class >= classes {
        return Err(TrainError::config(format!(
            "class {class} is not one of the model's {classes} classes"
        )));
    }
    let mut grad = ArrayD::zeros(logits.raw_dim());
    grad[[0, class]] = 1.0;
    let backward = backward_through(model, &passes, grad);
    model.zero_grad();
    backward?
        .into_dimensionality::<Ix4>()
        .map_err(|e| TrainError::config(format!("the input gradient is not [1, C, H, W]: {e}")))
}

/// The saliency map of an input gradient `[1, C, H, W]`: the largest `|gradient|` over
/// the channels at each pixel, divided by the largest of all, so that it goes from 0 to
/// 1 (all 0 if the gradient is 0 everywhere; a non-finite gradient counts as 0).
/// `[H, W]`.
pub fn saliency_map(gradient: ArrayView4<f32>) -> Array2<f32> {
    let image = gradient.index_axis(Axis(0), 0);
    let magnitude = |g: f32| if g.is_finite() { g.abs() } else { 0.0 };
    let mut map = image
        .map(|&g| magnitude(g))
        .fold_axis(Axis(0), 0.0f32, |&a, &b| a.max(b));
    let top = map.fold(0.0f32, |a, &b| a.max(b));
    if top > 0.0 {
        map.mapv_inplace(|m| m / top);
    }
    map
}

/// How backward goes through one child after [`forward_for_backward`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pass {
    /// The child's own backward.
    Backward,
    /// The gradient unchanged: the child's evaluation output is its input.
    Identity,
}

/// The model's `Mode::Eval` output for `input`, with each child left ready for a
/// backward of that function (see [`class_score_gradient`]).
fn forward_for_backward(
    model: &mut Sequential,
    input: ArrayViewD<f32>,
) -> Result<(ArrayD<f32>, Vec<Pass>), TrainError> {
    let mut x = input.to_owned();
    let mut passes = Vec::with_capacity(model.len());
    for (name, child) in model.layers_mut() {
        let (y, pass) = eval_forward_keeping_cache(child, x.view()).map_err(|e| e.within(name))?;
        passes.push(pass);
        x = y;
    }
    Ok((x, passes))
}

/// One child's `Mode::Eval` output, forwarded so that its backward follows it.
fn eval_forward_keeping_cache(
    child: &mut dyn Layer,
    x: ArrayViewD<f32>,
) -> Result<(ArrayD<f32>, Pass), scratchnet_layers::LayerError> {
    let eval = child.forward(x.view(), Mode::Eval)?;
    let saved = buffers_and_counters(child);
    let train = child.forward(x.view(), Mode::Train);
    restore(child, saved);
    if train.is_ok_and(|train| same_values(train.view(), eval.view())) {
        return Ok((eval, Pass::Backward));
    }
    let eval = child.forward(x.view(), Mode::Eval)?;
    let pass = if eval == x {
        Pass::Identity
    } else {
        Pass::Backward
    };
    Ok((eval, pass))
}

/// Backward of `grad` (∂score/∂output) through the children, last to first.
fn backward_through(
    model: &mut Sequential,
    passes: &[Pass],
    mut grad: ArrayD<f32>,
) -> Result<ArrayD<f32>, TrainError> {
    let children: Vec<_> = model.layers_mut().collect();
    for ((name, child), pass) in children.into_iter().zip(passes).rev() {
        if *pass == Pass::Backward {
            grad = child.backward(grad.view()).map_err(|e| e.within(name))?;
        }
    }
    Ok(grad)
}

/// Equal up to float rounding: `|a − b| ≤ 1e-5 · (1 + max |b|)` everywhere.
fn same_values(a: ArrayViewD<f32>, b: ArrayViewD<f32>) -> bool {
    let scale = 1.0 + b.fold(0.0f32, |m, &v| m.max(v.abs()));
    a.shape() == b.shape()
        && a.iter()
            .zip(&b)
            .all(|(&a, &b)| (a - b).abs() <= 1e-5 * scale)
}

/// A copy of a layer's buffers and counters, which a forward may change.
enum Saved {
    Buffer(ArrayD<f32>),
    Counter(u64),
    Parameter,
}

fn buffers_and_counters(layer: &dyn Layer) -> Vec<Saved> {
    layer
        .state()
        .into_iter()
        .map(|(_, entry)| match entry {
            StateRef::Buffer(b) => Saved::Buffer(b.clone()),
            StateRef::Counter(c) => Saved::Counter(c),
            StateRef::Parameter(_) => Saved::Parameter,
        })
        .collect()
}

fn restore(layer: &mut dyn Layer, saved: Vec<Saved>) {
    for ((_, entry), saved) in layer.state_mut().into_iter().zip(saved) {
        match (entry, saved) {
            (StateMut::Buffer(b), Saved::Buffer(value)) => *b = value,
            (StateMut::Counter(c), Saved::Counter(value)) => *c = value,
            _ => {}
        }
    }
}

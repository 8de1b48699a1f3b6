//! The checks that a data-parallel replica is the model being trained: the same
//! parameters (names and shapes) at every batch, and the same network (the same
//! outputs for the same weights and input) on the first.

use crate::TrainError;
use ndarray::{ArrayD, ArrayViewD};
use scratchnet_layers::{Layer, LayerError, Mode};

/// A model's parameters, in order: each one's name and value.
pub(crate) type NamedWeights<'a> = [(String, &'a ArrayD<f32>)];

/// `model`'s parameters by name, their values borrowed.
pub(crate) fn named_weights(model: &dyn Layer) -> Vec<(String, &ArrayD<f32>)> {
    (model.parameters().into_iter())
        .map(|(name, p)| (name, &p.value))
        .collect()
}

/// A [`LayerError::Contract`] unless `replica`'s parameters have the names and shapes
/// of `model`'s (`weights`), in the same order: a layer that creates or reshapes a
/// parameter after it was built (in its first forward, as PyTorch's `LazyLinear`)
/// would otherwise have its gradients and weights paired with another parameter's.
pub(crate) fn check_same_parameters(
    weights: &NamedWeights<'_>,
    replica: &dyn Layer,
) -> Result<(), TrainError> {
    let replica_params = replica.parameters();
    for i in 0..weights.len().max(replica_params.len()) {
        let on_model = weights.get(i).map(|(name, w)| (name.as_str(), w.shape()));
        let on_replica = (replica_params.get(i)).map(|(name, p)| (name.as_str(), p.value.shape()));
        let (name, what) = match (on_model, on_replica) {
            (a, b) if a == b => continue,
            (Some((name, shape)), _) => {
                let replica_has = match replica_params.iter().find(|(n, _)| n == name) {
                    Some((_, p)) => format!("has it as {:?}", p.value.shape()),
                    None => "does not have it".to_string(),
                };
                let what = format!(
                    "the model being trained has {name} {shape:?}, a replica {replica_has}"
                );
                (name, what)
            }
            (None, Some((name, shape))) => {
                let what =
                    format!("a replica has {name} {shape:?}, the model being trained does not");
                (name, what)
            }
            (None, None) => continue,
        };
        let layer = name.rsplit_once('.').map_or(name, |(layer, _)| layer);
        let reason = format!(
            "its parameters changed after the model was built ({what}): create every Parameter when the layer is built, in `new`, not in its first forward"
        );
        return Err(LayerError::contract(layer, reason).into());
    }
    Ok(())
}

/// A [`TrainError::Config`] unless `model` and `replica`, holding the same weights,
/// give the same outputs, to the bit, for `input` in `Mode::Eval`: a factory that
/// builds another network (another activation or hyper-parameter, which no parameter
/// shape shows) would otherwise train and evaluate that network instead. Names the
/// first step of the model ([`Layer::forward_visiting`]) whose output differs.
pub(crate) fn check_same_network(
    model: &mut dyn Layer,
    replica: &mut dyn Layer,
    input: ArrayViewD<f32>,
) -> Result<(), TrainError> {
    let mut on_model = Vec::new();
    let model_output = model.forward_visiting(input.view(), Mode::Eval, &mut |name, out| {
        on_model.push((name.to_string(), out.to_owned()))
    })?;
    let mut on_replica = Vec::new();
    let replica_output = replica.forward_visiting(input, Mode::Eval, &mut |name, out| {
        on_replica.push((name.to_string(), out.to_owned()))
    })?;
    let same = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    if same(&model_output, &replica_output) {
        return Ok(());
    }
    let step = (on_model.iter().zip(&on_replica))
        .find(|((name, out), (replica_name, replica_out))| {
            name != replica_name || !same(out, replica_out)
        })
        .map_or(String::new(), |((name, _), _)| {
            format!(" (the first output that differs is {name}'s)")
        });
    Err(TrainError::config(format!(
        "the model factory builds another network than the model being trained: with the same weights, its outputs in Mode::Eval differ{step}; make the factory build the model exactly as the model is built (the same layers and hyper-parameters)"
    )))
}

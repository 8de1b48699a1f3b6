//! The layers with parameters added for modern CNNs (ConvTranspose2d, GroupNorm,
//! LayerNorm, Dense without bias) save under PyTorch's `state_dict` names and
//! load back exactly; a layer without a bias has no `bias` in the checkpoint.

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;
use scratchnet_train::{load_model, save_model, Checkpoint};

/// A small decoder-style model; `seed` decides its weights.
fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let up = ConvTranspose2dConfig {
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [1, 1],
        bias: false,
        ..Default::default()
    };
    let mut model = Sequential::new()
        .add("up", ConvTranspose2d::new(2, 4, [3, 3], up, &mut rng))
        .add("gn", GroupNorm::new(2, 4, GroupNormConfig::default()))
        .add("act", GELU::new(GeluConfig::default()))
        .add("ln", LayerNorm::new(&[4, 6, 6], LayerNormConfig::default()))
        .add("pool", AdaptiveAvgPool2d::new([1, 1]))
        .add("flatten", Flatten::new())
        .add("fc", Dense::without_bias(4, 3, &mut rng))
        .build(&[2, 3, 3])
        .unwrap();
    // Away from the initial γ = 1, β = 0, so that a mix-up would show.
    for (i, (_, p)) in model.parameters_mut().into_iter().enumerate() {
        p.value.mapv_inplace(|v| v + 0.25 * (i as f32 + 1.0));
    }
    model
}

#[test]
fn names_are_pytorchs_and_a_layer_without_bias_saves_none() {
    let checkpoint = Checkpoint::from_model(&model(1));
    let names: Vec<&str> = checkpoint.tensors.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "fc.weight",
            "gn.bias",
            "gn.weight",
            "ln.bias",
            "ln.weight",
            "up.weight"
        ]
    );
    assert_eq!(checkpoint.tensors["up.weight"].shape(), &[2, 4, 3, 3]);
    assert_eq!(checkpoint.tensors["ln.weight"].shape(), &[4, 6, 6]);
}

#[test]
fn a_saved_model_loads_into_a_fresh_one_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modern.safetensors");
    let saved = model(1);
    save_model(&path, &saved).unwrap();
    let mut loaded = model(2);
    assert_ne!(
        Checkpoint::from_model(&loaded).tensors,
        Checkpoint::from_model(&saved).tensors
    );
    load_model(&path, &mut loaded).unwrap();
    assert_eq!(
        Checkpoint::from_model(&loaded).tensors,
        Checkpoint::from_model(&saved).tensors
    );
}

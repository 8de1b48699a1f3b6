//! A torchvision-style ResNet made of `Residual` blocks saves a checkpoint whose keys
//! are PyTorch's `state_dict` keys (the fixture of
//! `crates/layers/tests/fixtures_resnet/`, written by PyTorch itself), and that
//! checkpoint reproduces the model's predictions when loaded.
//!
//! With `SCRATCHNET_RESNET_EXPORT=DIR` the test also leaves `DIR/tiny_resnet.safetensors`
//! and `DIR/tiny_resnet_eval.json` (the input and scratchnet's eval output) for
//! `tools/golden/check_resnet_checkpoint.py`, which loads the checkpoint into the
//! PyTorch network by name (`load_state_dict(strict=True)`) and compares its output.

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Dense, GlobalAvgPool2d, Layer, Mode, ReLU, Residual,
    Sequential, StateMut,
};
use scratchnet_train::models::{basic_block, conv3x3};
use scratchnet_train::{load_model, save_model, Checkpoint};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn bn(channels: usize) -> BatchNorm2d {
    BatchNorm2d::new(channels, BatchNorm2dConfig::default())
}

fn block(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    size: usize,
    rng: &mut StdRng,
) -> Residual {
    basic_block(in_channels, out_channels, stride, size, rng).unwrap()
}

/// The network of `tools/golden/generate_resnet.py`.
fn tiny_resnet(seed: u64) -> Sequential {
    let rng = &mut StdRng::seed_from_u64(seed);
    Sequential::new()
        .add("conv1", conv3x3(3, 4, 1, rng))
        .add("bn1", bn(4))
        .add("relu", ReLU::new())
        .add(
            "layer1",
            Sequential::new()
                .add("0", block(4, 4, 1, 8, rng))
                .add("1", block(4, 4, 1, 8, rng)),
        )
        .add(
            "layer2",
            Sequential::new()
                .add("0", block(4, 8, 2, 8, rng))
                .add("1", block(8, 8, 1, 4, rng)),
        )
        .add("avgpool", GlobalAvgPool2d::new())
        .add("fc", Dense::new(8, 10, rng))
        .build(&[3, 8, 8])
        .unwrap()
}

#[derive(serde::Deserialize)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    fn to_f32(&self) -> ArrayD<f32> {
        let data = self.data.iter().map(|&v| v as f32).collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), data).unwrap()
    }
}

#[derive(serde::Deserialize)]
struct Fixture {
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    buffers: BTreeMap<String, Tensor>,
    state_dict_names: Vec<String>,
}

#[test]
fn a_resnet_checkpoint_has_pytorchs_keys_and_reproduces_the_predictions() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../layers/tests/fixtures_resnet/tiny_resnet.json");
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut model = tiny_resnet(0);
    for (name, entry) in model.state_mut() {
        match entry {
            StateMut::Parameter(p) => p.value = fx.params[&name].to_f32(),
            StateMut::Buffer(b) => *b = fx.buffers[&name].to_f32(),
            StateMut::Counter(_) => unreachable!("no counters"),
        }
    }
    let input = fx.input.to_f32();
    // One training forward: the running statistics move away from the fixture's.
    model.forward(input.view(), Mode::Train).unwrap();
    let eval_output = model.forward(input.view(), Mode::Eval).unwrap();

    let temp = tempfile::tempdir().unwrap();
    let dir: PathBuf = std::env::var_os("SCRATCHNET_RESNET_EXPORT")
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let path = dir.join("tiny_resnet.safetensors");
    save_model(&path, &model).unwrap();

    let saved = Checkpoint::load(&path).unwrap();
    let mut keys: Vec<&String> = saved.tensors.keys().collect();
    let mut want: Vec<&String> = fx.state_dict_names.iter().collect();
    keys.sort();
    want.sort();
    assert_eq!(
        keys, want,
        "the checkpoint's keys are PyTorch's state_dict keys"
    );

    let mut reloaded = tiny_resnet(1);
    load_model(&path, &mut reloaded).unwrap();
    assert_eq!(
        reloaded.forward(input.view(), Mode::Eval).unwrap(),
        eval_output
    );

    if std::env::var_os("SCRATCHNET_RESNET_EXPORT").is_some() {
        let json = serde_json::json!({
            "input": {"shape": input.shape(), "data": input.iter().collect::<Vec<_>>()},
            "output": {"shape": eval_output.shape(), "data": eval_output.iter().collect::<Vec<_>>()},
        });
        std::fs::write(dir.join("tiny_resnet_eval.json"), json.to_string()).unwrap();
    }
}

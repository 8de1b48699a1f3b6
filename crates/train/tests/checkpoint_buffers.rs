//! A norm layer's buffers in a checkpoint: `running_var` must be ≥ 0,
//! `num_batches_tracked` is saved as I64 as PyTorch's `state_dict` has it (and F32
//! files still load), and a buffer of another type is named with the types it may have.

use ndarray::{ArrayD, IxDyn};
use scratchnet_layers::{BatchNorm2d, BatchNorm2dConfig, Layer, Mode, Sequential, StateMut};
use scratchnet_train::{load_model, save_model, Checkpoint, CheckpointError, TensorProblem};

fn bn() -> Sequential {
    Sequential::new()
        .add("bn", BatchNorm2d::new(2, BatchNorm2dConfig::default()))
        .build(&[2, 3, 3])
        .unwrap()
}

/// `bn()` after three training batches: a count of 3, running statistics moved.
fn trained_bn() -> Sequential {
    let mut model = bn();
    let x = ArrayD::from_shape_fn(IxDyn(&[4, 2, 3, 3]), |i| (i[0] * 7 + i[3]) as f32 * 0.3);
    for _ in 0..3 {
        model.forward(x.view(), Mode::Train).unwrap();
    }
    model
}

fn set_buffer(model: &mut Sequential, name: &str, values: &[f32]) {
    for (n, state) in model.state_mut() {
        if let (true, StateMut::Buffer(b)) = (n == name, state) {
            let new = ArrayD::from_shape_vec(b.raw_dim(), values.to_vec()).unwrap();
            b.assign(&new);
        }
    }
}

/// QA: a checkpoint with a negative `running_var` was accepted; every prediction was
/// then garbage (11% accuracy, exit 0), where PyTorch gives NaN.
#[test]
fn a_negative_running_variance_is_refused_naming_it() {
    let mut damaged = trained_bn();
    set_buffer(&mut damaged, "bn.running_var", &[0.5, -0.25]);
    let bytes = Checkpoint::from_model(&damaged).to_bytes().unwrap();
    let mut model = bn();
    let err = Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut model)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("tensor bn.running_var has 1 value(s) that are negative or not finite"),
        "{err}"
    );
    assert!(matches!(
        &err,
        CheckpointError::Mismatch { problems, .. }
            if problems == &[TensorProblem::Invalid {
                name: "bn.running_var".into(),
                count: 1,
                rule: "negative or not finite",
            }]
    ));
    // A negative running mean is a running mean.
    let mut fine = trained_bn();
    set_buffer(&mut fine, "bn.running_mean", &[-3.0, -0.5]);
    let bytes = Checkpoint::from_model(&fine).to_bytes().unwrap();
    Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut model)
        .unwrap();
}

/// QA: `num_batches_tracked` was saved as F32, where PyTorch's `state_dict` has I64:
/// a round trip through scratchnet changed PyTorch's types.
#[test]
fn the_batch_count_is_saved_as_i64_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    let trained = trained_bn();
    save_model(&path, &trained).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let count = file.tensor("bn.num_batches_tracked").unwrap();
    assert_eq!(count.dtype(), safetensors::Dtype::I64);
    assert_eq!(count.shape(), &[] as &[usize]);
    assert_eq!(count.data(), 3i64.to_le_bytes());
    for name in ["bn.weight", "bn.running_mean", "bn.running_var"] {
        assert_eq!(file.tensor(name).unwrap().dtype(), safetensors::Dtype::F32);
    }

    let mut loaded = bn();
    load_model(&path, &mut loaded).unwrap();
    assert_eq!(loaded.buffers(), trained.buffers());
    // In memory the count is a number like the other buffers: the round trip is exact.
    let checkpoint = Checkpoint::from_model(&trained);
    assert_eq!(
        Checkpoint::from_bytes(&checkpoint.to_bytes().unwrap()).unwrap(),
        checkpoint
    );
}

/// Files saved before the count was I64 have it as F32: they still load.
#[test]
fn an_f32_batch_count_of_an_older_file_loads() {
    let trained = trained_bn();
    let views: Vec<(String, Vec<usize>, Vec<u8>)> = trained
        .state()
        .into_iter()
        .filter_map(|(name, state)| {
            let t = match state {
                scratchnet_layers::StateRef::Parameter(p) => p.value.clone(),
                scratchnet_layers::StateRef::Buffer(b) => b.clone(),
                scratchnet_layers::StateRef::Counter(_) => return None,
            };
            let bytes = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            Some((name, t.shape().to_vec(), bytes))
        })
        .collect();
    let bytes = safetensors::serialize(
        views.iter().map(|(n, s, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.as_str(), view.unwrap())
        }),
        None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let mut loaded = bn();
    load_model(&path, &mut loaded).unwrap();
    assert_eq!(loaded.buffers(), trained.buffers());
}

/// QA: "tensor bn.num_batches_tracked is stored as I32, but only F32 can be loaded",
/// while I64 loads too.
#[test]
fn a_buffer_of_another_type_names_both_types_it_may_have() {
    let trained = trained_bn();
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, state) in trained.state() {
        let t = match state {
            scratchnet_layers::StateRef::Parameter(p) => p.value.clone(),
            scratchnet_layers::StateRef::Buffer(b) => b.clone(),
            scratchnet_layers::StateRef::Counter(_) => continue,
        };
        let entry = if name.ends_with("num_batches_tracked") {
            (
                name,
                safetensors::Dtype::I32,
                vec![],
                3i32.to_le_bytes().to_vec(),
            )
        } else {
            let bytes = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, safetensors::Dtype::F32, t.shape().to_vec(), bytes)
        };
        tensors.push(entry);
    }
    let bytes = safetensors::serialize(
        tensors.iter().map(|(n, d, s, b)| {
            let view = safetensors::tensor::TensorView::new(*d, s.clone(), b);
            (n.as_str(), view.unwrap())
        }),
        None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i32.safetensors");
    std::fs::write(&path, bytes).unwrap();
    for err in [
        load_model(&path, &mut bn()).unwrap_err(),
        Checkpoint::load(&path)
            .unwrap()
            .apply_to(&mut bn())
            .unwrap_err(),
    ] {
        assert!(
            err.to_string().contains(
                "tensor bn.num_batches_tracked is stored as I32, but only F32 or I64 can be loaded"
            ),
            "{err}"
        );
    }
}

//! Checkpoints: round trips, PyTorch interchange, and every way a file can be wrong.

use ndarray::{Array4, ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::{Dense, Dropout, Flatten, Layer, Mode, Sequential};
use scratchnet_train::models::lenet5;
use scratchnet_train::{
    load_model, save_model, Adam, AdamConfig, Checkpoint, CheckpointError, EpochMetrics, History,
    Optimizer, TensorProblem,
};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The probe batch of `tools/golden/check_checkpoint.py`: x[i] = ((i·7919) mod 256)/255 − 0.5.
fn probe_batch() -> Array4<f32> {
    let values: Vec<f32> = (0..4 * 28 * 28u64)
        .map(|i| ((i * 7919) % 256) as f32 / 255.0 - 0.5)
        .collect();
    Array4::from_shape_vec((4, 1, 28, 28), values).unwrap()
}

fn logits(model: &mut dyn Layer) -> ArrayD<f32> {
    model
        .forward(probe_batch().into_dyn().view(), Mode::Eval)
        .unwrap()
}

fn mismatch(err: CheckpointError) -> Vec<TensorProblem> {
    match err {
        CheckpointError::Mismatch { problems, .. } => problems,
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn save_then_load_gives_bit_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.safetensors");
    let mut trained = lenet5(&mut StdRng::seed_from_u64(7));
    save_model(&path, &trained).unwrap();

    let mut loaded = lenet5(&mut StdRng::seed_from_u64(8));
    assert_ne!(logits(&mut loaded), logits(&mut trained));
    load_model(&path, &mut loaded).unwrap();
    let (a, b) = (logits(&mut trained), logits(&mut loaded));
    assert_eq!(a.shape(), &[4, 10]);
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn the_file_has_pytorch_names_shapes_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.safetensors");
    let model = lenet5(&mut StdRng::seed_from_u64(1));
    save_model(&path, &model).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<_> = file.names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight",
            "fc3.bias",
            "fc3.weight"
        ]
    );
    let conv1 = file.tensor("conv1.weight").unwrap();
    assert_eq!(conv1.dtype(), safetensors::Dtype::F32);
    assert_eq!(conv1.shape(), &[6, 1, 5, 5]);
    assert_eq!(file.tensor("fc1.weight").unwrap().shape(), &[120, 400]);
    // Row-major little-endian f32: element [0, 0, 0, 1] is the second value.
    let expected = model.parameters()[0].1.value[[0, 0, 0, 1]];
    assert_eq!(conv1.data()[4..8], expected.to_le_bytes());
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["format"], "pt");
}

#[test]
fn a_pytorch_checkpoint_loads_and_gives_pytorchs_logits() {
    // Made by tools/golden/check_checkpoint.py --write-fixture (torch.manual_seed(0)).
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let checkpoint = load_model(&fixtures().join("pytorch_lenet.st"), &mut model).unwrap();
    assert!(checkpoint.training.is_none());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("pytorch_lenet_logits.json")).unwrap(),
    )
    .unwrap();
    let expected: Vec<f32> = json["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect();
    let got = logits(&mut model);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-5, "scratchnet {g}, PyTorch {e}");
    }
}

#[test]
fn training_state_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    let mut model = lenet5(&mut StdRng::seed_from_u64(3));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    for (_, p) in model.parameters_mut() {
        p.grad.fill(0.25);
    }
    adam.step(&mut model);
    let history = History {
        epochs: vec![EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_accuracy: 0.875,
            test_loss: 0.25,
            test_accuracy: 0.9375,
            seconds: 1.5,
            samples_per_second: 4000.0,
        }],
    };
    Checkpoint::for_training(&model, &adam, 1, 42, &history)
        .with_metadata("dataset", "mnist")
        .save(&path)
        .unwrap();

    let loaded = Checkpoint::load(&path).unwrap();
    let state = loaded.training.clone().unwrap();
    assert_eq!((state.epoch, state.seed), (1, 42));
    assert_eq!(state.history, history);
    assert_eq!(state.optimizer, adam.state());
    assert_eq!(loaded.metadata["dataset"], "mnist");
    assert_eq!(loaded.tensors.len(), 10);

    // The model-only load ignores the optimizer entries.
    let mut fresh = lenet5(&mut StdRng::seed_from_u64(4));
    load_model(&path, &mut fresh).unwrap();
    let values = |m: &dyn Layer| {
        m.parameters()
            .into_iter()
            .map(|(n, p)| (n, p.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&fresh), values(&model));

    // And the optimizer entries carry PyTorch's slot names under `optimizer.`.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(file.tensor("optimizer.conv1.weight.exp_avg_sq").is_ok());
    assert_eq!(file.len(), 30);
}

#[test]
fn a_wrong_name_or_shape_is_named() {
    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut checkpoint = Checkpoint::from_model(&model);
    let weight = checkpoint.tensors.remove("fc2.weight").unwrap();
    checkpoint.tensors.insert("fc9.weight".into(), weight);
    checkpoint
        .tensors
        .insert("conv1.bias".into(), ArrayD::zeros(IxDyn(&[7])));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    checkpoint.save(&path).unwrap();

    let mut target = lenet5(&mut StdRng::seed_from_u64(1));
    let before = target
        .parameters()
        .iter()
        .map(|(_, p)| p.value.clone())
        .collect::<Vec<_>>();
    let err = load_model(&path, &mut target).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(
        mismatch(err),
        vec![
            TensorProblem::WrongShape {
                name: "conv1.bias".into(),
                expected: vec![6],
                found: vec![7]
            },
            TensorProblem::Missing {
                name: "fc2.weight".into(),
                expected: vec![84, 120]
            },
            TensorProblem::Unexpected {
                name: "fc9.weight".into(),
                shape: vec![84, 120]
            },
        ]
    );
    // Nothing was changed.
    let after = target
        .parameters()
        .iter()
        .map(|(_, p)| p.value.clone())
        .collect::<Vec<_>>();
    assert_eq!(before, after);
}

#[test]
fn a_wrong_dtype_is_named() {
    // A checkpoint whose conv1.bias is F64, as `model.double()` in PyTorch would save.
    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut entries: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = model
        .parameters()
        .into_iter()
        .map(|(name, p)| {
            let bytes = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
            (
                name,
                safetensors::Dtype::F32,
                p.value.shape().to_vec(),
                bytes,
            )
        })
        .collect();
    entries[1] = (
        "conv1.bias".into(),
        safetensors::Dtype::F64,
        vec![6],
        (0..6).flat_map(|_| 0.5f64.to_le_bytes()).collect(),
    );
    let views = entries.iter().map(|(n, d, s, b)| {
        (
            n.as_str(),
            safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
        )
    });
    let bytes = safetensors::serialize(views, None).unwrap();
    let err = Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut lenet5(&mut StdRng::seed_from_u64(0)))
        .unwrap_err();
    assert!(
        err.to_string().contains("conv1.bias is stored as F64"),
        "{err}"
    );
    assert_eq!(
        mismatch(err),
        vec![TensorProblem::WrongDtype {
            name: "conv1.bias".into(),
            found: "F64".into(),
            allowed: "F32",
        }]
    );
}

#[test]
fn truncated_and_garbage_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save_model(&good, &lenet5(&mut StdRng::seed_from_u64(0))).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "garbage",
            b"this is not a checkpoint at all, just some text".to_vec(),
        ),
        ("huge header length", u64::MAX.to_le_bytes().to_vec()),
        ("header only", bytes[..bytes.len() / 100].to_vec()),
        ("truncated data", bytes[..bytes.len() - 1].to_vec()),
        ("one extra byte", [bytes.as_slice(), &[0]].concat()),
    ];
    // A header whose JSON is broken.
    let mut broken = bytes.clone();
    broken[8] = b'[';
    cases.push(("broken JSON", broken));
    // Every prefix length around the header boundary, and a few random-ish corruptions.
    for cut in [0, 7, 8, 9, 50, 200] {
        cases.push(("prefix", bytes[..cut].to_vec()));
    }
    for (what, data) in cases {
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, &data).unwrap();
        let err = load_model(&path, &mut lenet5(&mut StdRng::seed_from_u64(0))).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Format { .. }),
            "{what}: expected a format error, got {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("bad.safetensors")
                && message.contains("not a valid safetensors checkpoint"),
            "{what}: {message}"
        );
    }
    let err = load_model(
        &dir.path().join("absent.safetensors"),
        &mut lenet5(&mut StdRng::seed_from_u64(0)),
    )
    .unwrap_err();
    assert!(matches!(err, CheckpointError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn no_byte_flip_in_the_header_panics() {
    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let bytes = Checkpoint::from_model(&model).to_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for i in 0..8 + header_len {
        for value in [b'0', b'9', b'"', b',', b'}', 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[i] = value;
            // Either it still parses (a digit changed in a harmless place) or it fails
            // cleanly; applying it may then report a mismatch. It must not panic.
            if let Ok(c) = Checkpoint::from_bytes(&corrupt) {
                let _ = c.apply_to(&mut lenet5(&mut StdRng::seed_from_u64(0)));
            }
        }
    }
}

#[test]
fn a_bad_training_metadata_entry_is_named() {
    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let bytes = Checkpoint::for_training(&model, &adam, 2, 1, &History::new())
        .to_bytes()
        .unwrap();
    // Replace the history JSON "[]" by something that is not a history (same length).
    let pattern = br#""scratchnet.history":"[]""#;
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .unwrap();
    let mut corrupt = bytes.clone();
    corrupt[at..at + pattern.len()].copy_from_slice(br#""scratchnet.history":"{}""#);
    let err = Checkpoint::from_bytes(&corrupt).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Metadata { key, .. } if key == "scratchnet.history"),
        "{err}"
    );
}

#[test]
fn writing_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/lenet.safetensors");
    let err = save_model(&path, &lenet5(&mut StdRng::seed_from_u64(0))).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn a_failed_write_leaves_the_old_checkpoint_intact() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.safetensors");
    let old_model = lenet5(&mut StdRng::seed_from_u64(1));
    save_model(&path, &old_model).unwrap();
    let mut old_bytes = std::fs::read(&path).unwrap();

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.path().join("probe");
    let writable_anyway = std::fs::write(&probe, b"").is_ok(); // root ignores permissions
    let result = save_model(&path, &lenet5(&mut StdRng::seed_from_u64(2)));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if writable_anyway {
        let _ = std::fs::remove_file(&probe);
        result.unwrap();
        old_bytes = std::fs::read(&path).unwrap();
        eprintln!("running as root: the read-only directory case is covered by the blocked-path case below");
    } else {
        let err = result.unwrap_err();
        assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
    }

    // Works as root too: the destination is a non-empty directory, which is refused.
    let blocked = dir.path().join("blocked.safetensors");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    let err = save_model(&blocked, &old_model).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
    assert!(err.to_string().contains("unchanged"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_model_tensor_cannot_use_the_optimizer_prefix() {
    let mut checkpoint = Checkpoint::from_model(&lenet5(&mut StdRng::seed_from_u64(0)));
    checkpoint
        .tensors
        .insert("optimizer.weight".into(), ArrayD::zeros(IxDyn(&[1])));
    assert!(matches!(
        checkpoint.to_bytes(),
        Err(CheckpointError::ReservedName { .. })
    ));
}

#[test]
fn a_pytorch_style_i64_buffer_loads_but_an_i64_parameter_does_not() {
    use scratchnet_layers::{BatchNorm2d, BatchNorm2dConfig, Sequential};
    let bn = || {
        Sequential::new()
            .add("bn", BatchNorm2d::new(2, BatchNorm2dConfig::default()))
            .build(&[2, 3, 3])
            .unwrap()
    };
    // As PyTorch saves it: floats as F32, num_batches_tracked as an I64 scalar.
    let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let entries: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = vec![
        (
            "bn.weight",
            safetensors::Dtype::F32,
            vec![2],
            f32_bytes(&[1.5, 2.5]),
        ),
        (
            "bn.bias",
            safetensors::Dtype::F32,
            vec![2],
            f32_bytes(&[0.5, -0.5]),
        ),
        (
            "bn.running_mean",
            safetensors::Dtype::F32,
            vec![2],
            f32_bytes(&[0.1, 0.2]),
        ),
        (
            "bn.running_var",
            safetensors::Dtype::F32,
            vec![2],
            f32_bytes(&[0.9, 1.1]),
        ),
        (
            "bn.num_batches_tracked",
            safetensors::Dtype::I64,
            vec![],
            7i64.to_le_bytes().to_vec(),
        ),
    ];
    let serialize = |entries: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]| {
        let views = entries.iter().map(|(n, d, s, b)| {
            (
                *n,
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        });
        safetensors::serialize(views, None).unwrap()
    };
    let mut model = bn();
    Checkpoint::from_bytes(&serialize(&entries))
        .unwrap()
        .apply_to(&mut model)
        .unwrap();
    let buffers: Vec<Vec<f32>> = model
        .buffers()
        .iter()
        .map(|(_, b)| b.iter().copied().collect())
        .collect();
    assert_eq!(buffers, vec![vec![0.1, 0.2], vec![0.9, 1.1], vec![7.0]]);

    let mut wrong = entries.clone();
    wrong[0] = (
        "bn.weight",
        safetensors::Dtype::I64,
        vec![2],
        [1i64, 2].iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    let err = Checkpoint::from_bytes(&serialize(&wrong))
        .unwrap()
        .apply_to(&mut bn())
        .unwrap_err();
    assert_eq!(
        mismatch(err),
        vec![TensorProblem::WrongDtype {
            name: "bn.weight".into(),
            found: "I64".into(),
            allowed: "F32",
        }]
    );
}

#[test]
fn counters_round_trip_and_are_lenient_but_checked() {
    let net = |seed| {
        Sequential::new()
            .add("flatten", Flatten::new())
            .add("dropout", Dropout::new(0.5, seed))
            .add("fc", Dense::new(4, 2, &mut StdRng::seed_from_u64(seed)))
            .build(&[1, 2, 2])
            .unwrap()
    };
    let mut trained = net(1);
    let x = ArrayD::<f32>::ones(IxDyn(&[3, 1, 2, 2]));
    for _ in 0..7 {
        trained.forward(x.view(), Mode::Train).unwrap();
    }
    let bytes = Checkpoint::from_model(&trained).to_bytes().unwrap();
    let loaded = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.extra_state["dropout.step"], 7);
    assert!(!loaded.metadata.contains_key("scratchnet.extra_state"));
    let mut fresh = net(2);
    loaded.apply_to(&mut fresh).unwrap();
    assert_eq!(fresh.extra_state(), vec![("dropout.step".into(), 7)]);

    // Without the counter (a weights-only file): the weights load, the counter stays.
    let mut weights_only = loaded.clone();
    weights_only.extra_state.clear();
    let mut other = net(3);
    other.forward(x.view(), Mode::Train).unwrap();
    weights_only.apply_to(&mut other).unwrap();
    assert_eq!(other.extra_state(), vec![("dropout.step".into(), 1)]);
    assert_eq!(other.parameters(), trained.parameters());

    // A counter that is not a number is a named metadata error.
    let pattern = br#"{\"dropout.step\":7}"#;
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the counters are JSON in the metadata");
    let mut corrupt = bytes.clone();
    corrupt[at..at + pattern.len()].copy_from_slice(br#"{\"dropout.step\":x}"#);
    let err = Checkpoint::from_bytes(&corrupt).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Metadata { key, .. } if key == "scratchnet.extra_state"),
        "{err}"
    );
}

/// Issue 16: a checkpoint whose weights hold a NaN (or whose Adam second moments are
/// negative) is refused at load, naming the tensor, instead of training or predicting
/// on garbage.
#[test]
fn non_finite_weights_and_negative_second_moments_are_refused_at_load() {
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    {
        let mut params = model.parameters_mut();
        let (_, conv1) = params
            .iter_mut()
            .find(|(n, _)| n == "conv1.weight")
            .unwrap();
        conv1.value[[0, 0, 2, 2]] = f32::NAN;
    }
    let bytes = Checkpoint::from_model(&model).to_bytes().unwrap();
    let err = Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut lenet5(&mut StdRng::seed_from_u64(1)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv1.weight") && err.contains("not finite"),
        "{err}"
    );

    let model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::adam(1e-3)).unwrap();
    let mut state = adam.state();
    assert!(state.tensors.is_empty(), "no step taken yet");
    for (name, p) in model.parameters() {
        let zeros = ndarray::ArrayD::<f32>::zeros(p.value.raw_dim());
        state
            .tensors
            .insert(format!("{name}.exp_avg"), zeros.clone());
        state.tensors.insert(format!("{name}.exp_avg_sq"), zeros);
    }
    state.steps = 1;
    state.tensors.get_mut("fc3.bias.exp_avg_sq").unwrap()[[3]] = -1.0;
    let err = adam.load_state(state, &model).unwrap_err().to_string();
    assert!(
        err.contains("fc3.bias.exp_avg_sq") && err.contains("negative or not finite"),
        "{err}"
    );
}

/// A layer of one's own whose two visitors disagree: `visit_state` names `w` and `g`,
/// `visit_state_mut` names `w` and `gamma`. Before, `apply_to` assigned `w` and then
/// panicked on `gamma`; now it changes nothing and lists the tensor it lacks.
struct DisagreeingVisitors {
    w: scratchnet_layers::Parameter,
    g: scratchnet_layers::Parameter,
}

impl Layer for DisagreeingVisitors {
    fn name(&self) -> &str {
        "DisagreeingVisitors"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, scratchnet_layers::LayerError> {
        Ok(input.to_vec())
    }
    fn forward(
        &mut self,
        x: ndarray::ArrayViewD<f32>,
        _: Mode,
    ) -> Result<ArrayD<f32>, scratchnet_layers::LayerError> {
        Ok(x.to_owned())
    }
    fn backward(
        &mut self,
        dy: ndarray::ArrayViewD<f32>,
    ) -> Result<ArrayD<f32>, scratchnet_layers::LayerError> {
        Ok(dy.to_owned())
    }
    fn visit_state<'a>(&'a self, state: &mut scratchnet_layers::StateVisitor<'a, '_>) {
        state.parameter("w", &self.w);
        state.parameter("g", &self.g);
    }
    fn visit_state_mut<'a>(&'a mut self, state: &mut scratchnet_layers::StateVisitorMut<'a, '_>) {
        state.parameter("w", &mut self.w);
        state.parameter("gamma", &mut self.g);
    }
}

#[test]
fn a_layer_whose_visitors_disagree_is_refused_and_left_unchanged() {
    let parameter = |v: f32| scratchnet_layers::Parameter::new(ArrayD::from_elem(IxDyn(&[2]), v));
    let saved = DisagreeingVisitors {
        w: parameter(1.0),
        g: parameter(2.0),
    };
    let bytes = Checkpoint::from_model(&saved).to_bytes().unwrap();
    let mut model = DisagreeingVisitors {
        w: parameter(0.0),
        g: parameter(0.0),
    };
    let err = Checkpoint::from_bytes(&bytes)
        .unwrap()
        .apply_to(&mut model)
        .unwrap_err();
    assert_eq!(
        mismatch(err),
        [TensorProblem::Missing {
            name: "gamma".into(),
            expected: vec![2]
        }]
    );
    assert!(
        model.w.value.iter().all(|&v| v == 0.0),
        "w was changed before the error"
    );
}

/// QA: a weights-only file of another model gave a 9 KB line listing every tensor,
/// and `--model` given a `--predictions` file listed 13 tensors without saying what
/// the file was.
#[test]
fn another_models_file_or_a_predictions_file_is_named_in_a_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.safetensors");
    let mut wide = Sequential::new().add("flatten", Flatten::new());
    for i in 0..40 {
        let dense = Dense::new(2, 2, &mut StdRng::seed_from_u64(i));
        wide = wide.add(format!("dense{i}"), dense);
    }
    save_model(&other, &wide.build(&[1, 1, 2]).unwrap()).unwrap();
    let err = load_model(&other, &mut lenet5(&mut StdRng::seed_from_u64(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("it is not a checkpoint of this model: 0 of its 10 tensors are in the file"),
        "{err}"
    );
    assert!(err.ends_with("; and 86 more"), "{err}");
    assert!(err.len() < 700, "{} bytes: {err}", err.len());

    let predictions = dir.path().join("preds.safetensors");
    let logits: Vec<u8> = [0.5f32; 20].iter().flat_map(|v| v.to_le_bytes()).collect();
    let labels: Vec<u8> = [3i64; 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = |dtype, shape: Vec<usize>, bytes| {
        safetensors::tensor::TensorView::new(dtype, shape, bytes).unwrap()
    };
    let bytes = safetensors::serialize(
        [
            (
                "logits",
                view(safetensors::Dtype::F32, vec![2, 10], &logits),
            ),
            (
                "predictions",
                view(safetensors::Dtype::I64, vec![2], &labels),
            ),
            ("labels", view(safetensors::Dtype::I64, vec![2], &labels)),
        ],
        None,
    )
    .unwrap();
    std::fs::write(&predictions, bytes).unwrap();
    let err = load_model(&predictions, &mut lenet5(&mut StdRng::seed_from_u64(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not match the model: it is a --predictions file"),
        "{err}"
    );
    assert!(!err.contains("missing tensor"), "{err}");
}

/// Any tensors, not a model's, are saved from a map (outside the crate, where the
/// private fields rule out a struct literal) and read back as they were.
#[test]
fn tensors_of_ones_own_are_saved_from_a_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.safetensors");
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| i[2] as f32 - 1.5);
    let tensors = std::collections::BTreeMap::from([
        ("x".to_string(), x.clone()),
        ("weight.grad".to_string(), x.mapv(|v| v * 2.0)),
    ]);
    Checkpoint::from_tensors(tensors.clone())
        .save(&path)
        .unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.tensors, tensors);
    assert!(back.training.is_none() && back.extra_state.is_empty());
}

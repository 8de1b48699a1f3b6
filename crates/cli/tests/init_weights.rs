//! `--init-weights`: a fresh run (epoch 0, a new optimizer) from the weights of a
//! safetensors file — a PyTorch `state_dict` without scratchnet's metadata, or a whole
//! checkpoint — checked strictly against the model. The data are generated CIFAR-10
//! batch files (a few records each).

use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use scratchnet_cli::{run, DataSource, ModelInput, ModelSpec, RunConfig, ScheduleKind};
use scratchnet_data::{CIFAR10_FILES, CIFAR10_RECORD_LEN};
use scratchnet_layers::{Dense, Flatten, LayerError, Sequential};
use scratchnet_train::{Checkpoint, ProgressMode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A linear classifier of the flattened image.
fn linear(rng: &mut StdRng, input: &ModelInput) -> Result<Sequential, LayerError> {
    let inputs = input.sample_shape.iter().product();
    Sequential::new()
        .add("flatten", Flatten::new())
        .add("fc", Dense::new(inputs, input.num_classes, rng))
        .build(&input.sample_shape)
}

/// The six CIFAR-10 batch files in `dir/cifar-10-batches-bin`, `n` records each.
fn write_cifar10(dir: &Path, n: usize) {
    let batches = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    for (b, name) in CIFAR10_FILES.iter().enumerate() {
        let mut bytes = Vec::with_capacity(n * CIFAR10_RECORD_LEN);
        for i in 0..n {
            bytes.push(((i + b) % 10) as u8);
            bytes.extend((0..3072).map(|p| ((p * 7 + i) % 256) as u8));
        }
        std::fs::write(batches.join(name), bytes).unwrap();
    }
}

/// `tensors` as a safetensors file without metadata, as PyTorch's `save_file(model.state_dict())` writes.
fn write_state_dict(path: &Path, tensors: &BTreeMap<String, ndarray::ArrayD<f32>>) {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| {
            let data = t.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name.clone(), data, t.shape().to_vec())
        })
        .collect();
    let views = bytes.iter().map(|(name, data, shape)| {
        (
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), data).unwrap(),
        )
    });
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// The weights of [`linear`] for 3×32×32 images and 10 classes, from `seed`.
fn weights(seed: u64) -> BTreeMap<String, ndarray::ArrayD<f32>> {
    let input = ModelInput {
        sample_shape: [3, 32, 32],
        num_classes: 10,
    };
    let model = linear(&mut StdRng::seed_from_u64(seed), &input).unwrap();
    Checkpoint::from_model(&model).tensors
}

fn config(dir: &Path) -> RunConfig {
    RunConfig {
        model: ModelSpec::for_input("linear", linear),
        dataset: DataSource::Cifar10,
        data_dir: Some(dir.to_path_buf()),
        epochs: 1,
        batch_size: Some(4),
        // So small that no step changes a weight: the saved model is the initial one.
        lr: Some(1e-30),
        schedule: Some(ScheduleKind::Constant),
        progress: ProgressMode::Quiet,
        ..RunConfig::default()
    }
}

struct Setup {
    dir: tempfile::TempDir,
    state_dict: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 8);
    let state_dict = dir.path().join("pt.safetensors");
    write_state_dict(&state_dict, &weights(7));
    Setup { dir, state_dict }
}

/// QA: a PyTorch state_dict could not be trained further (`--resume` refuses a file
/// without training state). `--init-weights` starts a fresh run from it, and so from a
/// whole checkpoint.
#[test]
fn a_run_starts_from_the_weights_of_a_state_dict_or_a_checkpoint() {
    let Setup { dir, state_dict } = setup();
    let save = dir.path().join("s.st");
    let report = run(&RunConfig {
        init_weights: Some(state_dict.clone()),
        save: Some(save.clone()),
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(
        report.outcome.trained_epochs,
        vec![1],
        "a fresh run: epoch 1 trained"
    );
    let saved = Checkpoint::load(&save).unwrap();
    assert_eq!(
        saved.tensors,
        weights(7),
        "the initial weights are the file's"
    );
    assert_ne!(weights(7), weights(0), "seed 0's weights would not pass");
    assert_eq!(saved.training.unwrap().epoch, 1);

    // A whole checkpoint (with optimizer state and history) gives its weights alone.
    let again = dir.path().join("t.st");
    let report = run(&RunConfig {
        init_weights: Some(save),
        save: Some(again.clone()),
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(
        report.outcome.history.epochs.len(),
        1,
        "its history is not taken"
    );
    assert_eq!(Checkpoint::load(&again).unwrap().tensors, weights(7));
}

/// The file must hold every tensor of the model with its shape and no other; optimizer
/// entries are ignored.
#[test]
fn the_weights_must_be_exactly_the_model_s() {
    let Setup { dir, .. } = setup();
    let refused = |tensors: BTreeMap<String, ndarray::ArrayD<f32>>, needle: &str| {
        let path = dir.path().join("w.safetensors");
        write_state_dict(&path, &tensors);
        let err = run(&RunConfig {
            init_weights: Some(path.clone()),
            ..config(dir.path())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("--init-weights {}", path.display())) && err.contains(needle),
            "{err}"
        );
    };
    let mut missing = weights(7);
    missing.remove("fc.bias");
    refused(missing, "fc.bias");
    let mut extra = weights(7);
    extra.insert("fc2.weight".into(), ndarray::ArrayD::zeros(vec![2, 2]));
    refused(extra, "fc2.weight");
    let mut reshaped = weights(7);
    reshaped.insert("fc.bias".into(), ndarray::ArrayD::zeros(vec![9]));
    refused(reshaped, "fc.bias");

    let mut with_optimizer = weights(7);
    let moment = ndarray::ArrayD::zeros(vec![10]);
    with_optimizer.insert("optimizer.fc.bias.exp_avg".into(), moment);
    let path = dir.path().join("opt.safetensors");
    write_state_dict(&path, &with_optimizer);
    run(&RunConfig {
        init_weights: Some(path),
        ..config(dir.path())
    })
    .unwrap();
}

/// `--resume` on weights alone names the fix; `--init-weights` excludes `--resume`, is
/// not replaced by `--save` without `--overwrite`, and is no other output.
#[test]
fn init_weights_is_refused_where_it_would_resume_or_be_replaced() {
    let Setup { dir, state_dict } = setup();
    let err = run(&RunConfig {
        resume: Some(state_dict.clone()),
        ..config(dir.path())
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("holds only model weights")
            && err.ends_with(&format!(
                "--init-weights {} starts a fresh run from those weights",
                state_dict.display()
            )),
        "{err}"
    );
    let refused = |change: RunConfig, needle: &str| {
        let err = run(&RunConfig {
            init_weights: Some(state_dict.clone()),
            ..change
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(needle), "{err}");
    };
    let other = dir.path().join("other.st");
    std::fs::copy(&state_dict, &other).unwrap();
    refused(
        RunConfig {
            resume: Some(other),
            ..config(dir.path())
        },
        "--resume and --init-weights",
    );
    refused(
        RunConfig {
            save: Some(state_dict.clone()),
            ..config(dir.path())
        },
        "--overwrite replaces it",
    );
    refused(
        RunConfig {
            metrics: Some(state_dict.clone()),
            ..config(dir.path())
        },
        "--metrics and --init-weights name the same file",
    );
    // With --overwrite, --save may be the file the weights come from.
    run(&RunConfig {
        init_weights: Some(state_dict.clone()),
        save: Some(state_dict.clone()),
        overwrite: true,
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(Checkpoint::load(&state_dict).unwrap().tensors, weights(7));
}

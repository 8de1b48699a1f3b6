//! `examples/custom_layer.rs` as a process: a layer defined outside the crates passes
//! gradcheck, shows in the model summary, trains one epoch on a subset of MNIST, and
//! reloads from its checkpoint with bit-identical logits; the example exits 0 only if
//! all of that worked.
//!
//! Needs the real MNIST: skipped (with a message) when `MNIST_DIR` is unset, failing
//! when it is set to a directory without the files. `cargo test` builds the examples
//! before running the tests; when this test runs alone it builds them first.

mod common;

use common::examples_dir;
use scratchnet::data::mnist_dir_from_env;
use std::process::Command;

#[test]
fn custom_layer_passes_gradcheck_trains_and_reloads() {
    let Some(dir) = mnist_dir_from_env() else {
        eprintln!("skipped custom_layer_passes_gradcheck_trains_and_reloads: MNIST_DIR is not set");
        return;
    };
    let dir = dir.canonicalize().unwrap_or_else(|e| {
        panic!(
            "MNIST_DIR is set to {}, which cannot be used: {e}",
            dir.display()
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("prelu.safetensors");
    let out = Command::new(examples_dir().join("custom_layer"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["--limit-train", "2000", "--save"])
        .arg(&checkpoint)
        .current_dir(tmp.path())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    for needle in [
        // gradcheck, per channel and with one shared slope
        "gradcheck passed: PReLU(num_parameters=3)",
        "gradcheck passed: PReLU(num_parameters=1)",
        // the summary of a Sequential holding the user's layer
        "prelu1 (PReLU(num_parameters=8))",
        "prelu2 (PReLU(num_parameters=16))",
        "summary passed",
        "trained on 2000 images",
        "reload passed",
        "all checks passed",
    ] {
        assert!(
            stdout.contains(needle),
            "missing {needle:?} in:\n{stdout}\n{stderr}"
        );
    }
    // The summary row: name (type), output shape, parameter count.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("prelu1 (PReLU"))
        .unwrap();
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields.last(), Some(&"8"), "{row}");
    assert!(row.contains("[8, 28, 28]"), "{row}");
    assert!(checkpoint.is_file());
}

/// The example replaced MNIST's labels with its checkpoint (`--save
/// DIR/train-labels-idx1-ubyte.gz --overwrite`), or shadowed a `.gz` with a raw name
/// that is read first, and exited 0. Refused before any work; needs no data (the
/// files here are stand-ins, never read).
#[test]
fn custom_layer_never_saves_over_or_beside_the_data_files() {
    let tmp = tempfile::tempdir().unwrap();
    let labels = tmp.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&labels, b"the labels").unwrap();
    for (save, overwrite) in [
        ("train-labels-idx1-ubyte.gz", true),
        ("t10k-labels-idx1-ubyte", false),
    ] {
        let mut command = Command::new(examples_dir().join("custom_layer"));
        command
            .arg("--data-dir")
            .arg(tmp.path())
            .arg("--save")
            .arg(tmp.path().join(save))
            .current_dir(tmp.path());
        if overwrite {
            command.arg("--overwrite");
        }
        let out = command.output().expect("the example runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--save {save}: {stderr}");
        assert!(
            stderr.contains("is a file of the data in") && !stderr.contains("panicked"),
            "--save {save}: {stderr}"
        );
    }
    assert_eq!(std::fs::read(&labels).unwrap(), b"the labels");
    assert!(!tmp.path().join("t10k-labels-idx1-ubyte").exists());
}

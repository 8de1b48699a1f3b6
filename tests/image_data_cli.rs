//! The `cifar10_cnn` and `predict` examples as processes on a folder of colour images made
//! by the test: the example trains on `--dataset folder`, states the memory before
//! decoding, and `predict` on its checkpoint reads RGB pictures the same way and prints the
//! class *names* (the folder names).
//!
//! Like `mnist_lenet_cli`, it builds the examples first when run alone.

mod common;

use common::examples_dir;
use std::path::Path;
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

fn example(name: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(examples_dir().join(name))
        .args(args)
        .current_dir(cwd)
        .env_remove("MNIST_DIR")
        .env_remove("CIFAR10_DIR")
        .env_remove("SCRATCHNET_KERNELS")
        .output()
        .expect("the example runs")
}

/// A 12×10 picture of `colour` with a little noise.
fn picture(path: &Path, colour: [u8; 3], seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_fn(12, 10, |x, y| {
        let noise = ((x * 7 + y * 13 + seed * 31) % 40) as u8;
        Rgb(colour.map(|c| c.saturating_sub(noise)))
    })
    .save(path)
    .unwrap();
}

#[test]
fn cifar10_cnn_trains_on_a_colour_folder_and_predict_prints_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("colours");
    for i in 0..24u32 {
        picture(
            &root.join(format!("train/reddish/{i}.png")),
            [230, 40, 30],
            i,
        );
        picture(
            &root.join(format!("train/bluish/{i}.jpg")),
            [20, 50, 220],
            i,
        );
    }
    std::fs::write(root.join("train/reddish/.DS_Store"), b"junk").unwrap();
    let save = tmp.path().join("colours.safetensors");
    let output = example(
        "cifar10_cnn",
        &[
            "--dataset",
            "folder",
            "--data-dir",
            root.to_str().unwrap(),
            "--val-fraction",
            "0.25",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--lr",
            "0.01",
            "--threads",
            "2",
            "--save",
            save.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(
            "2 classes, 36 training images (12 test: no test/ folder, 25% held out) as 3×10×12 u8"
        ),
        "{stdout}"
    );
    // The confusion matrix's rows and columns are class indices: a legend names them.
    assert!(stdout.contains("classes: 0 bluish, 1 reddish"), "{stdout}");

    let red = tmp.path().join("a red thing.png");
    picture(&red, [240, 30, 20], 99);
    let blue = tmp.path().join("blue.png");
    picture(&blue, [10, 40, 230], 98);
    let output = example(
        "predict",
        &[
            "--model",
            save.to_str().unwrap(),
            red.to_str().unwrap(),
            blue.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains("a red thing.png: reddish  (top 2: reddish"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("blue.png: bluish  (top 2: bluish"),
        "{stdout}"
    );
}

#[test]
fn folder_flags_with_another_dataset_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let output = example(
        "cifar10_cnn",
        &["--dataset", "mnist", "--channels", "3"],
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: --channels applies to --dataset folder only; leave it out, or train on an image folder"
    );
}

//! The `mnist_lenet`, `mnist_modern` and `predict` examples as processes: flag errors exit
//! 2 with clap's message (an invalid `SCRATCHNET_KERNELS` with one line), other failures
//! exit 1 with one `error: …` line, never a panic.
//!
//! `cargo test` builds the examples before running the tests; when this test runs
//! alone (`cargo test --test mnist_lenet_cli`), it builds them first.

mod common;

use common::examples_dir;
use scratchnet::train::Checkpoint;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn example(name: &str, args: &[&str], cwd: &Path) -> Output {
    example_with_env(name, args, cwd, &[])
}

/// Runs the example `name` with `args` in `cwd`, without `MNIST_DIR` and
/// `SCRATCHNET_KERNELS` from this process's environment but with the variables `env`.
fn example_with_env(name: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(examples_dir().join(name))
        .args(args)
        .current_dir(cwd)
        .env_remove("MNIST_DIR")
        .env_remove("SCRATCHNET_KERNELS")
        .envs(env.iter().copied())
        .output()
        .expect("the example runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Flag errors exit 2 with clap's whole message: the flag at fault and, where clap has
/// them, the values it accepts or the arguments that are missing (issue 16: the message
/// used to be cut to its first line, losing both), and never a backtrace.
#[test]
fn bad_flags_exit_2_with_clap_s_whole_message() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, needles) in [
        (&["--batch-size", "0"][..], &["--batch-size"][..]),
        (&["--lr", "-1"][..], &["--lr"]),
        (&["--lr", "nan"][..], &["--lr"]),
        (&["--epochs", "zero"][..], &["--epochs"]),
        (&["--epochs", "-1"][..], &["--epochs", "must be at least 1"]),
        (
            &["--threads", "-2"][..],
            &["--threads", "must be at least 1"],
        ),
        (
            &["--optimizer", "rmsprop"][..],
            &["rmsprop", "[possible values: adam, sgd]"],
        ),
        (&["--no-such-flag"][..], &["--no-such-flag"]),
        // QA: a negative number gave "unexpected argument '-1' found" for these.
        (
            &["--val-fraction", "-1"][..],
            &["--val-fraction", "must be at least 0 and below 1"],
        ),
        (
            &["--channels", "-1"][..],
            &["--channels", "must be 1 (grey) or 3"],
        ),
        (&["--image-size", "-1"][..], &["--image-size", "is not HxW"]),
        (
            &["--max-memory", "-1"][..],
            &["--max-memory", "is not a size"],
        ),
        (
            &["--max-memory", " 5"][..],
            &["--max-memory", "is not a size"],
        ),
        (
            &["--lr", "1e-300"][..],
            &["--lr", "1e-300 rounds to 0 in f32"],
        ),
        (
            &["--lr", "1e39"][..],
            &["--lr", "1e39 is beyond f32's range"],
        ),
        (
            &["--kernels", "turbo"][..],
            &["--kernels", "reference", "fast"],
        ),
    ] {
        let out = example("mnist_lenet", args, tmp.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
        }
        assert!(err.contains("--help"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing runs");
    }
    // QA: `predict --batch-size -1` gave "unexpected argument '-1' found".
    let out = example(
        "predict",
        &["--model", "x", "--batch-size", "-1", "a.png"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--batch-size") && err.contains("must be 1 to 65536"),
        "{err}"
    );
    // A missing argument is named: `predict --model x` without an image.
    let out = example("predict", &["--model", "x.safetensors"], tmp.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("<IMAGE>...") && err.contains("Usage:"),
        "{err}"
    );
    // Issue 16: a thread count past the bound is refused in one line before any thread
    // starts (a check of the program's, not clap's).
    let out = example("mnist_lenet", &["--threads", "1000"], tmp.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("--threads 1000"),
        "{err}"
    );
}

#[test]
fn unknown_kernels_exit_2_with_one_line_from_the_flag_or_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    // A data directory that does not exist: were the kernels accepted, the run would
    // stop there with exit code 1 (and never download anything).
    let no_data = ["--data-dir", "no/such/dir", "--epochs", "1"];
    let flag = example(
        "mnist_lenet",
        &joined(&no_data, &["--kernels", "turbo"]),
        tmp.path(),
    );
    let from_env = example_with_env(
        "mnist_lenet",
        &no_data,
        tmp.path(),
        &[("SCRATCHNET_KERNELS", "turbo")],
    );
    let predict = example_with_env(
        "predict",
        &["--model", "none.safetensors", "x.png"],
        tmp.path(),
        &[("SCRATCHNET_KERNELS", "turbo")],
    );
    // (`--kernels turbo` is clap's: see `bad_flags_exit_2_with_clap_s_whole_message`.)
    assert_eq!(flag.status.code(), Some(2), "{}", stderr(&flag));
    assert!(stderr(&flag).contains("turbo"), "{}", stderr(&flag));
    for (out, needle) in [
        (&from_env, "SCRATCHNET_KERNELS"),
        (&predict, "SCRATCHNET_KERNELS"),
    ] {
        let err = stderr(out);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{needle}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle) && err.contains("turbo"),
            "{needle}: {err}"
        );
        assert!(err.contains("reference") && err.contains("fast"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            out.stdout.is_empty(),
            "{needle}: nothing runs before the check"
        );
    }
    // The flag wins over the environment.
    let both = example_with_env(
        "mnist_lenet",
        &joined(&no_data, &["--kernels", "fast"]),
        tmp.path(),
        &[("SCRATCHNET_KERNELS", "turbo")],
    );
    assert_eq!(both.status.code(), Some(1), "{}", stderr(&both));
    assert!(stderr(&both).contains("no/such/dir"), "{}", stderr(&both));
}

/// Trains on a small generated folder of digits rather than MNIST: the reference kernels
/// take about 20 s to score MNIST's 10,000 test images, and what is checked is the
/// kernels, not the data.
#[test]
fn the_reference_kernels_train_and_are_named_in_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(&tmp.path().join("digits"), 256, 40);
    let args = folder_run(
        &root,
        "1",
        &[
            "--kernels",
            "reference",
            "--threads",
            "2",
            "--save",
            "ref.safetensors",
        ],
    );
    let out = example("mnist_lenet", &args, tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("kernels: reference (plain loops)"), "{text}");
    assert!(text.contains("test accuracy "), "{text}");
    // The epoch's summary, printed when it ends (after its batches' log lines, without
    // a terminal).
    let epoch_lines: Vec<&str> = text.lines().filter(|l| l.contains("train loss")).collect();
    assert!(
        matches!(&epoch_lines[..], [line] if line.starts_with("epoch 1/1: train loss ")
            && line.contains("% | test loss ")
            && line.contains(" samples/s, lr ")),
        "{text}"
    );
    let state = Checkpoint::load(&tmp.path().join("ref.safetensors"))
        .unwrap()
        .training
        .unwrap();
    assert_eq!(state.epoch, 1);
    assert_eq!(state.optimizer.steps, 4, "256 images in batches of 64");

    // The same from the environment, for predict on the checkpoint just trained.
    image::GrayImage::from_pixel(28, 28, image::Luma([0]))
        .save(tmp.path().join("blank.png"))
        .unwrap();
    let predict = example_with_env(
        "predict",
        &["--model", "ref.safetensors", "blank.png"],
        tmp.path(),
        &[("SCRATCHNET_KERNELS", "reference")],
    );
    assert!(predict.status.success(), "{}", stderr(&predict));
    let fast = example(
        "predict",
        &[
            "--model",
            "ref.safetensors",
            "--kernels",
            "fast",
            "blank.png",
        ],
        tmp.path(),
    );
    assert!(fast.status.success(), "{}", stderr(&fast));
    // Both tiers give the same class for the same input.
    let class = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .nth(1)
            .map(str::to_string)
    };
    assert_eq!(class(&predict), class(&fast));
}

/// Issue 16's first reproducer: `--lr 1e8` on a run that saves onto a good
/// checkpoint (allowed to replace it, `--overwrite`). The diverged model is not saved,
/// the run exits non-zero saying so, and the good checkpoint is still there, byte for
/// byte.
#[test]
fn a_diverged_run_exits_1_and_keeps_the_good_checkpoint() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let common = short_run(&dir, "64", "1", &["--save", "run.safetensors"]);
    let good = example("mnist_lenet", &common, tmp.path());
    assert!(good.status.success(), "{}", stderr(&good));
    let before = std::fs::read(tmp.path().join("run.safetensors")).unwrap();
    let out = example(
        "mnist_lenet",
        &joined(&common, &["--lr", "1e8", "--overwrite"]),
        tmp.path(),
    );
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("diverged") && message.contains("without saving"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    let after = std::fs::read(tmp.path().join("run.safetensors")).unwrap();
    assert_eq!(before, after, "the good checkpoint was replaced");
}

/// A new run never replaces the checkpoint at `--save` by surprise (the default
/// `lenet.safetensors` of a second `cargo run`): refused before it loads anything, in
/// one line naming `--resume` and `--overwrite`, the file left as it was. An output in
/// the data directory is refused the same way.
#[test]
fn a_new_run_refuses_to_replace_a_checkpoint_or_write_into_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("lenet.safetensors");
    std::fs::write(&path, b"a trained model").unwrap();
    let out = example("mnist_lenet", &["--data-dir", "no/such/dir"], tmp.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--save lenet.safetensors: the file exists")
            && err.contains("--resume lenet.safetensors continues")
            && err.contains("--overwrite replaces it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"a trained model");

    let data = tmp.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    let out = example(
        "mnist_lenet",
        &[
            "--data-dir",
            "mnist",
            "--save",
            "mnist/train-labels-idx1-ubyte.gz",
        ],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a file of the data in mnist"), "{err}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}

/// QA 5 F1: only a `--data-dir` folder was protected. With the folder from
/// `$MNIST_DIR`, `$FASHION_MNIST_DIR`, `$CIFAR10_DIR` or the default `data/mnist`, an
/// output replaced a data file (or created its raw name, read in the `.gz`'s place)
/// with exit 0. Each is refused before training, in one line, and nothing is written.
#[test]
fn the_data_folder_from_the_environment_or_the_default_is_never_written_to() {
    let tmp = tempfile::tempdir().unwrap();
    for folder in ["d", "f", "c"] {
        std::fs::create_dir(tmp.path().join(folder)).unwrap();
    }
    let data_files = [
        "d/t10k-labels-idx1-ubyte.gz",
        "d/train-images-idx3-ubyte.gz",
        "f/t10k-labels-idx1-ubyte.gz",
        "c/test_batch.bin",
    ];
    for file in data_files {
        std::fs::write(tmp.path().join(file), b"data").unwrap();
    }
    let folder = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (mnist, fashion, cifar) = (folder("d"), folder("f"), folder("c"));
    let cases: [(&str, &[&str], (&str, &str)); 5] = [
        (
            "mnist_lenet",
            &["--metrics", "d/t10k-labels-idx1-ubyte.gz"],
            ("MNIST_DIR", &mnist),
        ),
        (
            "mnist_lenet",
            &["--save", "d/train-images-idx3-ubyte.gz", "--overwrite"],
            ("MNIST_DIR", &mnist),
        ),
        (
            "mnist_lenet",
            &["--metrics", "d/train-labels-idx1-ubyte"],
            ("MNIST_DIR", &mnist),
        ),
        (
            "mnist_lenet",
            &[
                "--dataset",
                "fashion",
                "--metrics",
                "f/t10k-labels-idx1-ubyte.gz",
            ],
            ("FASHION_MNIST_DIR", &fashion),
        ),
        (
            "cifar10_cnn",
            &["--save", "c/test_batch.bin", "--overwrite"],
            ("CIFAR10_DIR", &cifar),
        ),
    ];
    for (name, args, env) in cases {
        let out = example_with_env(name, args, tmp.path(), &[env]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(": is a file of the data in "), "{err}");
    }
    for file in data_files {
        assert_eq!(std::fs::read(tmp.path().join(file)).unwrap(), b"data");
    }
    assert!(!tmp.path().join("d/train-labels-idx1-ubyte").exists());
    // The default folder, when nothing names one (only while it has no data, so that
    // this test cannot damage a real copy).
    let default = scratchnet::data::default_dir(scratchnet::data::DatasetKind::Mnist);
    if !default.exists() {
        let output = default.join("train-labels-idx1-ubyte.gz");
        let out = example(
            "mnist_lenet",
            &["--metrics", output.to_str().unwrap()],
            tmp.path(),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(": is a file of the data in "), "{err}");
        assert!(!default.exists());
    }
}

/// QA 5 F3: `--metrics mycode.rs --report notes.html` replaced a user's files with
/// exit 0. Such a file is refused before anything is loaded (one line naming the
/// flag, the file and the fix), and kept; a second run with the same flags replaces
/// its own earlier outputs, without `--overwrite`.
#[test]
fn side_outputs_never_replace_a_user_s_file_but_do_replace_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, name) in [
        ("--metrics", "mycode.rs"),
        ("--plot", "mine.svg"),
        ("--report", "notes.html"),
        ("--predictions", "notes.txt"),
    ] {
        std::fs::write(tmp.path().join(name), b"a user's file").unwrap();
        let out = example(
            "mnist_lenet",
            &["--data-dir", "no/such/dir", flag, name],
            tmp.path(),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let expected = format!("{flag} {name}: the file exists and is not ");
        assert!(
            err.contains(&expected) && err.contains("--overwrite replaces it"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(tmp.path().join(name)).unwrap(),
            b"a user's file"
        );
    }
    let Some(dir) = mnist_dir() else { return };
    let outputs = [
        "--metrics",
        "m.json",
        "--plot",
        "p.svg",
        "--report",
        "r.html",
        "--predictions",
        "p.st",
    ];
    for epochs in ["1", "2"] {
        let save: &[&str] = if epochs == "1" {
            &["--save", "s.st"]
        } else {
            &["--save", "s.st", "--resume", "s.st"]
        };
        let args = short_run(&dir, "200", epochs, &joined(save, &outputs));
        let out = example("mnist_lenet", &args, tmp.path());
        assert!(out.status.success(), "epochs {epochs}: {}", stderr(&out));
    }
    let metrics = std::fs::read_to_string(tmp.path().join("m.json")).unwrap();
    assert!(metrics.contains("\"epoch\": 2"), "{metrics}");
}

/// Issue 16: two runs saving to one file — the last to finish silently won. The
/// second (here the test process holds the lock, as a running `mnist_lenet` would) is
/// refused before it loads anything: exit 1, one line naming the file and the pid.
#[test]
fn a_second_run_saving_to_one_file_exits_1_before_loading_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run.safetensors");
    let _other_run = scratchnet::train::SaveLock::acquire(&path).unwrap();
    let out = example(
        "mnist_lenet",
        &["--data-dir", "no/such/dir", "--save", "run.safetensors"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let expected = format!(
        "error: another run (pid {}) is already writing to run.safetensors",
        std::process::id()
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(!path.exists());
}

/// Issue 16: `--save` onto a symbolic link replaced the link with a regular file, and a
/// kill during a save left `.NAME.tmpPID-N` behind forever. The link's target is
/// updated and the link kept; the leftover beside the target is removed, in one line.
#[cfg(unix)]
#[test]
fn a_save_through_a_link_updates_its_target_and_removes_a_leftover() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    std::os::unix::fs::symlink("runs/run.safetensors", tmp.path().join("latest.st")).unwrap();
    let leftover = runs.join(".run.safetensors.tmp4242-0");
    std::fs::write(&leftover, b"half a checkpoint").unwrap();
    let out = example(
        "mnist_lenet",
        &short_run(&dir, "64", "1", &["--save", "latest.st"]),
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("removed a leftover temporary file ") && stdout.contains("tmp4242-0"),
        "{stdout}"
    );
    assert!(!leftover.exists());
    let link = std::fs::symlink_metadata(tmp.path().join("latest.st")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    Checkpoint::load(&runs.join("run.safetensors")).unwrap();
    let names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["run.safetensors"]);
}

#[test]
fn a_missing_data_directory_exits_1_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = example(
        "mnist_lenet",
        &["--data-dir", "no/such/dir", "--epochs", "1"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: MNIST directory no/such/dir does not exist"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The data is loaded before the model is built for its shape and classes: the error
    // comes before any summary.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("61,706"), "{stdout}");
}

#[test]
fn a_corrupt_checkpoint_exits_1_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.safetensors"), b"not a checkpoint").unwrap();
    let out = example("mnist_lenet", &["--resume", "bad.safetensors"], tmp.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.safetensors is not a valid safetensors checkpoint"),
        "{err}"
    );

    let out = example(
        "predict",
        &["--model", "bad.safetensors", "x.png"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("bad.safetensors"),
        "{err}"
    );
}

/// One epoch of `fashion_resnet` on MNIST at `data` with `args`, in `cwd`, in a process
/// whose address space is limited to `kib` KiB (`ulimit -v`).
#[cfg(target_os = "linux")]
fn resnet_on_mnist_within(kib: u32, data: &Path, args: &[&str], cwd: &Path) -> Output {
    let data = data.to_str().expect("MNIST_DIR is UTF-8");
    Command::new("sh")
        .args(["-c", &format!(r#"ulimit -v {kib} && exec "$0" "$@""#)])
        .arg(examples_dir().join("fashion_resnet"))
        .args(["--dataset", "mnist", "--data-dir", data, "--epochs", "1"])
        .args(args)
        .current_dir(cwd)
        .env_remove("SCRATCHNET_KERNELS")
        .output()
        .expect("the example runs")
}

/// QA: `fashion_resnet --batch-size 60000` aborted in its first step ("memory
/// allocation of 3010560000 bytes failed", exit 134 and a backtrace), or without a
/// `ulimit -v` had the machine kill it. A batch of all 60,000 images needs some 80 GiB
/// for this model: refused before training, at once, in one line with the largest batch
/// that fits, and no checkpoint written. The run is given an address space of about 4
/// GiB, so that the check refuses it on any machine (a run that went on would abort at
/// its first large allocation, not take the machine's memory).
#[cfg(target_os = "linux")]
#[test]
fn a_batch_too_large_for_the_memory_is_refused_before_training() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = resnet_on_mnist_within(
        4_000_000,
        &dir,
        &["--batch-size", "1000000000", "--save", "big.st"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "error: invalid configuration: --batch-size 1000000000 (one batch of all 60,000 \
             training images) needs about "
        ) && err.contains(
            " GiB for one training step of fashion_resnet (evaluating one test image at a time); "
        ) && err.contains(": use a smaller --batch-size (at most about "),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "refused after {:?}",
        started.elapsed()
    );
    assert!(!tmp.path().join("big.st").exists());
}

/// A run whose training step fits but whose evaluation batch (250 test images) does not
/// evaluates fewer at a time, and says so: the results are the same. About 370 MiB of
/// address space leaves room for the data and the ResNet's step at batch 64, and for a
/// few dozen of its test images at a time (this machine: 27–175 between 244 and 488 MiB).
#[cfg(target_os = "linux")]
#[test]
fn an_evaluation_batch_too_large_for_the_memory_is_lowered_and_said() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = resnet_on_mnist_within(
        380_000,
        &dir,
        &["--limit-train", "64", "--threads", "1", "--save", "r.st"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said =
        " test images at a time (not 250), to fit in the memory there is: the results are the same";
    let line = stdout
        .lines()
        .find(|line| line.starts_with("evaluating ") && line.ends_with(said))
        .unwrap_or_else(|| panic!("no line saying the evaluation batch was lowered:\n{stdout}"));
    let images: usize = line["evaluating ".len()..line.len() - said.len()]
        .parse()
        .expect("a number of images");
    assert!((1..250).contains(&images), "{line}");
    assert!(tmp.path().join("r.st").is_file());
}

/// QA: under `ulimit -v 300000`, loading MNIST aborted with "memory allocation of
/// 47040000 bytes failed" and a backtrace (exit 134), even with `--limit-train 2000`:
/// the whole training images file is read first. Refused in one line naming the file,
/// the memory it needs and the limit, exit 1, nothing written. An address space of
/// 39 MiB is less than the training images alone (44.9 MiB), so loading fails on any
/// machine, at the first of the buffers it allocates (the others, and the room the
/// `mnist` crate's parser needs, are allocated the same way).
#[cfg(target_os = "linux")]
#[test]
fn too_little_memory_to_load_the_data_is_one_error_line_not_an_abort() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", r#"ulimit -v 40000 && exec "$0" "$@""#])
        .arg(examples_dir().join("mnist_lenet"))
        .args(short_run(&dir, "2000", "1", &["--save", "u.st"]))
        .current_dir(tmp.path())
        .env_remove("SCRATCHNET_KERNELS")
        .output()
        .expect("the example runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: not enough memory to load {}",
            dir.join("train-images-idx3-ubyte").display()
        )) && err.contains(
            ": it needs 44.9 MiB more, which this process cannot allocate (its address-space \
             limit, ulimit -v, is 39.1 MiB): raise that limit, or free some memory \
             (--limit-train does not lower this"
        ),
        "{err}"
    );
    assert!(!tmp.path().join("u.st").exists());
}

/// QA: resuming a checkpoint that already has its last epoch trained nothing, wrote
/// nothing to another `--save` and said nothing of it (exit 0, metrics written). It
/// says so in one line naming the fix, still evaluates and writes the metrics; resumed
/// onto itself, the checkpoint is left as it was.
#[test]
fn a_finished_checkpoint_resumed_says_nothing_is_trained_or_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(&tmp.path().join("digits"), 128, 20);
    let first = example(
        "mnist_lenet",
        &folder_run(&root, "1", &["--save", "s.st"]),
        tmp.path(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let trained = std::fs::read(tmp.path().join("s.st")).unwrap();

    let other = folder_run(
        &root,
        "1",
        &[
            "--resume",
            "s.st",
            "--save",
            "oth.st",
            "--metrics",
            "oth.json",
        ],
    );
    let out = example("mnist_lenet", &other, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "\nnothing to train: s.st is already at epoch 1 of 1 (raise --epochs to train \
             more); oth.st not written\n"
        ),
        "{text}"
    );
    assert!(!tmp.path().join("oth.st").exists());
    assert!(tmp.path().join("oth.json").exists());

    let same = folder_run(&root, "1", &["--resume", "s.st", "--save", "s.st"]);
    let out = example("mnist_lenet", &same, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "\nnothing to train: s.st is already at epoch 1 of 1 (raise --epochs to train \
             more)\n"
        ),
        "{text}"
    );
    assert_eq!(std::fs::read(tmp.path().join("s.st")).unwrap(), trained);
}

/// QA: `--resume` on a `--predictions` file said to give it to `--init-weights`, which
/// then refused it with a message ending in two different "give …" fixes; a PyTorch
/// `.pth` was "header length is 578712552184433488 bytes"; a checkpoint with more
/// epochs than `--epochs` printed the model summary before its error; `--epochs
/// 18446744073709551615` was refused only after the data loaded, with no value to use.
/// Each is one line naming the real problem and its fix, and no model summary.
#[test]
fn refused_resumes_name_the_file_s_real_problem_and_print_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(&tmp.path().join("digits"), 64, 10);
    let first = folder_run(&root, "2", &["--save", "s.st", "--predictions", "pr.st"]);
    let out = example("mnist_lenet", &first, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let pth = b"PK\x03\x04\x14\x00\x00\x08\x08\x00archive/";
    std::fs::write(tmp.path().join("pt.pth"), pth).unwrap();
    let refused = |args: &[&str], expected: &str| {
        let out = example("mnist_lenet", args, tmp.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
        // At most the line of the data loaded: no model summary.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.lines().count() <= 1 && !stdout.contains("parameters"),
            "{stdout}"
        );
        err
    };
    let err = refused(
        &folder_run(&root, "3", &["--resume", "pr.st", "--save", "n.st"]),
        "--resume pr.st: it is a --predictions file (a test set's logits, predictions and \
         labels), not a model: give the checkpoint its run saved (the --save path)",
    );
    assert!(!err.contains("--init-weights"), "{err}");
    let err = refused(
        &folder_run(&root, "1", &["--init-weights", "pr.st", "--save", "n.st"]),
        "it is a --predictions file",
    );
    assert_eq!(err.matches("give ").count(), 1, "{err}");
    refused(
        &folder_run(&root, "1", &["--resume", "pt.pth", "--save", "n.st"]),
        "pt.pth is not a valid safetensors checkpoint: it is a PyTorch checkpoint \
         (torch.save's zip format): save its state_dict as safetensors, e.g. \
         `safetensors.torch.save_file(model.state_dict(), \"x.safetensors\")`",
    );
    refused(
        &folder_run(&root, "1", &["--resume", "s.st", "--save", "n.st"]),
        "s.st already has 2 epochs, more than --epochs 1",
    );
    // Checked with the flags: before the (missing) data folder is looked at.
    refused(
        &folder_run("no-such-folder", "18446744073709551615", &[]),
        "--epochs 18446744073709551615 is more than a run can have: give at most 4294967296",
    );
    assert!(!tmp.path().join("n.st").exists());
}

/// QA: `mnist_modern --resume … --no-augment` went on training a run that augmented on
/// images that were not, without a word (any other change of the recipe is refused).
/// Refused in one line naming the flag, the checkpoint left as it was; resumed as it was
/// trained, it goes on.
#[test]
fn a_resume_with_the_other_augmentation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(&tmp.path().join("digits"), 128, 20);
    let first = example(
        "mnist_modern",
        &folder_run(&root, "1", &["--save", "m.st"]),
        tmp.path(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let trained = std::fs::read(tmp.path().join("m.st")).unwrap();
    let resume = ["--resume", "m.st", "--save", "m.st"];

    let out = example(
        "mnist_modern",
        &folder_run(&root, "2", &joined(&resume, &["--no-augment"])),
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("m.st was trained with augmentation (random shifts of the training images), not without")
            && err.contains("leave out --no-augment"),
        "{err}"
    );
    assert_eq!(std::fs::read(tmp.path().join("m.st")).unwrap(), trained);

    let out = example("mnist_modern", &folder_run(&root, "2", &resume), tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let state = Checkpoint::load(&tmp.path().join("m.st"))
        .unwrap()
        .training
        .unwrap();
    assert_eq!(state.epoch, 2);
}

#[test]
fn predict_classifies_images_and_rejects_unreadable_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/train/tests/fixtures/pytorch_lenet.st");
    // A white page with a black vertical stroke, as a phone photo of a "1" might be.
    let page = image::GrayImage::from_fn(60, 80, |x, _| {
        image::Luma([if (27..33).contains(&x) { 0 } else { 255 }])
    });
    page.save(tmp.path().join("one.png")).unwrap();
    image::DynamicImage::ImageLuma8(page)
        .to_rgb8()
        .save(tmp.path().join("one.jpg"))
        .unwrap();
    std::fs::write(
        tmp.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let model = fixture.to_str().unwrap();

    let out = example(
        "predict",
        &["--model", model, "one.png", "one.jpg"],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("one.png: ") && lines[0].contains("top 3: "),
        "{text}"
    );
    assert!(lines[1].starts_with("one.jpg: "), "{text}");
    assert_eq!(text.matches('%').count(), 6, "{text}");

    let out = example(
        "predict",
        &["--model", model, "one.png", "broken.png"],
        tmp.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: cannot read the image broken.png"),
        "{err}"
    );

    let out = example("predict", &["--model", model], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `predict` printed a class for a JPEG cut short (its missing part decoded as grey) and
/// exited 0, and waited for ever on a FIFO given as an image. Each now exits 1 with one
/// line naming the file; the wait is bounded here so that a regression fails the test.
#[test]
fn predict_refuses_a_jpeg_cut_short_and_a_fifo_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/train/tests/fixtures/pytorch_lenet.st");
    let model = fixture.to_str().unwrap();
    let photo = tmp.path().join("photo.jpg");
    image::RgbImage::from_fn(90, 60, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 4) as u8, ((x + y) * 3 % 256) as u8])
    })
    .save(&photo)
    .unwrap();
    let bytes = std::fs::read(&photo).unwrap();
    std::fs::write(tmp.path().join("cut.jpg"), &bytes[..bytes.len() / 2]).unwrap();
    let made = Command::new("mkfifo")
        .arg(tmp.path().join("pipe.png"))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");

    let out = example("predict", &["--model", model, "photo.jpg"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    for (image, reason) in [
        (
            "cut.jpg",
            "the JPEG ends before its end-of-image marker: the file is cut short",
        ),
        ("pipe.png", "it is a FIFO (named pipe), not a regular file"),
    ] {
        let mut child = Command::new(examples_dir().join("predict"))
            .args(["--model", model, "photo.jpg", image])
            .current_dir(tmp.path())
            .env_remove("SCRATCHNET_KERNELS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("predict starts");
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(30) {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("predict never ended on {image}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{image}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!("error: cannot read the image {image}: {reason}\n")
        );
    }
}

#[test]
fn predict_streams_images_in_batches_and_prints_the_same_whatever_the_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/train/tests/fixtures/pytorch_lenet.st");
    let model = fixture.to_str().unwrap();
    // Seven different pictures (a stroke at different places and widths), and 301
    // paths cycling through them: two batches of the default 256.
    for i in 0..7u32 {
        let picture = image::GrayImage::from_fn(28 + 3 * i, 28, |x, y| {
            let on = (4 + 2 * i..8 + 3 * i).contains(&x) && y > i;
            image::Luma([if on { 255 } else { 0 }])
        });
        picture.save(tmp.path().join(format!("d{i}.png"))).unwrap();
    }
    let paths: Vec<String> = (0..301).map(|i| format!("d{}.png", i % 7)).collect();
    let run = |batch_size: Option<&str>, paths: &[String]| -> String {
        let mut args = vec!["--model", model];
        if let Some(n) = batch_size {
            args.extend(["--batch-size", n]);
        }
        args.extend(paths.iter().map(String::as_str));
        let out = example("predict", &args, tmp.path());
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let default = run(None, &paths);
    let lines: Vec<&str> = default.lines().collect();
    assert_eq!(lines.len(), 301, "{default}");
    for (line, path) in lines.iter().zip(&paths) {
        assert!(line.starts_with(&format!("{path}: ")), "{line}");
    }
    for batch_size in ["1", "7", "300", "65536"] {
        assert_eq!(
            run(Some(batch_size), &paths),
            default,
            "--batch-size {batch_size}"
        );
    }
    // Each picture alone, in its own process, prints its line of the long run.
    for (i, line) in lines.iter().take(7).enumerate() {
        assert_eq!(run(None, &paths[i..=i]), format!("{line}\n"));
    }
    for bad in ["0", "65537", "x"] {
        let out = example(
            "predict",
            &["--model", model, "--batch-size", bad, "d0.png"],
            tmp.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--batch-size"), "{}", stderr(&out));
    }
}

/// `predict` on a checkpoint of a model it does not build (`mnist_modern`'s, or one of the
/// user's own without a model name), or of `cifar10_cnn` for images too large for it, says
/// so in one line and exits 1; before, the first printed every mismatched tensor and the
/// second panicked.
#[test]
fn predict_names_a_model_it_cannot_build() {
    use scratchnet::prelude::{SeedableRng, StdRng};
    let tmp = tempfile::tempdir().unwrap();
    let lenet = scratchnet::train::models::lenet5(&mut StdRng::seed_from_u64(0));
    image::GrayImage::new(28, 28)
        .save(tmp.path().join("d.png"))
        .unwrap();
    let save = |name: &str, metadata: &[(&str, &str)]| {
        let mut checkpoint = Checkpoint::from_model(&lenet);
        for (key, value) in metadata {
            checkpoint = checkpoint.with_metadata(*key, *value);
        }
        checkpoint.save(&tmp.path().join(name)).unwrap();
    };
    save("modern.st", &[("model", "mnist_modern")]);
    save(
        "huge.st",
        &[
            ("model", "cifar10_cnn"),
            ("input_shape", "3,2048,2048"),
            ("classes", r#"["cat","dog"]"#),
            ("normalization", "[[0.5,0.25],[0.5,0.25],[0.5,0.25]]"),
        ],
    );
    // It printed "?" for the labels past the fifth, and exited 0.
    save(
        "five.st",
        &[
            ("model", "lenet5"),
            ("input_shape", "1,28,28"),
            ("classes", r#"["a","b","c","d","e"]"#),
            ("normalization", "[[0.1307,0.3081]]"),
        ],
    );
    // A model of the user's own, saved without a model name: it said "not a checkpoint of
    // this model" without saying which model it had assumed.
    let own = scratchnet::train::models::conv3x3(1, 4, 1, &mut StdRng::seed_from_u64(0));
    Checkpoint::from_model(&own)
        .save(&tmp.path().join("own.st"))
        .unwrap();
    for (model, needle) in [
        ("own.st", "records no model name, so it was read as LeNet-5"),
        (
            "modern.st",
            "modern.st holds a mnist_modern model; predict classifies with lenet5",
        ),
        ("huge.st", "im2col"),
        (
            "five.st",
            "five.st records 5 class names for a LeNet-5 of 10 outputs",
        ),
    ] {
        let out = example("predict", &["--model", model, "d.png"], tmp.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    }
}

/// `predict --explain` writes one marked PNG per image beside it (510×520 for LeNet-5:
/// input, saliency and overlay at 112 pixels, then conv1, pool1, conv2 and pool2), replaces
/// its own picture on a second run, and refuses before classifying anything a file it did
/// not write, a missing `--explain-dir` or an unreadable image.
#[test]
fn predict_explain_writes_a_picture_beside_each_image_and_never_over_a_user_s_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/train/tests/fixtures/pytorch_lenet.st");
    let model = fixture.to_str().unwrap();
    let stroke = image::GrayImage::from_fn(40, 40, |x, y| {
        image::Luma([if (18..23).contains(&x) && (6..34).contains(&y) {
            255
        } else {
            0
        }])
    });
    stroke.save(tmp.path().join("one.png")).unwrap();
    stroke.save(tmp.path().join("two.png")).unwrap();
    let explain =
        |args: &[&str]| example("predict", &joined(&["--model", model], args), tmp.path());

    for run in 0..2 {
        let out = explain(&["--explain", "one.png"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {}", stderr(&out));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].starts_with("one.png: saliency of ")
                && lines[1]
                    .ends_with("feature maps of conv1, pool1, conv2, pool2 in one.explain.png"),
            "{text}"
        );
        let picture = image::open(tmp.path().join("one.explain.png")).unwrap();
        assert_eq!((picture.width(), picture.height()), (510, 520));
    }

    // A picture of the user's own where the output would go: refused, untouched, and
    // nothing classified.
    let users = tmp.path().join("two.explain.png");
    stroke.save(&users).unwrap();
    let before = std::fs::read(&users).unwrap();
    let out = explain(&["--explain", "one.png", "two.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: ")
            && err.contains(
                "two.explain.png already exists and was not written by predict --explain"
            )
            && err.contains("--explain-dir"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read(&users).unwrap(), before);

    // Into another directory instead; a missing one is refused.
    std::fs::create_dir(tmp.path().join("pictures")).unwrap();
    let out = explain(&["--explain-dir", "pictures", "two.png"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tmp.path().join("pictures/two.explain.png").is_file());
    let out = explain(&["--explain-dir", "nowhere", "two.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--explain-dir nowhere: no such directory"),
        "{err}"
    );

    // An image that cannot be read: one error line naming it, no picture.
    std::fs::write(
        tmp.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let out = explain(&["--explain", "broken.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: cannot read the image broken.png"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!tmp.path().join("broken.explain.png").exists());
}

/// The MNIST directory of `$MNIST_DIR`; `None` (the test is skipped) when unset, a
/// failure when set to a directory without MNIST.
fn mnist_dir() -> Option<PathBuf> {
    let Some(dir) = scratchnet::data::mnist_dir_from_env() else {
        eprintln!("skipped: MNIST_DIR is not set");
        return None;
    };
    let dir = std::fs::canonicalize(&dir)
        .unwrap_or_else(|e| panic!("MNIST_DIR is set to {}: {e}", dir.display()));
    scratchnet::data::load(scratchnet::data::DatasetKind::Mnist, &dir)
        .unwrap_or_else(|e| panic!("MNIST_DIR is set but: {e}"));
    Some(dir)
}

/// `first` then `then`, as one argument list.
fn joined<'a>(first: &[&'a str], then: &[&'a str]) -> Vec<&'a str> {
    first.iter().chain(then).copied().collect()
}

/// The flags of a short training run on the MNIST in `dir`: `--data-dir DIR
/// --limit-train IMAGES --epochs EPOCHS`, then `more`. `short_run(&dir, "6000", "1",
/// &["--threads", "1"])` trains on 6000 images for one epoch on one thread.
fn short_run<'a>(
    dir: &'a Path,
    images: &'a str,
    epochs: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let data = dir.to_str().expect("MNIST_DIR is UTF-8");
    joined(
        &[
            "--data-dir",
            data,
            "--limit-train",
            images,
            "--epochs",
            epochs,
        ],
        more,
    )
}

/// The flags of a run on the image folder `root`: `--dataset folder --data-dir ROOT
/// --epochs EPOCHS`, then `more`.
fn folder_run<'a>(root: &'a str, epochs: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    joined(
        &[
            "--dataset",
            "folder",
            "--data-dir",
            root,
            "--epochs",
            epochs,
        ],
        more,
    )
}

/// Writes a folder of 28×28 grey "digits" for `--dataset folder` to `root` and returns
/// its path: `train` images in `train/<class>/`, `test` in `test/<class>/`, image `i` of
/// class `i % 10`, a bright vertical stroke at a column of its class with a little noise.
/// Runs where the data is not what is checked train on it instead of MNIST: it needs no
/// `MNIST_DIR`, and its small test set is scored in a moment.
fn stroke_folder(root: &Path, train: usize, test: usize) -> String {
    for (split, count) in [("train", train), ("test", test)] {
        for i in 0..count {
            let class = i % 10;
            let column = 3 + 2 * class as u32;
            let dir = root.join(split).join(class.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            image::GrayImage::from_fn(28, 28, |x, y| {
                let noise = ((x * 7 + y * 13 + i as u32 * 31) % 50) as u8;
                let stroke = x.abs_diff(column) <= 1 && (4..24).contains(&y);
                image::Luma([if stroke { 255 - noise } else { noise }])
            })
            .save(dir.join(format!("{i}.png")))
            .unwrap();
        }
    }
    root.to_str()
        .expect("the temporary directory is UTF-8")
        .to_string()
}

/// Starts the example `name` with `args`, waits for its first progress line of training
/// (`epoch 1/… batch …`), sends it `signals` SIGINTs, and returns its exit code,
/// standard output and standard error.
fn interrupt(
    name: &str,
    args: &[&str],
    cwd: &Path,
    signals: usize,
) -> (Option<i32>, String, String) {
    interrupt_with("INT", name, args, cwd, signals)
}

/// [`interrupt`] with another signal (`TERM`: what `timeout`, `kill` and job
/// schedulers send).
fn interrupt_with<A: AsRef<std::ffi::OsStr>>(
    signal: &str,
    name: &str,
    args: &[A],
    cwd: &Path,
    signals: usize,
) -> (Option<i32>, String, String) {
    let mut child = Command::new(examples_dir().join(name))
        .args(args)
        .current_dir(cwd)
        .env_remove("MNIST_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_thread = std::thread::spawn(move || {
        let mut text = String::new();
        stderr_pipe.read_to_string(&mut text).unwrap();
        text
    });
    let mut stdout = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut signalled = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if line.starts_with("epoch 1/") && line.contains(" batch ") {
            for _ in 0..signals {
                let status = Command::new("kill")
                    .args([&format!("-{signal}"), &child.id().to_string()])
                    .status()
                    .expect("kill runs");
                assert!(status.success());
            }
            signalled = true;
            break;
        }
    }
    for line in lines {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    let stderr = stderr_thread.join().unwrap();
    assert!(signalled, "training never started:\n{stdout}\n{stderr}");
    (status.code(), stdout, stderr)
}

#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes_exactly() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let common = short_run(&dir, "6000", "2", &["--threads", "1"]);
    let with = |extra: &[&'static str]| joined(&common, extra);

    let (code, out_text, err_text) = interrupt(
        "mnist_lenet",
        &with(&["--save", "run.safetensors"]),
        tmp.path(),
        1,
    );
    assert_eq!(code, Some(130), "{out_text}\n{err_text}");
    assert!(
        err_text.contains("training was interrupted after batch"),
        "{err_text}"
    );
    let hint = err_text
        .lines()
        .find_map(|l| l.strip_prefix("resume with: "))
        .unwrap_or_else(|| panic!("no resume hint: {err_text}"));
    assert!(
        hint.ends_with("--save run.safetensors --resume run.safetensors"),
        "{hint}"
    );
    assert!(hint.contains("--limit-train 6000 --epochs 2"), "{hint}");
    let state = Checkpoint::load(&tmp.path().join("run.safetensors"))
        .unwrap()
        .training
        .unwrap();
    assert_eq!(state.epoch, 0, "stopped in epoch 1");
    let partial = state.partial.expect("a mid-epoch checkpoint");
    assert!(
        partial.batches_done >= 1 && partial.batches_done <= 94,
        "{partial:?}"
    );
    assert_eq!(partial.batches, 94);
    assert_eq!(state.optimizer.steps, partial.batches_done as u64);

    // Resume with the printed flags, to the end.
    let resumed = example(
        "mnist_lenet",
        &with(&["--save", "run.safetensors", "--resume", "run.safetensors"]),
        tmp.path(),
    );
    let out = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{out}\n{}", stderr(&resumed));
    assert!(
        out.contains("resuming from run.safetensors in epoch 1 of 2"),
        "{out}"
    );

    // The same run without interruption gives the same weights and metrics.
    let straight = example(
        "mnist_lenet",
        &with(&["--save", "straight.safetensors"]),
        tmp.path(),
    );
    assert!(straight.status.success(), "{}", stderr(&straight));
    let a = Checkpoint::load(&tmp.path().join("run.safetensors")).unwrap();
    let b = Checkpoint::load(&tmp.path().join("straight.safetensors")).unwrap();
    assert!(a.tensors == b.tensors, "the resumed weights differ");
    let (a, b) = (a.training.unwrap(), b.training.unwrap());
    assert_eq!(a.epoch, 2);
    assert!(a.optimizer == b.optimizer, "the optimizer states differ");
    let strip = |h: &scratchnet::train::History| {
        h.epochs
            .iter()
            .map(|e| {
                (
                    e.epoch,
                    e.train_loss,
                    e.train_accuracy,
                    e.test_loss,
                    e.test_accuracy,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a.history), strip(&b.history));
}

/// Issue 16: SIGTERM stops a run like the first Ctrl-C, with a checkpoint that
/// resumes exactly there (it used to end the run with no checkpoint at all).
#[test]
fn sigterm_saves_a_checkpoint_like_ctrl_c() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let args = short_run(
        &dir,
        "6000",
        "1",
        &["--threads", "1", "--save", "run.safetensors"],
    );
    let (code, out_text, err_text) = interrupt_with("TERM", "mnist_lenet", &args, tmp.path(), 1);
    assert_eq!(code, Some(130), "{out_text}\n{err_text}");
    assert!(
        err_text.contains("training was interrupted after batch"),
        "{err_text}"
    );
    let state = Checkpoint::load(&tmp.path().join("run.safetensors"))
        .unwrap()
        .training
        .unwrap();
    let partial = state.partial.expect("a mid-epoch checkpoint");
    assert_eq!(state.optimizer.steps, partial.batches_done as u64);
}

/// Issue 16: a Ctrl-C with an argument that is not UTF-8 (here the `--save` path) used
/// to panic (exit 101) building the resume hint from `std::env::args()`; the hint now
/// quotes the bytes so that the shell gives the program the same file name.
#[cfg(unix)]
#[test]
fn ctrl_c_with_an_argument_that_is_not_utf8_prints_a_working_resume_hint() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let save = OsString::from_vec(b"run\xff.st".to_vec());
    let mut args: Vec<OsString> = short_run(&dir, "6000", "1", &["--threads", "1", "--save"])
        .into_iter()
        .map(OsString::from)
        .collect();
    args.push(save.clone());
    let (code, out_text, err_text) = interrupt_with("INT", "mnist_lenet", &args, tmp.path(), 1);
    assert_eq!(code, Some(130), "{out_text}\n{err_text}");
    assert!(!err_text.contains("panicked"), "{err_text}");
    assert!(
        err_text.contains(r"--save $'run\377.st' --resume $'run\377.st'"),
        "{err_text}"
    );
    assert!(tmp.path().join(&save).is_file(), "{err_text}");
}

/// Issue 16: two SIGINTs in a row. Whichever wins — the second signal, or the end of
/// the batch the first one stopped after — what the program says matches the files:
/// either it exits "without saving" and no file at all appears (no checkpoint, no
/// temporary file, no resume hint), or the checkpoint of the stop is written whole, named
/// and resumable, and nothing claims it was not saved. (It used to print "exiting
/// without saving" and then the resume hint for a checkpoint it had written.)
#[test]
fn a_second_ctrl_c_exits_at_once_or_after_a_whole_checkpoint() {
    let Some(dir) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (code, out_text, err_text) = interrupt(
        "mnist_lenet",
        &short_run(
            &dir,
            "6000",
            "1",
            &["--threads", "1", "--save", "run.safetensors"],
        ),
        tmp.path(),
        2,
    );
    let context = format!("{out_text}\n{err_text}");
    assert_eq!(code, Some(130), "{context}");
    let path = tmp.path().join("run.safetensors");
    // Every file but the run's advisory lock on its checkpoint (`.run.safetensors.lock`).
    let files: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != ".run.safetensors.lock")
        .collect();
    if err_text.contains("exiting without saving") {
        // The second signal came before the stopping point: nothing written or claimed.
        eprintln!("outcome: exited without saving");
        assert!(files.is_empty(), "{files:?}\n{context}");
        assert!(
            !err_text.contains("training was interrupted") && !err_text.contains("resume with:"),
            "{context}"
        );
    } else {
        // The stopping point came first: a whole checkpoint, named, that resumes there.
        eprintln!("outcome: a whole checkpoint");
        assert_eq!(files, ["run.safetensors"], "{context}");
        let said = err_text
            .lines()
            .find_map(|l| l.strip_prefix("training was interrupted after batch "))
            .unwrap_or_else(|| panic!("no interruption line: {context}"));
        let batch: usize = said.split(' ').next().unwrap().parse().unwrap();
        assert!(
            err_text.contains("resume with: ") && err_text.contains("--resume run.safetensors"),
            "{context}"
        );
        let state = Checkpoint::load(&path).unwrap().training.unwrap();
        assert_eq!(state.partial.unwrap().batches_done, batch, "{context}");
    }
}

/// On a generated folder of 3,000 digits rather than MNIST's first 3,000 (the same 47
/// batches), so that the two runs to the end score 100 test images, not 10,000.
#[test]
fn ctrl_c_resumes_a_model_with_dropout_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(&tmp.path().join("digits"), 3000, 100);
    // mnist_modern: batch norm, dropout, augmentation; 2 threads.
    let common = folder_run(&root, "1", &["--threads", "2"]);
    let with = |extra: &[&'static str]| joined(&common, extra);
    let (code, out_text, err_text) = interrupt(
        "mnist_modern",
        &with(&["--save", "run.safetensors"]),
        tmp.path(),
        1,
    );
    assert_eq!(code, Some(130), "{out_text}\n{err_text}");
    assert!(err_text.contains("resume with: "), "{err_text}");
    let stopped = Checkpoint::load(&tmp.path().join("run.safetensors")).unwrap();
    let partial = stopped.training.unwrap().partial.expect("a mid-epoch stop");
    // One dropout mask per training batch so far.
    assert_eq!(
        stopped.extra_state["dropout.step"],
        partial.batches_done as u64
    );

    let resumed = example(
        "mnist_modern",
        &with(&["--save", "run.safetensors", "--resume", "run.safetensors"]),
        tmp.path(),
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let straight = example(
        "mnist_modern",
        &with(&["--save", "straight.safetensors"]),
        tmp.path(),
    );
    assert!(straight.status.success(), "{}", stderr(&straight));
    let a = Checkpoint::load(&tmp.path().join("run.safetensors")).unwrap();
    let b = Checkpoint::load(&tmp.path().join("straight.safetensors")).unwrap();
    assert!(a.tensors == b.tensors, "the resumed weights differ");
    assert_eq!(a.extra_state, b.extra_state);
    assert_eq!(a.extra_state["dropout.step"], 47);
}

/// `--save-best` keeps the epoch of lowest test loss, which a later, worse epoch does
/// not replace, and the run says when its last epoch is not its best (QA: a resumed
/// run replaced a 92.9% checkpoint with a 91.3% one, saying nothing). A file at
/// `--save-best` that is not a checkpoint of the model is refused, untouched.
#[test]
fn save_best_keeps_the_best_epoch_and_the_run_says_when_the_last_is_worse() {
    let tmp = tempfile::tempdir().unwrap();
    let root = stroke_folder(tmp.path(), 200, 50);
    // A rate too high for LeNet-5: the test loss goes up and down.
    let args = folder_run(
        &root,
        "5",
        &[
            "--lr",
            "0.03",
            "--schedule",
            "constant",
            "--save",
            "last.st",
            "--save-best",
            "best.st",
            "--metrics",
            "m.json",
        ],
    );
    let out = example("mnist_lenet", &args, tmp.path());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("m.json")).unwrap()).unwrap();
    let losses: Vec<f64> = (metrics["epochs"].as_array().unwrap().iter())
        .map(|e| e["test_loss"].as_f64().unwrap())
        .collect();
    let lowest = (1..=losses.len())
        .min_by(|&a, &b| losses[a - 1].total_cmp(&losses[b - 1]))
        .unwrap();
    let epoch_in = |name: &str| {
        let checkpoint = Checkpoint::load(&tmp.path().join(name)).unwrap();
        checkpoint.training.unwrap().epoch
    };
    assert_eq!(epoch_in("best.st"), lowest, "{losses:?}");
    assert_eq!(epoch_in("last.st"), 5);
    let note = format!("note: epoch {lowest} tested better");
    assert_eq!(stdout.contains(&note), lowest < 5, "{losses:?}\n{stdout}");
    assert!(lowest < 5, "the premise: a later epoch is worse {losses:?}");
    // Not a checkpoint of LeNet-5: refused before training, and left as it was.
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let args = folder_run(
        &root,
        "1",
        &["--save", "other.st", "--save-best", "notes.txt"],
    );
    let out = example("mnist_lenet", &args, tmp.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("best checkpoint notes.txt") && err.contains("is not replaced"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("notes.txt")).unwrap(),
        b"mine"
    );
}

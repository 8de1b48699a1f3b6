//! A layer written outside the library crates, as a user would: the guide's parametric
//! ReLU with a learnable slope per channel (PyTorch's `nn.PReLU(num_parameters=C)`,
//! slopes initialised to 0.25), whose code is `src/guide/prelu.rs` — written against
//! `scratchnet::prelude` only, exactly as in a crate of your own. The example checks its gradients with `gradcheck`, puts it in
//! a small network, prints the network's summary, trains it on MNIST for one epoch,
//! saves it and reloads it into a fresh network, and exits non-zero if any step fails.
//!
//! ```text
//! cargo run --release --example custom_layer -- --limit-train 6000
//! ```
//!
//! The guide (`docs/extending.md`, `scratchnet::guide` in `cargo doc`) walks through
//! this layer method by method.

use clap::Parser;
use scratchnet::guide::prelu::PReLU;
use scratchnet::prelude::*;
use scratchnet::tensor::kernels::Kernels;
use scratchnet_cli::{
    describe_kernels, is_data_file, kernels_flag, parse_args, use_kernels, DataSource,
    OptimizerKind,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// A LeNet-sized network with PReLU activations.
fn network(rng: &mut StdRng) -> Sequential {
    let pool = || MaxPool2d::new([2, 2], MaxPool2dConfig::default());
    let padded = Conv2dConfig {
        padding: [2, 2],
        ..Conv2dConfig::default()
    };
    Sequential::new()
        .add("conv1", Conv2d::new(1, 8, [5, 5], padded, rng))
        .add("prelu1", PReLU::new(8))
        .add("pool1", pool())
        .add(
            "conv2",
            Conv2d::new(8, 16, [5, 5], Conv2dConfig::default(), rng),
        )
        .add("prelu2", PReLU::new(16))
        .add("pool2", pool())
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(400, 64, rng))
        .add("prelu3", PReLU::new(1))
        .add("fc2", Dense::new(64, 10, rng))
        .build(&[1, 28, 28])
        .expect("the network fits 1×28×28 images")
}

/// Train a network with a user-defined PReLU layer on MNIST.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Directory of the four MNIST IDX files; default: $MNIST_DIR, else data/mnist
    /// (downloaded there if missing)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Train on the first N training images only (0: all 60,000)
    #[arg(long, value_name = "N", default_value_t = 6000)]
    limit_train: usize,
    /// Where to save the trained network
    #[arg(long, value_name = "PATH", default_value = "custom_layer.safetensors")]
    save: PathBuf,
    /// Replace the file at --save if there is one (without it, the example refuses to
    /// start)
    #[arg(long)]
    overwrite: bool,
    /// Seed of the weights and the batch order
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Numeric kernels: the plain reference loops or the fast ones [default:
    /// $SCRATCHNET_KERNELS, else fast]
    #[arg(long, value_name = "reference|fast", value_parser = kernels_flag)]
    kernels: Option<Kernels>,
}

fn main() -> ExitCode {
    let args: Args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let kernels = match use_kernels(args.kernels) {
        Ok(kernels) => kernels,
        Err(code) => return code,
    };
    println!("kernels: {}", describe_kernels(kernels));
    match run(&args) {
        Ok(()) => {
            println!("custom layer example: all checks passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // 0. The output, before any work: writable, and not a file to keep.
    let save = args.save.display();
    scratchnet::train::check_writable(&args.save)
        .map_err(|e| format!("--save {save}: cannot be written: {e}"))?;
    // The folder the data is read from: --data-dir, else $MNIST_DIR, else data/mnist.
    let mnist = DataSource::Idx(DatasetKind::Mnist);
    if let Some(data) = mnist.data_folder(args.data_dir.as_deref()) {
        if is_data_file(&args.save, &data, &mnist) {
            return Err(format!(
                "--save {save}: is a file of the data in {}, which is never written to; give another path",
                data.display()
            )
            .into());
        }
    }
    if args.save.exists() && !args.overwrite {
        return Err(format!(
            "--save {save}: the file exists; --overwrite replaces it, or give --save another path"
        )
        .into());
    }

    // 1. Gradients, against finite differences. The input stays more than the step
    //    (1e-2) away from 0, where PReLU has its kink.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let input = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 4]), |_| {
        let magnitude: f32 = rng.random_range(0.05..1.0);
        if rng.random::<bool>() {
            magnitude
        } else {
            -magnitude
        }
    });
    for mut layer in [PReLU::new(3), PReLU::new(1)] {
        let report = gradcheck(&mut layer, input.view(), &GradcheckConfig::default())?;
        print!("{report}");
        println!("gradcheck passed: {}", layer.describe());
    }

    // 2. In a network: the summary shows the new layer with its parameters.
    let mut model = network(&mut StdRng::seed_from_u64(args.seed));
    let summary = model.summary()?;
    println!("{summary}");
    let prelu_rows = summary
        .rows
        .iter()
        .filter(|r| r.layer.starts_with("PReLU"))
        .map(|r| r.parameters)
        .collect::<Vec<_>>();
    if prelu_rows != [8, 16, 1] {
        return Err(format!("the summary shows PReLU parameters {prelu_rows:?}").into());
    }
    println!(
        "summary passed: {} trainable parameters",
        summary.total_parameters()
    );

    // 3. Training, one epoch.
    let data = match &args.data_dir {
        Some(dir) => load(DatasetKind::Mnist, dir)?,
        None => load_or_download(DatasetKind::Mnist, None)?,
    };
    let train = match args.limit_train {
        0 => data.train.clone(),
        n => data.train.take(n),
    };
    let adam = OptimizerKind::Adam;
    let mut optimizer = adam.build(adam.default_learning_rate())?;
    let factory: ModelFactory = Arc::new(|| Box::new(network(&mut StdRng::seed_from_u64(0))));
    let config = TrainConfig {
        epochs: 1,
        batch: BatchConfig {
            batch_size: 32,
            seed: args.seed,
            ..BatchConfig::default()
        },
        ..TrainConfig::default()
    };
    let outcome = Trainer::new(config)?.with_replicas(factory).fit(
        &mut model,
        optimizer.as_mut(),
        &train,
        &data.test,
        History::new(),
    )?;
    let accuracy = outcome.evaluation.accuracy;
    println!(
        "trained on {} images: test accuracy {:.2}%",
        train.len(),
        100.0 * accuracy
    );
    let slopes = &model.parameters()[2].1.value;
    println!("prelu1.weight after training: {slopes}");
    if accuracy < 0.5 {
        return Err(format!("the network did not learn: test accuracy {accuracy}").into());
    }
    if slopes.iter().all(|&a| a == 0.25) {
        return Err("training did not change the PReLU slopes".into());
    }

    // 4. Checkpoint round trip: a fresh network with other weights, loaded from the
    //    file, gives bit-identical logits.
    save_model(&args.save, &model)?;
    let mut reloaded = network(&mut StdRng::seed_from_u64(args.seed.wrapping_add(1)));
    load_model(&args.save, &mut reloaded)?;
    let indices: Vec<usize> = (0..256).collect();
    let batch = data.test.batch(&indices, data.test.normalization(), None);
    let images = batch.images.into_dyn();
    let before = model.forward(images.view(), Mode::Eval)?;
    let after = reloaded.forward(images.view(), Mode::Eval)?;
    let identical = before.shape() == after.shape()
        && before
            .iter()
            .zip(after.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if !identical {
        return Err(format!(
            "the network reloaded from {} gives other logits",
            args.save.display()
        )
        .into());
    }
    println!(
        "reload passed: {} holds {} tensors; logits of {} test images are bit-identical",
        args.save.display(),
        Checkpoint::load(&args.save)?.tensors.len(),
        indices.len()
    );
    Ok(())
}

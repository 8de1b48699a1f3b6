//! The built-in containers `Residual` and `Branches`: gradients (gradcheck), shapes
//! at build, nesting, summaries, torchvision's checkpoint names for a ResNet, and that
//! ResNet and a network of `Branches` against PyTorch (`tests/fixtures_resnet/`, written
//! by `tools/golden/generate_resnet.py` and `generate_branches.py`).

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use ndarray_rand::{rand_distr::Uniform, RandomExt};
use scratchnet_layers::gradcheck::{gradcheck, GradcheckConfig};
use scratchnet_layers::*;
use std::collections::BTreeMap;
use std::path::Path;

fn uniform(shape: &[usize], seed: u64) -> ArrayD<f32> {
    ArrayD::random_using(
        IxDyn(shape),
        Uniform::new(-1.0, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

fn check(layer: &mut dyn Layer, input: &ArrayD<f32>) -> Vec<String> {
    match gradcheck(layer, input.view(), &GradcheckConfig::default()) {
        Ok(report) => {
            println!("{report}");
            report.tensors.iter().map(|t| t.tensor.clone()).collect()
        }
        Err(e) => panic!("{e}"),
    }
}

fn conv3x3(in_channels: usize, out_channels: usize, stride: usize, rng: &mut StdRng) -> Conv2d {
    let config = Conv2dConfig {
        stride: [stride, stride],
        padding: [1, 1],
        bias: false,
        ..Conv2dConfig::default()
    };
    Conv2d::new(in_channels, out_channels, [3, 3], config, rng)
}

fn bn(channels: usize) -> BatchNorm2d {
    BatchNorm2d::new(channels, BatchNorm2dConfig::default())
}

/// torchvision's `BasicBlock` for per-sample input `[in_channels, size, size]`.
fn basic_block(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    size: usize,
    rng: &mut StdRng,
) -> Residual {
    let body = Sequential::new()
        .add("conv1", conv3x3(in_channels, out_channels, stride, rng))
        .add("bn1", bn(out_channels))
        .add("relu", ReLU::new())
        .add("conv2", conv3x3(out_channels, out_channels, 1, rng))
        .add("bn2", bn(out_channels));
    Residual::new(
        body,
        &[in_channels, size, size],
        ResidualConfig { relu: true },
        rng,
    )
    .unwrap()
}

/// A tiny torchvision-style ResNet for `[3, 8, 8]` images: stem, layer1 (two blocks
/// at 4 channels), layer2 (two blocks at 8 channels, the first with stride 2 and a
/// downsample), global average pooling, fc.
fn tiny_resnet(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    let rng = &mut rng;
    Sequential::new()
        .add("conv1", conv3x3(3, 4, 1, rng))
        .add("bn1", bn(4))
        .add("relu", ReLU::new())
        .add(
            "layer1",
            Sequential::new()
                .add("0", basic_block(4, 4, 1, 8, rng))
                .add("1", basic_block(4, 4, 1, 8, rng)),
        )
        .add(
            "layer2",
            Sequential::new()
                .add("0", basic_block(4, 8, 2, 8, rng))
                .add("1", basic_block(8, 8, 1, 4, rng)),
        )
        .add("avgpool", GlobalAvgPool2d::new())
        .add("fc", Dense::new(8, 10, rng))
        .build(&[3, 8, 8])
        .unwrap()
}

/// The keys of torchvision's `resnet.state_dict()` for that network, in its order.
fn torchvision_names() -> Vec<String> {
    let bn = |prefix: &str| {
        [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ]
        .map(|n| format!("{prefix}.{n}"))
        .to_vec()
    };
    let mut names = vec!["conv1.weight".to_string()];
    names.extend(bn("bn1"));
    for (layer, downsample) in [("layer1", false), ("layer2", true)] {
        for block in 0..2 {
            let p = format!("{layer}.{block}");
            names.push(format!("{p}.conv1.weight"));
            names.extend(bn(&format!("{p}.bn1")));
            names.push(format!("{p}.conv2.weight"));
            names.extend(bn(&format!("{p}.bn2")));
            if downsample && block == 0 {
                names.push(format!("{p}.downsample.0.weight"));
                names.extend(bn(&format!("{p}.downsample.1")));
            }
        }
    }
    names.extend(["fc.weight".to_string(), "fc.bias".to_string()]);
    names
}

#[test]
fn a_tiny_resnet_has_torchvisions_state_dict_names_in_its_order() {
    let model = tiny_resnet(0);
    let names: Vec<String> = model.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, torchvision_names());
    let buffers: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert!(buffers.contains(&"layer1.0.bn1.running_mean".to_string()));
    assert!(buffers.contains(&"layer2.0.downsample.1.running_var".to_string()));
    let x = uniform(&[2, 3, 8, 8], 1);
    let mut model = model;
    let y = model.forward(x.view(), Mode::Train).unwrap();
    assert_eq!(y.shape(), [2, 10]);
    model
        .backward(ndarray::ArrayD::ones(IxDyn(&[2, 10])).view())
        .unwrap();
}

#[test]
fn the_summary_shows_the_blocks_children_indented() {
    let summary = tiny_resnet(0).summary().unwrap();
    let text = summary.to_string();
    println!("{text}");
    assert!(
        text.contains("\n  0 (Residual(shortcut=projection, relu))"),
        "{text}"
    );
    assert!(text.contains("\n    downsample (Sequential)"), "{text}");
    assert!(
        text.contains("\n      0 (Conv2d(4, 8, kernel_size=[1, 1], stride=[2, 2]"),
        "{text}"
    );
    let top: usize = tiny_resnet(0).num_parameters();
    assert_eq!(summary.total_parameters(), top);
    let layer2_block0_conv1 = summary
        .rows
        .iter()
        .filter(|r| r.name == "conv1" && r.depth == 2)
        .nth(2)
        .unwrap();
    assert_eq!(layer2_block0_conv1.output_shape, [8, 4, 4]);
}

#[test]
fn residual_with_identity_shortcut_and_relu_passes_gradcheck() {
    let mut rng = StdRng::seed_from_u64(3);
    let body = Sequential::new().add("conv1", conv3x3(2, 2, 1, &mut rng));
    let mut block = Residual::identity(body, ResidualConfig { relu: true });
    // Seed 21 keeps every sum `x + conv1(x)` more than the step from ReLU's kink at 0
    // (elsewhere the finite difference straddles it and is wrong, not backward).
    let names = check(&mut block, &uniform(&[2, 2, 3, 3], 21));
    assert_eq!(names, ["input", "conv1.weight"]);
    // And for any input the ReLU flag is exactly a ReLU layer after the block.
    let x = uniform(&[2, 2, 3, 3], 23);
    let mut separate = Sequential::new()
        .add(
            "block",
            Residual::identity(
                Sequential::new().add("conv1", conv3x3(2, 2, 1, &mut StdRng::seed_from_u64(3))),
                ResidualConfig::default(),
            ),
        )
        .add("relu", ReLU::new());
    let mut fused = Residual::identity(
        Sequential::new().add("conv1", conv3x3(2, 2, 1, &mut StdRng::seed_from_u64(3))),
        ResidualConfig { relu: true },
    );
    let dy = uniform(&[2, 2, 3, 3], 24);
    assert_eq!(
        fused.forward(x.view(), Mode::Train).unwrap(),
        separate.forward(x.view(), Mode::Train).unwrap()
    );
    assert_eq!(
        fused.backward(dy.view()).unwrap(),
        separate.backward(dy.view()).unwrap()
    );
    assert_eq!(
        fused.parameters()[0].1.grad,
        separate.parameters()[0].1.grad
    );
    let mut plain = Residual::identity(
        Sequential::new().add("conv1", conv3x3(2, 2, 1, &mut rng)),
        ResidualConfig::default(),
    );
    check(&mut plain, &uniform(&[2, 2, 3, 3], 5));
}

#[test]
fn residual_with_projection_passes_gradcheck() {
    let mut rng = StdRng::seed_from_u64(6);
    let body = Sequential::new()
        .add("conv1", conv3x3(2, 3, 2, &mut rng))
        .add("bn1", bn(3));
    let mut block = Residual::new(body, &[2, 5, 5], ResidualConfig::default(), &mut rng).unwrap();
    assert!(block.downsample().is_some());
    assert_eq!(block.output_shape(&[2, 5, 5]).unwrap(), [3, 3, 3]);
    let names = check(&mut block, &uniform(&[3, 2, 5, 5], 7));
    assert_eq!(
        names,
        [
            "input",
            "conv1.weight",
            "bn1.weight",
            "bn1.bias",
            "downsample.0.weight",
            "downsample.1.weight",
            "downsample.1.bias"
        ]
    );
}

#[test]
fn branches_add_and_concat_pass_gradcheck_nested_in_sequential_and_residual() {
    let mut rng = StdRng::seed_from_u64(8);
    let same = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    let concat = Branches::new(Combine::Concat)
        .add(
            "a",
            Conv2d::new(2, 1, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add("b", Conv2d::new(2, 3, [3, 3], same, &mut rng));
    let mut concat_model = Sequential::new()
        .add("mix", concat)
        .add("tanh", Tanh::new())
        .build(&[2, 4, 4])
        .unwrap();
    assert_eq!(concat_model.output_shape(&[2, 4, 4]).unwrap(), [4, 4, 4]);
    let names = check(&mut concat_model, &uniform(&[2, 2, 4, 4], 9));
    assert_eq!(
        names,
        [
            "input",
            "mix.a.weight",
            "mix.a.bias",
            "mix.b.weight",
            "mix.b.bias"
        ]
    );

    let add = Branches::new(Combine::Add)
        .add(
            "a",
            Conv2d::new(2, 2, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add("b", Tanh::new());
    let mut residual = Residual::identity(
        Sequential::new().add("paths", add),
        ResidualConfig::default(),
    );
    let names = check(&mut residual, &uniform(&[2, 2, 3, 3], 10));
    assert_eq!(names, ["input", "paths.a.weight", "paths.a.bias"]);
}

#[test]
fn a_shape_mismatch_names_the_branch_and_both_shapes() {
    let mut rng = StdRng::seed_from_u64(11);
    let err = Sequential::new()
        .add(
            "block",
            Branches::new(Combine::Add)
                .add(
                    "wide",
                    Conv2d::new(2, 4, [1, 1], Conv2dConfig::default(), &mut rng),
                )
                .add(
                    "narrow",
                    Conv2d::new(2, 3, [1, 1], Conv2dConfig::default(), &mut rng),
                ),
        )
        .build(&[2, 5, 5])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("block.narrow (Conv2d)")
            && err.contains("[3, 5, 5]")
            && err.contains("[4, 5, 5]")
            && err.contains("\"wide\""),
        "{err}"
    );

    let concat_err = Branches::new(Combine::Concat)
        .add(
            "a",
            Conv2d::new(2, 4, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add(
            "b",
            Conv2d::new(2, 4, [3, 3], Conv2dConfig::default(), &mut rng),
        )
        .output_shape(&[2, 5, 5])
        .unwrap_err()
        .to_string();
    assert!(
        concat_err.contains("b (Conv2d)") && concat_err.contains("[4, 3, 3]"),
        "{concat_err}"
    );

    // A branch that is itself a container is named by its kind too.
    let inner = Branches::new(Combine::Add).add(
        "unpadded",
        Conv2d::new(2, 4, [3, 3], Conv2dConfig::default(), &mut rng),
    );
    let nested_err = Branches::new(Combine::Add)
        .add(
            "a",
            Conv2d::new(2, 4, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add("inner", inner)
        .output_shape(&[2, 5, 5])
        .unwrap_err()
        .to_string();
    assert!(
        nested_err.starts_with("inner (Branches)") && nested_err.contains("[4, 3, 3]"),
        "{nested_err}"
    );
    let same = Sequential::new().add(
        "conv",
        Conv2d::new(2, 2, [1, 1], Conv2dConfig::default(), &mut rng),
    );
    let nested_err = Branches::new(Combine::Add)
        .add(
            "a",
            Conv2d::new(2, 4, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add("res", Residual::identity(same, ResidualConfig::default()))
        .output_shape(&[2, 5, 5])
        .unwrap_err()
        .to_string();
    assert!(
        nested_err.starts_with("res (Residual)") && nested_err.contains("[2, 5, 5]"),
        "{nested_err}"
    );

    // An identity shortcut around a body that changes the shape.
    let body = Sequential::new().add("conv1", conv3x3(2, 4, 2, &mut rng));
    let err = Sequential::new()
        .add("res", Residual::identity(body, ResidualConfig::default()))
        .build(&[2, 6, 6])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("res (Residual)") && err.contains("[4, 3, 3]") && err.contains("[2, 6, 6]"),
        "{err}"
    );
}

/// Concatenated branches split the output's gradient by channels: a gradient with
/// other channels, or without a channel axis, is refused rather than split wrongly.
#[test]
fn concatenated_branches_refuse_a_gradient_of_other_channels() {
    let mut rng = StdRng::seed_from_u64(12);
    let mut concat = Branches::new(Combine::Concat)
        .add(
            "a",
            Conv2d::new(2, 1, [1, 1], Conv2dConfig::default(), &mut rng),
        )
        .add(
            "b",
            Conv2d::new(2, 3, [1, 1], Conv2dConfig::default(), &mut rng),
        );
    let output = concat
        .forward(uniform(&[2, 2, 4, 4], 13).view(), Mode::Train)
        .unwrap();
    assert_eq!(output.shape(), [2, 4, 4, 4]);
    for shape in [&[2, 5, 4, 4][..], &[4]] {
        let err = concat
            .backward(ArrayD::zeros(IxDyn(shape)).view())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{shape:?}")) && err.contains("the output had 4 channels"),
            "{err}"
        );
    }
    let grad_input = concat.backward(ArrayD::ones(IxDyn(&[2, 4, 4, 4])).view());
    assert_eq!(grad_input.unwrap().shape(), [2, 2, 4, 4]);
}

#[test]
fn residual_new_refuses_a_body_no_projection_can_match() {
    let mut rng = StdRng::seed_from_u64(12);
    // 6×6 → 6×2: no single stride turns both axes into those sizes.
    let body = Sequential::new().add(
        "conv1",
        Conv2d::new(
            2,
            2,
            [1, 3],
            Conv2dConfig {
                stride: [1, 3],
                ..Conv2dConfig::default()
            },
            &mut rng,
        ),
    );
    let err = Residual::new(body, &[2, 6, 6], ResidualConfig::default(), &mut rng)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("Residual") && err.contains("[2, 6, 2]"),
        "{err}"
    );
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

/// `tools/golden/generate_resnet.py`'s output (see its docstring).
#[derive(serde::Deserialize)]
struct ResNetFixture {
    input: Tensor,
    params: BTreeMap<String, Tensor>,
    buffers: BTreeMap<String, Tensor>,
    output: Tensor,
    grad_output: Tensor,
    grad_input: Tensor,
    param_grads: BTreeMap<String, Tensor>,
    buffers_after: BTreeMap<String, Tensor>,
    state_dict_names: Vec<String>,
}

/// Element-wise `|got − want| ≤ 2e-4·max(|want|, 1e-3·‖want‖∞)`: golden_more.rs's bound,
/// doubled, because here the gradients pass through three residual blocks of f32 batch
/// norm, whose backward subtracts means and so magnifies rounding. Two summation orders
/// of the same products (the convolution's input gradient on the virtual grid, or as a
/// convolution itself) put the worst weight-gradient element at 0.72 and 1.04 × 1e-4
/// relative to PyTorch's; a wrong gradient is off by orders of magnitude more.
fn assert_close(what: &str, got: &ArrayD<f32>, want: &Tensor) {
    assert_eq!(got.shape(), want.shape.as_slice(), "{what}: shape");
    let largest = want.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
        let tolerance = 2e-4 * w.abs().max(1e-3 * largest);
        assert!(
            (g as f64 - w).abs() <= tolerance,
            "{what}[{i}]: got {g}, PyTorch {w}"
        );
    }
}

/// Loads `fixture` (in `tests/fixtures_resnet/`) into `model` by name, runs one training
/// forward and backward, and holds the output, the gradients and the buffers after to
/// PyTorch's.
fn matches_pytorch(model: &mut Sequential, fixture: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures_resnet")
        .join(fixture);
    let fx: ResNetFixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names: Vec<String> = model.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, fx.state_dict_names, "PyTorch's own state_dict keys");
    let mut loaded = 0;
    for (name, entry) in model.state_mut() {
        match entry {
            StateMut::Parameter(p) => p.value = fx.params[&name].to_f32(),
            StateMut::Buffer(b) => *b = fx.buffers[&name].to_f32(),
            StateMut::Counter(_) => unreachable!("no counters"),
        }
        loaded += 1;
    }
    assert_eq!(loaded, fx.params.len() + fx.buffers.len());

    let output = model
        .forward(fx.input.to_f32().view(), Mode::Train)
        .unwrap();
    assert_close("output", &output, &fx.output);
    let grad_input = model.backward(fx.grad_output.to_f32().view()).unwrap();
    assert_close("grad_input", &grad_input, &fx.grad_input);
    for (name, p) in model.parameters() {
        assert_close(&format!("{name}.grad"), &p.grad, &fx.param_grads[&name]);
    }
    for (name, b) in model.buffers() {
        assert_close(&name, b, &fx.buffers_after[&name]);
    }
}

#[test]
fn a_tiny_resnet_matches_pytorch_forward_backward_and_running_statistics() {
    matches_pytorch(&mut tiny_resnet(7), "tiny_resnet.json");
}

/// `tools/golden/generate_branches.py`'s network: `Branches` concatenating branches of
/// 1, 3 and 2 channels (so that another order gives other numbers), then an identity
/// `Residual` without its ReLU around `Branches` that add.
#[test]
fn branches_and_a_residual_without_relu_match_pytorch() {
    let mut rng = StdRng::seed_from_u64(12);
    let one_by_one = Conv2dConfig::default();
    let same = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    let mix = Branches::new(Combine::Concat)
        .add("a", Conv2d::new(2, 1, [1, 1], one_by_one, &mut rng))
        .add("b", Conv2d::new(2, 3, [3, 3], same, &mut rng))
        .add("c", Tanh::new());
    let paths = Branches::new(Combine::Add)
        .add("a", Conv2d::new(6, 6, [1, 1], one_by_one, &mut rng))
        .add("b", Tanh::new());
    let block = Residual::identity(
        Sequential::new().add("paths", paths),
        ResidualConfig { relu: false },
    );
    let mut model = Sequential::new()
        .add("mix", mix)
        .add("block", block)
        .build(&[2, 5, 5])
        .unwrap();
    matches_pytorch(&mut model, "branches.json");
}

/// QA: the Residual and Branches errors read "expects input of shape one for which the
/// body and the shortcut agree, but … per sample, but got …": each is one sentence.
#[test]
fn residual_and_branches_errors_read_as_one_sentence() {
    let mut rng = StdRng::seed_from_u64(13);
    let body = Sequential::new().add("conv1", conv3x3(4, 8, 2, &mut rng));
    let err = Sequential::new()
        .add("res", Residual::identity(body, ResidualConfig::default()))
        .build(&[4, 8, 8])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(
            "res (Residual): invalid configuration: for an input of [4, 8, 8] per sample the \
             body gives [8, 4, 4] but the shortcut (the identity) [4, 8, 8]"
        ) && !err.contains("expects input of shape one"),
        "{err}"
    );
    let err = Residual::new(
        Sequential::new().add("flatten", Flatten::new()),
        &[2, 3, 3],
        ResidualConfig::default(),
        &mut rng,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("Residual: invalid configuration: the body turns [2, 3, 3] into [18]"),
        "{err}"
    );
}

/// QA: a body of stride 2 without padding (8×8 → 3×3) got a projection of stride 3,
/// where the docs said "the body's stride": the docs now say which stride `new`
/// picks (the smallest that fits), and `projected` takes the one you choose.
#[test]
fn residual_new_picks_the_smallest_stride_that_fits_and_projected_takes_yours() {
    let mut rng = StdRng::seed_from_u64(14);
    let unpadded = |rng: &mut StdRng| {
        let config = Conv2dConfig {
            stride: [2, 2],
            ..Conv2dConfig::default()
        };
        Sequential::new().add("conv1", Conv2d::new(4, 8, [3, 3], config, rng))
    };
    let block = Residual::new(
        unpadded(&mut rng),
        &[4, 8, 8],
        ResidualConfig::default(),
        &mut rng,
    )
    .unwrap();
    let projection = block
        .downsample()
        .unwrap()
        .layers()
        .next()
        .unwrap()
        .1
        .describe();
    assert!(projection.contains("stride=[3, 3]"), "{projection}");
    let padded = Sequential::new().add("conv1", conv3x3(4, 8, 2, &mut rng));
    let block = Residual::new(padded, &[4, 8, 8], ResidualConfig::default(), &mut rng).unwrap();
    let projection = block
        .downsample()
        .unwrap()
        .layers()
        .next()
        .unwrap()
        .1
        .describe();
    assert!(projection.contains("stride=[2, 2]"), "{projection}");
    // A stride of your own that does not fit is refused when the model is built.
    let mine = Residual::projected(
        unpadded(&mut rng),
        4,
        8,
        2,
        ResidualConfig::default(),
        &mut rng,
    );
    let err = Sequential::new()
        .add("res", mine)
        .build(&[4, 8, 8])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("[8, 3, 3]") && err.contains("[8, 4, 4]"),
        "{err}"
    );
}

/// QA: a body child named `downsample` gave "Sequential breaks the Layer contract: two
/// pieces of state are named "res.downsample.0.weight"".
#[test]
fn a_body_child_named_downsample_is_refused_when_the_block_has_a_projection() {
    let mut rng = StdRng::seed_from_u64(15);
    let body = |rng: &mut StdRng| {
        Sequential::new().add(
            "downsample",
            Sequential::new().add("0", conv3x3(4, 8, 2, rng)),
        )
    };
    let err = Residual::new(
        body(&mut rng),
        &[4, 8, 8],
        ResidualConfig::default(),
        &mut rng,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("the body has a child named \"downsample\"") && err.contains("rename"),
        "{err}"
    );
    let mine = Residual::projected(body(&mut rng), 4, 8, 2, ResidualConfig::default(), &mut rng);
    let err = Sequential::new()
        .add("res", mine)
        .build(&[4, 8, 8])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("res (Residual): invalid configuration: the body has a child named"),
        "{err}"
    );
    // Without a projection the name is free.
    let same = Sequential::new().add("downsample", conv3x3(4, 4, 1, &mut rng));
    assert!(Residual::new(same, &[4, 8, 8], ResidualConfig::default(), &mut rng).is_ok());
}

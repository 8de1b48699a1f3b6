//! A wrong model fails when it is built, with an error naming the layer and both shapes; never a panic.

use ndarray::{ArrayD, IxDyn};
use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
use scratchnet_layers::*;

fn lenet(fc1_inputs: usize) -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(
                1,
                6,
                [5, 5],
                Conv2dConfig {
                    padding: [2, 2],
                    ..Default::default()
                },
                &mut rng,
            ),
        )
        .add("relu1", ReLU::new())
        .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add(
            "conv2",
            Conv2d::new(6, 16, [5, 5], Conv2dConfig::default(), &mut rng),
        )
        .add("relu2", ReLU::new())
        .add("pool2", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(fc1_inputs, 120, &mut rng))
        .add("relu3", ReLU::new())
        .add("fc2", Dense::new(120, 84, &mut rng))
        .add("relu4", ReLU::new())
        .add("fc3", Dense::new(84, 10, &mut rng))
}

#[test]
fn dense_that_does_not_match_the_flattened_conv_output_is_rejected_at_build() {
    let err = lenet(256)
        .build(&[1, 28, 28])
        .err()
        .expect("a 256-input fc1 after a 400-wide flatten must be rejected");
    assert_eq!(
        err,
        LayerError::Shape {
            layer: "fc1 (Dense)".into(),
            expected: "[256] (in_features = 256)".into(),
            got: vec![400]
        }
    );
    assert_eq!(
        err.to_string(),
        "fc1 (Dense): expects input of shape [256] (in_features = 256) per sample, but got [400]"
    );
}

#[test]
fn the_right_model_builds_and_has_lenets_parameter_count() {
    let model = lenet(400).build(&[1, 28, 28]).unwrap();
    assert_eq!(model.num_parameters(), 61_706);
    let summary = model.summary().unwrap();
    assert_eq!(summary.total_parameters(), 61_706);
    assert_eq!(summary.rows[6].output_shape, vec![400]);
    let text = summary.to_string();
    assert!(
        text.contains("61,706")
            && text.contains("conv1 (Conv2d(1, 6, kernel_size=[5, 5], padding=[2, 2]))"),
        "{text}"
    );
    let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names[..4],
        ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    );
}

#[test]
fn wrong_input_channels_and_too_small_images_are_named() {
    let err = lenet(400).build(&[3, 28, 28]).err().unwrap();
    assert!(
        matches!(&err, LayerError::Shape { layer, got, .. } if layer == "conv1 (Conv2d)" && got == &[3, 28, 28]),
        "{err}"
    );
    assert!(err.to_string().contains("in_channels = 1"), "{err}");
    // 8×8 → conv1 8×8 → pool 4×4 → conv2 (5×5) does not fit.
    let err = lenet(400).build(&[1, 8, 8]).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("conv2 (Conv2d): expects input of shape [6, H, W] with H ≥ 5 and W ≥ 5"),
        "{err}"
    );
}

#[test]
fn invalid_hyper_parameters_are_configuration_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let zero_stride = Conv2d::new(
        1,
        1,
        [3, 3],
        Conv2dConfig {
            stride: [0, 1],
            ..Default::default()
        },
        &mut rng,
    );
    let err = Sequential::new()
        .add("c", zero_stride)
        .build(&[1, 5, 5])
        .err()
        .unwrap();
    assert!(
        matches!(err, LayerError::Config { .. }) && err.to_string().contains("stride"),
        "{err}"
    );
    let bad_groups = Conv2d::new(
        3,
        4,
        [1, 1],
        Conv2dConfig {
            groups: 2,
            ..Default::default()
        },
        &mut rng,
    );
    assert!(bad_groups
        .output_shape(&[3, 4, 4])
        .unwrap_err()
        .to_string()
        .contains("groups = 2"));
    let wide_padding = MaxPool2d::new(
        [2, 2],
        MaxPool2dConfig {
            stride: None,
            padding: [2, 0],
        },
    );
    assert!(matches!(
        wide_padding.output_shape(&[1, 4, 4]),
        Err(LayerError::Config { .. })
    ));
    let dup = Sequential::new()
        .add("a", ReLU::new())
        .add("a", ReLU::new())
        .build(&[3]);
    assert!(dup.err().unwrap().to_string().contains("unique"));
    assert!(Dropout::new(1.0, 0).output_shape(&[3]).is_err());
}

#[test]
fn a_wrong_batch_at_run_time_is_an_error_not_a_panic() {
    let mut model = lenet(400).build(&[1, 28, 28]).unwrap();
    let err = model.forward(ArrayD::zeros(IxDyn(&[2, 1, 27, 28])).view(), Mode::Eval);
    assert!(err.is_err());
    let err = model
        .forward(ArrayD::zeros(IxDyn(&[2, 784])).view(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().starts_with("conv1 (Conv2d)"), "{err}");
    // backward before a training forward
    let err = model
        .backward(ArrayD::zeros(IxDyn(&[2, 10])).view())
        .unwrap_err();
    assert!(matches!(err, LayerError::NoForwardCache { .. }), "{err}");
    // a gradient of the wrong shape
    model
        .forward(ArrayD::zeros(IxDyn(&[2, 1, 28, 28])).view(), Mode::Train)
        .unwrap();
    let err = model
        .backward(ArrayD::zeros(IxDyn(&[3, 10])).view())
        .unwrap_err();
    assert!(err.to_string().starts_with("fc3 (Dense)"), "{err}");
    // loss with a bad label
    let mut loss = SoftmaxCrossEntropy::new();
    let err = loss
        .forward(ArrayD::zeros(IxDyn(&[1, 10])).view(), &[10])
        .unwrap_err();
    assert!(err.to_string().contains("label 10"), "{err}");
}

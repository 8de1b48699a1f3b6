//! `predict --explain`'s library: the saliency map is the true input gradient of the
//! class score of the function that made the prediction (checked by finite differences,
//! through batch norm and dropout), and on a LeNet-5 trained here on the real MNIST the
//! digits' strokes stand out in it. The feature maps are every convolution's and
//! pooling's output. The tests that train need `MNIST_DIR` (skipped when it is unset).

use ndarray::{s, Array4, ArrayView4};
use ndarray_rand::rand::{rngs::StdRng, Rng, SeedableRng};
use scratchnet_cli::{
    class_score_gradient, explain_picture, feature_maps, saliency, saliency_map, FeatureMaps,
};
use scratchnet_data::{load, mnist_dir_from_env, DatasetKind, Normalization, Split};
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Dropout, Flatten, Layer,
    MaxPool2d, MaxPool2dConfig, Mode, ReLU, Sequential,
};
use scratchnet_train::models::lenet5;
use scratchnet_train::{train_step, Adam, AdamConfig};

/// A small model with every kind of child the gradient must go through in evaluation
/// mode: convolution, batch norm (with running statistics far from 0 and 1), ReLU, max
/// pooling, dropout and linear.
fn tiny_model() -> Sequential {
    let rng = &mut StdRng::seed_from_u64(7);
    let conv = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    let mut model = Sequential::new()
        .add("conv1", Conv2d::new(1, 3, [3, 3], conv, rng))
        .add("bn1", BatchNorm2d::new(3, BatchNorm2dConfig::default()))
        .add("relu1", ReLU::new())
        .add("pool1", MaxPool2d::new([2, 2], MaxPool2dConfig::default()))
        .add("flatten", Flatten::new())
        .add("dropout", Dropout::new(0.5, 3))
        .add("fc", Dense::new(27, 4, rng))
        .build(&[1, 6, 6])
        .unwrap();
    // Running statistics learnt from a few shifted batches.
    for i in 0..20 {
        let batch = random_images(rng, 8, 6).mapv(|v| 2.0 * v + i as f32 * 0.1);
        model.forward(batch.view().into_dyn(), Mode::Train).unwrap();
    }
    model
}

fn random_images(rng: &mut StdRng, n: usize, side: usize) -> Array4<f32> {
    Array4::from_shape_simple_fn((n, 1, side, side), || rng.random_range(-1.0..1.0))
}

/// The class `class`'s logit, in `Mode::Eval`, computed in `f32`.
fn score(model: &mut Sequential, image: ArrayView4<f32>, class: usize) -> f32 {
    model.forward(image.into_dyn(), Mode::Eval).unwrap()[[0, class]]
}

#[test]
fn the_saliency_is_the_input_gradient_of_the_class_score_in_eval_mode() {
    let mut model = tiny_model();
    let image = random_images(&mut StdRng::seed_from_u64(1), 1, 6);
    let logits_before = model.forward(image.view().into_dyn(), Mode::Eval).unwrap();
    let state_before: Vec<String> = model
        .state()
        .iter()
        .map(|(name, entry)| format!("{name}: {entry:?}"))
        .collect();
    for class in 0..4 {
        let gradient = class_score_gradient(&mut model, image.view(), class).unwrap();
        assert_eq!(gradient.shape(), &[1, 1, 6, 6]);
        let largest = gradient.fold(0.0f32, |m, &g| m.max(g.abs()));
        assert!(largest > 1e-3, "class {class}: a gradient of zeros");
        let h = 1e-2;
        for y in 0..6 {
            for x in 0..6 {
                let mut plus = image.clone();
                plus[[0, 0, y, x]] += h;
                let mut minus = image.clone();
                minus[[0, 0, y, x]] -= h;
                let numeric = (score(&mut model, plus.view(), class)
                    - score(&mut model, minus.view(), class))
                    / (2.0 * h);
                let analytic = gradient[[0, 0, y, x]];
                assert!(
                    (numeric - analytic).abs() <= 1e-2 * largest + 1e-4,
                    "class {class}, pixel ({y}, {x}): finite difference {numeric}, gradient {analytic}"
                );
            }
        }
    }
    // The model predicts as before: running statistics, dropout's counter and the
    // parameters are untouched, and no parameter gradient is left behind.
    let state_after: Vec<String> = model
        .state()
        .iter()
        .map(|(name, entry)| format!("{name}: {entry:?}"))
        .collect();
    assert_eq!(state_after, state_before);
    let logits_after = model.forward(image.view().into_dyn(), Mode::Eval).unwrap();
    assert_eq!(logits_after, logits_before);
    for (name, parameter) in model.parameters() {
        assert!(parameter.grad.iter().all(|&g| g == 0.0), "{name}.grad");
    }
}

#[test]
fn saliency_explains_the_arg_max_and_is_scaled_to_one() {
    let mut model = tiny_model();
    let image = random_images(&mut StdRng::seed_from_u64(2), 1, 6);
    let explained = saliency(&mut model, image.view()).unwrap();
    let best = explained
        .logits
        .iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (k, &v)| if v > b.1 { (k, v) } else { b },
        );
    assert_eq!(explained.class, best.0);
    assert_eq!(
        explained.gradient,
        class_score_gradient(&mut model, image.view(), best.0).unwrap()
    );
    assert_eq!(explained.map, saliency_map(explained.gradient.view()));
    let top = explained.map.fold(0.0f32, |m, &v| m.max(v));
    assert_eq!(top, 1.0);
    // |∂S/∂x| over the channels: the largest magnitude, the sign dropped.
    let two_channels =
        Array4::from_shape_vec((1, 2, 1, 2), vec![-4.0, 1.0, 2.0, f32::NAN]).unwrap();
    assert_eq!(
        saliency_map(two_channels.view())
            .into_raw_vec_and_offset()
            .0,
        [1.0, 0.25]
    );
    // A batch is refused, not explained image by image.
    let two = random_images(&mut StdRng::seed_from_u64(3), 2, 6);
    let err = saliency(&mut model, two.view()).unwrap_err().to_string();
    assert!(err.contains("one image"), "{err}");
}

#[test]
fn feature_maps_are_the_outputs_of_convolutions_and_poolings() {
    let mut model = tiny_model();
    let image = random_images(&mut StdRng::seed_from_u64(4), 1, 6);
    let layers = feature_maps(&mut model, image.view()).unwrap();
    let names: Vec<(&str, &str)> = layers
        .iter()
        .map(|l| (l.layer.as_str(), l.kind.as_str()))
        .collect();
    assert_eq!(names, [("conv1", "Conv2d"), ("pool1", "MaxPool2d")]);
    assert_eq!(layers[0].maps.shape(), &[3, 6, 6]);
    assert_eq!(layers[1].maps.shape(), &[3, 3, 3]);
    // conv1's maps are exactly conv1's output.
    let (_, conv1) = model.layers_mut().next().unwrap();
    let direct = conv1.forward(image.view().into_dyn(), Mode::Eval).unwrap();
    assert_eq!(
        layers[0].maps.view().into_dyn(),
        direct.slice(s![0, .., .., ..]).into_dyn()
    );
}

/// Trains LeNet-5 with Adam on the first `batches × 32` training images of MNIST.
fn briefly_trained_lenet(train: &Split, batches: usize) -> Sequential {
    let mut model = lenet5(&mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let normalization = train.normalization();
    for b in 0..batches {
        let indices: Vec<usize> = (b * 32..(b + 1) * 32).collect();
        let (images, labels) = batch(train, &indices, normalization);
        train_step(&mut model, &mut adam, images.view(), &labels).unwrap();
    }
    model
}

fn batch(
    split: &Split,
    indices: &[usize],
    normalization: Normalization,
) -> (Array4<f32>, Vec<usize>) {
    let pixels: Vec<f32> = indices
        .iter()
        .flat_map(|&i| split.image(i).iter().map(|&p| normalization.apply(p)))
        .collect();
    let images = Array4::from_shape_vec((indices.len(), 1, 28, 28), pixels).unwrap();
    let labels = indices
        .iter()
        .map(|&i| usize::from(split.labels()[i]))
        .collect();
    (images, labels)
}

/// Mean saliency on the stroke (pixels above 128) over the mean on the background at
/// least 3 pixels (in both directions) from any ink (pixels above 0).
fn stroke_over_background(pixels: &[u8], map: &ndarray::Array2<f32>) -> f32 {
    let ink = |y: usize, x: usize| pixels[y * 28 + x] > 0;
    let far = |y: usize, x: usize| {
        (y.saturating_sub(3)..(y + 4).min(28))
            .all(|yy| (x.saturating_sub(3)..(x + 4).min(28)).all(|xx| !ink(yy, xx)))
    };
    let (mut stroke, mut background) = (Vec::new(), Vec::new());
    for y in 0..28 {
        for x in 0..28 {
            if pixels[y * 28 + x] > 128 {
                stroke.push(map[[y, x]]);
            } else if far(y, x) {
                background.push(map[[y, x]]);
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    mean(&stroke) / mean(&background).max(1e-12)
}

#[test]
fn on_a_trained_lenet_the_strokes_of_real_digits_stand_out() {
    let Some(dir) = mnist_dir_from_env() else {
        eprintln!("skipped: MNIST_DIR is not set");
        return;
    };
    let mnist = load(DatasetKind::Mnist, &dir).unwrap();
    let mut model = briefly_trained_lenet(&mnist.train, 300);
    let normalization = mnist.test.normalization();
    let mut ratios = Vec::new();
    let mut correct = 0;
    for i in 0..50 {
        let (image, labels) = batch(&mnist.test, &[i], normalization);
        let explained = saliency(&mut model, image.view()).unwrap();
        correct += usize::from(explained.class == labels[0]);
        ratios.push(stroke_over_background(mnist.test.image(i), &explained.map));
    }
    assert!(correct >= 42, "the model is trained: {correct} of 50 right");
    let standing_out = ratios.iter().filter(|&&r| r > 2.0).count();
    eprintln!("stroke / background saliency of 50 test digits: {ratios:.1?}");
    assert!(
        standing_out >= 45,
        "the strokes stand out (> 2×) in {standing_out} of 50 digits: {ratios:.1?}"
    );
    // The picture: 3 × 112 + 4 × 6 wide at least; its first row is 112 high.
    let (image, _) = batch(&mnist.test, &[0], normalization);
    let layers: Vec<FeatureMaps> = feature_maps(&mut model, image.view()).unwrap();
    let explained = saliency(&mut model, image.view()).unwrap();
    let picture = explain_picture(
        image.slice(s![0, .., .., ..]),
        explained.map.view(),
        &layers,
    );
    assert!(picture.width() >= 360, "{}", picture.width());
    assert!(picture.height() > 112 + 4 * 56, "{}", picture.height());
}

//! [`small_cnn`]: the `cifar10_cnn` example's model, built for any image size, channels
//! and classes, so that `predict` can rebuild it from a checkpoint.

use crate::{ModelInput, ModelSpec};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::Rng;
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Dropout, GlobalAvgPool2d,
    LayerError, MaxPool2d, MaxPool2dConfig, ReLU, Sequential,
};

/// A small CNN for `input`, initialised from `rng`: three blocks of 3×3 convolution (no
/// bias), batch normalisation and ReLU with 32, 64 and 128 channels, each followed by a
/// 2×2 max pooling while the image is at least 2×2, then global average pooling,
/// `Dropout(0.3)` and `Linear(128, K)`. 94,762 parameters for CIFAR-10.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, K]`, for the `[C, H, W]` and `K` classes of `input`.
///
/// PyTorch equivalent: `nn.Sequential(conv1, bn1, relu1, pool1, …, nn.AdaptiveAvgPool2d(1),
/// nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, K))` with `nn.Conv2d(cin, cout, 3,
/// padding=1, bias=False)`.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_cli::{small_cnn, ModelInput};
/// use scratchnet_layers::Layer;
/// let input = ModelInput { sample_shape: [3, 32, 32], num_classes: 10 };
/// assert_eq!(small_cnn(&mut StdRng::seed_from_u64(0), &input).unwrap().num_parameters(), 94_762);
/// ```
pub fn small_cnn(rng: &mut StdRng, input: &ModelInput) -> Result<Sequential, LayerError> {
    let [channels, mut height, mut width] = input.sample_shape;
    let conv = |cin, cout, rng: &mut StdRng| {
        let config = Conv2dConfig {
            padding: [1, 1],
            bias: false,
            ..Conv2dConfig::default()
        };
        Conv2d::new(cin, cout, [3, 3], config, rng)
    };
    let mut model = Sequential::new();
    let mut cin = channels;
    for (block, cout) in [32, 64, 128].into_iter().enumerate() {
        let n = block + 1;
        model = model
            .add(format!("conv{n}"), conv(cin, cout, rng))
            .add(
                format!("bn{n}"),
                BatchNorm2d::new(cout, BatchNorm2dConfig::default()),
            )
            .add(format!("relu{n}"), ReLU::new());
        if height >= 2 && width >= 2 {
            model = model.add(
                format!("pool{n}"),
                MaxPool2d::new([2, 2], MaxPool2dConfig::default()),
            );
            (height, width) = (height / 2, width / 2);
        }
        cin = cout;
    }
    model
        .add("gap", GlobalAvgPool2d::new())
        .add("dropout", Dropout::new(0.3, rng.random()))
        .add("fc", Dense::new(128, input.num_classes, rng))
        .build(&input.sample_shape)
}

impl ModelSpec {
    /// [`small_cnn`], named `cifar10_cnn` in checkpoints.
    pub fn small_cnn() -> Self {
        Self::for_input("cifar10_cnn", small_cnn)
    }
}

//! Ready-made models.

use ndarray_rand::rand::Rng;
use scratchnet_layers::{
    BatchNorm2d, BatchNorm2dConfig, Conv2d, Conv2dConfig, Dense, Flatten, LayerError, MaxPool2d,
    MaxPool2dConfig, ReLU, Residual, ResidualConfig, Sequential,
};

/// The per-sample input shape of [`lenet5`]: one 28×28 grey channel.
pub const LENET5_INPUT: [usize; 3] = [1, 28, 28];

/// Number of trainable scalars of [`lenet5`].
pub const LENET5_PARAMETERS: usize = 61_706;

/// LeNet-5 as PyTorch users write it for MNIST, initialised from `rng` like PyTorch
/// (Kaiming-uniform, `U(±1/√fan_in)`).
///
/// | name | layer | output (per sample) | parameters |
/// |---|---|---|---|
/// | `conv1` | `Conv2d(1, 6, 5, padding=2)` | `[6, 28, 28]` | 156 |
/// | `relu1`, `pool1` | `ReLU`, `MaxPool2d(2)` | `[6, 14, 14]` | |
/// | `conv2` | `Conv2d(6, 16, 5)` | `[16, 10, 10]` | 2,416 |
/// | `relu2`, `pool2` | `ReLU`, `MaxPool2d(2)` | `[16, 5, 5]` | |
/// | `flatten` | `Flatten` | `[400]` | |
/// | `fc1`, `relu3` | `Linear(400, 120)`, `ReLU` | `[120]` | 48,120 |
/// | `fc2`, `relu4` | `Linear(120, 84)`, `ReLU` | `[84]` | 10,164 |
/// | `fc3` | `Linear(84, 10)` | `[10]` (logits) | 850 |
///
/// 61,706 parameters in all, named like the `state_dict` of the equivalent
/// `nn.Sequential(OrderedDict(...))` (`conv1.weight`, …, `fc3.bias`), so
/// checkpoints move between scratchnet and PyTorch unchanged. Train it with
/// [`SoftmaxCrossEntropy`](scratchnet_layers::SoftmaxCrossEntropy) on the logits.
///
/// # Shapes
/// `[N, 1, 28, 28]` → `[N, 10]`.
///
/// ```
/// use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
/// use scratchnet_layers::Layer;
/// let model = scratchnet_train::models::lenet5(&mut StdRng::seed_from_u64(0));
/// assert_eq!(model.num_parameters(), 61_706);
/// assert_eq!(model.parameters()[0].0, "conv1.weight");
/// ```
pub fn lenet5<R: Rng + ?Sized>(rng: &mut R) -> Sequential {
    build_lenet5(rng).expect("LeNet-5 is consistent with a 1×28×28 input")
}

fn build_lenet5<R: Rng + ?Sized>(rng: &mut R) -> Result<Sequential, LayerError> {
    let pool = || MaxPool2d::new([2, 2], MaxPool2dConfig::default());
    let padded = Conv2dConfig {
        padding: [2, 2],
        ..Conv2dConfig::default()
    };
    Sequential::new()
        .add("conv1", Conv2d::new(1, 6, [5, 5], padded, rng))
        .add("relu1", ReLU::new())
        .add("pool1", pool())
        .add(
            "conv2",
            Conv2d::new(6, 16, [5, 5], Conv2dConfig::default(), rng),
        )
        .add("relu2", ReLU::new())
        .add("pool2", pool())
        .add("flatten", Flatten::new())
        .add("fc1", Dense::new(400, 120, rng))
        .add("relu3", ReLU::new())
        .add("fc2", Dense::new(120, 84, rng))
        .add("relu4", ReLU::new())
        .add("fc3", Dense::new(84, 10, rng))
        .build(&LENET5_INPUT)
}

/// A 3×3 convolution with padding 1 and no bias (a batch norm after it supplies the
/// shift): PyTorch's `nn.Conv2d(in_channels, out_channels, 3, stride, padding=1,
/// bias=False)`, torchvision's `conv3x3`.
///
/// # Shapes
/// `[N, in_channels, H, W]` → `[N, out_channels, ⌈H/stride⌉, ⌈W/stride⌉]`.
pub fn conv3x3<R: Rng + ?Sized>(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    rng: &mut R,
) -> Conv2d {
    let config = Conv2dConfig {
        stride: [stride, stride],
        padding: [1, 1],
        bias: false,
        ..Conv2dConfig::default()
    };
    Conv2d::new(in_channels, out_channels, [3, 3], config, rng)
}

/// torchvision's `BasicBlock` for per-sample inputs `[in_channels, size, size]`:
/// `conv1` (3×3, `stride`) → `bn1` → `relu` → `conv2` (3×3) → `bn2`, plus the input,
/// then a ReLU. When the body changes the shape (`stride` > 1 or new channels),
/// [`Residual::new`] adds the 1×1 projection shortcut (`downsample.0`, `downsample.1`),
/// so the parameter names are torchvision's.
///
/// # Shapes
/// `[N, in_channels, size, size]` → `[N, out_channels, ⌈size/stride⌉, ⌈size/stride⌉]`.
///
/// # Errors
/// [`LayerError`] if the block does not fit its input (a size too small for its stride,
/// or tensors over the size limit).
pub fn basic_block<R: Rng + ?Sized>(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    size: usize,
    rng: &mut R,
) -> Result<Residual, LayerError> {
    let batch_norm = |channels| BatchNorm2d::new(channels, BatchNorm2dConfig::default());
    let body = Sequential::new()
        .add("conv1", conv3x3(in_channels, out_channels, stride, rng))
        .add("bn1", batch_norm(out_channels))
        .add("relu", ReLU::new())
        .add("conv2", conv3x3(out_channels, out_channels, 1, rng))
        .add("bn2", batch_norm(out_channels));
    let input_shape = [in_channels, size, size];
    Residual::new(body, &input_shape, ResidualConfig { relu: true }, rng)
}

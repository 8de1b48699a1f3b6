//! The feature maps of a few fixed test images at every convolution and pooling layer,
//! recorded by [`Diagnostics`](crate::Diagnostics) from the probe forward it already runs.

use ndarray::{Array3, ArrayViewD, Axis, Ix4};
use scratchnet_layers::Layer;

/// One layer's output for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMaps {
    /// The layer's name in the model (`conv1`).
    pub layer: String,
    /// Its description (`Conv2d(1, 6, kernel_size=[5, 5], padding=[2, 2])`).
    pub description: String,
    /// Its output, one map per channel, `[C, H, W]`.
    pub maps: Array3<f32>,
}

/// One probe image and what the network's convolutions and poolings make of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeImageMaps {
    /// The image as the network sees it (normalised), `[C, H, W]`.
    pub input: Array3<f32>,
    /// Every convolution and pooling layer among the model's own children, in order.
    pub layers: Vec<LayerMaps>,
}

/// Whether a layer of type `kind` ([`Layer::name`]: `Conv2d`, `MaxPool2d`, …) is a
/// convolution or a pooling, the layers whose outputs are drawn as feature maps.
pub fn is_convolution_or_pooling(kind: &str) -> bool {
    matches!(
        kind,
        "Conv2d" | "ConvTranspose2d" | "MaxPool2d" | "AvgPool2d" | "AdaptiveAvgPool2d"
    )
}

/// Collects the maps of the first `images` samples of a probe batch as its forward
/// visits the model's children.
pub(crate) struct ProbeMapsRecorder {
    /// The drawn children: (name, description).
    drawn: Vec<(String, String)>,
    images: Vec<ProbeImageMaps>,
}

impl ProbeMapsRecorder {
    /// A recorder for the first `images` samples of `probe` (`[N, C, H, W]`) through
    /// `model`; none if the model has no convolution or pooling child.
    pub(crate) fn new(model: &dyn Layer, probe: ArrayViewD<f32>, images: usize) -> Self {
        let drawn = match model.summary_children(&probe.shape()[1..]) {
            Ok(rows) => rows
                .into_iter()
                .filter(|row| row.depth == 0 && is_convolution_or_pooling(kind(&row.layer)))
                .map(|row| (row.name, row.layer))
                .collect(),
            Err(_) => Vec::new(),
        };
        let images = match probe.into_dimensionality::<Ix4>() {
            Ok(probe) if !drawn.is_empty() => probe
                .axis_iter(Axis(0))
                .take(images)
                .map(|input| ProbeImageMaps {
                    input: input.to_owned(),
                    layers: Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Self { drawn, images }
    }

    /// Keeps `output` if `layer` is drawn: called for every child by the forward.
    pub(crate) fn visit(&mut self, layer: &str, output: ArrayViewD<f32>) {
        let Some((_, description)) = self.drawn.iter().find(|(name, _)| name == layer) else {
            return;
        };
        let Ok(output) = output.into_dimensionality::<Ix4>() else {
            return;
        };
        for (image, maps) in self.images.iter_mut().zip(output.axis_iter(Axis(0))) {
            image.layers.push(LayerMaps {
                layer: layer.to_owned(),
                description: description.clone(),
                maps: maps.to_owned(),
            });
        }
    }

    /// The recorded images.
    pub(crate) fn finish(self) -> Vec<ProbeImageMaps> {
        self.images
    }
}

/// A layer description's type: `Conv2d` of `Conv2d(1, 6, …)`.
fn kind(description: &str) -> &str {
    description.split('(').next().unwrap_or(description)
}

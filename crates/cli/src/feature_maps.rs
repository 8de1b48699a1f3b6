//! [`feature_maps`]: what every convolution and pooling layer of a model makes of one
//! image, and pictures of it ([`tile_grid`] for one layer, [`feature_maps_image`] for all).

use image::{GrayImage, Luma};
use ndarray::{Array3, ArrayView2, ArrayView3, ArrayView4, Axis};
use scratchnet_layers::{Layer, Mode, Sequential};
use scratchnet_train::{is_convolution_or_pooling, TrainError};

/// The output of one convolution or pooling layer for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMaps {
    /// The layer's name in the model (`conv1`).
    pub layer: String,
    /// Its type (`Conv2d`, `MaxPool2d`).
    pub kind: String,
    /// Its output, one map per channel, `[C, H, W]`.
    pub maps: Array3<f32>,
}

/// The outputs of the model's convolution and pooling children (`Conv2d`,
/// `ConvTranspose2d`, `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d` whose output is
/// `[1, C, H, W]`) for one `image` `[1, C, H, W]`, in the model's order, from one
/// `Mode::Eval` forward ([`Layer::forward_visiting`]), which changes nothing in the model.
///
/// PyTorch equivalent: a forward hook on each `nn.Conv2d` and `nn.MaxPool2d` child
/// that keeps `output[0]`.
///
/// # Errors
/// [`TrainError::Config`] if `image` is not one image; a layer's error (naming it) if
/// the model cannot take it.
pub fn feature_maps(
    model: &mut Sequential,
    image: ArrayView4<f32>,
) -> Result<Vec<FeatureMaps>, TrainError> {
    if image.shape()[0] != 1 {
        return Err(TrainError::config(format!(
            "feature maps are drawn for one image [1, C, H, W], not {:?}",
            image.shape()
        )));
    }
    let wanted: Vec<(String, String)> = model
        .layers()
        .filter(|(_, layer)| is_convolution_or_pooling(layer.name()))
        .map(|(name, layer)| (name.to_owned(), layer.name().to_owned()))
        .collect();
    let mut found = Vec::new();
    model.forward_visiting(image.into_dyn(), Mode::Eval, &mut |name, output| {
        let Some((layer, kind)) = wanted.iter().find(|(wanted, _)| wanted == name) else {
            return;
        };
        if let Ok(output) = output.into_dimensionality::<ndarray::Ix4>() {
            found.push(FeatureMaps {
                layer: layer.clone(),
                kind: kind.clone(),
                maps: output.index_axis(Axis(0), 0).to_owned(),
            });
        }
    })?;
    Ok(found)
}

/// How [`tile_grid`] lays maps out.
#[derive(Clone, Debug, PartialEq)]
pub struct TileGridConfig {
    /// Each map is enlarged (nearest neighbour) by the smallest whole factor that makes
    /// it at least this many pixels wide and high (at least 1). Default 56.
    pub tile_side: usize,
    /// At most this many tiles a row; more channels wrap onto further rows. Default 8.
    pub max_columns: usize,
    /// Pixels between tiles and around the grid. Default 2.
    pub gap: usize,
    /// The grey level between tiles. Default 128.
    pub background: u8,
}

impl Default for TileGridConfig {
    fn default() -> Self {
        Self {
            tile_side: 56,
            max_columns: 8,
            gap: 2,
            background: 128,
        }
    }
}

/// The smallest whole factor that makes `side` at least `target` (at least 1).
pub fn zoom_for(side: usize, target: usize) -> usize {
    target.div_ceil(side.max(1)).max(1)
}

/// One layer's maps (`[C, H, W]`) as a grid of grey tiles, one per channel in order,
/// left to right then top to bottom: each map's [`shades`] (scaled on its own from its
/// smallest value, black, to its largest, white; a constant map black), enlarged by
/// [`zoom_for`]`(max(H, W), tile_side)`, nearest neighbour.
pub fn tile_grid(maps: ArrayView3<f32>, config: &TileGridConfig) -> GrayImage {
    let (channels, height, width) = maps.dim();
    let zoom = zoom_for(height.max(width), config.tile_side);
    let columns = channels.clamp(1, config.max_columns.max(1));
    let rows = channels.div_ceil(columns).max(1);
    let gap = config.gap;
    let (tile_w, tile_h) = (width * zoom, height * zoom);
    let mut grid = GrayImage::from_pixel(
        (gap + columns * (tile_w + gap)) as u32,
        (gap + rows * (tile_h + gap)) as u32,
        Luma([config.background]),
    );
    for (c, map) in maps.outer_iter().enumerate() {
        let left = gap + (c % columns) * (tile_w + gap);
        let top = gap + (c / columns) * (tile_h + gap);
        let shades = shades(map);
        for y in 0..tile_h {
            for x in 0..tile_w {
                let shade = shades[[y / zoom, x / zoom]];
                grid.put_pixel((left + x) as u32, (top + y) as u32, Luma([shade]));
            }
        }
    }
    grid
}

/// `map`'s values as grey levels, from its smallest finite value (0) to its largest
/// (255). A non-finite value is 0 (black), and so is every value if the finite ones
/// are all equal (or there are none).
pub fn shades(map: ArrayView2<f32>) -> ndarray::Array2<u8> {
    let finite = map.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi <= lo {
        return ndarray::Array2::zeros(map.raw_dim());
    }
    map.mapv(|v| {
        if v.is_finite() {
            (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8
        } else {
            0
        }
    })
}

/// Every layer's [`tile_grid`], one below the other in order, left-aligned, with
/// `3 × gap` pixels of background between layers: the picture of [`feature_maps`]. Its
/// names are for the caller to print beside it (there is no font here); each layer's
/// own grid is [`tile_grid`] of its maps.
pub fn feature_maps_image(layers: &[FeatureMaps], config: &TileGridConfig) -> GrayImage {
    let grids: Vec<GrayImage> = layers
        .iter()
        .map(|l| tile_grid(l.maps.view(), config))
        .collect();
    stack_vertically(&grids, 3 * config.gap, config.background)
}

/// `images` one below the other, left-aligned, `spacing` pixels of `background`
/// between them (and to the right of the narrower ones).
pub fn stack_vertically(images: &[GrayImage], spacing: usize, background: u8) -> GrayImage {
    let width = images.iter().map(GrayImage::width).max().unwrap_or(0);
    let height = images.iter().map(GrayImage::height).sum::<u32>()
        + (spacing * images.len().saturating_sub(1)) as u32;
    let mut out = GrayImage::from_pixel(width, height, Luma([background]));
    let mut top = 0i64;
    for image in images {
        image::imageops::replace(&mut out, image, 0, top);
        top += i64::from(image.height()) + spacing as i64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn each_tile_is_scaled_on_its_own_and_enlarged() {
        // Two 2×2 maps with different ranges; a constant third.
        let maps = Array3::from_shape_vec(
            (3, 2, 2),
            vec![
                0.0, 1.0, 2.0, 3.0, -10.0, 10.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0,
            ],
        )
        .unwrap();
        let config = TileGridConfig {
            tile_side: 4,
            max_columns: 2,
            gap: 1,
            background: 77,
        };
        let grid = tile_grid(maps.view(), &config);
        // Zoom 2: 4×4 tiles, two columns, two rows.
        assert_eq!((grid.width(), grid.height()), (1 + 2 * 5, 1 + 2 * 5));
        let at = |x, y| grid.get_pixel(x, y)[0];
        assert_eq!(at(0, 0), 77);
        assert_eq!((at(1, 1), at(2, 2), at(3, 1), at(4, 4)), (0, 0, 85, 255));
        // The second map: −10 black, 10 white, 0 mid-grey.
        assert_eq!((at(6, 1), at(8, 1), at(6, 3)), (0, 255, 128));
        // The constant map is black; the fourth place stays background.
        assert_eq!((at(1, 6), at(6, 6)), (0, 77));
        // Non-finite values are black, the others scaled over the finite ones.
        assert_eq!(shades(array![[f32::NAN, 1.0]].view()), array![[0u8, 0]]);
        let map = array![
            [f32::INFINITY, 1.0, 2.0],
            [3.0, f32::NAN, f32::NEG_INFINITY]
        ];
        assert_eq!(shades(map.view()), array![[0u8, 0, 128], [255, 0, 0]]);
        assert_eq!(shades(array![[f32::NAN]].view()), array![[0u8]]);
    }

    #[test]
    fn layers_stack_with_the_widest_setting_the_width() {
        let narrow = GrayImage::from_pixel(3, 2, Luma([9]));
        let wide = GrayImage::from_pixel(5, 1, Luma([200]));
        let both = stack_vertically(&[narrow, wide], 3, 50);
        assert_eq!((both.width(), both.height()), (5, 6));
        assert_eq!(both.get_pixel(0, 1)[0], 9);
        assert_eq!(both.get_pixel(4, 0)[0], 50);
        assert_eq!((both.get_pixel(0, 2)[0], both.get_pixel(0, 4)[0]), (50, 50));
        assert_eq!(both.get_pixel(4, 5)[0], 200);
        assert_eq!(zoom_for(28, 56), 2);
        assert_eq!(zoom_for(10, 56), 6);
        assert_eq!(zoom_for(100, 56), 1);
    }
}

//! A convolution's filters as one PNG image grid, for the HTML training report.

use crate::feature_maps::{tile_grid, TileGridConfig};
use crate::png_data_uri::png_data_uri;
use image::ExtendedColorType;
use ndarray::ArrayViewD;

/// Pixels per weight.
const ZOOM: usize = 8;
/// Pixels between filters.
const GAP: usize = 2;

/// `weight` (`[out, in, kh, kw]`) as a PNG data URI (`data:image/png;base64,…`): one
/// row per output channel, one tile per input channel, each tile scaled on its own
/// from its smallest weight (black) to its largest (white), on a grey background. The
/// filters of a one-channel input (a first convolution on grey images) are laid out
/// in rows of up to 8 larger tiles instead. `None` if `weight` is not 4-dimensional or
/// empty.
pub(crate) fn filter_grid_png(weight: ArrayViewD<f32>) -> Option<String> {
    let &[outs, ins, kh, kw] = weight.shape() else {
        return None;
    };
    if outs * ins * kh * kw == 0 {
        return None;
    }
    if ins == 1 {
        let filters = weight.to_shape((outs, kh, kw)).ok()?;
        let config = TileGridConfig {
            tile_side: 48,
            ..TileGridConfig::default()
        };
        let grid = tile_grid(filters.view(), &config);
        let (width, height) = grid.dimensions();
        return png_data_uri(
            grid.as_raw(),
            width as usize,
            height as usize,
            ExtendedColorType::L8,
        );
    }
    let width = ins * (kw * ZOOM + GAP) + GAP;
    let height = outs * (kh * ZOOM + GAP) + GAP;
    let mut pixels = vec![128u8; width * height];
    for o in 0..outs {
        for i in 0..ins {
            let tile: Vec<f32> = (0..kh * kw)
                .map(|k| weight[[o, i, k / kw, k % kw]])
                .collect();
            let lo = tile.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = tile.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = if hi > lo { hi - lo } else { 1.0 };
            for (k, &w) in tile.iter().enumerate() {
                let shade = if w.is_finite() {
                    (255.0 * (w - lo) / span).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                };
                let (top, left) = (
                    GAP + o * (kh * ZOOM + GAP) + (k / kw) * ZOOM,
                    GAP + i * (kw * ZOOM + GAP) + (k % kw) * ZOOM,
                );
                for y in top..top + ZOOM {
                    pixels[y * width + left..y * width + left + ZOOM].fill(shade);
                }
            }
        }
    }
    png_data_uri(&pixels, width, height, ExtendedColorType::L8)
}

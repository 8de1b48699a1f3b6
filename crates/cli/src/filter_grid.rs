//! A convolution's filters as one PNG image grid, for the HTML training report.

use crate::feature_maps::{shades, tile_grid, TileGridConfig};
use crate::png_data_uri::png_data_uri;
use image::ExtendedColorType;
use ndarray::{s, ArrayViewD, Axis, Ix4};

/// Pixels per weight.
const ZOOM: usize = 8;
/// Pixels between filters.
const GAP: usize = 2;

/// `weight` (`[out, in, kh, kw]`) as a PNG data URI (`data:image/png;base64,…`): one
/// row per output channel, one tile per input channel, each tile the [`shades`] of its
/// filter (scaled on its own from its smallest weight, black, to its largest, white) on
/// a grey background. The filters of a one-channel input (a first convolution on grey
/// images) are laid out in rows of up to 8 larger tiles instead. `None` if `weight` is
/// not 4-dimensional or empty.
pub(crate) fn filter_grid_png(weight: ArrayViewD<f32>) -> Option<String> {
    let weight = weight.into_dimensionality::<Ix4>().ok()?;
    if weight.is_empty() {
        return None;
    }
    let (outs, ins, kh, kw) = weight.dim();
    if ins == 1 {
        let config = TileGridConfig {
            tile_side: 48,
            ..TileGridConfig::default()
        };
        let grid = tile_grid(weight.index_axis(Axis(1), 0), &config);
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
            let tile = shades(weight.slice(s![o, i, .., ..]));
            for ((y, x), &shade) in tile.indexed_iter() {
                let top = GAP + o * (kh * ZOOM + GAP) + y * ZOOM;
                let left = GAP + i * (kw * ZOOM + GAP) + x * ZOOM;
                for row in top..top + ZOOM {
                    pixels[row * width + left..][..ZOOM].fill(shade);
                }
            }
        }
    }
    png_data_uri(&pixels, width, height, ExtendedColorType::L8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::png_data_uri::decode_png_data_uri;
    use ndarray::{Array, Array4};

    #[test]
    fn each_weight_is_a_square_of_its_filters_shade_in_its_row_and_column() {
        // 2 outputs × 3 inputs of 2×3 kernels: weight = its index, except one constant
        // filter and one with a NaN.
        let mut weight = Array::range(0.0, 36.0, 1.0)
            .into_shape_with_order((2, 3, 2, 3))
            .unwrap();
        weight.slice_mut(s![1, 1, .., ..]).fill(4.0);
        weight[[1, 2, 0, 1]] = f32::NAN;
        let image =
            decode_png_data_uri(&filter_grid_png(weight.view().into_dyn()).unwrap()).into_luma8();
        let (tile_w, tile_h) = (3 * ZOOM + GAP, 2 * ZOOM + GAP);
        assert_eq!(
            (image.width() as usize, image.height() as usize),
            (3 * tile_w + GAP, 2 * tile_h + GAP)
        );
        let shade = |o: usize, i: usize, y: usize, x: usize, dy: usize, dx: usize| {
            let top = GAP + o * tile_h + y * ZOOM + dy;
            let left = GAP + i * tile_w + x * ZOOM + dx;
            image.get_pixel(left as u32, top as u32)[0]
        };
        for (o, i) in [(0, 0), (0, 2), (1, 0)] {
            // Values 0..6 within each filter: 0, 51, 102, … 255, the whole square.
            for k in 0..6 {
                for (dy, dx) in [(0, 0), (ZOOM - 1, ZOOM - 1), (0, ZOOM - 1)] {
                    assert_eq!(shade(o, i, k / 3, k % 3, dy, dx), (51 * k) as u8);
                }
            }
        }
        assert_eq!(shade(1, 1, 1, 2, 3, 3), 0, "a constant filter is black");
        // NaN is black, and the filter's other weights keep its finite range.
        assert_eq!((shade(1, 2, 0, 1, 0, 0), shade(1, 2, 0, 0, 0, 0)), (0, 0));
        assert_eq!(shade(1, 2, 1, 2, 0, 0), 255);
        // The gaps are grey: around the grid and between filters.
        for (x, y) in [(0, 0), (GAP + 3 * ZOOM, GAP), (GAP, GAP + 2 * ZOOM)] {
            assert_eq!(image.get_pixel(x as u32, y as u32)[0], 128, "({x}, {y})");
        }
        let last = (image.width() - 1, image.height() - 1);
        assert_eq!(image.get_pixel(last.0, last.1)[0], 128);
    }

    #[test]
    fn one_channel_filters_are_larger_tiles_in_rows_of_eight_and_empty_ones_none() {
        let weight = Array::range(0.0, 90.0, 1.0)
            .into_shape_with_order((10, 1, 3, 3))
            .unwrap();
        let uri = filter_grid_png(weight.view().into_dyn()).unwrap();
        let image = decode_png_data_uri(&uri).into_luma8();
        let config = TileGridConfig::default();
        let expected = tile_grid(
            weight.index_axis(Axis(1), 0),
            &TileGridConfig {
                tile_side: 48,
                ..config
            },
        );
        assert_eq!(image, expected);
        // 16 pixels a weight: 8 tiles of 48 a row, then 2.
        assert_eq!((image.width(), image.height()), (2 + 8 * 50, 2 + 2 * 50));
        let empty = Array4::<f32>::zeros((4, 0, 3, 3));
        assert_eq!(filter_grid_png(empty.view().into_dyn()), None);
        assert_eq!(
            filter_grid_png(weight.index_axis(Axis(0), 0).into_dyn()),
            None
        );
    }
}

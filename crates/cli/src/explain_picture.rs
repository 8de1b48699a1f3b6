//! [`explain_picture`]: the picture `predict --explain` writes for one image — the input
//! as the model saw it, its saliency map, both overlaid, and the feature maps.

use crate::feature_maps::{feature_maps_image, shades, zoom_for, FeatureMaps, TileGridConfig};
use image::{GrayImage, Rgb, RgbImage};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

/// The input, saliency and overlay pictures are enlarged to at least this many pixels.
const TOP_SIDE: usize = 112;
/// Pixels between the pictures.
const GAP: usize = 6;
/// The colour between the pictures.
const BACKGROUND: [u8; 3] = [40, 40, 40];

/// The picture of one prediction, from top to bottom:
/// - a row of three: the `input` (`[C, H, W]`, as normalised for the model, each
///   channel scaled from its smallest value to its largest: grey for one channel, colour
///   for three), the `saliency` map (`[H, W]`, 0 to 1) in the colours of [`hot_colour`],
///   and the saliency laid over the input (`(1 − s)·input + s·hot(s)`);
/// - each layer's feature maps (see [`feature_maps_image`]), in the model's order, in
///   grey.
///
/// PyTorch equivalent: none built in; `captum`'s `visualize_image_attr` draws the
/// first row.
///
/// **Panics** if `saliency` is not `[H, W]` of `input` — it is the saliency of that input.
#[track_caller]
pub fn explain_picture(
    input: ArrayView3<f32>,
    saliency: ArrayView2<f32>,
    layers: &[FeatureMaps],
) -> RgbImage {
    let (_, height, width) = input.dim();
    assert_eq!(saliency.dim(), (height, width), "saliency of another size");
    let zoom = zoom_for(height.max(width), TOP_SIDE);
    let seen = input_colours(input);
    let heat = saliency.mapv(hot_colour);
    let overlay = Array2::from_shape_fn((height, width), |(y, x)| {
        let s = saliency[[y, x]].clamp(0.0, 1.0);
        let (a, b) = (seen[[y, x]], heat[[y, x]]);
        std::array::from_fn(|c| ((1.0 - s) * f32::from(a[c]) + s * f32::from(b[c])).round() as u8)
    });
    let maps = feature_maps_image(layers, &TileGridConfig::default());
    let tile = (width * zoom, height * zoom);
    let top_width = 3 * tile.0 + 4 * GAP;
    let picture_width = top_width.max(maps.width() as usize + 2 * GAP);
    let picture_height = GAP + tile.1 + GAP + maps.height() as usize + GAP;
    let mut picture =
        RgbImage::from_pixel(picture_width as u32, picture_height as u32, Rgb(BACKGROUND));
    for (i, colours) in [&seen, &heat, &overlay].into_iter().enumerate() {
        let left = GAP + i * (tile.0 + GAP);
        draw_enlarged(&mut picture, colours.view(), zoom, (left, GAP));
    }
    paste_grey(&mut picture, &maps, (GAP, 2 * GAP + tile.1));
    picture
}

/// matplotlib's `hot` colour map: 0 black, then red, yellow, and 1 white (values
/// outside 0..1 are clamped; non-finite is black).
pub fn hot_colour(value: f32) -> [u8; 3] {
    let v = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let channel = |offset: f32| (255.0 * (3.0 * v - offset).clamp(0.0, 1.0)).round() as u8;
    [channel(0.0), channel(1.0), channel(2.0)]
}

/// The input as a person sees it: each channel scaled to 0..255 on its own; one channel
/// is grey, three are red, green and blue (others: the first channel in grey).
fn input_colours(input: ArrayView3<f32>) -> Array2<[u8; 3]> {
    let channels: Vec<Array2<u8>> = input.axis_iter(Axis(0)).map(shades).collect();
    let (_, height, width) = input.dim();
    Array2::from_shape_fn((height, width), |(y, x)| match channels.len() {
        3 => std::array::from_fn(|c| channels[c][[y, x]]),
        0 => [0; 3],
        _ => [channels[0][[y, x]]; 3],
    })
}

/// Draws `colours` into `picture` enlarged `zoom` times (nearest neighbour), its top-left
/// corner at `(left, top)`.
fn draw_enlarged(
    picture: &mut RgbImage,
    colours: ArrayView2<[u8; 3]>,
    zoom: usize,
    (left, top): (usize, usize),
) {
    let (height, width) = colours.dim();
    for y in 0..height * zoom {
        for x in 0..width * zoom {
            let colour = colours[[y / zoom, x / zoom]];
            picture.put_pixel((left + x) as u32, (top + y) as u32, Rgb(colour));
        }
    }
}

/// Copies the grey `image` into `picture` at `(left, top)`.
fn paste_grey(picture: &mut RgbImage, image: &GrayImage, (left, top): (usize, usize)) {
    for (x, y, grey) in image.enumerate_pixels() {
        let at = ((left as u32) + x, (top as u32) + y);
        picture.put_pixel(at.0, at.1, Rgb([grey[0]; 3]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn hot_goes_from_black_through_red_and_yellow_to_white() {
        assert_eq!(hot_colour(0.0), [0, 0, 0]);
        assert_eq!(hot_colour(1.0 / 3.0), [255, 0, 0]);
        assert_eq!(hot_colour(2.0 / 3.0), [255, 255, 0]);
        assert_eq!(hot_colour(1.0), [255, 255, 255]);
        assert_eq!(hot_colour(7.0), [255, 255, 255]);
        assert_eq!(hot_colour(f32::NAN), [0, 0, 0]);
    }

    #[test]
    fn the_first_row_is_input_heat_and_overlay() {
        // A 2×2 grey input: one bright pixel; the saliency 1 there, 0 elsewhere.
        let input = Array3::from_shape_vec((1, 2, 2), vec![0.0, 0.0, 0.0, 1.0]).unwrap();
        let saliency = Array2::from_shape_vec((2, 2), vec![0.0, 0.0, 0.0, 1.0]).unwrap();
        let picture = explain_picture(input.view(), saliency.view(), &[]);
        let zoom = zoom_for(2, TOP_SIDE) as u32; // 56
        let tile = 2 * zoom;
        assert_eq!(picture.width() as usize, 3 * tile as usize + 4 * GAP);
        let g = GAP as u32;
        let at = |i: u32, y: u32, x: u32| {
            picture
                .get_pixel(g + i * (tile + g) + x * zoom, g + y * zoom)
                .0
        };
        assert_eq!(at(0, 0, 0), [0, 0, 0]);
        assert_eq!(at(0, 1, 1), [255, 255, 255]);
        assert_eq!(at(1, 1, 1), [255, 255, 255]);
        assert_eq!(at(2, 1, 1), [255, 255, 255]);
        assert_eq!(at(2, 0, 1), [0, 0, 0]);
        assert_eq!(picture.get_pixel(0, 0).0, BACKGROUND);
    }
}

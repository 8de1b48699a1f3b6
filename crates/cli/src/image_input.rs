//! Turning an arbitrary picture of a digit into a network input like MNIST's.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, Limits};
use ndarray::Array4;
use scratchnet_data::{decode_image_file, Normalization};
use scratchnet_train::TrainError;
use std::path::Path;

/// Side of the square images the models take.
pub const IMAGE_SIDE: u32 = 28;

/// The largest width and height [`load_digit`] decodes (a 67-megapixel picture).
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// The most memory, in bytes, the decoder of [`load_digit`] may allocate (256 MiB: an
/// 8192×8192 RGBA picture). A header claiming more is an error, not an allocation.
pub const MAX_IMAGE_ALLOC: u64 = 256 * 1024 * 1024;

/// Reads a PNG or JPEG file (the format is recognised from its content) and prepares it
/// with [`digit_pixels`]: 784 grey levels, a light digit on a dark background.
///
/// # Errors
/// [`TrainError::Image`] naming the file if it is not a regular file (a FIFO is refused
/// before it is opened, which would wait for ever), cannot be opened or decoded
/// (including formats other than PNG and JPEG, and a JPEG that ends before its
/// end-of-image marker), or if its header claims more than [`MAX_IMAGE_SIDE`] pixels a
/// side or more than [`MAX_IMAGE_ALLOC`] bytes of pixels (checked before anything that
/// size is allocated).
pub fn load_digit(path: &Path) -> Result<Vec<u8>, TrainError> {
    let image = decode_image_file(path, image_limits()).map_err(|reason| TrainError::Image {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(digit_pixels(&image))
}

/// The decoder's limits for an image given to `predict`: [`MAX_IMAGE_SIDE`] a side,
/// [`MAX_IMAGE_ALLOC`] bytes.
pub(crate) fn image_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    limits
}

/// MNIST-like pixels of `image`, 784 bytes row-major: converted to grey, resized to
/// 28×28 (bilinear, whatever the size and aspect), and inverted if the background is
/// light — that is, if the mean of the 108 border pixels of the 28×28 image is above
/// 127 — because MNIST digits are white on black.
///
/// ```
/// use image::{DynamicImage, GrayImage, Luma};
/// // A black stroke on a white page, 100×60.
/// let page = GrayImage::from_fn(100, 60, |x, _| if (45..55).contains(&x) { Luma([0]) } else { Luma([255]) });
/// let pixels = scratchnet_cli::digit_pixels(&DynamicImage::ImageLuma8(page));
/// assert_eq!(pixels.len(), 784);
/// assert_eq!(pixels[0], 0);               // background became black
/// assert!(pixels[14 * 28 + 14] > 200);    // the stroke became white
/// ```
pub fn digit_pixels(image: &DynamicImage) -> Vec<u8> {
    let grey: GrayImage = image.to_luma8();
    let small = image::imageops::resize(&grey, IMAGE_SIDE, IMAGE_SIDE, FilterType::Triangle);
    let side = IMAGE_SIDE as usize;
    let pixels = small.into_raw();
    let border: Vec<u32> = (0..side * side)
        .filter(|i| {
            let (y, x) = (i / side, i % side);
            y == 0 || x == 0 || y == side - 1 || x == side - 1
        })
        .map(|i| u32::from(pixels[i]))
        .collect();
    let mean = border.iter().sum::<u32>() as f64 / border.len() as f64;
    if mean > 127.0 {
        pixels.into_iter().map(|p| 255 - p).collect()
    } else {
        pixels
    }
}

/// Normalises 784-byte images (one after the other) into a batch `[N, 1, 28, 28]`
/// with `normalization` (the training data's, so inputs look the same to the model).
///
/// **Panics** if `pixels.len()` is not a multiple of 784.
#[track_caller]
pub fn normalized_batch(pixels: &[u8], normalization: Normalization) -> Array4<f32> {
    let side = IMAGE_SIDE as usize;
    assert_eq!(
        pixels.len() % (side * side),
        0,
        "images of 784 pixels expected"
    );
    let n = pixels.len() / (side * side);
    Array4::from_shape_vec(
        (n, 1, side, side),
        pixels.iter().map(|&p| normalization.apply(p)).collect(),
    )
    .expect("the length was checked")
}

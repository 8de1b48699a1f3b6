//! Turning an arbitrary picture of a digit into a network input like MNIST's.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageDecoder, Limits};
use ndarray::Array4;
use scratchnet_data::{
    decode_image_file, Normalization, MAX_FOLDER_IMAGE_ALLOC, MAX_FOLDER_IMAGE_SIDE,
};
use scratchnet_train::TrainError;
use std::path::Path;

/// Side of the square images the models take.
pub const IMAGE_SIDE: u32 = 28;

/// The largest width and height `predict` decodes ([`load_digit`],
/// [`load_image`](crate::load_image)): an image folder's
/// ([`MAX_FOLDER_IMAGE_SIDE`]), so that predict reads every picture a run trained on.
pub const MAX_IMAGE_SIDE: u32 = MAX_FOLDER_IMAGE_SIDE;

/// The most memory, in bytes, the decoder of `predict` may allocate: an image folder's
/// ([`MAX_FOLDER_IMAGE_ALLOC`], 1 GiB). A header claiming more is an error, not an
/// allocation.
pub const MAX_IMAGE_ALLOC: u64 = MAX_FOLDER_IMAGE_ALLOC;

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
    Ok(digit_pixels(&decode_for_predict(path)?))
}

/// Decodes the PNG or JPEG file at `path` within `predict`'s limits ([`MAX_IMAGE_SIDE`],
/// [`MAX_IMAGE_ALLOC`]).
///
/// # Errors
/// [`TrainError::Image`] naming the file and why; for a picture past the limits, its
/// size and the limit.
pub(crate) fn decode_for_predict(path: &Path) -> Result<DynamicImage, TrainError> {
    decode_image_file(path, image_limits()).map_err(|reason| TrainError::Image {
        path: path.to_path_buf(),
        reason: past_limits(path).unwrap_or(reason),
    })
}

/// Why the image at `path` is past `predict`'s limits, with its size, if its header says
/// it is (`None` if it is not, or has no header to read).
fn past_limits(path: &Path) -> Option<String> {
    // Only a regular file is opened (a FIFO would wait for a writer).
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut reader = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?;
    reader.no_limits();
    let decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    let bytes = decoder.total_bytes();
    let size = format!("{width}×{height} pixels");
    if width.max(height) > MAX_IMAGE_SIDE {
        Some(format!(
            "it is {size}, and predict reads images of at most {MAX_IMAGE_SIDE} pixels a side (as the training run's image folders): use a smaller picture"
        ))
    } else if bytes > MAX_IMAGE_ALLOC {
        Some(format!(
            "its {size} take {} MiB decoded, and predict decodes at most {} MiB an image (as the training run's image folders): use a smaller picture",
            bytes >> 20,
            MAX_IMAGE_ALLOC >> 20
        ))
    } else {
        None
    }
}

/// The decoder's limits for an image given to `predict`: [`MAX_IMAGE_SIDE`] a side,
/// [`MAX_IMAGE_ALLOC`] bytes.
fn image_limits() -> Limits {
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

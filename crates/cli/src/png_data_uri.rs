//! Pixels as a PNG `data:` URI, for the pictures inside the HTML training report.

use base64::Engine as _;
use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};

/// `pixels` (`height` rows of `width` pixels of `colour`, row-major) as
/// `data:image/png;base64,…`; `None` if they do not make such an image.
pub(crate) fn png_data_uri(
    pixels: &[u8],
    width: usize,
    height: usize,
    colour: ExtendedColorType,
) -> Option<String> {
    let (width, height) = (u32::try_from(width).ok()?, u32::try_from(height).ok()?);
    // The encoder asserts the buffer's length: check it here, as it counts (whole bytes
    // a row).
    let row_bytes = (u64::from(width) * u64::from(colour.bits_per_pixel())).div_ceil(8);
    if row_bytes.checked_mul(u64::from(height)) != Some(pixels.len() as u64) {
        return None;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(pixels, width, height, colour)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// A PNG data URI decoded back into its picture (the tests' reader).
#[cfg(test)]
pub(crate) fn decode_png_data_uri(uri: &str) -> image::DynamicImage {
    let data = uri.strip_prefix("data:image/png;base64,").unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    image::load_from_memory(&png).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixels_come_back_from_the_uri_and_a_buffer_of_another_size_is_none() {
        let pixels: Vec<u8> = (0..12).map(|v| v * 20).collect();
        let uri = png_data_uri(&pixels, 4, 3, ExtendedColorType::L8).unwrap();
        let image = decode_png_data_uri(&uri).into_luma8();
        assert_eq!((image.width(), image.height()), (4, 3));
        assert_eq!(image.as_raw(), &pixels);
        assert_eq!(png_data_uri(&pixels, 4, 4, ExtendedColorType::L8), None);
        assert_eq!(png_data_uri(&pixels, 2, 3, ExtendedColorType::L8), None);
        assert_eq!(png_data_uri(&pixels, 2, 1, ExtendedColorType::Rgb8), None);
        assert!(png_data_uri(&pixels[..6], 2, 1, ExtendedColorType::Rgb8).is_some());
    }
}

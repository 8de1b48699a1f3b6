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
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(pixels, width as u32, height as u32, colour)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

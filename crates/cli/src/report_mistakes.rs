//! The training report's section of the test images the model gets most confidently
//! wrong: each picture, its true class and the model's three most probable classes.

use crate::png_data_uri::png_data_uri;
use crate::svg_chart::escape;
use image::ExtendedColorType;
use scratchnet_train::{EpochDiagnostics, Mistake};
use std::fmt::Write;

/// The side the pictures are enlarged to (nearest neighbour, by a whole factor): a
/// 28×28 digit becomes 84×84 pixels, a 32×32 CIFAR image 96×96.
const SHOWN_SIDE: usize = 96;

/// Appends the section for the latest evaluation (`last`, none before the first).
pub(crate) fn mistakes_section(
    page: &mut String,
    last: Option<&EpochDiagnostics>,
    class_names: &[String],
) {
    page.push_str("<h2>Most confident mistakes</h2>\n");
    let Some(last) = last else {
        page.push_str("<p>No evaluation yet.</p>\n");
        return;
    };
    if last.mistakes.is_empty() {
        let _ = writeln!(
            page,
            "<p>No test image was classified wrong after epoch {}.</p>",
            last.epoch
        );
        return;
    }
    let _ = writeln!(
        page,
        "<p>The test images the model classified wrong with the highest probability after epoch {}, most confident first: the true class, then the model's three most probable classes. A confident mistake is often a mislabelled or ambiguous image; a run of them between two classes is what the confusion matrix shows as a dark cell.</p>\n<div id=\"mistakes\" class=\"row\">",
        last.epoch
    );
    let name = |class: usize| {
        escape(
            class_names
                .get(class)
                .map_or(&class.to_string(), |n| n.as_str()),
        )
    };
    for mistake in &last.mistakes {
        let _ = write!(
            page,
            "<figure class=\"mistake\" data-index=\"{}\" data-label=\"{}\">",
            mistake.index, mistake.label
        );
        if let Some(uri) = picture(mistake) {
            let _ = write!(
                page,
                "<img src=\"{uri}\" alt=\"test image {}, a {}\">",
                mistake.index,
                name(mistake.label)
            );
        }
        let _ = write!(
            page,
            "<figcaption><div class=\"truth\">true: <b>{}</b></div><ol class=\"top\">",
            name(mistake.label)
        );
        for (class, probability) in mistake.top(3) {
            let _ = write!(
                page,
                "<li data-class=\"{class}\" data-probability=\"{probability}\">{} <span>{:.1}%</span></li>",
                name(class),
                100.0 * probability
            );
        }
        page.push_str("</ol></figcaption></figure>\n");
    }
    page.push_str("</div>\n");
}

/// The mistake's picture as a PNG data URI, enlarged towards [`SHOWN_SIDE`]: in colour
/// for 3 channels, else the first channel in grey. The pixels are the split's own
/// bytes, from before the normalisation: nothing to undo.
fn picture(mistake: &Mistake) -> Option<String> {
    let [channels, height, width] = mistake.shape;
    if mistake.pixels.len() != channels * height * width || height * width == 0 {
        return None;
    }
    let zoom = (SHOWN_SIDE / height.max(width)).max(1);
    let (shown, colour) = if channels == 3 {
        (3, ExtendedColorType::Rgb8)
    } else {
        (1, ExtendedColorType::L8)
    };
    let (out_w, out_h) = (width * zoom, height * zoom);
    let mut pixels = Vec::with_capacity(out_w * out_h * shown);
    for y in 0..out_h {
        for x in 0..out_w {
            for c in 0..shown {
                pixels.push(mistake.pixels[(c * height + y / zoom) * width + x / zoom]);
            }
        }
    }
    png_data_uri(&pixels, out_w, out_h, colour)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::png_data_uri::decode_png_data_uri as decode;

    fn mistake(shape: [usize; 3], pixels: Vec<u8>) -> Mistake {
        Mistake {
            index: 0,
            label: 1,
            predicted: 0,
            probabilities: vec![0.9, 0.1],
            pixels,
            shape,
        }
    }

    #[test]
    fn a_grey_digit_is_enlarged_three_times_by_nearest_neighbour() {
        let pixels: Vec<u8> = (0..784).map(|i| (i % 251) as u8).collect();
        let shown = decode(&picture(&mistake([1, 28, 28], pixels.clone())).unwrap()).to_luma8();
        assert_eq!(shown.dimensions(), (84, 84));
        for (x, y, value) in shown.enumerate_pixels() {
            let (x, y) = (x as usize / 3, y as usize / 3);
            assert_eq!(value.0[0], pixels[y * 28 + x]);
        }
    }

    #[test]
    fn three_planes_are_one_colour_picture() {
        // Red plane 200, green 100, blue 50.
        let pixels: Vec<u8> = [200u8, 100, 50]
            .iter()
            .flat_map(|&v| [v; 32 * 32])
            .collect();
        let shown = decode(&picture(&mistake([3, 32, 32], pixels)).unwrap()).to_rgb8();
        assert_eq!(shown.dimensions(), (96, 96));
        assert!(shown.pixels().all(|p| p.0 == [200, 100, 50]));
    }
}
